//! Output: one trait for formats, one small file per format, and a writer
//! that makes a file appear whole or not at all.
//!
//! A file target is written as `FILE.partial` and renamed to `FILE` when
//! the scan ends (normally or by Ctrl-C), so a reader never sees half a
//! result file, and an earlier `FILE` is replaced only by a complete one.
//! Each record is formatted whole before it is written, so even a crash
//! leaves `FILE.partial` ending at a record boundary (a line, for every
//! format).
//!
//! A file can be continued (`--append`, and `--resume` after Ctrl-C or a
//! crash): the existing text is carried into `FILE.partial` without its
//! footer and any cut-off last line, new records follow, and the footer
//! is written again at the end, so even XML stays one valid document.
//!
//! In banner mode a record also carries what the port's service said and
//! is. Server bytes reach every format through one rule (`escape`), which
//! turns them into reversible text with no line breaks or control
//! characters; each format then only adds its own quoting.

mod csv;
pub mod escape;
mod grepable;
mod list;
mod ndjson;
mod xml;

use crate::domain::{Protocol, Record, State};
use crate::wire::MacAddr;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The output formats, by their `--format` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatKind {
    /// masscan -oL lines: `open tcp 80 198.18.4.7 1732240000`
    List,
    /// one JSON object per line
    Ndjson,
    /// comma-separated with a header row
    Csv,
    /// nmap XML (valid against nmap.dtd)
    Xml,
    /// nmap -oG lines
    Grepable,
}

impl FormatKind {
    pub const ALL: [FormatKind; 5] = [
        FormatKind::List,
        FormatKind::Ndjson,
        FormatKind::Csv,
        FormatKind::Xml,
        FormatKind::Grepable,
    ];
    pub const NAMES: [&'static str; 5] = ["list", "ndjson", "csv", "xml", "grepable"];

    pub fn from_name(s: &str) -> Option<FormatKind> {
        FormatKind::ALL.into_iter().find(|f| f.name() == s)
    }

    pub fn name(&self) -> &'static str {
        match self {
            FormatKind::List => "list",
            FormatKind::Ndjson => "ndjson",
            FormatKind::Csv => "csv",
            FormatKind::Xml => "xml",
            FormatKind::Grepable => "grepable",
        }
    }

    /// The format for a run without banners.
    pub fn formatter(&self) -> Box<dyn Format> {
        self.formatter_for(&RunInfo::default())
    }

    /// The format for `run` (CSV's columns depend on it).
    pub fn formatter_for(&self, run: &RunInfo) -> Box<dyn Format> {
        match self {
            FormatKind::List => Box::new(list::List),
            FormatKind::Ndjson => Box::new(ndjson::Ndjson::default()),
            FormatKind::Csv => Box::new(csv::Csv::new(run)),
            FormatKind::Xml => Box::new(xml::Xml::default()),
            FormatKind::Grepable => Box::new(grepable::Grepable),
        }
    }
}

/// What formats may say about the run in their header and footer.
#[derive(Clone, Debug, Default)]
pub struct RunInfo {
    pub start_unix: u64,
    /// The command line, as typed.
    pub command_line: String,
    /// One entry per protocol scanned.
    pub scans: Vec<ScanInfo>,
    /// Banner mode: records may carry banners, and CSV has their columns.
    pub banners: bool,
    /// `--os-hints`: open ports may carry an OS guess, and CSV has its
    /// column.
    pub os_hints: bool,
}

/// What nmap XML's `scaninfo` says of one protocol's ports.
#[derive(Clone, Debug)]
pub struct ScanInfo {
    /// nmap's scan type word: `syn`, `ack`, `udp`...
    pub scan_type: &'static str,
    pub protocol: Protocol,
    /// Scanned ports, `22,80,8000-8100`.
    pub ports: String,
    pub port_count: usize,
}

#[derive(Clone, Debug, Default)]
pub struct EndInfo {
    pub end_unix: u64,
    pub elapsed: Duration,
    /// Records in the file, continued ones included.
    pub records: u64,
}

