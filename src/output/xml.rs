//! nmap's XML format, valid against nmap.dtd (Debian's nmap-common), so
//! nmap's own tools and XML importers read it.
//!
//! One `<host>` element per finding, as masscan writes it, so results
//! stream out without grouping. The DTD only admits `scanner="nmap"`;
//! synsweep names itself in `args`, `version` and a comment instead.
//!
//! With `--os-hints` a host whose record is an open port's SYN-ACK also
//! gets an `<os>`: the port used and the guess as an `osmatch` (none for
//! an unknown shape), as nmap writes its OS detection.
//!
//! In banner mode an open port also gets what nmap `-sV` and its scripts
//! write: a `<service>` when the service was named, a `<script
//! id="banner">` with the escaped banner, and a `<script id="ssl-cert">`
//! in nmap's words when TLS showed a certificate. Server strings pass
//! through `escape`, which leaves no character XML 1.0 forbids and no
//! line break for attribute normalisation to eat; `attr_into` adds XML's
//! own escapes.

use super::{EndInfo, Format, RunInfo, ctime_utc, escape};
use crate::domain::{Family, OsFamily, Record, State};
use crate::service::{Banner, IdMethod};
use crate::wire::format_mac;
use std::io::Write;

#[derive(Default)]
pub struct Xml {
    /// One escaped value at a time, reused.
    scratch: Vec<u8>,
}

const RUNSTATS: &[u8] = b"<runstats>";

/// Escapes text for an attribute value in double quotes.
fn attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c if (c as u32) < 0x20 => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Appends escaped text (see `escape`) as attribute value content.
fn attr_into(w: &mut Vec<u8>, escaped: &[u8]) {
    for &b in escaped {
        match b {
            b'&' => w.extend_from_slice(b"&amp;"),
            b'<' => w.extend_from_slice(b"&lt;"),
            b'>' => w.extend_from_slice(b"&gt;"),
            b'"' => w.extend_from_slice(b"&quot;"),
            // `escape` leaves none; should one come, it must not reach
            // the document.
            0..0x20 | 0x7f => w.push(b' '),
            _ => w.push(b),
        }
    }
}

impl Xml {
    /// ` key="text"`, the text escaped.
    fn attr(&mut self, w: &mut Vec<u8>, key: &str, text: &str) {
        self.scratch.clear();
        escape::push_text(&mut self.scratch, text);
        let _ = write!(w, " {key}=\"");
        attr_into(w, &self.scratch);
        w.push(b'"');
    }

    fn opt_attr(&mut self, w: &mut Vec<u8>, key: &str, text: &Option<String>) {
        if let Some(t) = text {
            self.attr(w, key, t);
        }
    }

    fn banner(&mut self, w: &mut Vec<u8>, b: &Banner) {
        // nmap.dtd requires a service's name: a port no match named gets
        // no `<service>` (its banner still follows).
        if let Some(id) = &b.id {
            w.extend_from_slice(b"<service");
            self.attr(w, "name", &id.name);
            self.opt_attr(w, "product", &id.product);
            self.opt_attr(w, "version", &id.version);
            self.opt_attr(w, "extrainfo", &id.info);
            self.opt_attr(w, "hostname", &id.hostname);
            self.opt_attr(w, "ostype", &id.ostype);
            self.opt_attr(w, "devicetype", &id.devicetype);
            if id.tunnel.is_some() {
                // The DTD admits only "ssl".
                w.extend_from_slice(b" tunnel=\"ssl\"");
            }
            // nmap's confidence: 10 for a probe's match, 3 for the port's
            // usual service.
            let conf = match id.method {
                IdMethod::Probed => 10,
                IdMethod::Table => 3,
            };
            let _ = write!(w, " method=\"{}\" conf=\"{conf}\"", id.method.as_str());
            if id.cpe.is_empty() {
                w.extend_from_slice(b"/>");
            } else {
                w.push(b'>');
                for cpe in &id.cpe {
                    self.scratch.clear();
                    escape::push_text(&mut self.scratch, cpe);
                    w.extend_from_slice(b"<cpe>");
                    attr_into(w, &self.scratch);
                    w.extend_from_slice(b"</cpe>");
                }
                w.extend_from_slice(b"</service>");
            }
        }
        self.scratch.clear();
        escape::push_bytes(&mut self.scratch, b.findings.banner());
        w.extend_from_slice(b"<script id=\"banner\" output=\"");
        attr_into(w, &self.scratch);
        w.extend_from_slice(b"\"/>");
        if let Some(leaf) = b.findings.tls.as_ref().and_then(|t| t.certs.first()) {
            // nmap's ssl-cert lines, a character reference for each line
            // break so that attribute normalisation keeps them.
            w.extend_from_slice(b"<script id=\"ssl-cert\" output=\"");
            self.line(w, "Subject: ", &leaf.subject);
            if !leaf.sans.is_empty() {
                w.extend_from_slice(b"&#xa;Subject Alternative Name: ");
                for (i, san) in leaf.sans.iter().enumerate() {
                    if i > 0 {
                        w.extend_from_slice(b", ");
                    }
                    self.line(w, "", san);
                }
            }
            self.line(w, "&#xa;Issuer: ", &leaf.issuer);
            self.line(w, "&#xa;Not valid before: ", &leaf.not_before);
            self.line(w, "&#xa;Not valid after:  ", &leaf.not_after);
            w.extend_from_slice(b"\"/>");
        }
    }

