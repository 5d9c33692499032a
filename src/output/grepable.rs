//! nmap's grepable format (`-oG`): a comment header, one `Host:` line per
//! finding with nmap's seven slash-separated port fields (port, state,
//! protocol, owner, service, RPC info, version), and a comment footer.

use super::{EndInfo, Format, RunInfo, ctime_utc};
use crate::domain::{Record, State};
use std::io::Write;

pub struct Grepable;

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
        let _ = if r.state == State::Up {
            writeln!(w, "Host: {} ()\tStatus: Up", r.ip)
        } else {
            writeln!(
                w,
                "Host: {} ()\tPorts: {}/{}/{}/////",
                r.ip, r.port, r.state, r.proto
            )
        };
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
    use crate::output::tests::render;

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
}
