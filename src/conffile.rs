//! masscan-style configuration files: `name = value` lines, `#` comments,
//! blank lines. Every long option of the command line can be set this way;
//! `range` (or `target`) lines are targets. `--echo` writes the effective
//! configuration in the same format, so its output reads back with `-c`.

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

/// The (name, value, line) entries of a configuration text.
pub fn parse_entries(text: &str, path: &Path) -> Result<Vec<(String, String, usize)>, ConfError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
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
        out.push((name.to_string(), value.to_string(), i + 1));
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
