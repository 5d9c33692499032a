//! Command-line flags (defined once, help beside them) and their
//! translation into a validated `Config` before any work starts.
//!
//! Flag names follow masscan where it has one (`--rate`, `--excludefile`,
//! `--router-mac`, `--adapter`, `-iL`, `-oL`...), and nmap's words for port
//! states and reasons.

use crate::config::{Config, Show};
use crate::link::{LinkKind, LinkOptions};
use crate::output::{FormatKind, OutputSpec};
use crate::rate::Rate;
use crate::rx::PortState;
use crate::targets::grammar::{self, Origin};
use crate::targets::{ProbeSpace, TargetError, TargetSpec};
use crate::tx::SourcePorts;
use crate::wire::parse_mac;
use clap::Parser;
use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "synsweep",
    version,
    about = "A stateless, high-rate TCP SYN scanner",
    after_help = "Examples:\n  synsweep 198.18.0.0/20 -p 22,80,443 --rate 100000 --interface sswlab0\n  synsweep -iL targets.txt -p 1-1024 --show open,closed --format ndjson -o results.ndjson\n  synsweep 198.18.0.0/24 -p 80 --seed 7 --list-probes\n\nmasscan spellings also work: -iL FILE, -oL/-oJ/-oD/-oC FILE, --adapter, --adapter-ip, --open-only."
)]
pub struct Args {
    /// Targets: 198.18.4.7, 198.18.4.0/22 or 198.18.4.1-198.18.5.20; commas join several
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,

    /// Read targets from FILE (one or more per line, # comments); masscan's -iL
    #[arg(long = "include-file", value_name = "FILE")]
    pub include_files: Vec<PathBuf>,

    /// TCP ports to probe: 22,80,8000-8100
    #[arg(
        short = 'p',
        long = "ports",
        visible_alias = "port",
        value_name = "PORTS"
    )]
    pub ports: Vec<String>,

    /// Targets to skip, same grammar as targets
    #[arg(long, value_name = "TARGETS")]
    pub exclude: Vec<String>,

    /// Read targets to skip from FILE
    #[arg(
        long = "excludefile",
        visible_alias = "exclude-file",
        value_name = "FILE"
    )]
    pub exclude_files: Vec<PathBuf>,

    /// Scan IANA special-purpose blocks (private, multicast...) even inside wider targets
    #[arg(long)]
    pub no_default_excludes: bool,

    /// Packets per second, or "max" for no limit
    #[arg(long, default_value = "100", value_name = "PPS")]
    pub rate: String,

    /// Seed of the scan order; the same seed repeats the same order
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Send each probe N more times, about a second apart
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub retries: u32,

    /// Seconds to keep receiving after the last probe
    #[arg(long, default_value = "10", value_name = "SECS")]
    pub wait: String,

    /// Port states to report: any of open,closed,filtered, or all
    #[arg(long, default_value = "open", value_name = "STATES")]
    pub show: String,

    /// Report only open ports (masscan's --open-only)
    #[arg(long = "open-only", visible_alias = "open", conflicts_with = "show")]
    pub open_only: bool,

    /// Write results to FILE instead of standard output
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Result format
    #[arg(long, value_enum, default_value_t = FormatKind::List)]
    pub format: FormatKind,

    /// Print the probes in send order, one "ip port" per line, and exit (no root, no network)
    #[arg(long)]
    pub list_probes: bool,

    /// Network interface to send on (default: the route to the first target's)
    #[arg(short = 'e', long, visible_alias = "adapter", value_name = "IFACE")]
    pub interface: Option<String>,

    /// Source address of probes (default: the interface's)
    #[arg(long, visible_alias = "adapter-ip", value_name = "IP")]
    pub source_ip: Option<String>,

    /// Source port or range of probes; keep it out of the kernel's ephemeral range
    #[arg(long, default_value = "61000-61255", value_name = "PORT[-PORT]")]
    pub source_port: String,

    /// MAC of the next hop (default: ARP for the gateway)
    #[arg(long, value_name = "MAC")]
    pub router_mac: Option<String>,

    /// IP TTL of probes
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub ttl: u8,

    /// How frames are sent and received
    #[arg(long, value_enum, default_value_t = LinkArg::Afpacket, value_name = "KIND")]
    pub link: LinkArg,

    /// Build and pace frames but send none: measures the generator (no root needed)
    #[arg(long)]
    pub offline: bool,

    /// Transmit threads (default: one per core beyond the receive thread's)
    #[arg(long, value_name = "N")]
    pub tx_threads: Option<u32>,

    /// Stop after sending N frames
    #[arg(long, value_name = "N")]
    pub max_probes: Option<u64>,

    /// NIC benchmark: report frames and bits per second of each second of the run and batch send latency
    #[arg(long)]
    pub benchmark: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LinkArg {
    /// Linux AF_PACKET: sendmmsg batches, TPACKET_V3 receive ring, BPF filter
    Afpacket,
    /// pnet_datalink (portable, one system call per frame)
    Pnet,
}

