//! Newline-delimited JSON: one object per finding, fields in a fixed order
//! (a host's MAC address after the seven facts, where discovery learned
//! one; then the OS guess, `"os":"linux"`, where `--os-hints` made one;
//! then, in banner mode, what the port's service said and is).
//!
//! Server bytes and strings pass through `escape` first, so they hold no
//! control characters; `json_str` still escapes any string completely
//! (`"`, `\` and every control character), so no value can end a line or
//! an object early.

use super::{Format, escape};
use crate::domain::Record;
use crate::service::Banner;
use crate::wire::format_mac;
use std::io::Write;

#[derive(Default)]
pub struct Ndjson {
    /// One escaped value at a time, reused.
    scratch: Vec<u8>,
}

/// Appends `s` as a JSON string literal.
fn json_str(w: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    w.push(b'"');
    for &b in s {
        match b {
            b'"' => w.extend_from_slice(b"\\\""),
            b'\\' => w.extend_from_slice(b"\\\\"),
            0..=0x1f => w.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 15)],
            ]),
            _ => w.push(b),
        }
    }
    w.push(b'"');
}

impl Ndjson {
    /// `,"key":"text"`, the text escaped.
    fn text(&mut self, w: &mut Vec<u8>, key: &str, text: &str) {
        self.scratch.clear();
        escape::push_text(&mut self.scratch, text);
        let _ = write!(w, r#","{key}":"#);
        json_str(w, &self.scratch);
    }

    fn opt_text(&mut self, w: &mut Vec<u8>, key: &str, text: &Option<String>) {
        if let Some(t) = text {
            self.text(w, key, t);
        }
    }

    /// `,"key":["a","b"]`.
    fn text_list(&mut self, w: &mut Vec<u8>, key: &str, list: &[String]) {
        let _ = write!(w, r#","{key}":["#);
        for (i, t) in list.iter().enumerate() {
            if i > 0 {
                w.push(b',');
            }
            self.scratch.clear();
            escape::push_text(&mut self.scratch, t);
            json_str(w, &self.scratch);
        }
        w.push(b']');
    }

    fn banner(&mut self, w: &mut Vec<u8>, b: &Banner) {
        if let Some(id) = &b.id {
            self.text(w, "service", &id.name);
            self.opt_text(w, "product", &id.product);
            self.opt_text(w, "version", &id.version);
            self.opt_text(w, "info", &id.info);
            self.opt_text(w, "hostname", &id.hostname);
            self.opt_text(w, "ostype", &id.ostype);
            self.opt_text(w, "devicetype", &id.devicetype);
            if !id.cpe.is_empty() {
                self.text_list(w, "cpe", &id.cpe);
            }
            if let Some(tunnel) = id.tunnel {
                self.text(w, "tunnel", tunnel);
            }
            self.text(w, "method", id.method.as_str());
        }
        let f = &b.findings;
        if let Some(hello) = f.hello {
            self.text(w, "hello", hello.name());
        }
        self.scratch.clear();
        escape::push_bytes(&mut self.scratch, f.banner());
        w.extend_from_slice(br#","banner":"#);
        json_str(w, &self.scratch);
        if let Some(tls) = &f.tls {
            self.text(w, "tls_version", &tls.version);
            self.text(w, "tls_cipher", &tls.cipher);
            self.opt_text(w, "tls_alpn", &tls.alpn);
            if let Some(leaf) = tls.certs.first() {
                self.text(w, "cert_subject", &leaf.subject);
                self.text(w, "cert_issuer", &leaf.issuer);
                self.text_list(w, "cert_sans", &leaf.sans);
                self.text(w, "cert_not_before", &leaf.not_before);
                self.text(w, "cert_not_after", &leaf.not_after);
            }
            let _ = write!(w, r#","cert_chain":{}"#, tls.certs.len());
        }
    }
}

impl Format for Ndjson {
    fn record(&mut self, w: &mut Vec<u8>, r: &Record) {
        // Writing to a Vec cannot fail.
        let _ = write!(
            w,
            r#"{{"ip":"{}","port":{},"proto":"{}","state":"{}","reason":"{}","ttl":{},"ts":{}"#,
            r.ip, r.port, r.proto, r.state, r.reason, r.ttl, r.ts
        );
        if let Some(mac) = &r.mac {
            let _ = write!(w, r#","mac":"{}""#, format_mac(mac));
        }
        if let Some(os) = r.os {
            let _ = write!(w, r#","os":"{os}""#);
        }
        if let Some(b) = &r.banner {
            self.banner(w, b);
        }
        w.extend_from_slice(b"}\n");
    }

    fn is_record(&self, line: &[u8]) -> bool {
        line.starts_with(b"{")
    }
}

#[cfg(test)]
mod tests {
    use super::json_str;
    use crate::output::FormatKind;
    use crate::output::tests::{
        banner_records, check_round_trip, check_with_python, render, render_records,
    };

    #[test]
    fn one_object_per_line() {
        let text = render(FormatKind::Ndjson);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            r#"{"ip":"198.18.4.7","port":80,"proto":"tcp","state":"open","reason":"syn-ack","ttl":64,"ts":1732240000}"#
        );
        assert_eq!(
            lines[2],
            r#"{"ip":"198.18.14.0","port":25,"proto":"tcp","state":"filtered","reason":"admin-prohibited","ttl":255,"ts":1732240002}"#
        );
        assert_eq!(
            lines[3],
            r#"{"ip":"2001:2:0:300::1abc","port":443,"proto":"tcp","state":"filtered","reason":"no-route","ttl":64,"ts":1732240003}"#
        );
        assert_eq!(
            lines[4],
            r#"{"ip":"198.19.250.7","port":0,"proto":"icmp","state":"up","reason":"arp-response","ttl":0,"ts":1732240004,"mac":"02:73:73:77:0a:02"}"#
        );
        assert_eq!(lines.len(), 5);
    }

    #[test]
    fn json_strings_escape_quotes_backslashes_and_controls() {
        let mut w = Vec::new();
        json_str(&mut w, "a\"b\\c\u{0}\u{1f}\n\u{7f}é".as_bytes());
        assert_eq!(
            String::from_utf8(w).unwrap(),
            "\"a\\\"b\\\\c\\u0000\\u001f\\u000a\u{7f}é\""
        );
    }

    #[test]
    fn banner_fields_follow_the_seven_facts() {
        let text = render_records(FormatKind::Ndjson, &banner_records());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            r#"{"ip":"198.18.4.7","port":22,"proto":"tcp","state":"open","reason":"syn-ack","ttl":64,"ts":1732240000,"service":"ssh","product":"OpenSSH","version":"9.2p1 Debian 2+deb12u3","info":"protocol 2.0","ostype":"Linux","cpe":["cpe:/a:openbsd:openssh:9.2p1","cpe:/o:linux:linux_kernel"],"method":"probed","banner":"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\\r\\n"}"#
        );
        assert_eq!(
            lines[1],
            r#"{"ip":"198.18.4.8","port":8080,"proto":"tcp","state":"open","reason":"syn-ack","ttl":63,"ts":1732240001,"hello":"http","banner":""}"#
        );
        assert_eq!(lines.len(), banner_records().len());
    }

    #[test]
    fn hostile_banners_stay_one_valid_object_per_line() {
        let text = render_records(FormatKind::Ndjson, &banner_records());
        check_with_python(
            "import json, sys\n\
             lines = sys.stdin.read().split('\\n')\n\
             assert lines[-1] == ''\n\
             for l in lines[:-1]:\n\
             \x20   d = json.loads(l)\n\
             \x20   print('\\t'.join(d.get(k, '') for k in ['banner', 'cert_subject', 'product']))\n",
            &text,
            check_round_trip,
        );
        // A banner field exactly where a banner was, and ports without one
        // written as before banners existed.
        for (line, r) in text.lines().zip(banner_records()) {
            assert_eq!(
                line.contains(r#","banner":""#),
                r.banner.is_some(),
                "{line}"
            );
        }
        assert!(text.contains(r#""ts":1732240005,"hello":"tls","banner":"* OK IMAP4rev1 ready\\r\\n","tls_version":"TLSv1.2","tls_cipher":"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256","cert_chain":0}"#));
    }

    #[test]
    fn os_hints_follow_the_seven_facts() {
        let text = crate::output::tests::render_os(FormatKind::Ndjson);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            r#"{"ip":"198.18.4.10","port":80,"proto":"tcp","state":"open","reason":"syn-ack","ttl":64,"ts":1732240000,"os":"linux"}"#
        );
        assert_eq!(
            lines[3],
            r#"{"ip":"198.18.4.13","port":80,"proto":"tcp","state":"open","reason":"syn-ack","ttl":64,"ts":1732240000,"os":"network-device"}"#
        );
        // No guess, no field.
        assert_eq!(
            lines[5],
            r#"{"ip":"198.18.4.8","port":23,"proto":"tcp","state":"closed","reason":"reset","ttl":63,"ts":1732240001}"#
        );
        check_with_python(
            "import json, sys\n\
             for l in sys.stdin.read().splitlines():\n\
             \x20   print(json.loads(l).get('os', '-'))\n",
            &text,
            |out| {
                assert_eq!(
                    out,
                    "linux\nwindows\nbsd\nnetwork-device\nunknown\n-\nwindows\n"
                )
            },
        );
    }
}
