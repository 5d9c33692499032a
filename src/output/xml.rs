//! nmap's XML format, valid against nmap.dtd (Debian's nmap-common), so
//! nmap's own tools and XML importers read it.
//!
//! One `<host>` element per finding, as masscan writes it, so results
//! stream out without grouping. The DTD only admits `scanner="nmap"`;
//! synsweep names itself in `args`, `version` and a comment instead.

use super::{EndInfo, Format, RunInfo, ctime_utc};
use crate::domain::{Family, Record, State};
use crate::wire::format_mac;
use std::io::Write;

#[derive(Default)]
pub struct Xml;

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
                 <state state=\"{st}\" reason=\"{why}\" reason_ttl=\"{ttl}\"/></port></ports>",
                proto = r.proto,
                port = r.port,
                st = r.state,
                why = r.reason,
                ttl = r.ttl,
            );
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
    use crate::output::tests::render;

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
}
