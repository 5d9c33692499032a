//! The target, exclusion and port grammar.
//!
//! Targets and exclusions: `198.18.4.7`, `198.18.4.0/22`,
//! `198.18.4.1-198.18.5.20`, several per argument separated by commas; files
//! hold the same tokens separated by commas or whitespace, with `#` comments
//! and blank lines. Ports: `22,80,8000-8100`.

use super::ranges::Ipv4Range;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

pub const TARGET_FORMS: &str = "accepted: 198.18.4.7, 198.18.4.0/22, 198.18.4.1-198.18.5.20";
pub const PORT_FORMS: &str =
    "accepted: 22, 8000-8100, or a comma list like 22,80,8000-8100 (ports 0-65535)";

/// Where a token came from, so an error can point at it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A command-line option or positional argument, e.g. `--exclude`.
    Arg(&'static str),
    /// A line of a file (1-based).
    Line { path: PathBuf, line: usize },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Arg(name) => write!(f, "{name}"),
            Origin::Line { path, line } => write!(f, "{}:{line}", path.display()),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum GrammarError {
    Target {
        origin: Origin,
        token: String,
        why: String,
    },
    Ports {
        origin: Origin,
        token: String,
        why: String,
    },
    File {
        path: PathBuf,
        why: String,
    },
}

impl fmt::Display for GrammarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GrammarError::Target { origin, token, why } => {
                write!(f, "{origin}: bad target {token:?}: {why} ({TARGET_FORMS})")
            }
            GrammarError::Ports { origin, token, why } => {
                write!(f, "{origin}: bad port list {token:?}: {why} ({PORT_FORMS})")
            }
            GrammarError::File { path, why } => {
                write!(f, "cannot read {}: {why}", path.display())
            }
        }
    }
}

impl std::error::Error for GrammarError {}

fn parse_addr(s: &str) -> Result<u32, String> {
    s.parse::<Ipv4Addr>()
        .map(u32::from)
        .map_err(|_| format!("{s:?} is not an IPv4 address"))
}

/// One target token: a single address, a CIDR block or a first-last range.
pub fn parse_target(token: &str) -> Result<Ipv4Range, String> {
    if token.is_empty() {
        return Err("empty target".into());
    }
    if let Some((addr, prefix)) = token.split_once('/') {
        let addr = parse_addr(addr)?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("prefix length {prefix:?} is not a number 0-32"))?;
        return Ok(Ipv4Range::cidr(addr, prefix));
    }
    if let Some((first, last)) = token.split_once('-') {
        let (first, last) = (parse_addr(first)?, parse_addr(last)?);
        if first > last {
            return Err(format!(
                "range starts at {} after it ends at {}",
                Ipv4Addr::from(first),
                Ipv4Addr::from(last)
            ));
        }
        return Ok(Ipv4Range::new(first, last));
    }
    let addr = parse_addr(token)?;
    Ok(Ipv4Range::new(addr, addr))
}

/// A comma-separated list of targets from one argument.
pub fn parse_target_list(arg: &str, origin: &Origin) -> Result<Vec<Ipv4Range>, GrammarError> {
    arg.split(',')
        .map(|t| {
            parse_target(t.trim()).map_err(|why| GrammarError::Target {
                origin: origin.clone(),
                token: t.trim().to_string(),
                why,
            })
        })
        .collect()
}

/// The targets in a file's text: tokens separated by commas or whitespace,
/// `#` starts a comment, blank lines are skipped.
pub fn parse_target_text(text: &str, path: &Path) -> Result<Vec<Ipv4Range>, GrammarError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let content = line.split('#').next().unwrap_or("");
        for token in content
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
        {
            let range = parse_target(token).map_err(|why| GrammarError::Target {
                origin: Origin::Line {
                    path: path.to_path_buf(),
                    line: i + 1,
                },
                token: token.to_string(),
                why,
            })?;
            out.push(range);
        }
    }
    Ok(out)
}

pub fn read_target_file(path: &Path) -> Result<Vec<Ipv4Range>, GrammarError> {
    let bytes = std::fs::read(path).map_err(|e| GrammarError::File {
        path: path.to_path_buf(),
        why: e.to_string(),
    })?;
    let text = String::from_utf8(bytes).map_err(|e| GrammarError::File {
        path: path.to_path_buf(),
        why: format!(
            "not UTF-8 text (byte offset {})",
            e.utf8_error().valid_up_to()
        ),
    })?;
    parse_target_text(&text, path)
}