    /// `prefix` (already XML) then `text`, escaped.
    fn line(&mut self, w: &mut Vec<u8>, prefix: &str, text: &str) {
        w.extend_from_slice(prefix.as_bytes());
        self.scratch.clear();
        escape::push_text(&mut self.scratch, text);
        attr_into(w, &self.scratch);
    }
}

/// nmap's accuracy for every passive hint: one packet's guess, which an
/// nmap reader should weigh as a coin toss, not as an active match.
pub const HINT_ACCURACY: u8 = 50;

/// The host's `<os>`: the port the guess came from, and the guess as an
/// `osmatch` with its `osclass` (nmap.dtd requires a vendor and family).
/// An unknown shape gets no `osmatch`, as nmap writes a host it could not
/// match.
fn os_element(w: &mut Vec<u8>, r: &Record, os: OsFamily) {
    let _ = write!(
        w,
        "<os><portused state=\"{st}\" proto=\"{proto}\" portid=\"{port}\"/>",
        st = r.state,
        proto = r.proto,
        port = r.port,
    );
    let class = match os {
        OsFamily::Linux => Some(("Linux", "Linux")),
        OsFamily::Windows => Some(("Microsoft", "Windows")),
        OsFamily::Bsd => Some(("BSD", "BSD")),
        OsFamily::NetworkDevice => Some(("unknown", "embedded")),
        OsFamily::Unknown => None,
    };
    if let Some((vendor, family)) = class {
        let kind = match os {
            OsFamily::NetworkDevice => "network device",
            _ => "general purpose",
        };
        let _ = write!(
            w,
            "<osmatch name=\"{name}\" accuracy=\"{a}\" line=\"0\">\
             <osclass type=\"{kind}\" vendor=\"{vendor}\" osfamily=\"{family}\" accuracy=\"{a}\"/></osmatch>",
            name = os.display_name(),
            a = HINT_ACCURACY,
        );
    }
    w.extend_from_slice(b"</os>");
}

impl Format for Xml {
    fn begin(&mut self, w: &mut Vec<u8>, run: &RunInfo) {
        let _ = write!(
            w,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE nmaprun>\n\
             <!-- synsweep {v} scan initiated {when} -->\n\
             <nmaprun scanner=\"nmap\" args=\"{args}\" start=\"{start}\" startstr=\"{when}\" version=\"synsweep-{v}\" xmloutputversion=\"1.05\">\n",
            v = env!("CARGO_PKG_VERSION"),
            when = ctime_utc(run.start_unix),
            args = attr(&run.command_line),
            start = run.start_unix,
        );
        for scan in &run.scans {
            let _ = writeln!(
                w,
                "<scaninfo type=\"{t}\" protocol=\"{p}\" numservices=\"{n}\" services=\"{ports}\"/>",
                t = scan.scan_type,
                p = scan.protocol,
                n = scan.port_count,
                ports = attr(&scan.ports),
            );
        }
        w.extend_from_slice(b"<verbose level=\"0\"/>\n<debugging level=\"0\"/>\n");
    }

