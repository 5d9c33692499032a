//! masscan's `-oL` format: `STATE tcp PORT IP TIMESTAMP`, between a
//! `#masscan`-style first line and a `# end` last line, which masscan's
//! readers expect and skip.

use super::Format;
use crate::rx::Finding;
use std::io::{self, Write};

pub struct List;

impl Format for List {
    fn begin(&mut self, w: &mut dyn Write) -> io::Result<()> {
        w.write_all(b"#synsweep\n")
    }

    fn record(&mut self, w: &mut dyn Write, f: &Finding) -> io::Result<()> {
        writeln!(w, "{} tcp {} {} {}", f.state, f.port, f.ip, f.ts)
    }

    fn end(&mut self, w: &mut dyn Write) -> io::Result<()> {
        w.write_all(b"# end\n")
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
             # end\n"
        );
    }
}
