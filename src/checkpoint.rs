//! Checkpoints: where a scan is, so that it can be resumed after Ctrl-C, a
//! crash or `kill -9`.
//!
//! The file holds the effective configuration (as `--echo` prints it), a
//! hash of the part of it that fixes which probe goes where, the position
//! in this shard's send order below which every probe has been sent and
//! answered into the flushed output, and counters. It is rewritten every
//! few seconds by write, fsync, rename, fsync of the directory, so a crash
//! leaves either the old or the new file, never half of one; a checksum
//! line at the end catches a file damaged any other way.

use crate::domain::State;
use siphasher::sip::SipHasher24;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const MAGIC: &str = "# synsweep checkpoint";
/// 2: every nmap state counted, and the probe space's digest.
const VERSION: u32 = 2;
/// A fixed key: the checksum guards against damage, not against forgery.
const CHECKSUM_KEY: (u64, u64) = (0x7379_6e73_7765_6570, 0x6368_6563_6b70_7431);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Hash of the scan-identity part of the configuration.
    pub config_hash: u64,
    /// Digest of exactly which probes the space holds: target files may
    /// change between a crash and its resume, their names would not.
    pub space_digest: u64,
    /// Every position of this shard below this one has been sent, and its
    /// replies written and synced to the output.
    pub position: u64,
    pub sent: u64,
    /// Distinct results so far, in `State::ALL` order.
    pub found: [u64; State::COUNT],
    /// The effective configuration, `name = value` lines.
    pub config: Vec<String>,
}

#[derive(Debug)]
pub struct CheckpointError {
    pub path: PathBuf,
    pub why: String,
}

impl std::fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "checkpoint {}: {}", self.path.display(), self.why)
    }
}

impl std::error::Error for CheckpointError {}

fn checksum(text: &str) -> u64 {
    SipHasher24::new_with_keys(CHECKSUM_KEY.0, CHECKSUM_KEY.1).hash(text.as_bytes())
}

/// Hash of configuration lines, as stored in `config_hash`.
pub fn config_hash(lines: &[String]) -> u64 {
    checksum(&lines.join("\n"))
}