    fn record(&mut self, w: &mut Vec<u8>, r: &Record) {
        let _ = write!(
            w,
            "<host starttime=\"{ts}\" endtime=\"{ts}\"><status state=\"up\" reason=\"{why}\" reason_ttl=\"{ttl}\"/>\
             <address addr=\"{ip}\" addrtype=\"{family}\"/>",
            ts = r.ts,
            why = r.reason,
            ttl = r.ttl,
            ip = r.ip,
            family = Family::of(&r.ip).addrtype(),
        );
        if let Some(mac) = &r.mac {
            // nmap writes MACs in capitals.
            let mac = format_mac(mac).to_ascii_uppercase();
            let _ = write!(w, "<address addr=\"{mac}\" addrtype=\"mac\"/>");
        }
        // A discovered host has no port: its status says it all.
        if r.state != State::Up {
            let _ = write!(
                w,
                "<ports><port protocol=\"{proto}\" portid=\"{port}\">\
                 <state state=\"{st}\" reason=\"{why}\" reason_ttl=\"{ttl}\"/>",
                proto = r.proto,
                port = r.port,
                st = r.state,
                why = r.reason,
                ttl = r.ttl,
            );
            if let Some(b) = &r.banner {
                self.banner(w, b);
            }
            w.extend_from_slice(b"</port></ports>");
        }
        if let Some(os) = r.os {
            os_element(w, r, os);
        }
        w.extend_from_slice(b"</host>\n");
    }

    fn end(&mut self, w: &mut Vec<u8>, _run: &RunInfo, end: &EndInfo) {
        let _ = write!(
            w,
            "<runstats><finished time=\"{t}\" timestr=\"{when}\" elapsed=\"{e:.2}\" summary=\"synsweep done: {n} results in {e:.2} seconds\" exit=\"success\"/>\
             <hosts up=\"{n}\" down=\"0\" total=\"{n}\"/></runstats>\n</nmaprun>\n",
            t = end.end_unix,
            when = ctime_utc(end.end_unix),
            e = end.elapsed.as_secs_f64(),
            n = end.records,
        );
    }

    fn footer_start(&self, text: &[u8]) -> usize {
        text.windows(RUNSTATS.len())
            .rposition(|w| w == RUNSTATS)
            .unwrap_or(text.len())
    }

    fn is_record(&self, line: &[u8]) -> bool {
        line.starts_with(b"<host ")
    }
}

#[cfg(test)]
mod tests {
    use super::attr;
    use crate::output::FormatKind;
    use crate::output::tests::{
        banner_records, check_round_trip, check_with_python, render, render_records,
    };

