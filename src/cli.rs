//! Command-line flags (defined once, help beside them) and their
//! translation into a validated `Config` before any work starts.
//!
//! Flag names follow masscan where it has one (`--rate`, `--excludefile`,
//! `--router-mac`, `--adapter`, `-iL`, `-oL`...), and nmap's words for port
//! states and reasons.

use crate::checkpoint::{self, Checkpoint};
use crate::conffile::{self, OptionKind};
use crate::config::{Config, ResumePoint, Shard, Show};
use crate::link::{LinkKind, LinkOptions};
use crate::output::{FormatKind, OutputSpec};
use crate::rate::Rate;
use crate::rx::PortState;
use crate::targets::grammar::{self, Origin};
use crate::targets::{ProbeSpace, TargetError, TargetSpec};
use crate::tx::SourcePorts;
use crate::wire::parse_mac;
use clap::{CommandFactory, Parser};
use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "synsweep",
    version,
    args_override_self = true,
    about = "A stateless, high-rate TCP SYN scanner",
    after_help = "Examples:\n  synsweep 198.18.0.0/20 -p 22,80,443 --rate 100000 --interface sswlab0\n  synsweep -iL targets.txt -p 1-1024 --show open,closed --format ndjson -o results.ndjson\n  synsweep 198.18.0.0/24 -p 80 --seed 7 --list-probes\n  synsweep -c scan.conf --shard 2/4 --seed 7 -o part2.csv --format csv\n  synsweep --resume results.csv.checkpoint\n\nmasscan spellings also work: -iL FILE, -oL/-oJ/-oD/-oC/-oX/-oG FILE, --adapter, --adapter-ip, --open-only."
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

    /// Read options from FILE: `name = value` lines, as --echo prints them (later options win)
    #[arg(short = 'c', long = "conf", value_name = "FILE")]
    pub conf: Vec<PathBuf>,

    /// Print the effective configuration as `name = value` lines and exit
    #[arg(long)]
    pub echo: bool,

    /// Scan only shard I of N (I from 1); all N shards, with the same --seed, cover every probe once
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,

    /// Keep a checkpoint here (default: OUTPUT.checkpoint, or synsweep.checkpoint)
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,

    /// Keep no checkpoint
    #[arg(long, conflicts_with = "checkpoint")]
    pub no_checkpoint: bool,

    /// Seconds between checkpoints
    #[arg(long, default_value = "2", value_name = "SECS")]
    pub checkpoint_interval: String,

    /// Continue the scan a checkpoint describes (alone, or with the same scan options)
    #[arg(long, value_name = "FILE")]
    pub resume: Option<PathBuf>,

    /// Add results to an existing output file instead of replacing it
    #[arg(long)]
    pub append: bool,

    /// Write one JSON progress object per second to FILE (- for standard output)
    #[arg(long, value_name = "FILE")]
    pub status_json: Option<PathBuf>,
}

/// `I/N`, I from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardArg {
    pub index: u64,
    pub count: u64,
}

