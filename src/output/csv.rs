//! CSV (RFC 4180) with a header row naming the same fields as ndjson.
//!
//! An `--os-hints` run (`RunInfo::os_hints`) has an `os` column after the
//! seven facts, in every row, empty where a record has no guess.
//!
//! A banner run (`RunInfo::banners`) has more columns, the same in every
//! row, empty where a record has nothing to say. Server bytes and strings
//! pass through `escape` first, so no field holds a line break and a row
//! is always one line (which continuing a file relies on); a field with a
//! comma or a quote is quoted, its quotes doubled. Without banners no
//! field can hold either (an IPv6 address has colons, a state may have a
//! `|`), so nothing is quoted and the rows are what they always were.

use super::{Format, RunInfo, escape};
use crate::domain::Record;
use crate::service::Banner;
use std::io::Write;

pub const HEADER: &str = "ip,port,proto,state,reason,ttl,ts";

/// The columns a banner run adds after `HEADER`'s.
pub const BANNER_COLUMNS: &str = "service,product,version,info,cpe,tunnel,method,hello,banner,\
                                  tls_version,tls_cipher,cert_subject,cert_issuer,cert_sans,\
                                  cert_not_before,cert_not_after";

/// The column an `--os-hints` run adds after `HEADER`'s (before any
/// banner columns): the OS guess, empty where a record has none.
pub const OS_COLUMN: &str = "os";

#[derive(Default)]
pub struct Csv {
    /// A banner run: every row has `BANNER_COLUMNS` too.
    banners: bool,
    /// An `--os-hints` run: every row has `OS_COLUMN` too.
    os_hints: bool,
    /// One escaped field at a time, reused.
    scratch: Vec<u8>,
}

impl Csv {
    pub fn new(run: &RunInfo) -> Csv {
        Csv {
            banners: run.banners,
            os_hints: run.os_hints,
            scratch: Vec::new(),
        }
    }

    fn header(&self) -> String {
        let mut h = HEADER.to_string();
        if self.os_hints {
            h = format!("{h},{OS_COLUMN}");
        }
        if self.banners {
            h = format!("{h},{BANNER_COLUMNS}");
        }
        h
    }

    /// Appends `,` and the escaped, quoted-if-needed field.
    fn field(&mut self, w: &mut Vec<u8>, escaped: impl FnOnce(&mut Vec<u8>)) {
        self.scratch.clear();
        escaped(&mut self.scratch);
        w.push(b',');
        quote(w, &self.scratch);
    }

    fn text(&mut self, w: &mut Vec<u8>, text: Option<&str>) {
        self.field(w, |s| escape::push_text(s, text.unwrap_or("")));
    }

    /// Several texts in one field, a space between them.
    fn texts(&mut self, w: &mut Vec<u8>, texts: &[String]) {
        self.field(w, |s| {
            for (i, t) in texts.iter().enumerate() {
                if i > 0 {
                    s.push(b' ');
                }
                escape::push_text(s, t);
            }
        });
    }

    fn banner(&mut self, w: &mut Vec<u8>, b: Option<&Banner>) {
        let id = b.and_then(|b| b.id.as_ref());
        let f = b.map(|b| &b.findings);
        let tls = f.and_then(|f| f.tls.as_ref());
        let leaf = tls.and_then(|t| t.certs.first());
        self.text(w, id.map(|i| i.name.as_str()));
        self.text(w, id.and_then(|i| i.product.as_deref()));
        self.text(w, id.and_then(|i| i.version.as_deref()));
        self.text(w, id.and_then(|i| i.info.as_deref()));
        self.texts(w, id.map_or(&[], |i| &i.cpe));
        self.text(w, id.and_then(|i| i.tunnel));
        self.text(w, id.map(|i| i.method.as_str()));
        self.text(w, f.and_then(|f| f.hello).map(|h| h.name()));
        self.field(w, |s| {
            if let Some(f) = f {
                escape::push_bytes(s, f.banner());
            }
        });
        self.text(w, tls.map(|t| t.version.as_str()));
        self.text(w, tls.map(|t| t.cipher.as_str()));
        self.text(w, leaf.map(|c| c.subject.as_str()));
        self.text(w, leaf.map(|c| c.issuer.as_str()));
        self.texts(w, leaf.map_or(&[], |c| &c.sans));
        self.text(w, leaf.map(|c| c.not_before.as_str()));
        self.text(w, leaf.map(|c| c.not_after.as_str()));
    }
}

/// Appends a field, in double quotes (its own doubled) if it holds a
/// comma, a quote or a line break.
fn quote(w: &mut Vec<u8>, field: &[u8]) {
    if !field
        .iter()
        .any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
    {
        w.extend_from_slice(field);
        return;
    }
    w.push(b'"');
    for &b in field {
        if b == b'"' {
            w.push(b'"');
        }
        w.push(b);
    }
    w.push(b'"');
}

impl Format for Csv {
    fn begin(&mut self, w: &mut Vec<u8>, _run: &RunInfo) {
        w.extend_from_slice(self.header().as_bytes());
        w.push(b'\n');
    }

