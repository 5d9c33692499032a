//! masscan's `-oL` format: `STATE PROTO PORT IP TIMESTAMP`, between a
//! `#masscan`-style first line and a `# end` last line, which masscan's
//! readers expect and skip.
//!
//! With `--os-hints` an open port's line has a sixth word, its OS guess
//! (`open tcp 80 198.18.4.7 1732240000 linux`).
//!
//! In banner mode an open port's line is followed, as masscan does it, by
//! `banner tcp PORT IP TIMESTAMP SERVICE BANNER`: the service's name (or
//! the hello spoken, or `unknown`) as one word, then the escaped banner to
//! the end of the line.

use super::{EndInfo, Format, RunInfo, escape, line_start};
use crate::domain::Record;
use crate::service::Banner;
use std::io::Write;

pub struct List;

const FOOTER: &[u8] = b"# end\n";
const BANNER: &[u8] = b"banner ";

/// Appends the SERVICE word: escaped, and a space (a name is untrusted
/// text too) as `\x20`, which unescapes like any other byte.
fn service_word(w: &mut Vec<u8>, b: &Banner) {
    let name = match (&b.id, b.findings.hello) {
        (Some(id), _) => id.name.as_str(),
        (None, Some(hello)) => hello.name(),
        (None, None) => "unknown",
    };
    let start = w.len();
    escape::push_text(w, if name.is_empty() { "unknown" } else { name });
    let spaces = w[start..].iter().filter(|&&b| b == b' ').count();
    if spaces > 0 {
        let word = w.split_off(start);
        for b in word {
            if b == b' ' {
                w.extend_from_slice(b"\\x20");
            } else {
                w.push(b);
            }
        }
    }
}

impl Format for List {
    fn begin(&mut self, w: &mut Vec<u8>, _run: &RunInfo) {
        w.extend_from_slice(b"#synsweep\n");
    }

    fn record(&mut self, w: &mut Vec<u8>, r: &Record) {
        // Writing to a Vec cannot fail.
        let _ = write!(w, "{} {} {} {} {}", r.state, r.proto, r.port, r.ip, r.ts);
        if let Some(os) = r.os {
            let _ = write!(w, " {os}");
        }
        w.push(b'\n');
        if let Some(b) = &r.banner {
            let _ = write!(w, "banner {} {} {} {} ", r.proto, r.port, r.ip, r.ts);
            service_word(w, b);
            w.push(b' ');
            escape::push_bytes(w, b.findings.banner());
            w.push(b'\n');
        }
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

    /// A record is its open line and, in banner mode, the banner line
    /// after it: a banner line cut short takes its open line with it, so
    /// the record is written again whole. (Cut exactly between the two,
    /// the open line stays and is written again with its banner: a
    /// repeat, as at any resume seam.)
    fn whole_records(&self, text: &[u8]) -> usize {
        let cut = line_start(text, text.len());
        // Only a banner line starts with `b`: one byte of it is enough.
        if cut > 0 && text[cut..].starts_with(b"b") {
            line_start(text, cut - 1)
        } else {
            cut
        }
    }

    /// A banner line belongs to the open line above it: kept when a file
    /// is continued, but not counted again.
    fn is_record(&self, line: &[u8]) -> bool {
        line.first().is_some_and(|&b| b != b'#') && !line.starts_with(BANNER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::FormatKind;
    use crate::output::tests::{banner_records, expected_banner, render, render_records};

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

    #[test]
    fn banner_lines_follow_open_lines() {
        let text = render_records(FormatKind::List, &banner_records());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[..5],
            [
                "#synsweep",
                "open tcp 22 198.18.4.7 1732240000",
                "banner tcp 22 198.18.4.7 1732240000 ssh SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\\r\\n",
                "open tcp 8080 198.18.4.8 1732240001",
                "banner tcp 8080 198.18.4.8 1732240001 http ",
            ]
        );
        // Every banner comes back from its line, whatever the server sent.
        let banners: Vec<Vec<u8>> = lines
            .iter()
            .filter(|l| l.starts_with("banner "))
            .map(|l| {
                assert!(l.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{l}");
                let f: Vec<&str> = l.splitn(7, ' ').collect();
                assert_eq!(f.len(), 7, "{l}");
                escape::unescape(f[6].as_bytes()).unwrap()
            })
            .collect();
        let want: Vec<Vec<u8>> = banner_records()
            .iter()
            .filter(|r| r.banner.is_some())
            .map(expected_banner)
            .collect();
        assert_eq!(banners, want);
        assert!(!List.is_record(lines[2].as_bytes()));
        assert!(List.is_record(lines[1].as_bytes()));
    }

    #[test]
    fn a_service_word_never_holds_a_space() {
        let b = Banner {
            id: Some(crate::service::ServiceId {
                name: "a b\tc".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut w = Vec::new();
        service_word(&mut w, &b);
        assert_eq!(w, b"a\\x20b\\tc");
        assert_eq!(escape::unescape(&w).unwrap(), b"a b\tc");
    }

    #[test]
    fn os_hints_are_a_sixth_word_of_open_lines() {
        let text = crate::output::tests::render_os(FormatKind::List);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1..8],
            [
                "open tcp 80 198.18.4.10 1732240000 linux",
                "open tcp 80 198.18.4.11 1732240000 windows",
                "open tcp 80 198.18.4.12 1732240000 bsd",
                "open tcp 80 198.18.4.13 1732240000 network-device",
                "open tcp 80 198.18.4.14 1732240000 unknown",
                "closed tcp 23 198.18.4.8 1732240001",
                "open tcp 443 2001:2:0:300::1abc 1732240003 windows",
            ]
        );
        assert!(lines[1..8].iter().all(|l| List.is_record(l.as_bytes())));
    }
}