fn parse_shard(s: &str) -> Result<ShardArg, CliError> {
    let bad = |why: &str| {
        CliError(format!(
            "--shard: {s:?} {why}: give I/N with 1 <= I <= N, e.g. 1/4"
        ))
    };
    let (i, n) = s.split_once('/').ok_or_else(|| bad("is not I/N"))?;
    let (i, n): (u64, u64) = match (i.trim().parse(), n.trim().parse()) {
        (Ok(i), Ok(n)) => (i, n),
        _ => return Err(bad("is not I/N")),
    };
    if n == 0 {
        return Err(bad("has no shards (N is 0)"));
    }
    if i == 0 {
        return Err(bad("counts from 0, but shards count from 1"));
    }
    if i > n {
        return Err(bad(&format!("names shard {i} of only {n}")));
    }
    Ok(ShardArg {
        index: i - 1,
        count: n,
    })
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
    /// --help / --version / --echo text, to print and exit 0.
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
            Some("-oX") => out.extend(["--format=xml".into(), "--output".into()]),
            Some("-oG") => out.extend(["--format=grepable".into(), "--output".into()]),
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

/// How a long option takes its value, for configuration files.
fn option_kind(name: &str) -> Option<OptionKind> {
    if matches!(name, "range" | "target" | "targets") {
        return Some(OptionKind::Target);
    }
    // Options that only make sense on a command line.
    if matches!(name, "conf" | "resume" | "echo" | "help" | "version") {
        return None;
    }
    let cmd = Args::command();
    let arg = cmd.get_arguments().find(|a| {
        a.get_long() == Some(name) || a.get_all_aliases().is_some_and(|al| al.contains(&name))
    })?;
    Some(match arg.get_action() {
        clap::ArgAction::SetTrue => OptionKind::Switch,
        _ => OptionKind::Value,
    })
}

/// Replaces every `-c FILE` / `--conf FILE` by the options in FILE, in
/// place, so that options after it override the file's.
fn expand_conf_files(args: Vec<OsString>) -> Result<Vec<OsString>, CliError> {
    let mut out = Vec::with_capacity(args.len());
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let path = match a.to_str() {
            Some("-c") | Some("--conf") => match it.next() {
                Some(p) => PathBuf::from(p),
                None => {
                    return Err(CliError(format!(
                        "{} needs a file name",
                        a.to_string_lossy()
                    )));
                }
            },
            Some(s) if s.starts_with("--conf=") => PathBuf::from(&s["--conf=".len()..]),
            _ => {
                out.push(a);
                continue;
            }
        };
        let text = conffile::read(&path).map_err(|e| CliError(e.to_string()))?;
        let expanded =
            conffile::to_args(&text, &path, &option_kind).map_err(|e| CliError(e.to_string()))?;
        out.extend(expanded.into_iter().map(OsString::from));
    }
    Ok(out)
}

fn parse_args(argv: Vec<OsString>) -> Result<Result<Args, String>, CliError> {
    match Args::try_parse_from(argv) {
        Ok(a) => Ok(Ok(a)),
        Err(e) => {
            use clap::error::ErrorKind::*;
            match e.kind() {
                DisplayHelp | DisplayVersion | DisplayHelpOnMissingArgumentOrSubcommand => {
                    Ok(Err(e.to_string()))
                }
                _ => Err(CliError(clap_one_line(&e))),
            }
        }
    }
}

pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, CliError> {
    let argv: Vec<OsString> = args.into_iter().collect();
    let command_line = argv
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let argv = expand_conf_files(expand_masscan_flags(argv))?;
    let a = match parse_args(argv.clone())? {
        Ok(a) => a,
        Err(text) => return Ok(Command::Print(text)),
    };
    let Some(cp_path) = a.resume.clone() else {
        let config = config_from(&a, command_line)?;
        return Ok(if a.echo {
            Command::Print(echo_text(&config))
        } else {
            Command::Scan(Box::new(config))
        });
    };

    // Resuming: the checkpoint's configuration first, the command line on
    // top of it, and the part that decides which probe goes where must be
    // the checkpoint's own.
    let cp = Checkpoint::read(&cp_path).map_err(|e| CliError(e.to_string()))?;
    let alone = a.targets.is_empty() && a.include_files.is_empty() && a.ports.is_empty();
    let a = if alone {
        let saved = conffile::to_args(&cp.config.join("\n"), &cp_path, &option_kind)
            .map_err(|e| CliError(format!("checkpoint {}: {e}", cp_path.display())))?;
        let mut merged = vec![argv[0].clone()];
        merged.extend(saved.into_iter().map(OsString::from));
        merged.extend(argv[1..].iter().cloned());
        match parse_args(merged)? {
            Ok(a) => a,
            Err(text) => return Ok(Command::Print(text)),
        }
    } else {
        a
    };
    let mut config = config_from(&a, command_line)?;
    if config.identity_hash != cp.config_hash {
        let theirs = identity_lines(&cp.config);
        let ours = identity_lines(&config.effective);
        let first_diff = ours
            .iter()
            .zip(theirs.iter())
            .find(|(x, y)| x != y)
            .map(|(x, y)| format!("`{x}` here, `{y}` in the checkpoint"))
            .unwrap_or_else(|| "the options differ in number".into());
        return Err(CliError(format!(
            "--resume {}: the checkpoint belongs to a different scan ({first_diff}); resume with `synsweep --resume {}` alone to use its configuration",
            cp_path.display(),
            cp_path.display()
        )));
    }
    config.resume = Some(ResumePoint {
        position: cp.position,
        sent: cp.sent,
        found: cp.found,
    });
    // The resumed run keeps the same checkpoint file unless told otherwise.
    if a.checkpoint.is_none() && !a.no_checkpoint {
        config.checkpoint = Some(cp_path);
    }
    Ok(if a.echo {
        Command::Print(echo_text(&config))
    } else {
        Command::Scan(Box::new(config))
    })
}

