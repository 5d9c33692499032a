//! nmap's grepable format (`-oG`): a comment header, one `Host:` line per
//! finding with nmap's seven slash-separated port fields (port, state,
//! protocol, owner, service, RPC info, version), and a comment footer.
//!
//! With `--os-hints` an open port's line ends in nmap's `OS:` field, the
//! guess's name (`Linux`, `Microsoft Windows`, `BSD or macOS`, `network
//! device`, `unknown`).
//!
//! In banner mode an identified port's service and version fields say
//! what nmap's say: `ssh`, or `ssl|http` through TLS, with a `?` when only
//! the port's usual service is known; then `product version (info)`. As
//! nmap does, a `/` inside them becomes `|`; so does a `,`, which would
//! split the port list. Text passes through `escape` first, so no server
//! string can break the line or its tabs. Banner bytes are not written
//! here (nmap writes none either).

use super::{EndInfo, Format, RunInfo, ctime_utc, escape};
use crate::domain::{Record, State};
use crate::service::{IdMethod, ServiceId};
use std::io::Write;

pub struct Grepable;

/// Appends text escaped, with the field and list separators replaced.
fn field_text(w: &mut Vec<u8>, text: &str) {
    let start = w.len();
    escape::push_text(w, text);
    for b in &mut w[start..] {
        if matches!(*b, b'/' | b',') {
            *b = b'|';
        }
    }
}

/// The service field: nmap's name for the port (`ssl|http`, `http?`).
fn service(w: &mut Vec<u8>, id: &ServiceId) {
    if id.tunnel.is_some() {
        w.extend_from_slice(b"ssl|");
    }
    field_text(w, &id.name);
    if id.method == IdMethod::Table {
        w.push(b'?');
    }
}

/// The version field: `product version (info)`, each part if known.
fn version(w: &mut Vec<u8>, id: &ServiceId) {
    let start = w.len();
    for part in [&id.product, &id.version].into_iter().flatten() {
        if w.len() > start {
            w.push(b' ');
        }
        field_text(w, part);
    }
    if let Some(info) = &id.info {
        if w.len() > start {
            w.push(b' ');
        }
        w.push(b'(');
        field_text(w, info);
        w.push(b')');
    }
}

impl Format for Grepable {
    fn begin(&mut self, w: &mut Vec<u8>, run: &RunInfo) {
        let _ = writeln!(
            w,
            "# synsweep {} scan initiated {} as: {}",
            env!("CARGO_PKG_VERSION"),
            ctime_utc(run.start_unix),
            run.command_line
        );
    }

    fn record(&mut self, w: &mut Vec<u8>, r: &Record) {
        // A discovered host is a status line, as nmap -sn -oG writes it.
        let id = r.banner.as_ref().and_then(|b| b.id.as_ref());
        let _ = match (r.state, id) {
            (State::Up, _) => write!(w, "Host: {} ()\tStatus: Up", r.ip),
            (_, None) => write!(
                w,
                "Host: {} ()\tPorts: {}/{}/{}/////",
                r.ip, r.port, r.state, r.proto
            ),
            (_, Some(id)) => {
                let _ = write!(
                    w,
                    "Host: {} ()\tPorts: {}/{}/{}//",
                    r.ip, r.port, r.state, r.proto
                );
                service(w, id);
                w.extend_from_slice(b"//");
                version(w, id);
                write!(w, "/")
            }
        };
        if let Some(os) = r.os {
            // nmap's OS field: its best match's name.
            let _ = write!(w, "\tOS: {}", os.display_name());
        }
        w.push(b'\n');
    }

    fn end(&mut self, w: &mut Vec<u8>, _run: &RunInfo, end: &EndInfo) {
        let _ = writeln!(
            w,
            "# synsweep done at {} -- {} results in {:.2} seconds",
            ctime_utc(end.end_unix),
            end.records,
            end.elapsed.as_secs_f64()
        );
    }

    fn footer_start(&self, text: &[u8]) -> usize {
        let body = text.strip_suffix(b"\n").unwrap_or(text);
        match body.iter().rposition(|&b| b == b'\n') {
            Some(i) if body[i + 1..].starts_with(b"# synsweep done at ") => i + 1,
            _ => text.len(),
        }
    }

    fn is_record(&self, line: &[u8]) -> bool {
        line.starts_with(b"Host: ")
    }
}

#[cfg(test)]
mod tests {
    use crate::output::FormatKind;
    use crate::output::tests::{banner_records, render, render_records};

    #[test]
    fn nmap_grepable_lines() {
        assert_eq!(
            render(FormatKind::Grepable),
            "# synsweep 0.1.0 scan initiated Fri Nov 22 01:46:40 2024 as: synsweep 198.18.0.0/20 -p 23,25,80 --format x\n\
             Host: 198.18.4.7 ()\tPorts: 80/open/tcp/////\n\
             Host: 198.18.4.8 ()\tPorts: 23/closed/tcp/////\n\
             Host: 198.18.14.0 ()\tPorts: 25/filtered/tcp/////\n\
             Host: 2001:2:0:300::1abc ()\tPorts: 443/filtered/tcp/////\n\
             Host: 198.19.250.7 ()\tStatus: Up\n\
             # synsweep done at Fri Nov 22 01:46:50 2024 -- 5 results in 10.25 seconds\n"
        );
    }

    #[test]
    fn identified_ports_have_nmaps_service_and_version_fields() {
        let text = render_records(FormatKind::Grepable, &banner_records());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1],
            "Host: 198.18.4.7 ()\tPorts: 22/open/tcp//ssh//OpenSSH 9.2p1 Debian 2+deb12u3 (protocol 2.0)/"
        );
        // Named by nobody: the fields stay empty, and no banner is written.
        assert_eq!(lines[2], "Host: 198.18.4.8 ()\tPorts: 8080/open/tcp/////");
        for l in &lines[1..lines.len() - 1] {
            let ports = l.split_once("\tPorts: ").map_or("", |(_, p)| p);
            assert!(!l.chars().any(|c| c.is_control() && c != '\t'), "{l:?}");
            assert_eq!(l.matches('\t').count(), 1, "{l:?}");
            assert!(!ports.contains(','), "{l:?}");
            assert_eq!(ports.matches('/').count(), 7, "{l:?}");
        }
        assert_eq!(lines.len(), banner_records().len() + 2);
    }

    #[test]
    fn os_hints_are_nmaps_os_field() {
        let text = crate::output::tests::render_os(FormatKind::Grepable);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1..8],
            [
                "Host: 198.18.4.10 ()\tPorts: 80/open/tcp/////\tOS: Linux",
                "Host: 198.18.4.11 ()\tPorts: 80/open/tcp/////\tOS: Microsoft Windows",
                "Host: 198.18.4.12 ()\tPorts: 80/open/tcp/////\tOS: BSD or macOS",
                "Host: 198.18.4.13 ()\tPorts: 80/open/tcp/////\tOS: network device",
                "Host: 198.18.4.14 ()\tPorts: 80/open/tcp/////\tOS: unknown",
                "Host: 198.18.4.8 ()\tPorts: 23/closed/tcp/////",
                "Host: 2001:2:0:300::1abc ()\tPorts: 443/open/tcp/////\tOS: Microsoft Windows",
            ]
        );
    }
}