    /// `xmllint --dtdvalid` against nmap's DTD (Debian's nmap-common).
    pub fn assert_valid_nmap_xml(xml: &str, name: &str) {
        let path =
            std::env::temp_dir().join(format!("synsweep-test-{name}-{}.xml", std::process::id()));
        std::fs::write(&path, xml).unwrap();
        let o = std::process::Command::new("xmllint")
            .args(["--noout", "--dtdvalid", "/usr/share/nmap/nmap.dtd"])
            .arg(&path)
            .output()
            .expect("xmllint is installed (scripts/deps.sh test)");
        let _ = std::fs::remove_file(&path);
        assert!(
            o.status.success(),
            "xmllint: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    #[test]
    fn nmap_xml_document() {
        let x = render(FormatKind::Xml);
        assert!(x.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE nmaprun>\n"));
        assert!(x.contains("<nmaprun scanner=\"nmap\" args=\"synsweep 198.18.0.0/20 -p 23,25,80 --format x\" start=\"1732240000\""));
        assert!(x.contains(
            "<scaninfo type=\"syn\" protocol=\"tcp\" numservices=\"3\" services=\"23,25,80\"/>"
        ));
        assert!(x.contains("<address addr=\"198.18.14.0\" addrtype=\"ipv4\"/><ports><port protocol=\"tcp\" portid=\"25\"><state state=\"filtered\" reason=\"admin-prohibited\" reason_ttl=\"255\"/>"));
        assert!(x.contains("<address addr=\"2001:2:0:300::1abc\" addrtype=\"ipv6\"/><ports><port protocol=\"tcp\" portid=\"443\"><state state=\"filtered\" reason=\"no-route\" reason_ttl=\"64\"/>"));
        assert!(x.contains("<status state=\"up\" reason=\"arp-response\" reason_ttl=\"0\"/><address addr=\"198.19.250.7\" addrtype=\"ipv4\"/><address addr=\"02:73:73:77:0A:02\" addrtype=\"mac\"/></host>"));
        assert!(x.contains("<hosts up=\"5\" down=\"0\" total=\"5\"/></runstats>\n</nmaprun>\n"));
        assert_eq!(x.matches("<host ").count(), 5);
    }

    #[test]
    fn attributes_are_escaped() {
        assert_eq!(attr("a\"b<c>&d\te"), "a&quot;b&lt;c&gt;&amp;d e");
    }

    #[test]
    fn plain_and_banner_documents_are_valid_nmap_xml() {
        assert_valid_nmap_xml(&render(FormatKind::Xml), "plain");
        assert_valid_nmap_xml(
            &render_records(FormatKind::Xml, &banner_records()),
            "banners",
        );
    }

    #[test]
    fn banner_ports_have_service_banner_and_certificate() {
        let x = render_records(FormatKind::Xml, &banner_records());
        assert!(x.contains(
            "<port protocol=\"tcp\" portid=\"22\"><state state=\"open\" reason=\"syn-ack\" reason_ttl=\"64\"/>\
             <service name=\"ssh\" product=\"OpenSSH\" version=\"9.2p1 Debian 2+deb12u3\" extrainfo=\"protocol 2.0\" ostype=\"Linux\" method=\"probed\" conf=\"10\">\
             <cpe>cpe:/a:openbsd:openssh:9.2p1</cpe><cpe>cpe:/o:linux:linux_kernel</cpe></service>\
             <script id=\"banner\" output=\"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\\r\\n\"/></port>"
        ));
        // No name, no <service> (the DTD requires one); the banner stays.
        assert!(x.contains(
            "portid=\"8080\"><state state=\"open\" reason=\"syn-ack\" reason_ttl=\"63\"/><script id=\"banner\" output=\"\"/></port>"
        ));
        assert!(x.contains("method=\"table\" conf=\"3\""));
        assert!(x.contains(" tunnel=\"ssl\""));
        assert!(x.contains(
            "<script id=\"ssl-cert\" output=\"Subject: CN=&quot;evil&quot;, O=Evil &quot;prod&quot;, 'x' &lt;a&gt;&amp;amp; \\\\ \\r\\n\\t\\x00\\x1b\\x7f\\xc2\\x85\\xe2\\x80\\xa8\\xef\\xbf\\xbe Ünï 日本&#xa;\
             Subject Alternative Name: a.example, b,&quot;c&quot;\\n&lt;d&gt;&#xa;\
             Issuer: CN=Evil CA, O=&quot;Q, \\\\&quot; Ltd&quot;&#xa;\
             Not valid before: 2026-11-30T00:00:00Z&#xa;Not valid after:  2027-11-30T00:00:00Z\\n\"/>"
        ));
        assert_eq!(x.matches("<host ").count(), banner_records().len());
        assert_eq!(
            x.lines().filter(|l| l.starts_with("<host ")).count(),
            banner_records().len()
        );
    }

    #[test]
    fn hostile_banners_come_back_from_the_parsed_document() {
        let x = render_records(FormatKind::Xml, &banner_records());
        check_with_python(
            "import sys, xml.etree.ElementTree as ET\n\
             root = ET.fromstring(sys.stdin.read().encode('utf-8'))\n\
             for host in root.iter('host'):\n\
             \x20   b = host.find('.//script[@id=\"banner\"]')\n\
             \x20   c = host.find('.//script[@id=\"ssl-cert\"]')\n\
             \x20   s = host.find('.//service')\n\
             \x20   subject = c.get('output').split('\\n')[0][len('Subject: '):] if c is not None else ''\n\
             \x20   product = (s.get('product') or '') if s is not None else ''\n\
             \x20   print((b.get('output') if b is not None else '') + '\\t' + subject + '\\t' + product)\n",
            &x,
            check_round_trip,
        );
    }

    #[test]
    fn os_hints_are_valid_os_elements() {
        let x = crate::output::tests::render_os(FormatKind::Xml);
        assert_valid_nmap_xml(&x, "os");
        assert!(x.contains(
            "<address addr=\"198.18.4.10\" addrtype=\"ipv4\"/><ports><port protocol=\"tcp\" portid=\"80\"><state state=\"open\" reason=\"syn-ack\" reason_ttl=\"64\"/></port></ports>\
             <os><portused state=\"open\" proto=\"tcp\" portid=\"80\"/><osmatch name=\"Linux\" accuracy=\"50\" line=\"0\">\
             <osclass type=\"general purpose\" vendor=\"Linux\" osfamily=\"Linux\" accuracy=\"50\"/></osmatch></os></host>"
        ));
        assert!(x.contains("osmatch name=\"Microsoft Windows\""));
        assert!(x.contains("osmatch name=\"BSD or macOS\""));
        assert!(
            x.contains("<osclass type=\"network device\" vendor=\"unknown\" osfamily=\"embedded\"")
        );
        // Unknown: the port used, no match.
        assert!(x.contains(
            "<address addr=\"198.18.4.14\" addrtype=\"ipv4\"/><ports><port protocol=\"tcp\" portid=\"80\"><state state=\"open\" reason=\"syn-ack\" reason_ttl=\"64\"/></port></ports>\
             <os><portused state=\"open\" proto=\"tcp\" portid=\"80\"/></os></host>"
        ));
        assert_eq!(x.matches("<os>").count(), 6);
    }
}
