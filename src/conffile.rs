//! masscan-style configuration files: `name = value` lines, `#` comments,
//! blank lines. Every long option of the command line can be set this way;
//! `range` (or `target`) lines are targets. `--echo` writes the effective
//! configuration in the same format, so its output reads back with `-c`.
//!
//! A `#` starts a comment at the start of a line or after a space or tab, so
//! a value like `scan#1.csv` is read whole. A value that would not survive
//! the trip otherwise (a ` #`, surrounding spaces, a quote first, control
//! characters) is written in double quotes with backslash escapes, and read
//! back unquoted: `render_value` and `parse_value` are inverses.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, PartialEq, Eq)]
pub struct ConfError {
    pub path: PathBuf,
    /// 1-based; 0 when the file could not be read at all.
    pub line: usize,
    pub why: String,
}

impl fmt::Display for ConfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "cannot read {}: {}", self.path.display(), self.why)
        } else {
            write!(f, "{}:{}: {}", self.path.display(), self.line, self.why)
        }
    }
}

impl std::error::Error for ConfError {}

/// How an option takes its value on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionKind {
    /// `--name VALUE`
    Value,
    /// `--name` alone: `true` sets it, `false` leaves it out.
    Switch,
    /// A positional target.
    Target,
}

/// `line` without its comment: from a `#` at the start or after white
/// space. A `#` inside double quotes is part of the value.
fn strip_comment(line: &str) -> &str {
    let (mut after_space, mut quoted, mut escaped) = (true, false, false);
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '#' if after_space && !quoted => return &line[..i],
            _ => {}
        }
        // Only a plain space or tab: `render_value` quotes exactly those.
        after_space = c == ' ' || c == '\t';
    }
    line
}

/// A value as a configuration line writes it: as is where it reads back
/// the same, else quoted and escaped.
pub fn render_value(v: &str) -> String {
    let plain = !v.is_empty()
        && v.trim() == v
        && !v.starts_with('"')
        && !v.starts_with('#')
        && !v.contains(" #")
        && !v.contains("\t#")
        && !v.chars().any(char::is_control);
    if plain {
        return v.to_string();
    }
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A value as read from a line: unquoted if it is quoted.
pub fn parse_value(v: &str) -> Result<String, String> {
    let Some(inner) = v.strip_prefix('"') else {
        return Ok(v.to_string());
    };
    let inner = inner
        .strip_suffix('"')
        .ok_or_else(|| format!("{v:?} opens a quote it does not close"))?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '"' {
            return Err(format!("{v:?} has a quote inside: write it as \\\""));
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('u') => {
                let code: String = chars.by_ref().take_while(|c| *c != '}').collect();
                let c = code
                    .strip_prefix('{')
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("{v:?} has a bad \\u{{...}} escape"))?;
                out.push(c);
            }
            other => {
                return Err(format!(
                    "{v:?} has an unknown escape \\{}: use \\\", \\\\, \\n, \\r, \\t or \\u{{hex}}",
                    other.map_or(String::new(), String::from)
                ));
            }
        }
    }
    Ok(out)
}

/// The (name, value, line) entries of a configuration text.
pub fn parse_entries(text: &str, path: &Path) -> Result<Vec<(String, String, usize)>, ConfError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        let err = |why: String| ConfError {
            path: path.to_path_buf(),
            line: i + 1,
            why,
        };
        let Some((name, value)) = line.split_once('=') else {
            return Err(err(format!(
                "{line:?} is not an option line: write `name = value` (e.g. `rate = 100000`)"
            )));
        };
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() {
            return Err(err("an option line needs a name before `=`".into()));
        }
        let value = parse_value(value).map_err(|why| err(format!("option {name:?}: {why}")))?;
        out.push((name.to_string(), value, i + 1));
    }
    Ok(out)
}

