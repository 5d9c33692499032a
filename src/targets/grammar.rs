//! The target, exclusion and port grammar.
//!
//! Targets and exclusions, either family: `198.18.4.7`, `198.18.4.0/22`,
//! `198.18.4.1-198.18.5.20`, `2001:2::1`, `2001:2::/48`,
//! `2001:2::1-2001:2::ff`; several per argument separated by commas. Files
//! hold the same tokens separated by commas or whitespace, with `#`
//! comments and blank lines, and are read a line at a time so that a hit
//! list of millions of addresses never sits in memory as text. Ports:
//! `22,80,8000-8100`, masscan's `T:80` accepted.

use super::ranges::Range;
use crate::domain::Protocol;
use crate::net::AddrBits;
use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

pub const TARGET_FORMS: &str = "accepted: 198.18.4.7, 198.18.4.0/22, 198.18.4.1-198.18.5.20, 2001:2::1, 2001:2::/48, 2001:2::1-2001:2::ff";
pub const PORT_FORMS: &str = "accepted: 22, 8000-8100, or a comma list like 22,80,8000-8100 (ports 0-65535); T: and U: (TCP, UDP) apply to the ports after them, as in T:22,80,U:53,161";

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

/// A target of either family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnyRange {
    V4(Range<u32>),
    V6(Range<u128>),
}

impl AnyRange {
    pub fn canonical(&self) -> String {
        match self {
            AnyRange::V4(r) => r.canonical(),
            AnyRange::V6(r) => r.canonical(),
        }
    }
}

impl fmt::Display for AnyRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnyRange::V4(r) => r.fmt(f),
            AnyRange::V6(r) => r.fmt(f),
        }
    }
}

fn parse_in<A: AddrBits>(token: &str) -> Result<Range<A>, String> {
    let addr = |s: &str| -> Result<A, String> {
        A::parse(s).ok_or_else(|| format!("{s:?} is not an {} address", A::FAMILY))
    };
    if let Some((a, prefix)) = token.split_once('/') {
        let a = addr(a)?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| u32::from(*p) <= A::BITS)
            .ok_or_else(|| format!("prefix length {prefix:?} is not a number 0-{}", A::BITS))?;
        return Ok(Range::cidr(a, prefix));
    }
    if let Some((first, last)) = token.split_once('-') {
        let (first, last) = (addr(first)?, addr(last)?);
        if first > last {
            return Err(format!(
                "range starts at {} after it ends at {}",
                first.to_ip(),
                last.to_ip()
            ));
        }
        return Ok(Range::new(first, last));
    }
    Ok(Range::single(addr(token)?))
}

/// One target token: an address, a CIDR block or a first-last range, of
/// either family (told apart by the colons of IPv6).
pub fn parse_target(token: &str) -> Result<AnyRange, String> {
    if token.is_empty() {
        return Err("empty target".into());
    }
    let is_v6 = |s: &str| s.contains(':');
    if let Some((head, tail)) = token.split_once('-')
        && !head.is_empty()
        && !tail.is_empty()
        && is_v6(head) != is_v6(tail)
    {
        let (a, b) = if is_v6(head) {
            ("IPv6", "IPv4")
        } else {
            ("IPv4", "IPv6")
        };
        return Err(format!(
            "range {head:?}-{tail:?} mixes {a} and {b}: a range stays within one family"
        ));
    }
    if is_v6(token) {
        parse_in::<u128>(token).map(AnyRange::V6)
    } else {
        // Without a colon it may be a mistyped address of either family.
        parse_in::<u32>(token)
            .map(AnyRange::V4)
            .map_err(|e| e.replace("an IPv4 address", "an IPv4 or IPv6 address"))
    }
}

/// The targets of a comma-separated argument, each handed to `sink`.
pub fn parse_target_list(
    arg: &str,
    origin: &Origin,
    sink: &mut dyn FnMut(AnyRange),
) -> Result<(), GrammarError> {
    for t in arg.split(',') {
        let t = t.trim();
        let r = parse_target(t).map_err(|why| GrammarError::Target {
            origin: origin.clone(),
            token: t.to_string(),
            why,
        })?;
        sink(r);
    }
    Ok(())
}