/// One transmit thread per core left after the receive thread, at least one.
pub fn default_tx_threads() -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    cores.saturating_sub(1).max(1)
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    Scan(Box<Config>),
    /// --help / --version text, to print and exit 0.
    Print(String),
}

/// A usage or input error, as one line.
#[derive(Debug, PartialEq, Eq)]
pub struct CliError(pub String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliError {}

impl From<TargetError> for CliError {
    fn from(e: TargetError) -> Self {
        CliError(e.to_string())
    }
}

/// masscan's two-letter flags, which clap cannot express, spelled out.
fn expand_masscan_flags(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut out = Vec::new();
    for a in args {
        match a.to_str() {
            Some("-iL") => out.push("--include-file".into()),
            Some("-oL") => out.extend(["--format=list".into(), "--output".into()]),
            Some("-oJ") | Some("-oD") => out.extend(["--format=ndjson".into(), "--output".into()]),
            Some("-oC") => out.extend(["--format=csv".into(), "--output".into()]),
            _ => out.push(a),
        }
    }
    out
}

/// The first line of a clap error, without its "error: " prefix.
fn clap_one_line(e: &clap::Error) -> String {
    let text = e.to_string();
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid arguments");
    first.trim_start_matches("error: ").to_string()
}

pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, CliError> {
    let args = match Args::try_parse_from(expand_masscan_flags(args)) {
        Ok(a) => a,
        Err(e) => {
            use clap::error::ErrorKind::*;
            return match e.kind() {
                DisplayHelp | DisplayVersion | DisplayHelpOnMissingArgumentOrSubcommand => {
                    Ok(Command::Print(e.to_string()))
                }
                _ => Err(CliError(clap_one_line(&e))),
            };
        }
    };
    Ok(Command::Scan(Box::new(config_from(&args)?)))
}

fn parse_rate(s: &str) -> Result<Rate, CliError> {
    if s.eq_ignore_ascii_case("max") {
        return Ok(Rate::Unlimited);
    }
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && r <= 1e9 => Ok(Rate::PerSecond(r)),
        _ => Err(CliError(format!(
            "--rate: {s:?} is not a rate: give packets per second above 0 (up to 1e9, e.g. 100000) or \"max\""
        ))),
    }
}

fn parse_wait(s: &str) -> Result<Duration, CliError> {
    match s.parse::<f64>() {
        Ok(w) if w.is_finite() && (0.0..=86400.0).contains(&w) => Ok(Duration::from_secs_f64(w)),
        _ => Err(CliError(format!(
            "--wait: {s:?} is not a wait: give seconds from 0 to 86400, e.g. 10 or 0.5"
        ))),
    }
}

fn parse_show(s: &str) -> Result<Show, CliError> {
    if s == "all" {
        return Ok(Show::new(&PortState::ALL));
    }
    let mut states = Vec::new();
    for word in s.split(',').map(str::trim) {
        match PortState::from_name(word) {
            Some(st) => states.push(st),
            None => {
                return Err(CliError(format!(
                    "--show: {word:?} is not a port state: use open, closed, filtered (comma-separated) or all"
                )));
            }
        }
    }
    Ok(Show::new(&states))
}

fn parse_source_ports(s: &str) -> Result<SourcePorts, CliError> {
    let bad = || {
        CliError(format!(
            "--source-port: {s:?} is not a port or range: give PORT or FIRST-LAST within 1-65535, e.g. 61000-61255"
        ))
    };
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let first: u16 = a.trim().parse().map_err(|_| bad())?;
    let last: u16 = b.trim().parse().map_err(|_| bad())?;
    if first == 0 || first > last {
        return Err(bad());
    }
    Ok(SourcePorts { first, last })
}