/// Turns a configuration text into command-line arguments, asking `kind`
/// how each name is spelled there (`None`: no such option).
pub fn to_args(
    text: &str,
    path: &Path,
    kind: &dyn Fn(&str) -> Option<OptionKind>,
) -> Result<Vec<String>, ConfError> {
    let mut args = Vec::new();
    for (name, value, line) in parse_entries(text, path)? {
        let err = |why: String| ConfError {
            path: path.to_path_buf(),
            line,
            why,
        };
        let name = name.trim_start_matches("--");
        match kind(name) {
            // A target never starts with '-'; read as an argument, one
            // would be taken for an option (found by fuzzing).
            Some(OptionKind::Target) if value.starts_with('-') => {
                return Err(err(format!(
                    "{name} {value:?} is not a target: targets are addresses, blocks or ranges"
                )));
            }
            Some(OptionKind::Target) => args.push(value),
            Some(OptionKind::Value) => {
                if value.is_empty() {
                    return Err(err(format!("option {name:?} needs a value")));
                }
                args.push(format!("--{name}={value}"));
            }
            Some(OptionKind::Switch) => match value.as_str() {
                "true" | "yes" | "1" | "" => args.push(format!("--{name}")),
                "false" | "no" | "0" => {}
                _ => {
                    return Err(err(format!(
                        "option {name:?} is true or false, not {value:?}"
                    )));
                }
            },
            None => return Err(err(format!("unknown option {name:?}"))),
        }
    }
    Ok(args)
}

pub fn read(path: &Path) -> Result<String, ConfError> {
    std::fs::read_to_string(path).map_err(|e| ConfError {
        path: path.to_path_buf(),
        line: 0,
        why: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(name: &str) -> Option<OptionKind> {
        match name {
            "range" | "target" => Some(OptionKind::Target),
            "rate" | "ports" | "seed" => Some(OptionKind::Value),
            "no-default-excludes" | "open-only" => Some(OptionKind::Switch),
            _ => None,
        }
    }

    #[test]
    fn lines_become_arguments() {
        let text = "# scan\n\nrange = 198.18.0.0/20\nports=22,80 # web\n  rate = 100000\nno-default-excludes = true\nopen-only = false\n--seed = 7\n";
        let args = to_args(text, Path::new("s.conf"), &kind).unwrap();
        assert_eq!(
            args,
            vec![
                "198.18.0.0/20",
                "--ports=22,80",
                "--rate=100000",
                "--no-default-excludes",
                "--seed=7"
            ]
        );
    }

    #[test]
    fn hashes_inside_values_and_quoted_values_survive() {
        let text = "output = scan#1.csv # where\nrange = 198.18.0.0/24#no space: part of the value\n# a comment\n  # another\n";
        let e = parse_entries(text, Path::new("s.conf")).unwrap();
        assert_eq!(e[0].1, "scan#1.csv");
        assert_eq!(e[1].1, "198.18.0.0/24#no space: part of the value");
        for v in [
            "plain",
            "scan#1.csv",
            "a #b",
            " lead",
            "trail ",
            "\"q",
            "tab\tand\nline\r",
            "uni\u{7}code",
            "#first",
            "back\\slash",
        ] {
            let line = format!("output = {}", render_value(v));
            let e = parse_entries(&line, Path::new("s.conf")).unwrap();
            assert_eq!(e[0].1, v, "{line}");
        }
        assert_eq!(render_value("scan#1.csv"), "scan#1.csv");
        // A '#' after a no-break space is part of the value (fuzzing).
        let e = parse_entries("output = scan\u{a0}#1", Path::new("s.conf")).unwrap();
        assert_eq!(e[0].1, "scan\u{a0}#1");
        assert_eq!(render_value("scan\u{a0}#1"), "scan\u{a0}#1");
        assert_eq!(render_value("a #b"), "\"a #b\"");
        for bad in ["\"open", "\"a\"b\"", "\"\\x\"", "\"\\u{zz}\""] {
            let e = parse_entries(&format!("output = {bad}"), Path::new("s.conf"));
            assert!(e.is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_lines_name_file_line_and_problem() {
        let cases = [
            (
                "rate 100000\n",
                "s.conf:1: \"rate 100000\" is not an option line: write `name = value` (e.g. `rate = 100000`)",
            ),
            (
                "\n\nfrobnicate = 3\n",
                "s.conf:3: unknown option \"frobnicate\"",
            ),
            ("rate =\n", "s.conf:1: option \"rate\" needs a value"),
            (
                "open-only = maybe\n",
                "s.conf:1: option \"open-only\" is true or false, not \"maybe\"",
            ),
            (" = 5\n", "s.conf:1: an option line needs a name before `=`"),
            (
                "range = --rate=5\n",
                "s.conf:1: range \"--rate=5\" is not a target: targets are addresses, blocks or ranges",
            ),
        ];
        for (text, want) in cases {
            let e = to_args(text, Path::new("s.conf"), &kind).unwrap_err();
            assert_eq!(e.to_string(), want);
        }
        assert!(
            read(Path::new("/nonexistent.conf"))
                .unwrap_err()
                .to_string()
                .starts_with("cannot read /nonexistent.conf: ")
        );
    }
}