/// The targets of a file, a line at a time: tokens separated by commas or
/// whitespace, `#` starts a comment, blank lines are skipped.
pub fn read_target_file(path: &Path, sink: &mut dyn FnMut(AnyRange)) -> Result<(), GrammarError> {
    let file_err = |why: String| GrammarError::File {
        path: path.to_path_buf(),
        why,
    };
    let file = std::fs::File::open(path).map_err(|e| file_err(e.to_string()))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut raw = Vec::with_capacity(256);
    let mut line_no = 0;
    loop {
        raw.clear();
        if reader
            .read_until(b'\n', &mut raw)
            .map_err(|e| file_err(e.to_string()))?
            == 0
        {
            return Ok(());
        }
        line_no += 1;
        let line = std::str::from_utf8(&raw).map_err(|e| {
            file_err(format!(
                "line {line_no} is not UTF-8 text (byte {} of the line)",
                e.valid_up_to() + 1
            ))
        })?;
        let content = line.split('#').next().unwrap_or("");
        for token in content
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
        {
            let r = parse_target(token).map_err(|why| GrammarError::Target {
                origin: Origin::Line {
                    path: path.to_path_buf(),
                    line: line_no,
                },
                token: token.to_string(),
                why,
            })?;
            sink(r);
        }
    }
}

/// An inclusive range of ports of one protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    pub proto: Protocol,
    pub first: u16,
    pub last: u16,
}

/// A range as written: for one protocol (`T:`, `U:`), or for every
/// protocol the scan probes (no prefix).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortSpec {
    pub proto: Option<Protocol>,
    pub first: u16,
    pub last: u16,
}

impl PortSpec {
    /// The ranges this spec names when the scan probes `protocols`.
    pub fn resolve(&self, protocols: &[Protocol]) -> Vec<PortRange> {
        let range = |proto| PortRange {
            proto,
            first: self.first,
            last: self.last,
        };
        match self.proto {
            Some(p) => vec![range(p)],
            None => protocols.iter().map(|p| range(*p)).collect(),
        }
    }
}

/// Port ranges of `arg` for a scan of `protocols`: unprefixed ranges are
/// each protocol's; a prefix must name a protocol the scan probes.
pub fn parse_ports_for(
    arg: &str,
    origin: &Origin,
    protocols: &[Protocol],
) -> Result<Vec<PortRange>, GrammarError> {
    let mut out = Vec::new();
    for spec in parse_port_specs(arg, origin)? {
        if let Some(p) = spec.proto
            && !protocols.contains(&p)
        {
            let flag = if p == Protocol::Udp {
                "-sU"
            } else {
                "a TCP scan type"
            };
            return Err(GrammarError::Ports {
                origin: origin.clone(),
                token: arg.to_string(),
                why: format!("{p} ports are given but the scan probes no {p}: add {flag}"),
            });
        }
        out.extend(spec.resolve(protocols));
    }
    Ok(out)
}

/// TCP port ranges from `22,80,8000-8100` (tests and tools).
pub fn parse_ports(arg: &str, origin: &Origin) -> Result<Vec<PortRange>, GrammarError> {
    parse_ports_for(arg, origin, &[Protocol::Tcp])
}

/// Port ranges as written, `T:`/`U:` prefixes (masscan's; nmap's `T:` and
/// `U:` too) applying to the ranges after them.
pub fn parse_port_specs(arg: &str, origin: &Origin) -> Result<Vec<PortSpec>, GrammarError> {
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
    let mut proto = None;
    for token in arg.split(',') {
        let token = token.trim();
        if token.is_empty() {
            return Err(bad(arg, "empty entry in the list".into()));
        }
        let bare = match token.split_once(':') {
            Some((p, rest)) if p.eq_ignore_ascii_case("t") => {
                proto = Some(Protocol::Tcp);
                rest
            }
            Some((p, rest)) if p.eq_ignore_ascii_case("u") => {
                proto = Some(Protocol::Udp);
                rest
            }
            Some((p, _)) => {
                return Err(bad(
                    token,
                    format!("protocol {p:?} is not one synsweep scans: T: (TCP) or U: (UDP)"),
                ));
            }
            None => token,
        };
        let (first, last) = match bare.split_once('-') {
            Some((lo, hi)) => (port(lo, token)?, port(hi, token)?),
            None => {
                let p = port(bare, token)?;
                (p, p)
            }
        };
        if first > last {
            return Err(bad(
                token,
                format!("range starts at {first} after it ends at {last}"),
            ));
        }
        out.push(PortSpec { proto, first, last });
    }
    Ok(out)
}

