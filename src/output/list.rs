//! masscan's `-oL` format: `STATE PROTO PORT IP TIMESTAMP`, between a
//! `#masscan`-style first line and a `# end` last line, which masscan's
//! readers expect and skip.

use super::{EndInfo, Format, RunInfo};
use crate::domain::Record;
use std::io::Write;

pub struct List;

const FOOTER: &[u8] = b"# end\n";

impl Format for List {
    fn begin(&mut self, w: &mut Vec<u8>, _run: &RunInfo) {
        w.extend_from_slice(b"#synsweep\n");
    }

    fn record(&mut self, w: &mut Vec<u8>, r: &Record) {
        // Writing to a Vec cannot fail.
        let _ = writeln!(w, "{} {} {} {} {}", r.state, r.proto, r.port, r.ip, r.ts);
    }

    fn end(&mut self, w: &mut Vec<u8>, _run: &RunInfo, _end: &EndInfo) {
        w.extend_from_slice(FOOTER);
    }

    fn footer_start(&self, text: &[u8]) -> usize {
        if text.ends_with(FOOTER) {
            text.len() - FOOTER.len()
        } else {
            text.len()
        }
    }

    fn is_record(&self, line: &[u8]) -> bool {
        line.first().is_some_and(|&b| b != b'#')
    }
}

#[cfg(test)]
mod tests {
    use crate::output::FormatKind;
    use crate::output::tests::render;

    #[test]
    fn masscan_list_lines() {
        assert_eq!(
            render(FormatKind::List),
            "#synsweep\n\
             open tcp 80 198.18.4.7 1732240000\n\
             closed tcp 23 198.18.4.8 1732240001\n\
             filtered tcp 25 198.18.14.0 1732240002\n\
             filtered tcp 443 2001:2:0:300::1abc 1732240003\n\
             up icmp 0 198.19.250.7 1732240004\n\
             # end\n"
        );
    }
}