/// The options that decide which probe goes where, in which order, and
/// into which file: a checkpoint only resumes a scan that agrees on them.
const IDENTITY: &[&str] = &[
    "range",
    "exclude",
    "ports",
    "no-default-excludes",
    "seed",
    "retries",
    "shard",
    "source-port",
    "output",
    "format",
];

/// The lines of a configuration that name an `IDENTITY` option.
fn identity_lines(config: &[String]) -> Vec<String> {
    config
        .iter()
        .filter(|l| {
            l.split_once(" = ")
                .is_some_and(|(name, _)| IDENTITY.contains(&name))
        })
        .cloned()
        .collect()
}

/// `--echo`: the effective configuration, readable back with `-c`. A seed
/// the user did not choose is left out, so each run draws its own.
fn echo_text(c: &Config) -> String {
    let mut s = format!("# synsweep {} configuration\n", env!("CARGO_PKG_VERSION"));
    for line in &c.effective {
        if line.starts_with("seed = ") && !c.seed_given {
            continue;
        }
        s.push_str(line);
        s.push('\n');
    }
    s
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

fn config_from(a: &Args, command_line: String) -> Result<Config, CliError> {
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
        includes: includes.clone(),
        excludes: excludes.clone(),
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
    if a.retries > 100 {
        return Err(CliError(format!(
            "--retries: {} is too many: give 0-100",
            a.retries
        )));
    }
    let shard = match &a.shard {
        None => ShardArg { index: 0, count: 1 },
        Some(s) => parse_shard(s)?,
    };
    if shard.count > 1 && a.seed.is_none() {
        return Err(CliError(
            "--shard needs --seed: every shard must walk the same order (give all shards the same --seed N)".into(),
        ));
    }
    let output = OutputSpec {
        path: a.output.clone(),
        format: a.format,
    };
    if a.append && output.file().is_none() {
        return Err(CliError(
            "--append needs -o FILE: there is no file to add to".into(),
        ));
    }
    let status_json = a.status_json.clone();
    if status_json.as_deref().is_some_and(|p| p.as_os_str() == "-")
        && output.path().is_none()
        && !a.list_probes
    {
        return Err(CliError(
            "--status-json -: standard output already carries the results; give the results -o FILE, or the status a file".into(),
        ));
    }
    let checkpoint_interval = match a.checkpoint_interval.parse::<f64>() {
        Ok(s) if s.is_finite() && (0.1..=3600.0).contains(&s) => Duration::from_secs_f64(s),
        _ => {
            return Err(CliError(format!(
                "--checkpoint-interval: {:?} is not a time: give seconds from 0.1 to 3600",
                a.checkpoint_interval
            )));
        }
    };
    let link_kind = match (a.offline, a.link) {
        (true, _) => LinkKind::Offline,
        (false, LinkArg::Afpacket) => LinkKind::AfPacket,
        (false, LinkArg::Pnet) => LinkKind::Pnet,
    };
    // Checkpoints by default for real scans, next to the output file.
    let checkpoint = match (&a.checkpoint, a.no_checkpoint) {
        (_, true) => None,
        (Some(p), false) => Some(p.clone()),
        (None, false) if a.list_probes || a.echo || link_kind == LinkKind::Offline => None,
        (None, false) => Some(match output.file() {
            Some(f) => {
                let mut p = f.as_os_str().to_owned();
                p.push(".checkpoint");
                PathBuf::from(p)
            }
            None => PathBuf::from("synsweep.checkpoint"),
        }),
    };
    let seed = a.seed.unwrap_or_else(rand::random);
    let rate = parse_rate(&a.rate)?;
    let wait = parse_wait(&a.wait)?;
    let show = if a.open_only {
        Show::OPEN_ONLY
    } else {
        parse_show(&a.show)?
    };
    let source_ports = parse_source_ports(&a.source_port)?;
    let tx_threads = match a.tx_threads {
        None => default_tx_threads(),
        Some(n @ 1..=64) => n,
        Some(n) => {
            return Err(CliError(format!(
                "--tx-threads: {n} is out of range: give 1-64"
            )));
        }
    };
    let max_probes = match a.max_probes {
        Some(0) => {
            return Err(CliError(
                "--max-probes: 0 would send nothing: give 1 or more".into(),
            ));
        }
        n => n,
    };

    // The effective configuration, in --echo's words. Targets stay one
    // line each (merging them would change which reserved blocks each
    // covers); ports are given merged.
    let mut effective = Vec::new();
    effective.extend(
        includes
            .iter()
            .map(|r| format!("range = {}", r.canonical())),
    );
    effective.extend(
        excludes
            .iter()
            .map(|r| format!("exclude = {}", r.canonical())),
    );
    effective.push(format!("ports = {}", port_list(space.ports())));
    effective.push(format!("no-default-excludes = {}", a.no_default_excludes));
    effective.push(format!("seed = {seed}"));
    effective.push(format!("retries = {}", a.retries));
    if shard.count > 1 {
        effective.push(format!("shard = {}/{}", shard.index + 1, shard.count));
    }
    effective.push(format!(
        "source-port = {}-{}",
        source_ports.first, source_ports.last
    ));
    if let Some(p) = &output.path {
        effective.push(format!("output = {}", p.display()));
    }
    effective.push(format!("format = {}", output.format.name()));
    effective.push(format!(
        "rate = {}",
        match rate {
            Rate::PerSecond(r) => r.to_string(),
            Rate::Unlimited => "max".into(),
        }
    ));
    effective.push(format!("wait = {}", wait.as_secs_f64()));
    effective.push(format!("show = {}", show.names().join(",")));
    let optional = [
        ("interface", a.interface.clone()),
        ("source-ip", a.source_ip.clone()),
        ("router-mac", a.router_mac.clone()),
        ("tx-threads", a.tx_threads.map(|n| n.to_string())),
        ("max-probes", max_probes.map(|n| n.to_string())),
        (
            "status-json",
            status_json.as_ref().map(|p| p.display().to_string()),
        ),
    ];
    for (name, value) in optional {
        if let Some(v) = value {
            effective.push(format!("{name} = {v}"));
        }
    }
    effective.push(format!("ttl = {}", a.ttl));
    effective.push(format!(
        "link = {}",
        if a.link == LinkArg::Pnet {
            "pnet"
        } else {
            "afpacket"
        }
    ));
    for (name, on) in [
        ("offline", a.offline),
        ("append", a.append),
        ("benchmark", a.benchmark),
    ] {
        if on {
            effective.push(format!("{name} = true"));
        }
    }
    if a.no_checkpoint {
        effective.push("no-checkpoint = true".into());
    } else if let Some(p) = &a.checkpoint {
        effective.push(format!("checkpoint = {}", p.display()));
    }
    effective.push(format!(
        "checkpoint-interval = {}",
        checkpoint_interval.as_secs_f64()
    ));
    let identity_hash = checkpoint::config_hash(&identity_lines(&effective));

    Ok(Config {
        space: Arc::new(space),
        seed,
        seed_given: a.seed.is_some(),
        rate,
        retries: a.retries,
        wait,
        show,
        output,
        list_probes: a.list_probes,
        link: LinkOptions {
            interface: a.interface.clone(),
            source_ip,
            router_mac,
        },
        link_kind,
        tx_threads,
        max_probes,
        benchmark: a.benchmark,
        source_ports,
        ttl: a.ttl,
        shard: Shard {
            index: shard.index,
            count: shard.count,
        },
        checkpoint,
        checkpoint_interval,
        resume: None,
        append: a.append,
        status_json,
        effective,
        identity_hash,
        command_line,
    })
}

/// `22,80,8000-8100` from a sorted, deduplicated port list.
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