    fn record(&mut self, w: &mut Vec<u8>, r: &Record) {
        // Writing to a Vec cannot fail.
        let _ = write!(
            w,
            "{},{},{},{},{},{},{}",
            r.ip, r.port, r.proto, r.state, r.reason, r.ttl, r.ts
        );
        if self.os_hints {
            // One word of `[a-z-]`: nothing to quote.
            w.push(b',');
            if let Some(os) = r.os {
                w.extend_from_slice(os.as_str().as_bytes());
            }
        }
        if self.banners {
            self.banner(w, r.banner.as_deref());
        }
        w.push(b'\n');
    }

    fn is_record(&self, line: &[u8]) -> bool {
        !line.is_empty() && !line.starts_with(b"ip,")
    }

    fn continues(&self, first_line: &[u8]) -> Result<(), String> {
        let header = self.header();
        if first_line.starts_with(b"ip,") && first_line != header.as_bytes() {
            return Err(format!(
                "its columns ({}) are not this run's ({header}): write to another file",
                String::from_utf8_lossy(first_line)
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::quote;
    use crate::output::FormatKind;
    use crate::output::tests::{
        banner_records, check_round_trip, check_with_python, render, render_records,
    };

    #[test]
    fn header_then_rows() {
        assert_eq!(
            render(FormatKind::Csv),
            "ip,port,proto,state,reason,ttl,ts\n\
             198.18.4.7,80,tcp,open,syn-ack,64,1732240000\n\
             198.18.4.8,23,tcp,closed,reset,63,1732240001\n\
             198.18.14.0,25,tcp,filtered,admin-prohibited,255,1732240002\n\
             2001:2:0:300::1abc,443,tcp,filtered,no-route,64,1732240003\n\
             198.19.250.7,0,icmp,up,arp-response,0,1732240004\n"
        );
    }

    #[test]
    fn fields_with_commas_or_quotes_are_quoted() {
        let q = |s: &str| {
            let mut w = Vec::new();
            quote(&mut w, s.as_bytes());
            String::from_utf8(w).unwrap()
        };
        assert_eq!(q("plain"), "plain");
        assert_eq!(q(""), "");
        assert_eq!(q("a,b"), "\"a,b\"");
        assert_eq!(q("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(q("a\r\nb"), "\"a\r\nb\"");
    }

    #[test]
    fn banner_runs_have_the_banner_columns_in_every_row() {
        let text = render_records(FormatKind::Csv, &banner_records());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "ip,port,proto,state,reason,ttl,ts,service,product,version,info,cpe,tunnel,method,hello,banner,\
             tls_version,tls_cipher,cert_subject,cert_issuer,cert_sans,cert_not_before,cert_not_after"
        );
        assert_eq!(
            lines[1],
            "198.18.4.7,22,tcp,open,syn-ack,64,1732240000,ssh,OpenSSH,9.2p1 Debian 2+deb12u3,protocol 2.0,\
             cpe:/a:openbsd:openssh:9.2p1 cpe:/o:linux:linux_kernel,,probed,,SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\\r\\n,,,,,,,"
        );
        assert_eq!(
            lines[2],
            "198.18.4.8,8080,tcp,open,syn-ack,63,1732240001,,,,,,,,http,,,,,,,,"
        );
        // One line per record: no server byte can start a new row.
        assert_eq!(lines.len(), 1 + banner_records().len());
    }

    #[test]
    fn hostile_banners_parse_as_csv_row_for_row() {
        let text = render_records(FormatKind::Csv, &banner_records());
        check_with_python(
            "import csv, io, sys\n\
             rows = list(csv.reader(io.StringIO(sys.stdin.read(), newline=''), strict=True))\n\
             head = rows[0]\n\
             assert len(head) == 23, head\n\
             for r in rows[1:]:\n\
             \x20   assert len(r) == len(head), r\n\
             \x20   d = dict(zip(head, r))\n\
             \x20   print(d['banner'] + '\\t' + d['cert_subject'] + '\\t' + d['product'])\n",
            &text,
            check_round_trip,
        );
    }

    #[test]
    fn os_hint_runs_have_an_os_column_in_every_row() {
        let text = render_os_csv();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "ip,port,proto,state,reason,ttl,ts,os");
        assert_eq!(
            lines[1],
            "198.18.4.10,80,tcp,open,syn-ack,64,1732240000,linux"
        );
        assert_eq!(
            lines[4],
            "198.18.4.13,80,tcp,open,syn-ack,64,1732240000,network-device"
        );
        assert_eq!(lines[6], "198.18.4.8,23,tcp,closed,reset,63,1732240001,");
        assert!(lines.iter().all(|l| l.matches(',').count() == 7), "{text}");
        // With banners too, the os column comes first.
        let both = super::Csv::new(&crate::output::RunInfo {
            os_hints: true,
            banners: true,
            ..Default::default()
        });
        assert!(
            both.header()
                .starts_with("ip,port,proto,state,reason,ttl,ts,os,service,")
        );
        // A file of another run's columns is not continued.
        use crate::output::Format as _;
        let plain = super::Csv::new(&Default::default());
        assert!(plain.continues(lines[0].as_bytes()).is_err());
    }

    fn render_os_csv() -> String {
        crate::output::tests::render_os(FormatKind::Csv)
    }
}