fn config_from(a: &Args) -> Result<Config, CliError> {
    let mut includes = Vec::new();
    for t in &a.targets {
        includes.extend(
            grammar::parse_target_list(t, &Origin::Arg("target")).map_err(TargetError::from)?,
        );
    }
    for f in &a.include_files {
        includes.extend(grammar::read_target_file(f).map_err(TargetError::from)?);
    }
    let mut excludes = Vec::new();
    for t in &a.exclude {
        excludes.extend(
            grammar::parse_target_list(t, &Origin::Arg("--exclude")).map_err(TargetError::from)?,
        );
    }
    for f in &a.exclude_files {
        excludes.extend(grammar::read_target_file(f).map_err(TargetError::from)?);
    }
    let mut ports = Vec::new();
    for p in &a.ports {
        ports.extend(grammar::parse_ports(p, &Origin::Arg("--ports")).map_err(TargetError::from)?);
    }
    let space = ProbeSpace::build(&TargetSpec {
        includes,
        excludes,
        ports,
        default_excludes: !a.no_default_excludes,
    })?;

    let source_ip = match &a.source_ip {
        None => None,
        Some(s) => Some(s.parse::<Ipv4Addr>().map_err(|_| {
            CliError(format!(
                "--source-ip: {s:?} is not an IPv4 address (e.g. 198.19.255.1)"
            ))
        })?),
    };
    let router_mac = match &a.router_mac {
        None => None,
        Some(s) => Some(parse_mac(s).ok_or_else(|| {
            CliError(format!(
                "--router-mac: {s:?} is not a MAC address (e.g. 02:00:5e:10:00:01)"
            ))
        })?),
    };
    if a.ttl == 0 {
        return Err(CliError(
            "--ttl: 0 would never leave the host: give 1-255".into(),
        ));
    }
    Ok(Config {
        space: Arc::new(space),
        seed: a.seed,
        rate: parse_rate(&a.rate)?,
        retries: if a.retries > 100 {
            return Err(CliError(format!(
                "--retries: {} is too many: give 0-100",
                a.retries
            )));
        } else {
            a.retries
        },
        wait: parse_wait(&a.wait)?,
        show: if a.open_only {
            Show::OPEN_ONLY
        } else {
            parse_show(&a.show)?
        },
        output: OutputSpec {
            path: a.output.clone(),
            format: a.format,
        },
        list_probes: a.list_probes,
        link: LinkOptions {
            interface: a.interface.clone(),
            source_ip,
            router_mac,
        },
        link_kind: match (a.offline, a.link) {
            (true, _) => LinkKind::Offline,
            (false, LinkArg::Afpacket) => LinkKind::AfPacket,
            (false, LinkArg::Pnet) => LinkKind::Pnet,
        },
        tx_threads: match a.tx_threads {
            None => default_tx_threads(),
            Some(n @ 1..=64) => n,
            Some(n) => {
                return Err(CliError(format!(
                    "--tx-threads: {n} is out of range: give 1-64"
                )));
            }
        },
        max_probes: match a.max_probes {
            Some(0) => {
                return Err(CliError(
                    "--max-probes: 0 would send nothing: give 1 or more".into(),
                ));
            }
            n => n,
        },
        benchmark: a.benchmark,
        source_ports: parse_source_ports(&a.source_port)?,
        ttl: a.ttl,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &str) -> Result<Config, String> {
        let v: Vec<OsString> = std::iter::once("synsweep")
            .chain(args.split_whitespace())
            .map(OsString::from)
            .collect();
        match parse(v) {
            Ok(Command::Scan(c)) => Ok(*c),
            Ok(Command::Print(_)) => Err("printed".into()),
            Err(e) => Err(e.0),
        }
    }

    #[test]
    fn defaults_and_masscan_spellings() {
        let c = run("198.18.0.0/24 -p 80").unwrap();
        assert_eq!(c.rate, Rate::PerSecond(100.0));
        assert_eq!(c.wait, Duration::from_secs(10));
        assert_eq!(c.show, Show::OPEN_ONLY);
        assert_eq!(c.output.format, FormatKind::List);
        assert_eq!(
            c.source_ports,
            SourcePorts {
                first: 61000,
                last: 61255
            }
        );
        let c = run("198.18.0.0/24 --port 80 -oJ out.json --adapter sswlab0 --adapter-ip 198.19.255.1 --rate max").unwrap();
        assert_eq!(c.output.format, FormatKind::Ndjson);
        assert_eq!(c.output.path, Some(PathBuf::from("out.json")));
        assert_eq!(c.link.interface.as_deref(), Some("sswlab0"));
        assert_eq!(c.link.source_ip, Some(Ipv4Addr::new(198, 19, 255, 1)));
        assert_eq!(c.rate, Rate::Unlimited);
        let c = run("198.18.0.0/24 -p 80 --show closed,filtered --router-mac 02:00:00:00:00:09")
            .unwrap();
        assert!(!c.show.contains(PortState::Open) && c.show.contains(PortState::Filtered));
        assert_eq!(c.link.router_mac, Some([2, 0, 0, 0, 0, 9]));
    }

    #[test]
    fn every_bad_value_is_one_line_naming_it() {
        let cases = [
            ("-p 80", "no targets given"),
            ("198.18.0.0/24", "no ports given"),
            (
                "198.18.0.0/33 -p 80",
                r#"target: bad target "198.18.0.0/33""#,
            ),
            ("198.18.0.0/24 -p 80,x", r#"--ports: bad port list "x""#),
            (
                "198.18.0.0/24 -p 80 --exclude 1.2.3",
                r#"--exclude: bad target "1.2.3""#,
            ),
            (
                "198.18.0.0/24 -p 80 --rate fast",
                r#"--rate: "fast" is not a rate"#,
            ),
            (
                "198.18.0.0/24 -p 80 --rate 0",
                r#"--rate: "0" is not a rate"#,
            ),
            ("198.18.0.0/24 -p 80 --rate -5", "unexpected argument '-5'"),
            (
                "198.18.0.0/24 -p 80 --wait soon",
                r#"--wait: "soon" is not a wait"#,
            ),
            (
                "198.18.0.0/24 -p 80 --show open,shut",
                r#"--show: "shut" is not a port state"#,
            ),
            (
                "198.18.0.0/24 -p 80 --source-port 0",
                r#"--source-port: "0" is not a port or range"#,
            ),
            ("198.18.0.0/24 -p 80 --source-port 9-8", "--source-port"),
            (
                "198.18.0.0/24 -p 80 --source-ip 300.1.1.1",
                r#"--source-ip: "300.1.1.1" is not an IPv4 address"#,
            ),
            (
                "198.18.0.0/24 -p 80 --router-mac 02:00",
                r#"--router-mac: "02:00" is not a MAC address"#,
            ),
            ("198.18.0.0/24 -p 80 --ttl 0", "--ttl: 0"),
            (
                "198.18.0.0/24 -p 80 --ttl 256",
                "invalid value '256' for '--ttl <N>'",
            ),
            (
                "198.18.0.0/24 -p 80 --retries 1000",
                "--retries: 1000 is too many",
            ),
            (
                "198.18.0.0/24 -p 80 --format xls",
                "invalid value 'xls' for '--format <FORMAT>'",
            ),
            (
                "198.18.0.0/24 -p 80 --bogus",
                "unexpected argument '--bogus'",
            ),
            (
                "198.18.0.0/24 -p 80 -iL /nonexistent/t.txt",
                "cannot read /nonexistent/t.txt: ",
            ),
            (
                "192.168.0.0/16 -p 80 --exclude 192.168.0.0/16",
                "nothing left to scan",
            ),
        ];
        for (args, want) in cases {
            let e = run(args).unwrap_err();
            assert!(e.contains(want), "{args:?}: got {e:?}");
            assert!(!e.contains('\n'), "{args:?}: not one line: {e:?}");
        }
    }

    #[test]
    fn help_and_version_print() {
        assert!(
            matches!(parse(["synsweep", "--help"].map(OsString::from)), Ok(Command::Print(t)) if t.contains("--rate"))
        );
        assert!(matches!(
            parse(["synsweep", "--version"].map(OsString::from)),
            Ok(Command::Print(_))
        ));
    }
}