/// A result format: what goes before, per finding, and after.
pub trait Format: Send {
    fn begin(&mut self, _w: &mut Vec<u8>, _run: &RunInfo) {}
    /// Appends one whole record to `w`.
    fn record(&mut self, w: &mut Vec<u8>, r: &Record);
    fn end(&mut self, _w: &mut Vec<u8>, _run: &RunInfo, _end: &EndInfo) {}
    /// Where the footer starts in a finished file of this format, so the
    /// file can be continued. No footer: the end of the text.
    fn footer_start(&self, text: &[u8]) -> usize {
        text.len()
    }
    /// How much of a file's text (footer cut off) holds whole records: by
    /// default, up to the last line break.
    fn whole_records(&self, text: &[u8]) -> usize {
        line_start(text, text.len())
    }
    /// Is this line (without its newline) of an existing file a record?
    fn is_record(&self, line: &[u8]) -> bool;
    /// Can a file whose first line (without its newline) is this be
    /// continued by this run? If not, why not.
    fn continues(&self, _first_line: &[u8]) -> Result<(), String> {
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputSpec {
    /// `None` (or `-`) is standard output.
    pub path: Option<PathBuf>,
    pub format: FormatKind,
}

impl OutputSpec {
    /// The output path, unless it is standard output.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref().filter(|p| p.as_os_str() != "-")
    }

    /// A regular file (or one not there yet): written through `.partial`
    /// and renamed. Never a device, FIFO or socket: renaming over
    /// `/dev/null` would replace the device with a plain file.
    pub fn file(&self) -> Option<&Path> {
        self.path()
            .filter(|p| std::fs::metadata(p).map_or(true, |m| m.is_file()))
    }
}

/// Start a new file, or carry an existing one on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Continue {
    /// Replace any earlier file when done.
    Fresh,
    /// Keep what is there (`FILE.partial` of a crashed run first, else
    /// `FILE`) and add to it.
    Existing,
}

/// The path a file is written under until it is complete.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".partial");
    PathBuf::from(s)
}

enum Sink {
    Stdout(io::Stdout),
    File(File),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Stdout(s) => s.write(buf),
            Sink::File(f) => f.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Stdout(s) => s.flush(),
            Sink::File(f) => f.flush(),
        }
    }
}

pub struct ResultWriter {
    format: Box<dyn Format>,
    run: RunInfo,
    out: BufWriter<Sink>,
    /// One record's bytes, reused: records reach the file whole.
    record: Vec<u8>,
    /// (partial, final) when writing a regular file.
    file: Option<(PathBuf, PathBuf)>,
    /// What the output is called in errors.
    label: String,
    records: u64,
    /// The header is still to be written (`start`).
    header_due: bool,
    /// While discovery runs before a port scan: the hosts found up, each
    /// with the MAC it answered from on our link (24 bytes a live host),
    /// and whether their `up` records are written too.
    hosts: Option<(Vec<FoundHost>, bool)>,
}

/// A host discovery found up, and its MAC where it answered on our link.
pub type FoundHost = (IpAddr, Option<MacAddr>);

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

/// Where the line holding position `at` starts: just after the last line
/// break before `at`.
pub(crate) fn line_start(text: &[u8], at: usize) -> usize {
    text[..at]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1)
}

/// Footers are short; the last this many bytes of a file always hold one.
const FOOTER_SEARCH: u64 = 64 << 10;