/// `22,80,8000-8100` from sorted, deduplicated ports.
pub fn port_list(ports: &[u16]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ports.len() {
        let mut j = i;
        while j + 1 < ports.len() && ports[j + 1] == ports[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            ports[i].to_string()
        } else {
            format!("{}-{}", ports[i], ports[j])
        });
        i = j + 1;
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARG: Origin = Origin::Arg("target");

    fn one(t: &str) -> String {
        parse_target(t).unwrap().to_string()
    }

    fn err(t: &str) -> String {
        parse_target_list(t, &ARG, &mut |_| {})
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn target_forms() {
        assert_eq!(one("198.18.4.7"), "198.18.4.7");
        assert_eq!(one("198.18.4.0/22"), "198.18.4.0-198.18.7.255");
        assert_eq!(one("198.18.4.9/30"), "198.18.4.8-198.18.4.11");
        assert_eq!(one("198.18.4.1-198.18.5.20"), "198.18.4.1-198.18.5.20");
        assert_eq!(one("0.0.0.0/0"), "0.0.0.0-255.255.255.255");
        assert_eq!(one("2001:2::1"), "2001:2::1");
        assert_eq!(one("2001:2::1234/116"), "2001:2::1000-2001:2::1fff");
        assert_eq!(one("2001:2::1-2001:2::ff"), "2001:2::1-2001:2::ff");
        assert_eq!(one("::/0"), "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
        assert_eq!(one("::ffff:198.18.0.1"), "::ffff:198.18.0.1");
        let mut n = 0;
        parse_target_list(" 198.18.0.1 ,198.18.0.0/31, 2001:2::/64", &ARG, &mut |_| {
            n += 1
        })
        .unwrap();
        assert_eq!(n, 3);
    }

    #[test]
    fn malformed_targets_name_the_token_and_the_rule() {
        let cases = [
            (
                "198.18.4.0/33",
                r#"bad target "198.18.4.0/33": prefix length "33" is not a number 0-32"#,
            ),
            ("198.18.4.0/", r#"prefix length "" is not a number 0-32"#),
            (
                "198.18.4.256",
                r#"bad target "198.18.4.256": "198.18.4.256" is not an IPv4 or IPv6 address"#,
            ),
            ("198.18.4", r#""198.18.4" is not an IPv4 or IPv6 address"#),
            (
                "example.com",
                r#""example.com" is not an IPv4 or IPv6 address"#,
            ),
            (
                "198.18.5.1-198.18.4.1",
                "range starts at 198.18.5.1 after it ends at 198.18.4.1",
            ),
            ("198.18.4.1-", r#""" is not an IPv4 or IPv6 address"#),
            ("198.18.4.1,,198.18.4.2", r#"bad target "": empty target"#),
            ("", "empty target"),
            (
                "2001:2::/129",
                r#"prefix length "129" is not a number 0-128"#,
            ),
            ("2001:2:::1", r#""2001:2:::1" is not an IPv6 address"#),
            (
                "2001:2::9-2001:2::1",
                "range starts at 2001:2::9 after it ends at 2001:2::1",
            ),
            ("198.18.0.1-2001:2::1", "mixes IPv4 and IPv6"),
            ("2001:2::1-198.18.0.1", "mixes IPv6 and IPv4"),
            ("2001:2::g", r#""2001:2::g" is not an IPv6 address"#),
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
        let dir = std::env::temp_dir().join(format!("synsweep-grammar-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("hosts.txt");
        std::fs::write(
            &path,
            "# lab hosts\n\n198.18.0.1  198.18.0.2 # two\n198.18.1.0/24,2001:2::/120\r\n2001:2::7",
        )
        .unwrap();
        let mut got = Vec::new();
        read_target_file(&path, &mut |r| got.push(r.to_string())).unwrap();
        assert_eq!(
            got,
            [
                "198.18.0.1",
                "198.18.0.2",
                "198.18.1.0-198.18.1.255",
                "2001:2::-2001:2::ff",
                "2001:2::7"
            ]
        );
        std::fs::write(&path, "198.18.0.1\n\n  198.18.0.0/40\n").unwrap();
        let e = read_target_file(&path, &mut |_| {}).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                r#"{}:3: bad target "198.18.0.0/40": prefix length "40" is not a number 0-32 ({TARGET_FORMS})"#,
                path.display()
            )
        );
        std::fs::write(&path, b"198.18.0.1\n198.18.\xff0.2\n").unwrap();
        let e = read_target_file(&path, &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(
            e.ends_with("line 2 is not UTF-8 text (byte 8 of the line)"),
            "{e}"
        );
        let e = read_target_file(Path::new("/nonexistent/targets"), &mut |_| {}).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot read /nonexistent/targets: "),
            "{e}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn port_forms_and_errors() {
        let p = |s| parse_ports(s, &Origin::Arg("--ports"));
        let tcp = |first, last| PortRange {
            proto: Protocol::Tcp,
            first,
            last,
        };
        assert_eq!(
            p("22,80,8000-8100").unwrap(),
            vec![tcp(22, 22), tcp(80, 80), tcp(8000, 8100)]
        );
        assert_eq!(p("0-65535").unwrap(), vec![tcp(0, 65535)]);
        assert_eq!(p("T:443, 22").unwrap(), vec![tcp(443, 443), tcp(22, 22)]);
        let cases = [
            (
                "65536",
                r#"bad port list "65536": "65536" is not a port number 0-65535"#,
            ),
            ("80-", r#""" is not a port number"#),
            ("http", r#""http" is not a port number"#),
            (
                "22,,80",
                r#"bad port list "22,,80": empty entry in the list"#,
            ),
            ("22,", "empty entry in the list"),
            ("", "empty entry in the list"),
            ("100-90", "range starts at 100 after it ends at 90"),
            (
                "U:53",
                "udp ports are given but the scan probes no udp: add -sU",
            ),
            ("X:53", r#"protocol "X" is not one synsweep scans"#),
        ];
        for (input, want) in cases {
            let got = p(input).unwrap_err().to_string();
            assert!(got.contains(want), "{input:?}: {got}");
            assert!(got.starts_with("--ports: "), "{got}");
            assert!(got.ends_with(&format!("({PORT_FORMS})")), "{got}");
        }
        assert_eq!(port_list(&[1, 2, 3, 7, 9, 10]), "1-3,7,9-10");
        // Prefixes hold for the ranges after them; bare ranges are every
        // scanned protocol's.
        let both = [Protocol::Tcp, Protocol::Udp];
        let udp = |first, last| PortRange {
            proto: Protocol::Udp,
            first,
            last,
        };
        assert_eq!(
            parse_ports_for("T:22,80,U:53,161-162", &Origin::Arg("p"), &both).unwrap(),
            vec![tcp(22, 22), tcp(80, 80), udp(53, 53), udp(161, 162)]
        );
        assert_eq!(
            parse_ports_for("53", &Origin::Arg("p"), &both).unwrap(),
            vec![tcp(53, 53), udp(53, 53)]
        );
        assert_eq!(
            parse_ports_for("53", &Origin::Arg("p"), &[Protocol::Udp]).unwrap(),
            vec![udp(53, 53)]
        );
        let e = parse_ports_for("T:22", &Origin::Arg("p"), &[Protocol::Udp]).unwrap_err();
        assert!(
            e.to_string()
                .contains("tcp ports are given but the scan probes no tcp"),
            "{e}"
        );
    }
}