impl Checkpoint {
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{MAGIC}: resume with `synsweep --resume FILE`");
        let _ = writeln!(s, "version = {VERSION}");
        let _ = writeln!(s, "config-hash = {:016x}", self.config_hash);
        let _ = writeln!(s, "space-digest = {:016x}", self.space_digest);
        let _ = writeln!(s, "position = {}", self.position);
        let _ = writeln!(s, "sent = {}", self.sent);
        let found: Vec<String> = State::ALL
            .iter()
            .zip(self.found)
            .map(|(st, n)| format!("{st}:{n}"))
            .collect();
        let _ = writeln!(s, "found = {}", found.join(" "));
        let _ = writeln!(s, "# configuration");
        for line in &self.config {
            let _ = writeln!(s, "{line}");
        }
        let sum = checksum(&s);
        let _ = writeln!(s, "checksum = {sum:016x}");
        s
    }

    pub fn parse(text: &str, path: &Path) -> Result<Checkpoint, CheckpointError> {
        let err = |why: String| CheckpointError {
            path: path.to_path_buf(),
            why,
        };
        if !text.starts_with(MAGIC) {
            return Err(err("not a synsweep checkpoint (first line should start with \"# synsweep checkpoint\")".into()));
        }
        // The checksum line is last; anything cut short loses it.
        let body_end = text
            .trim_end_matches('\n')
            .rfind('\n')
            .map(|i| i + 1)
            .ok_or_else(|| err("truncated: no checksum line".into()))?;
        let (body, last) = text.split_at(body_end);
        let stated = last
            .trim()
            .strip_prefix("checksum = ")
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .ok_or_else(|| err("truncated or damaged: the last line is not its checksum".into()))?;
        if stated != checksum(body) {
            return Err(err(
                "damaged: the checksum does not match the contents".into()
            ));
        }
        let mut cp = Checkpoint {
            config_hash: 0,
            space_digest: 0,
            position: 0,
            sent: 0,
            found: [0; State::COUNT],
            config: Vec::new(),
        };
        let mut in_config = false;
        // Lines end at '\n' alone: a '\r' is never part of what we write
        // (configuration values are escaped), so one is damage.
        for (i, line) in body.split_terminator('\n').enumerate().skip(1) {
            if line.contains('\r') {
                return Err(err(format!(
                    "line {}: holds a carriage return, which no checkpoint does",
                    i + 1
                )));
            }
            if line == "# configuration" {
                in_config = true;
                continue;
            }
            if in_config {
                cp.config.push(line.to_string());
                continue;
            }
            let bad = || {
                err(format!(
                    "line {}: {line:?} is not a checkpoint field",
                    i + 1
                ))
            };
            let (name, value) = line.split_once(" = ").ok_or_else(bad)?;
            match name {
                "version" if value == VERSION.to_string() => {}
                "version" => {
                    return Err(err(format!(
                        "version {value} is not one this synsweep reads ({VERSION})"
                    )));
                }
                "config-hash" => {
                    cp.config_hash = u64::from_str_radix(value, 16).map_err(|_| bad())?
                }
                "space-digest" => {
                    cp.space_digest = u64::from_str_radix(value, 16).map_err(|_| bad())?
                }
                "position" => cp.position = value.parse().map_err(|_| bad())?,
                "sent" => cp.sent = value.parse().map_err(|_| bad())?,
                "found" => {
                    for word in value.split(' ') {
                        let (state, n) = word.split_once(':').ok_or_else(bad)?;
                        let state = State::from_name(state).ok_or_else(bad)?;
                        cp.found[state.index()] = n.parse().map_err(|_| bad())?;
                    }
                }
                _ => return Err(bad()),
            }
        }
        if !in_config || cp.config.is_empty() {
            return Err(err("holds no configuration".into()));
        }
        Ok(cp)
    }

    pub fn read(path: &Path) -> Result<Checkpoint, CheckpointError> {
        let text = std::fs::read_to_string(path).map_err(|e| CheckpointError {
            path: path.to_path_buf(),
            why: format!("cannot read it: {e}"),
        })?;
        Checkpoint::parse(&text, path)
    }

    /// Replaces `path` atomically: write a sibling, fsync, rename, fsync
    /// the directory.
    pub fn write_atomic(&self, path: &Path) -> io::Result<()> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        {
            let mut f = File::create(&tmp)?;
            f.write_all(self.render().as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        Checkpoint {
            config_hash: 0xdead_beef_0123_4567,
            space_digest: 0x0123_4567_89ab_cdef,
            position: 123_456,
            sent: 130_000,
            found: [10, 200, 3, 0, 7, 0, 0],
            config: vec![
                "range = 198.18.0.0/20".into(),
                "ports = 22,80".into(),
                "seed = 7".into(),
            ],
        }
    }

    #[test]
    fn round_trips_through_a_file() {
        let dir = std::env::temp_dir().join(format!("synsweep-cp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("scan.checkpoint");
        sample().write_atomic(&path).unwrap();
        assert_eq!(Checkpoint::read(&path).unwrap(), sample());
        assert!(!dir.join("scan.checkpoint.tmp").exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn every_truncation_and_any_damage_is_refused_by_name() {
        let text = sample().render();
        let p = Path::new("scan.checkpoint");
        // Cut anywhere: never accepted.
        for cut in 0..text.len() - 1 {
            let e = Checkpoint::parse(&text[..cut], p).unwrap_err().to_string();
            assert!(e.starts_with("checkpoint scan.checkpoint: "), "{e}");
            assert!(
                e.contains("truncated")
                    || e.contains("damaged")
                    || e.contains("not a synsweep checkpoint"),
                "cut at {cut}: {e}"
            );
        }
        // Flip one digit of the position.
        let bad = text.replace("position = 123456", "position = 923456");
        assert_eq!(
            Checkpoint::parse(&bad, p).unwrap_err().to_string(),
            "checkpoint scan.checkpoint: damaged: the checksum does not match the contents"
        );
        let e = Checkpoint::parse("hello\n", p).unwrap_err().to_string();
        assert!(e.contains("not a synsweep checkpoint"), "{e}");
        // A carriage return is damage, not part of a line (found by
        // fuzzing: "a\r\r\n" parsed, and rendered back as another text).
        let mut cr = sample();
        cr.config.push("a\r".into());
        let e = Checkpoint::parse(&cr.render(), p).unwrap_err().to_string();
        assert!(e.contains("carriage return"), "{e}");
    }

    #[test]
    fn hash_depends_on_every_line() {
        let a = config_hash(&["ports = 22".into(), "seed = 1".into()]);
        assert_ne!(a, config_hash(&["ports = 22".into(), "seed = 2".into()]));
        assert_eq!(a, config_hash(&["ports = 22".into(), "seed = 1".into()]));
    }
}