/// Continues `source` (a crashed run's partial file itself, or a finished
/// file, copied) as `partial`: cut before the footer and back to the last
/// complete line, ready to append. Works on the files, a tail and a line at
/// a time, so continuing a file of any size costs no memory. Returns the
/// file, the bytes kept and the records among them.
fn continue_file(
    partial: &Path,
    source: &Path,
    format: &dyn Format,
) -> io::Result<(File, u64, u64)> {
    // Refused before anything is copied or cut.
    let mut first = Vec::new();
    BufReader::new(File::open(source)?).read_until(b'\n', &mut first)?;
    if let Some(first) = first.strip_suffix(b"\n") {
        format.continues(first).map_err(|why| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {why}", source.display()),
            )
        })?;
    }
    if source != partial {
        std::fs::copy(source, partial)?;
    }
    let mut f = OpenOptions::new().read(true).write(true).open(partial)?;
    let len = f.metadata()?.len();
    let tail_start = len.saturating_sub(FOOTER_SEARCH);
    let mut tail = Vec::new();
    f.seek(SeekFrom::Start(tail_start))?;
    (&f).read_to_end(&mut tail)?;
    let body = &tail[..format.footer_start(&tail)];
    let cut = format.whole_records(body);
    let keep = tail_start + cut as u64;
    f.set_len(keep)?;
    f.seek(SeekFrom::Start(0))?;
    let mut lines = BufReader::new(&f);
    let (mut line, mut records) = (Vec::new(), 0);
    while lines.read_until(b'\n', &mut line)? > 0 {
        records += u64::from(format.is_record(line.strip_suffix(b"\n").unwrap_or(&line)));
        line.clear();
    }
    f.seek(SeekFrom::End(0))?;
    Ok((f, keep, records))
}

impl ResultWriter {
    /// Opens the destination. Nothing is written until `start`, so a scan
    /// that fails before it begins (no link, no privilege) leaves no
    /// half-document on standard output.
    pub fn create(
        spec: &OutputSpec,
        run: RunInfo,
        mode: Continue,
    ) -> Result<ResultWriter, OutputError> {
        let format = spec.format.formatter_for(&run);
        let (sink, file, kept, records) = match (spec.path(), spec.file()) {
            (None, _) => (Sink::Stdout(io::stdout()), None, 0, 0),
            // A device or pipe: written in place, as it is.
            (Some(special), None) => {
                let f = OpenOptions::new()
                    .write(true)
                    .open(special)
                    .map_err(|err| OutputError {
                        path: special.display().to_string(),
                        err,
                    })?;
                (Sink::File(f), None, 0, 0)
            }
            (Some(_), Some(path)) => {
                let partial = partial_path(path);
                let err = |err| OutputError {
                    path: partial.display().to_string(),
                    err,
                };
                // A crashed run's partial file first: it is newer than FILE.
                let source = match mode {
                    Continue::Fresh => None,
                    Continue::Existing => [partial.as_path(), path]
                        .into_iter()
                        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.len() > 0)),
                };
                let (f, kept, records) = match source {
                    Some(source) => continue_file(&partial, source, &*format).map_err(err)?,
                    None => (File::create(&partial).map_err(err)?, 0, 0),
                };
                (
                    Sink::File(f),
                    Some((partial, path.to_path_buf())),
                    kept,
                    records,
                )
            }
        };
        let w = ResultWriter {
            format,
            run,
            out: BufWriter::with_capacity(256 << 10, sink),
            record: Vec::with_capacity(1024),
            label: match (&file, spec.path()) {
                (Some((partial, _)), _) => partial.display().to_string(),
                (None, Some(p)) => p.display().to_string(),
                (None, None) => "standard output".into(),
            },
            file,
            records,
            header_due: kept == 0,
            hosts: None,
        };
        Ok(w)
    }

    /// Writes the format's header, unless continuing a file that has one.
    pub fn start(&mut self) -> Result<(), OutputError> {
        if std::mem::take(&mut self.header_due) {
            self.format.begin(&mut self.record, &self.run);
            self.put()?;
        }
        Ok(())
    }

    fn check(&self, r: io::Result<()>) -> Result<(), OutputError> {
        r.map_err(|err| OutputError {
            path: self.label.clone(),
            err,
        })
    }

    /// Moves the formatted record into the buffer in one piece.
    fn put(&mut self) -> Result<(), OutputError> {
        let r = self.out.write_all(&self.record);
        self.record.clear();
        self.check(r)
    }

    pub fn write(&mut self, r: &Record) -> Result<(), OutputError> {
        if let (State::Up, Some((hosts, write))) = (r.state, &mut self.hosts) {
            hosts.push((r.ip, r.mac));
            if !*write {
                return Ok(());
            }
        }
        if self.header_due {
            self.start()?;
        }
        self.format.record(&mut self.record, r);
        self.records += 1;
        self.put()
    }

    /// From now on, keeps every host found up (see `take_hosts`); writes
    /// their records only if `write`.
    pub fn collect_hosts(&mut self, write: bool) {
        self.hosts = Some((Vec::new(), write));
    }

    /// The hosts found up since `collect_hosts` (or the last take).
    pub fn take_hosts(&mut self) -> Vec<FoundHost> {
        self.hosts
            .as_mut()
            .map(|(h, _)| std::mem::take(h))
            .unwrap_or_default()
    }

    /// Back to writing every record and keeping none.
    pub fn stop_collecting(&mut self) {
        self.hosts = None;
    }

    /// Everything written so far reaches the disk (for checkpoints).
    pub fn sync(&mut self) -> Result<(), OutputError> {
        let r = self.out.flush();
        self.check(r)?;
        // Only a regular file can (and needs to) be synced to disk.
        if let (Sink::File(f), Some(_)) = (self.out.get_ref(), &self.file) {
            let r = f.sync_data();
            self.check(r)?;
        }
        Ok(())
    }

    /// Writes the footer, flushes, syncs and renames into place.
    pub fn finish(mut self, end: &EndInfo) -> Result<(), OutputError> {
        self.start()?;
        let end = EndInfo {
            records: self.records,
            ..end.clone()
        };
        self.format.end(&mut self.record, &self.run, &end);
        self.put()?;
        self.sync()?;
        if let Some((partial, path)) = self.file.take() {
            std::fs::rename(&partial, &path).map_err(|err| OutputError {
                path: path.display().to_string(),
                err,
            })?;
        }
        Ok(())
    }

    /// Gives up: removes the partial file, leaves any earlier file alone.
    pub fn discard(&mut self) {
        if let Some((partial, _)) = self.file.take() {
            let _ = std::fs::remove_file(partial);
        }
    }
}