/// Inclusive port ranges from `22,80,8000-8100`.
pub fn parse_ports(arg: &str, origin: &Origin) -> Result<Vec<(u16, u16)>, GrammarError> {
    let bad = |token: &str, why: String| GrammarError::Ports {
        origin: origin.clone(),
        token: token.to_string(),
        why,
    };
    let port = |s: &str, token: &str| -> Result<u16, GrammarError> {
        s.trim().parse::<u16>().map_err(|_| {
            bad(
                token,
                format!("{:?} is not a port number 0-65535", s.trim()),
            )
        })
    };
    let mut out = Vec::new();
    for token in arg.split(',') {
        let token = token.trim();
        if token.is_empty() {
            return Err(bad(arg, "empty entry in the list".into()));
        }
        // masscan writes TCP ports as `T:80`; accept it, refuse other protocols.
        let bare = match token.split_once(':') {
            Some((proto, rest)) if proto.eq_ignore_ascii_case("t") => rest,
            Some((proto, _)) => {
                return Err(bad(
                    token,
                    format!("protocol {proto:?} is not supported, only TCP"),
                ));
            }
            None => token,
        };
        let (lo, hi) = match bare.split_once('-') {
            Some((lo, hi)) => (port(lo, token)?, port(hi, token)?),
            None => {
                let p = port(bare, token)?;
                (p, p)
            }
        };
        if lo > hi {
            return Err(bad(
                token,
                format!("range starts at {lo} after it ends at {hi}"),
            ));
        }
        out.push((lo, hi));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARG: Origin = Origin::Arg("target");

    fn one(t: &str) -> String {
        parse_target(t).unwrap().to_string()
    }

    fn err(t: &str) -> String {
        parse_target_list(t, &ARG).unwrap_err().to_string()
    }

    #[test]
    fn target_forms() {
        assert_eq!(one("198.18.4.7"), "198.18.4.7");
        assert_eq!(one("198.18.4.0/22"), "198.18.4.0-198.18.7.255");
        assert_eq!(one("198.18.4.9/30"), "198.18.4.8-198.18.4.11");
        assert_eq!(one("198.18.4.1-198.18.5.20"), "198.18.4.1-198.18.5.20");
        assert_eq!(one("198.18.4.1-198.18.4.1"), "198.18.4.1");
        assert_eq!(one("0.0.0.0/0"), "0.0.0.0-255.255.255.255");
        assert_eq!(
            parse_target_list(" 198.18.0.1 ,198.18.0.0/31", &ARG)
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn malformed_targets_name_the_token_and_the_rule() {
        let cases = [
            (
                "198.18.4.0/33",
                r#"bad target "198.18.4.0/33": prefix length "33" is not a number 0-32"#,
            ),
            (
                "198.18.4.0/",
                r#"bad target "198.18.4.0/": prefix length "" is not a number 0-32"#,
            ),
            ("198.18.4.0/x", r#"prefix length "x" is not a number 0-32"#),
            (
                "198.18.4.256",
                r#"bad target "198.18.4.256": "198.18.4.256" is not an IPv4 address"#,
            ),
            ("198.18.4", r#""198.18.4" is not an IPv4 address"#),
            ("example.com", r#""example.com" is not an IPv4 address"#),
            (
                "198.18.5.1-198.18.4.1",
                "range starts at 198.18.5.1 after it ends at 198.18.4.1",
            ),
            ("198.18.4.1-", r#""" is not an IPv4 address"#),
            ("198.18.4.1-20", r#""20" is not an IPv4 address"#),
            ("198.18.4.1,,198.18.4.2", r#"bad target "": empty target"#),
            ("", "empty target"),
            ("2001:2::1", r#""2001:2::1" is not an IPv4 address"#),
        ];
        for (input, want) in cases {
            let got = err(input);
            assert!(got.contains(want), "{input:?}: {got}");
            assert!(got.starts_with("target: "), "{got}");
            assert!(got.ends_with(&format!("({TARGET_FORMS})")), "{got}");
        }
    }

    #[test]
    fn files_allow_comments_blank_lines_and_name_the_bad_line() {
        let path = Path::new("hosts.txt");
        let text = "# lab hosts\n\n198.18.0.1  198.18.0.2 # two\n198.18.1.0/24,198.18.2.0/24\n";
        assert_eq!(parse_target_text(text, path).unwrap().len(), 4);
        let e = parse_target_text("198.18.0.1\n\n  198.18.0.0/40\n", path).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                r#"hosts.txt:3: bad target "198.18.0.0/40": prefix length "40" is not a number 0-32 ({TARGET_FORMS})"#
            )
        );
        let e = read_target_file(Path::new("/nonexistent/targets")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot read /nonexistent/targets: "),
            "{e}"
        );
    }

    #[test]
    fn port_forms_and_errors() {
        let p = |s| parse_ports(s, &Origin::Arg("--ports"));
        assert_eq!(
            p("22,80,8000-8100").unwrap(),
            vec![(22, 22), (80, 80), (8000, 8100)]
        );
        assert_eq!(p("0-65535").unwrap(), vec![(0, 65535)]);
        assert_eq!(p("T:443, 22").unwrap(), vec![(443, 443), (22, 22)]);
        let cases = [
            (
                "65536",
                r#"bad port list "65536": "65536" is not a port number 0-65535"#,
            ),
            ("80-", r#""" is not a port number"#),
            ("http", r#""http" is not a port number"#),
            ("-5", r#""" is not a port number"#),
            (
                "22,,80",
                r#"bad port list "22,,80": empty entry in the list"#,
            ),
            ("22,", "empty entry in the list"),
            ("", "empty entry in the list"),
            ("100-90", "range starts at 100 after it ends at 90"),
            ("U:53", r#"protocol "U" is not supported, only TCP"#),
        ];
        for (input, want) in cases {
            let got = p(input).unwrap_err().to_string();
            assert!(got.contains(want), "{input:?}: {got}");
            assert!(got.starts_with("--ports: "), "{got}");
            assert!(got.ends_with(&format!("({PORT_FORMS})")), "{got}");
        }
    }
}
