//! Output: one trait for formats, one small file per format, and a writer
//! that makes a file appear whole or not at all.
//!
//! A file target is written as `FILE.partial` and renamed to `FILE` when
//! the scan ends (normally or by Ctrl-C), so a reader never sees half a
//! result file, and an earlier `FILE` is replaced only by a complete one.

mod csv;
mod list;
mod ndjson;

use crate::rx::Finding;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The output formats, by their `--format` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatKind {
    /// masscan -oL lines: `open tcp 80 198.18.4.7 1732240000`
    List,
    /// one JSON object per line
    Ndjson,
    /// comma-separated with a header row
    Csv,
}

impl FormatKind {
    pub fn name(&self) -> &'static str {
        match self {
            FormatKind::List => "list",
            FormatKind::Ndjson => "ndjson",
            FormatKind::Csv => "csv",
        }
    }

    pub fn formatter(&self) -> Box<dyn Format> {
        match self {
            FormatKind::List => Box::new(list::List),
            FormatKind::Ndjson => Box::new(ndjson::Ndjson),
            FormatKind::Csv => Box::new(csv::Csv),
        }
    }
}

/// A result format: what goes before, per finding, and after.
pub trait Format: Send {
    fn begin(&mut self, _w: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }
    fn record(&mut self, w: &mut dyn Write, f: &Finding) -> io::Result<()>;
    fn end(&mut self, _w: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputSpec {
    /// `None` (or `-`) is standard output.
    pub path: Option<PathBuf>,
    pub format: FormatKind,
}

/// The path a file is written under until it is complete.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".partial");
    PathBuf::from(s)
}

pub struct ResultWriter {
    format: Box<dyn Format>,
    out: BufWriter<Box<dyn Write + Send>>,
    /// (partial, final) when writing a file.
    file: Option<(PathBuf, PathBuf)>,
    written: u64,
}

#[derive(Debug)]
pub struct OutputError {
    pub path: String,
    pub err: io::Error,
}

impl std::fmt::Display for OutputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot write {}: {}", self.path, self.err)
    }
}

impl std::error::Error for OutputError {}

impl OutputError {
    pub fn is_broken_pipe(&self) -> bool {
        self.err.kind() == io::ErrorKind::BrokenPipe
    }
}

impl ResultWriter {
    /// Opens the destination and writes the format's preamble.
    pub fn create(spec: &OutputSpec) -> Result<ResultWriter, OutputError> {
        let file_path = spec.path.as_ref().filter(|p| p.as_os_str() != "-");
        let (sink, file): (Box<dyn Write + Send>, _) = match file_path {
            None => (Box::new(io::stdout()), None),
            Some(path) => {
                let partial = partial_path(path);
                let f = File::create(&partial).map_err(|err| OutputError {
                    path: partial.display().to_string(),
                    err,
                })?;
                (Box::new(f), Some((partial, path.clone())))
            }
        };
        let mut w = ResultWriter {
            format: spec.format.formatter(),
            out: BufWriter::with_capacity(256 << 10, sink),
            file,
            written: 0,
        };
        let r = w.format.begin(&mut w.out);
        w.check(r)?;
        Ok(w)
    }

    fn name(&self) -> String {
        match &self.file {
            Some((partial, _)) => partial.display().to_string(),
            None => "standard output".into(),
        }
    }

    fn check(&self, r: io::Result<()>) -> Result<(), OutputError> {
        r.map_err(|err| OutputError {
            path: self.name(),
            err,
        })
    }

    pub fn write(&mut self, f: &Finding) -> Result<(), OutputError> {
        let r = self.format.record(&mut self.out, f);
        self.written += 1;
        self.check(r)
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    /// Pushes buffered lines to the file (not to the disk).
    pub fn flush(&mut self) -> Result<(), OutputError> {
        let r = self.out.flush();
        self.check(r)
    }

    /// Writes the epilogue, flushes, syncs and renames into place.
    pub fn finish(mut self) -> Result<(), OutputError> {
        let r = self.format.end(&mut self.out);
        self.check(r)?;
        let r = self.out.flush();
        self.check(r)?;
        if let Some((partial, path)) = self.file.take() {
            let r = File::open(&partial).and_then(|f| f.sync_all());
            self.check(r)?;
            std::fs::rename(&partial, &path).map_err(|err| OutputError {
                path: path.display().to_string(),
                err,
            })?;
        }
        Ok(())
    }

    /// Gives up: removes the partial file, leaves any earlier file alone.
    pub fn discard(mut self) {
        if let Some((partial, _)) = self.file.take() {
            let _ = std::fs::remove_file(partial);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rx::{PortState, Reason};
    use std::net::Ipv4Addr;

    pub fn findings() -> Vec<Finding> {
        vec![
            Finding {
                ip: Ipv4Addr::new(198, 18, 4, 7),
                port: 80,
                state: PortState::Open,
                reason: Reason::SynAck,
                ttl: 64,
                ts: 1732240000,
            },
            Finding {
                ip: Ipv4Addr::new(198, 18, 4, 8),
                port: 23,
                state: PortState::Closed,
                reason: Reason::Reset,
                ttl: 63,
                ts: 1732240001,
            },
            Finding {
                ip: Ipv4Addr::new(198, 18, 14, 0),
                port: 25,
                state: PortState::Filtered,
                reason: Reason::AdminProhibited,
                ttl: 255,
                ts: 1732240002,
            },
        ]
    }

    pub fn render(kind: FormatKind) -> String {
        let mut f = kind.formatter();
        let mut out = Vec::new();
        f.begin(&mut out).unwrap();
        for x in findings() {
            f.record(&mut out, &x).unwrap();
        }
        f.end(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("synsweep-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn file_appears_only_when_finished() {
        let d = temp_dir("atomic");
        let path = d.join("out.csv");
        std::fs::write(&path, "old complete file\n").unwrap();
        let spec = OutputSpec {
            path: Some(path.clone()),
            format: FormatKind::Csv,
        };
        let mut w = ResultWriter::create(&spec).unwrap();
        for f in findings() {
            w.write(&f).unwrap();
        }
        w.flush().unwrap();
        // Mid-scan the old file is untouched and the new one is partial.
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "old complete file\n"
        );
        assert!(partial_path(&path).exists());
        w.finish().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            render(FormatKind::Csv)
        );
        assert!(!partial_path(&path).exists());

        let w = ResultWriter::create(&spec).unwrap();
        w.discard();
        assert!(!partial_path(&path).exists());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            render(FormatKind::Csv)
        );
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn unwritable_destination_is_a_clear_error() {
        let spec = OutputSpec {
            path: Some(PathBuf::from("/nonexistent-dir/out.txt")),
            format: FormatKind::List,
        };
        let e = ResultWriter::create(&spec).err().unwrap().to_string();
        assert_eq!(
            e,
            "cannot write /nonexistent-dir/out.txt.partial: No such file or directory (os error 2)"
        );
    }
}