/// `Sun Nov 22 03:19:00 2026` (UTC), the form nmap's headers use.
pub fn ctime_utc(unix: u64) -> String {
    let days = (unix / 86400) as i64;
    let secs = unix % 86400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        year
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::{Reason, State};

    pub fn records() -> Vec<Record> {
        let r = |ip: &str, port, state, reason, ttl, ts| Record {
            ip: ip.parse().unwrap(),
            proto: Protocol::Tcp,
            port,
            state,
            reason,
            ttl,
            ts,
            mac: None,
            banner: None,
            os: None,
        };
        vec![
            r(
                "198.18.4.7",
                80,
                State::Open,
                Reason::SynAck,
                64,
                1732240000,
            ),
            r(
                "198.18.4.8",
                23,
                State::Closed,
                Reason::Reset,
                63,
                1732240001,
            ),
            r(
                "198.18.14.0",
                25,
                State::Filtered,
                Reason::AdminProhibited,
                255,
                1732240002,
            ),
            r(
                "2001:2:0:300::1abc",
                443,
                State::Filtered,
                Reason::NoRoute,
                64,
                1732240003,
            ),
            // A host found by ARP: discovery's records have no port.
            Record {
                proto: Protocol::Icmp,
                mac: Some([2, 0x73, 0x73, 0x77, 0xa, 2]),
                ..r(
                    "198.19.250.7",
                    0,
                    State::Up,
                    Reason::ArpResponse,
                    0,
                    1732240004,
                )
            },
        ]
    }

    pub fn run_info() -> RunInfo {
        RunInfo {
            start_unix: 1732240000,
            command_line: "synsweep 198.18.0.0/20 -p 23,25,80 --format x".into(),
            scans: vec![ScanInfo {
                scan_type: "syn",
                protocol: Protocol::Tcp,
                ports: "23,25,80".into(),
                port_count: 3,
            }],
            banners: false,
            os_hints: false,
        }
    }

    /// An `--os-hints` run's records: an open port of each family, a
    /// closed port (no hint) and an IPv6 open port.
    pub fn os_records() -> Vec<Record> {
        use crate::domain::OsFamily;
        let mut v: Vec<Record> = crate::domain::OsFamily::ALL
            .iter()
            .enumerate()
            .map(|(i, os)| Record {
                ip: format!("198.18.4.{}", 10 + i).parse().unwrap(),
                port: 80,
                os: Some(*os),
                ..records()[0].clone()
            })
            .collect();
        v.push(records()[1].clone());
        v.push(Record {
            ip: "2001:2:0:300::1abc".parse().unwrap(),
            state: State::Open,
            reason: Reason::SynAck,
            os: Some(OsFamily::Windows),
            ..records()[3].clone()
        });
        v
    }

    /// An `--os-hints` run's whole text in `kind`.
    pub fn render_os(kind: FormatKind) -> String {
        let run = RunInfo {
            os_hints: true,
            ..run_info()
        };
        render_run(kind, &run, &os_records())
    }

    /// Banner records, from the plain to the hostile: a named SSH port, an
    /// HTTP port that said nothing, a TLS port whose every string is out
    /// to break formats, 4 KiB of every byte value, a closed port (no
    /// banner, in a banner run), and TLS without a certificate.
    pub fn banner_records() -> Vec<Record> {
        use crate::service::{
            Banner, CertSummary, Findings, IdMethod, ServiceId, TlsInfo, hello::Hello,
        };
        let r = |ip: &str, port, ttl, ts, banner: Option<Banner>| Record {
            ip: ip.parse().unwrap(),
            proto: Protocol::Tcp,
            port,
            state: State::Open,
            reason: Reason::SynAck,
            ttl,
            ts,
            mac: None,
            banner: banner.map(Box::new),
            os: None,
        };
        let hostile_text =
            "Evil \"prod\", 'x' <a>&amp; \\ \r\n\t\u{0}\u{1b}\u{7f}\u{85}\u{2028}\u{fffe} Ünï 日本";
        let mut hostile_bytes = b"\x00\"',\r\n\\<&>\xff\xfe \\x41 ]]> --".to_vec();
        hostile_bytes.extend_from_slice(hostile_text.as_bytes());
        vec![
            r(
                "198.18.4.7",
                22,
                64,
                1732240000,
                Some(Banner {
                    findings: Findings {
                        greeting: b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n".to_vec(),
                        ..Findings::default()
                    },
                    id: Some(ServiceId {
                        name: "ssh".into(),
                        product: Some("OpenSSH".into()),
                        version: Some("9.2p1 Debian 2+deb12u3".into()),
                        info: Some("protocol 2.0".into()),
                        ostype: Some("Linux".into()),
                        cpe: vec![
                            "cpe:/a:openbsd:openssh:9.2p1".into(),
                            "cpe:/o:linux:linux_kernel".into(),
                        ],
                        method: IdMethod::Probed,
                        ..ServiceId::default()
                    }),
                }),
            ),
            r(
                "198.18.4.8",
                8080,
                63,
                1732240001,
                Some(Banner {
                    findings: Findings {
                        hello: Some(Hello::Http),
                        ..Findings::default()
                    },
                    id: None,
                }),
            ),
            r(
                "198.18.4.9",
                443,
                62,
                1732240002,
                Some(Banner {
                    findings: Findings {
                        greeting: hostile_bytes.clone(),
                        reply: hostile_bytes,
                        hello: Some(Hello::Tls),
                        tls: Some(TlsInfo {
                            version: "TLSv1.3".into(),
                            cipher: "TLS13_AES_256_GCM_SHA384".into(),
                            alpn: Some("h2,\"x\"".into()),
                            certs: vec![
                                CertSummary {
                                    subject: format!("CN=\"evil\", O={hostile_text}"),
                                    issuer: "CN=Evil CA, O=\"Q, \\\" Ltd\"".into(),
                                    sans: vec!["a.example".into(), "b,\"c\"\n<d>".into()],
                                    not_before: "2026-11-30T00:00:00Z".into(),
                                    not_after: "2027-11-30T00:00:00Z\n".into(),
                                },
                                CertSummary::default(),
                            ],
                        }),
                    },
                    id: Some(ServiceId {
                        name: "http/x,y".into(),
                        product: Some(hostile_text.into()),
                        version: Some("1,2/3".into()),
                        info: Some("a\tb".into()),
                        hostname: Some("h\"<>".into()),
                        ostype: Some("Linux, \"Un\"ix".into()),
                        devicetype: Some("router\n".into()),
                        cpe: vec![format!("cpe:/a:{hostile_text}")],
                        tunnel: Some("ssl"),
                        method: IdMethod::Table,
                    }),
                }),
            ),
            r(
                "2001:2:0:300::1abc",
                9999,
                64,
                1732240003,
                Some(Banner {
                    findings: Findings {
                        greeting: (0..=255u8).cycle().take(4096).collect(),
                        ..Findings::default()
                    },
                    id: None,
                }),
            ),
            Record {
                state: State::Closed,
                reason: Reason::Reset,
                ..r("198.18.4.10", 23, 64, 1732240004, None)
            },
            r(
                "198.18.4.11",
                993,
                64,
                1732240005,
                Some(Banner {
                    findings: Findings {
                        reply: b"* OK IMAP4rev1 ready\r\n".to_vec(),
                        hello: Some(Hello::Tls),
                        tls: Some(TlsInfo {
                            version: "TLSv1.2".into(),
                            cipher: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into(),
                            ..TlsInfo::default()
                        }),
                        ..Findings::default()
                    },
                    id: None,
                }),
            ),
        ]
    }

    pub fn banner_run_info() -> RunInfo {
        RunInfo {
            banners: true,
            ..run_info()
        }
    }

    /// A banner run's whole text in `kind`.
    pub fn render_records(kind: FormatKind, records: &[Record]) -> String {
        render_run(kind, &banner_run_info(), records)
    }

    /// `records` written in `kind` as a run `run` describes, begin to end.
    pub fn render_run(kind: FormatKind, run: &RunInfo, records: &[Record]) -> String {
        let mut f = kind.formatter_for(run);
        let mut out = Vec::new();
        f.begin(&mut out, run);
        for x in records {
            f.record(&mut out, x);
        }
        let end = EndInfo {
            records: records.len() as u64,
            ..end_info()
        };
        f.end(&mut out, run, &end);
        String::from_utf8(out).expect("every format writes UTF-8")
    }

    /// What a record's banner field must unescape to ("" without one).
    pub fn expected_banner(r: &Record) -> Vec<u8> {
        r.banner
            .as_ref()
            .map(|b| b.findings.banner().copied().collect())
            .unwrap_or_default()
    }

    /// Runs a Python 3 script over `input`; hands its output to `check`.
    pub fn check_with_python(script: &str, input: &str, check: impl FnOnce(&str)) {
        use std::process::{Command, Stdio};
        let mut child = Command::new("python3")
            .args(["-c", script])
            .env("PYTHONIOENCODING", "utf-8")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 is installed (scripts/deps.sh test)");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "python3 says: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        check(&String::from_utf8(o.stdout).unwrap());
    }

    /// `check_with_python`'s output of `banner<TAB>cert subject<TAB>product`
    /// lines, one per banner record, as a reader got them: each must
    /// unescape to exactly what the server sent.
    pub fn check_round_trip(out: &str) {
        let records = banner_records();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), records.len(), "{out}");
        for (line, r) in lines.iter().zip(&records) {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 3, "{line:?}");
            let b = r.banner.as_deref();
            let tls = b.and_then(|b| b.findings.tls.as_ref());
            let subject = tls.and_then(|t| t.certs.first()).map_or("", |c| &c.subject);
            let product = b
                .and_then(|b| b.id.as_ref())
                .and_then(|i| i.product.as_deref())
                .unwrap_or("");
            assert_eq!(
                escape::unescape(f[0].as_bytes()).unwrap(),
                expected_banner(r)
            );
            assert_eq!(
                escape::unescape(f[1].as_bytes()).unwrap(),
                subject.as_bytes()
            );
            assert_eq!(
                escape::unescape(f[2].as_bytes()).unwrap(),
                product.as_bytes()
            );
        }
    }

    pub fn end_info() -> EndInfo {
        EndInfo {
            end_unix: 1732240010,
            elapsed: Duration::from_millis(10_250),
            records: records().len() as u64,
        }
    }

    pub fn render(kind: FormatKind) -> String {
        let mut f = kind.formatter();
        let mut out = Vec::new();
        f.begin(&mut out, &run_info());
        for x in records() {
            f.record(&mut out, &x);
        }
        f.end(&mut out, &run_info(), &end_info());
        String::from_utf8(out).unwrap()
    }

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("synsweep-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn write_all(spec: &OutputSpec, mode: Continue, fs: &[Record]) {
        let mut w = ResultWriter::create(spec, run_info(), mode).unwrap();
        for f in fs {
            w.write(f).unwrap();
        }
        w.finish(&end_info()).unwrap();
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
        let mut w = ResultWriter::create(&spec, run_info(), Continue::Fresh).unwrap();
        w.start().unwrap();
        for f in records() {
            w.write(&f).unwrap();
        }
        w.sync().unwrap();
        // Mid-scan the old file is untouched and the new one is partial.
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "old complete file\n"
        );
        assert!(partial_path(&path).exists());
        w.finish(&end_info()).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            render(FormatKind::Csv)
        );
        assert!(!partial_path(&path).exists());

        let mut w = ResultWriter::create(&spec, run_info(), Continue::Fresh).unwrap();
        w.discard();
        assert!(!partial_path(&path).exists());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            render(FormatKind::Csv)
        );
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn continuing_a_file_gives_one_file_with_one_header_and_footer() {
        let d = temp_dir("continue");
        let all = records();
        for kind in [
            FormatKind::List,
            FormatKind::Ndjson,
            FormatKind::Csv,
            FormatKind::Xml,
            FormatKind::Grepable,
        ] {
            let path = d.join(format!("out.{}", kind.name()));
            let spec = OutputSpec {
                path: Some(path.clone()),
                format: kind,
            };
            // A finished file with one record, continued with two more...
            write_all(&spec, Continue::Fresh, &all[..1]);
            write_all(&spec, Continue::Existing, &all[1..]);
            assert_eq!(
                std::fs::read_to_string(&path).unwrap(),
                render(kind),
                "{kind:?} after append"
            );
            // ...and a crashed partial file that ends mid-line.
            std::fs::remove_file(&path).unwrap();
            let mut crashed = Vec::new();
            let mut f = kind.formatter();
            f.begin(&mut crashed, &run_info());
            f.record(&mut crashed, &all[0]);
            f.record(&mut crashed, &all[1]);
            let whole = crashed.len();
            f.record(&mut crashed, &all[2]);
            crashed.truncate(whole + 7);
            std::fs::write(partial_path(&path), &crashed).unwrap();
            write_all(&spec, Continue::Existing, &all[2..]);
            assert_eq!(
                std::fs::read_to_string(&path).unwrap(),
                render(kind),
                "{kind:?} after crash"
            );
            // A finished file with no records yet keeps its one header.
            std::fs::remove_file(&path).unwrap();
            write_all(&spec, Continue::Fresh, &[]);
            write_all(&spec, Continue::Existing, &all);
            assert_eq!(
                std::fs::read_to_string(&path).unwrap(),
                render(kind),
                "{kind:?} after an empty run"
            );
            // Nothing to continue: a fresh file.
            std::fs::remove_file(&path).unwrap();
            write_all(&spec, Continue::Existing, &all);
            assert_eq!(
                std::fs::read_to_string(&path).unwrap(),
                render(kind),
                "{kind:?} fresh"
            );
        }
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn continuing_a_banner_run_keeps_its_lines_and_columns() {
        let d = temp_dir("continue-banners");
        let all = banner_records();
        let write = |spec: &OutputSpec, mode, fs: &[Record]| {
            let mut w = ResultWriter::create(spec, banner_run_info(), mode).unwrap();
            for f in fs {
                w.write(f).unwrap();
            }
            w.finish(&EndInfo {
                records: all.len() as u64,
                ..end_info()
            })
            .unwrap();
        };
        for kind in FormatKind::ALL {
            let path = d.join(format!("out.{}", kind.name()));
            let spec = OutputSpec {
                path: Some(path.clone()),
                format: kind,
            };
            write(&spec, Continue::Fresh, &all[..3]);
            write(&spec, Continue::Existing, &all[3..]);
            let want = render_records(kind, &all);
            assert_eq!(std::fs::read_to_string(&path).unwrap(), want, "{kind:?}");
            // A crash inside the hostile record (for the list format,
            // inside its banner line): the record is dropped whole and
            // written again.
            std::fs::remove_file(&path).unwrap();
            let head = render_records(kind, &all[..2]);
            let footer = kind.formatter().footer_start(head.as_bytes());
            let mut crashed = head.as_bytes()[..footer].to_vec();
            let mut f = kind.formatter_for(&banner_run_info());
            f.record(&mut crashed, &all[2]);
            crashed.truncate(footer + 40);
            std::fs::write(partial_path(&path), &crashed).unwrap();
            write(&spec, Continue::Existing, &all[2..]);
            assert_eq!(
                std::fs::read_to_string(&path).unwrap(),
                want,
                "{kind:?} after crash"
            );
        }
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_csv_file_is_continued_only_with_its_own_columns() {
        let d = temp_dir("continue-columns");
        let path = d.join("out.csv");
        let spec = OutputSpec {
            path: Some(path.clone()),
            format: FormatKind::Csv,
        };
        write_all(&spec, Continue::Fresh, &records()[..1]);
        let before = std::fs::read_to_string(&path).unwrap();
        let e = ResultWriter::create(&spec, banner_run_info(), Continue::Existing)
            .err()
            .expect("a plain CSV file is not continued with banner columns")
            .to_string();
        assert!(e.contains("are not this run's"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
        assert!(!partial_path(&path).exists());
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn devices_are_written_in_place_never_renamed_over() {
        let spec = OutputSpec {
            path: Some(PathBuf::from("/dev/null")),
            format: FormatKind::Xml,
        };
        assert!(spec.file().is_none());
        let mut w = ResultWriter::create(&spec, run_info(), Continue::Existing).unwrap();
        w.start().unwrap();
        for f in records() {
            w.write(&f).unwrap();
        }
        w.finish(&end_info()).unwrap();
        let meta = std::fs::metadata("/dev/null").unwrap();
        assert!(!meta.is_file(), "/dev/null is still a device");
        assert!(!Path::new("/dev/null.partial").exists());
    }

    #[test]
    fn unwritable_destination_is_a_clear_error() {
        let spec = OutputSpec {
            path: Some(PathBuf::from("/nonexistent-dir/out.txt")),
            format: FormatKind::List,
        };
        let e = ResultWriter::create(&spec, run_info(), Continue::Fresh)
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            e,
            "cannot write /nonexistent-dir/out.txt.partial: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn ctime_matches_known_dates() {
        assert_eq!(ctime_utc(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(ctime_utc(1732240000), "Fri Nov 22 01:46:40 2024");
        assert_eq!(ctime_utc(951782400), "Tue Feb 29 00:00:00 2000");
    }
}
