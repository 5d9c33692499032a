//! The validated configuration of a run: everything the pipeline needs,
//! with every user-supplied value already checked. `Config::from_args`
//! builds it from the parsed options (`cli.rs`) in a few small steps, one
//! per concern; each bad value becomes one line naming the option, the
//! value and what is accepted.

use crate::cli::Args;
use crate::domain::Protocol;
use crate::domain::{Family, State, StateSet};
use crate::engine::rate::Rate;
use crate::link::source::Sources;
use crate::link::{LinkKind, LinkOptions};
use crate::output::{FormatKind, OutputSpec};
use crate::probe::payloads::read_payload_file;
use crate::probe::ping::PingProbe;
use crate::probe::session::SessionConfig;
use crate::probe::tcp_flags::parse_scanflags;
use crate::probe::udp::PayloadTable;
use crate::probe::{ScanPlan, SourcePorts, TcpScanType};
use crate::service::hello::HelloMap;
use crate::service::probes::ServiceDb;
use crate::targets::grammar::{self, Origin, PortRange};
use crate::targets::{PortEntry, ProbeSpace, TargetSource, TargetSpec};
use crate::wire::shape::{MAX_DATA_LENGTH, MAX_FRAGMENT_DATA, Shaping};
use crate::wire::{MacAddr, parse_mac};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A usage or input error, as one line.
#[derive(Debug, PartialEq, Eq)]
pub struct CliError(pub String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliError {}

fn fail<T>(msg: String) -> Result<T, CliError> {
    Err(CliError(msg))
}

/// Shard `index` (from 0) of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

/// Where a resumed scan picks up, from its checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResumePoint {
    /// Every position of this shard below it was sent and answered.
    pub position: u64,
    /// Counters of the runs before.
    pub sent: u64,
    pub found: [u64; State::COUNT],
}

/// The targets as given, for the effective configuration: the tokens
/// typed (each in its shortest spelling) and the files named.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetArgs {
    pub tokens: Vec<String>,
    pub files: Vec<PathBuf>,
    pub exclude_tokens: Vec<String>,
    pub exclude_files: Vec<PathBuf>,
    pub ports: Vec<PortRange>,
    pub no_default_excludes: bool,
}

/// Host discovery: `--ping` (`-sn`), `--ping-probe` (`-PE -PP -PS -PA
/// -PR`), `--ping-first`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discovery {
    /// The IP probes for targets behind a gateway, in a fixed order (a
    /// probe's place is its "port"). Targets on our own link are found by
    /// ARP/ND whatever is asked, as nmap does.
    pub probes: Vec<PingProbe>,
    /// `arp` (`-PR`) was named.
    pub arp: bool,
    /// `--ping-first`: scan the ports of the hosts found up; else discovery
    /// is the whole scan.
    pub then_ports: bool,
}

impl Discovery {
    /// The probe space's ports for discovery: one per probe (at least one,
    /// for the ARP/ND sweep).
    pub fn entries(&self) -> Vec<PortEntry> {
        (0..self.probes.len().max(1) as u16)
            .map(|port| PortEntry {
                proto: Protocol::Icmp,
                port,
                variant: 0,
            })
            .collect()
    }

    /// The `--ping-probe` words that give this back.
    pub fn words(&self) -> Vec<String> {
        let ports = |tcp: fn(&PingProbe) -> Option<u16>| -> Vec<u16> {
            self.probes.iter().filter_map(tcp).collect()
        };
        let mut v: Vec<String> = Vec::new();
        for (probe, word) in [
            (PingProbe::Echo, "echo"),
            (PingProbe::Timestamp, "timestamp"),
        ] {
            if self.probes.contains(&probe) {
                v.push(word.into());
            }
        }
        let syn = ports(|p| match p {
            PingProbe::Syn(n) => Some(*n),
            _ => None,
        });
        let ack = ports(|p| match p {
            PingProbe::Ack(n) => Some(*n),
            _ => None,
        });
        for (name, list) in [("syn", syn), ("ack", ack)] {
            if !list.is_empty() {
                v.push(format!("{name}:{}", grammar::port_list(&list)));
            }
        }
        if self.arp {
            v.push("arp".into());
        }
        v
    }
}

/// What banner mode was asked to do.
#[derive(Clone, Debug)]
pub struct BannerOptions {
    pub sessions: SessionConfig,
    /// `--banner-bytes`.
    pub max_bytes: usize,
    /// nmap's service probe database, if used...
    pub service_probes: Option<PathBuf>,
    /// ...loaded, so a bad file is refused before anything is sent.
    pub service_db: Option<LoadedProbes>,
    /// `--hello` as given.
    pub hello_specs: Vec<String>,
}

/// nmap's service probe database as loaded, shared by the run.
#[derive(Clone)]
pub struct LoadedProbes(pub Arc<ServiceDb>);

impl std::fmt::Debug for LoadedProbes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LoadedProbes({})", self.0.origin())
    }
}

/// Where nmap's service probes are on Debian (nmap-common).
pub const NMAP_SERVICE_PROBES: &str = "/usr/share/nmap/nmap-service-probes";

fn banners(
    a: &Args,
    scan: &ScanPlan,
    discovery_only: bool,
) -> Result<Option<BannerOptions>, CliError> {
    const BANNER_OPTIONS: [&str; 6] = [
        "hello",
        "banner-bytes",
        "banner-timeout",
        "hello-wait",
        "max-sessions",
        "service-probes",
    ];
    if !a.flag("banners") {
        if let Some(o) = BANNER_OPTIONS.iter().find(|o| a.get(o).is_some()) {
            return fail(format!("--{o} belongs to banner mode: add --banners (-sV)"));
        }
        return Ok(None);
    }
    if discovery_only || scan.tcp != Some(TcpScanType::Syn) || scan.scanflags.is_some() {
        return fail(
            "--banners: banner sessions start from SYN-ACKs: use the SYN scan (-sS, the default), without --ping or --scanflags".into(),
        );
    }
    let mut hellos = HelloMap::default();
    let hello_specs: Vec<String> = a.get_all("hello").into_iter().map(String::from).collect();
    for spec in &hello_specs {
        hellos
            .add(spec)
            .map_err(|e| CliError(format!("--hello: {e}")))?;
    }
    let service_probes = if a.flag("no-service-probes") {
        if a.get("service-probes").is_some() {
            return fail("--service-probes and --no-service-probes: pick one".into());
        }
        None
    } else if let Some(p) = a.get("service-probes") {
        Some(PathBuf::from(p))
    } else {
        Some(PathBuf::from(NMAP_SERVICE_PROBES)).filter(|p| p.exists())
    };
    let service_db = match &service_probes {
        Some(path) => Some(LoadedProbes(Arc::new(ServiceDb::load(path).map_err(
            |e| {
                // The message quotes the file's text: keep it one line.
                let e: String = e
                    .chars()
                    .map(|c| if c.is_control() { '?' } else { c })
                    .collect();
                CliError(format!("--service-probes: {e}"))
            },
        )?))),
        None => None,
    };
    Ok(Some(BannerOptions {
        sessions: SessionConfig {
            capacity: parse_in_range(
                "max-sessions",
                a.get("max-sessions").unwrap_or("1048576"),
                1,
                1 << 24,
            )?,
            hello_wait: seconds("hello-wait", a.get("hello-wait").unwrap_or("2"), 0.0, 600.0)?,
            timeout: seconds(
                "banner-timeout",
                a.get("banner-timeout").unwrap_or("5"),
                0.1,
                3600.0,
            )?,
            rto: Duration::from_millis(500),
            // 0.5, 1, 2, 4, 8, 16 s after sending: within a long timeout.
            max_retransmits: 6,
            hellos,
        },
        max_bytes: parse_in_range(
            "banner-bytes",
            a.get("banner-bytes").unwrap_or("4096"),
            1,
            1 << 20,
        )?,
        service_probes,
        service_db,
        hello_specs,
    }))
}

/// `--os-hints`: only a SYN scan draws the SYN-ACKs hints are read from.
fn os_hints(a: &Args, scan: &ScanPlan, discovery_only: bool) -> Result<bool, CliError> {
    if !a.flag("os-hints") {
        return Ok(false);
    }
    if discovery_only || scan.tcp != Some(TcpScanType::Syn) || scan.scanflags.is_some() {
        return fail(
            "--os-hints: hints are read from SYN-ACKs: use the SYN scan (-sS, the default), without --ping or --scanflags".into(),
        );
    }
    Ok(true)
}

#[derive(Clone, Debug)]
pub struct Config {
    pub space: Arc<ProbeSpace>,
    pub targets: TargetArgs,
    pub scan: ScanPlan,
    /// Host discovery, if asked for. With `then_ports` false the space's
    /// ports are discovery's entries (`Discovery::entries`).
    pub discovery: Option<Discovery>,
    /// UDP payloads by port: built in, plus `--udp-payloads` files.
    pub udp_payloads: Arc<PayloadTable>,
    /// `--udp-payloads` and `--nmap-payloads` as given.
    pub payload_files: Vec<PathBuf>,
    /// Banner mode (`--banners`).
    pub banners: Option<BannerOptions>,
    /// `--os-hints`: a passive OS guess from each SYN-ACK.
    pub os_hints: bool,
    pub nmap_payloads: bool,
    /// Permutation seed (drawn at random when not given).
    pub seed: u64,
    /// The user chose the seed.
    pub seed_given: bool,
    pub rate: Rate,
    pub retries: u32,
    pub wait: Duration,
    pub show: StateSet,
    /// `--show` asks for a state silence stands for: at the end of a
    /// completed scan every unanswered probe is reported with it.
    pub report_silence: bool,
    pub output: OutputSpec,
    pub list_probes: bool,
    pub link: LinkOptions,
    pub link_kind: LinkKind,
    /// Transmit threads, each with its own socket and slice of the order.
    pub tx_threads: u32,
    /// `--tx-threads` as given.
    pub tx_threads_given: Option<u32>,
    /// Stop after this many frames (all attempts counted).
    pub max_probes: Option<u64>,
    /// Report frames and bits per second of the run and batch latency.
    pub benchmark: bool,
    pub source_ports: SourcePorts,
    pub ttl: u8,
    /// `--data-length`, `--badsum`, `-f`/`--mtu`.
    pub shaping: Shaping,
    pub shard: Shard,
    /// Where to keep the checkpoint; `None`: no checkpoint.
    pub checkpoint: Option<PathBuf>,
    /// `--checkpoint`/`--no-checkpoint` as given.
    pub checkpoint_given: Option<PathBuf>,
    pub no_checkpoint: bool,
    pub checkpoint_interval: Duration,
    /// Where a resumed scan starts.
    pub resume: Option<ResumePoint>,
    /// Continue the output file instead of replacing it.
    pub append: bool,
    /// One JSON object per second here (`-`: standard output).
    pub status_json: Option<PathBuf>,
    /// The effective configuration, `name = value` lines (seed included).
    pub effective: Vec<String>,
    /// Hash of the lines of `effective` that fix which probe goes where, in
    /// which order, to which file (the table's identity options).
    pub identity_hash: u64,
    /// As typed, for output headers.
    pub command_line: String,
    /// Connect mode (`--connect`, `-sT`): the kernel's TCP stack instead
    /// of raw frames.
    pub connect: Option<ConnectOptions>,
}

/// What `--connect` sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectOptions {
    /// `--max-inflight` as given; `None`: derived from the open-file limit
    /// at run time.
    pub max_inflight: Option<usize>,
}

/// `--connect` and what belongs to it. A connect scan is nmap's `-sT`: it
/// makes no frames, so what shapes frames or reads them has no place in it.
fn connect(
    a: &Args,
    scan: &ScanPlan,
    discovery: Option<&Discovery>,
) -> Result<Option<ConnectOptions>, CliError> {
    let max_inflight = a
        .get("max-inflight")
        .map(|s| parse_in_range::<usize>("max-inflight", s, 1, 1 << 24))
        .transpose()?;
    if !a.flag("connect") {
        if max_inflight.is_some() {
            return fail("--max-inflight belongs to connect mode: add --connect (-sT)".into());
        }
        return Ok(None);
    }
    if scan.tcp != Some(TcpScanType::Syn) || scan.scanflags.is_some() || scan.udp {
        return fail(format!(
            "--connect: a connect scan is a TCP scan of its own (-sT): leave out --scan {} and --scanflags",
            scan.names().join(",")
        ));
    }
    if discovery.is_some() {
        return fail(
            "--connect: connect mode scans ports only: leave out --ping and --ping-probe".into(),
        );
    }
    // (--link, --source-port and --ttl have values in every saved
    // configuration, a resumed connect scan's too: they are ignored.)
    let offline = a.flag("offline").then_some("offline");
    let framing = [
        "router-mac",
        "router-mac-ipv6",
        "source-mac",
        "mtu",
        "data-length",
    ]
    .into_iter()
    .find(|o| a.get(o).is_some());
    let shaping = (a.count("fragment") > 0)
        .then_some("fragment")
        .or(a.flag("badsum").then_some("badsum"));
    if let Some(o) = offline.or(framing).or(shaping) {
        return fail(format!(
            "--connect: --{o} shapes raw frames, and connect mode sends none: leave it out"
        ));
    }
    if a.flag("os-hints") {
        return fail(
            "--connect: --os-hints reads the SYN-ACK's fields, which the kernel keeps to itself in connect mode: leave it out".into(),
        );
    }
    Ok(Some(ConnectOptions { max_inflight }))
}

/// One transmit thread per core left after the receive thread, at least one.
pub fn default_tx_threads() -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    cores.saturating_sub(1).max(1)
}

impl Config {
    /// Everything but the effective lines and identity hash, which
    /// `cli.rs` adds from its table.
    pub fn from_args(a: &Args, command_line: String) -> Result<Config, CliError> {
        let scan = scan_plan(a)?;
        let discovery = discovery(a)?;
        let show = show(a, discovery.as_ref())?;
        let (payload_files, nmap_payloads, udp_payloads) = payloads(a, &scan)?;
        let banners = banners(a, &scan, discovery.as_ref().is_some_and(|d| !d.then_ports))?;
        let os_hints = os_hints(a, &scan, discovery.as_ref().is_some_and(|d| !d.then_ports))?;
        let (targets, space) = targets(a, &scan, &udp_payloads, discovery.as_ref())?;
        let shaping = shaping(a, &space, banners.is_some())?;
        let report_silence = match &discovery {
            Some(d) if !d.then_ports => false,
            _ => silence(&scan, show, &space)?,
        };
        let output = output(a)?;
        let connect = connect(a, &scan, discovery.as_ref())?;
        let (link, link_kind) = link(a)?;
        if banners.is_some() && link.source.is_several() {
            return fail("--banners: give --source-ip one address per family: banner sessions hold their source ports on it and speak from it".into());
        }
        let list_probes = a.flag("list-probes");
        let seed_given = a
            .get("seed")
            .map(|s| parse_num::<u64>("seed", s, "0-18446744073709551615"))
            .transpose()?;
        let shard = shard(a, seed_given.is_some())?;
        let (checkpoint, checkpoint_interval) = checkpoint(a, &output, link_kind, list_probes)?;
        let status_json = status_json(a, &output, list_probes)?;
        let offline = link_kind == LinkKind::Offline;
        // Offline nothing can answer: there is nothing to wait for.
        let wait = if offline {
            Duration::ZERO
        } else {
            let wait = seconds("wait", a.get("wait").unwrap_or("10"), 0.0, 86400.0)?;
            // Sessions of the last SYN-ACKs need their whole life.
            match &banners {
                Some(b) => wait.max(b.sessions.timeout + Duration::from_secs(1)),
                None => wait,
            }
        };
        let tx_threads_given = a
            .get("tx-threads")
            .map(|s| parse_in_range::<u32>("tx-threads", s, 1, 64))
            .transpose()?;
        Ok(Config {
            space: Arc::new(space),
            targets,
            scan,
            discovery,
            udp_payloads: Arc::new(udp_payloads),
            payload_files,
            nmap_payloads,
            banners,
            os_hints,
            seed: seed_given.unwrap_or_else(rand::random),
            seed_given: seed_given.is_some(),
            rate: rate(a.get("rate").unwrap_or("100"))?,
            retries: parse_in_range("retries", a.get("retries").unwrap_or("0"), 0, 100)?,
            wait,
            show,
            report_silence,
            output,
            list_probes,
            link,
            link_kind,
            tx_threads: tx_threads_given.unwrap_or_else(default_tx_threads),
            tx_threads_given,
            max_probes: match a.get("max-probes") {
                None => None,
                Some(s) => Some(parse_in_range::<u64>("max-probes", s, 1, u64::MAX)?),
            },
            benchmark: a.flag("benchmark"),
            source_ports: source_ports(a.get("source-port").unwrap_or("61000-61255"))?,
            ttl: parse_in_range("ttl", a.get("ttl").unwrap_or("64"), 1, 255)?,
            shaping,
            shard,
            checkpoint,
            checkpoint_given: a.get("checkpoint").map(PathBuf::from),
            no_checkpoint: a.flag("no-checkpoint"),
            checkpoint_interval,
            resume: None,
            append: a.flag("append"),
            status_json,
            effective: Vec::new(),
            identity_hash: 0,
            command_line,
            connect,
        })
    }

    /// `true` when `family` has targets in this scan.
    /// Whether the run scans ports (not discovery alone).
    pub fn scans_ports(&self) -> bool {
        self.discovery.as_ref().is_none_or(|d| d.then_ports)
    }

    pub fn scans(&self, family: Family) -> bool {
        let (v4, v6) = self.space.first_hosts();
        match family {
            Family::V4 => v4.is_some(),
            Family::V6 => v6.is_some(),
        }
    }
}

fn parse_num<T: std::str::FromStr>(name: &str, s: &str, accepted: &str) -> Result<T, CliError> {
    s.trim()
        .parse()
        .or_else(|_| fail(format!("--{name}: {s:?} is not a number: give {accepted}")))
}

fn parse_in_range<T>(name: &str, s: &str, lo: T, hi: T) -> Result<T, CliError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let accepted = format!("{lo}-{hi}");
    let v: T = parse_num(name, s, &accepted)?;
    if v < lo || v > hi {
        return fail(format!("--{name}: {v} is out of range: give {accepted}"));
    }
    Ok(v)
}

/// nmap's packet shaping: `-f`/`--mtu`, `--data-length`, `--badsum`.
fn shaping(a: &Args, space: &ProbeSpace, banners: bool) -> Result<Shaping, CliError> {
    let fragment = match (a.count("fragment"), a.get("mtu")) {
        (0, None) => None,
        (0, Some(s)) => match s.trim().parse::<u16>() {
            Ok(n) if n > 0 && n % 8 == 0 && n <= MAX_FRAGMENT_DATA => Some(n),
            _ => {
                return fail(format!(
                    "--mtu: {s:?} is not a fragment size: give a multiple of 8 from 8 to {MAX_FRAGMENT_DATA}"
                ));
            }
        },
        // -f is 8 bytes, each more -f another 8, as nmap counts them.
        (times, _) => Some((u16::from(times) * 8).min(MAX_FRAGMENT_DATA)),
    };
    if fragment.is_some() {
        if banners {
            return fail(
                "-f/--mtu: banner mode's sessions are not fragmented: drop --banners or the fragmenting".into(),
            );
        }
        if space.first_hosts().1.is_some() {
            return fail(
                "-f/--mtu fragment IPv4 only: an IPv6 first fragment must hold the whole transport header (RFC 8200), which leaves nothing to split; scan the IPv6 targets without -f/--mtu".into(),
            );
        }
    }
    let data_length = parse_in_range::<usize>(
        "data-length",
        a.get("data-length").unwrap_or("0"),
        0,
        MAX_DATA_LENGTH,
    )?;
    Ok(Shaping {
        data: (0..data_length).map(|_| rand::random()).collect(),
        badsum: a.flag("badsum"),
        fragment,
    })
}

fn seconds(name: &str, s: &str, lo: f64, hi: f64) -> Result<Duration, CliError> {
    match s.trim().parse::<f64>() {
        Ok(w) if w.is_finite() && (lo..=hi).contains(&w) => Ok(Duration::from_secs_f64(w)),
        _ => fail(format!(
            "--{name}: {s:?} is not a time: give seconds from {lo} to {hi}, e.g. 10 or 0.5"
        )),
    }
}

/// Where nmap's payloads are on Debian (nmap-common).
pub const NMAP_PAYLOADS: &str = "/usr/share/nmap/nmap-payloads";

/// The UDP payload table: the built-in payloads, then every file's.
fn payloads(a: &Args, scan: &ScanPlan) -> Result<(Vec<PathBuf>, bool, PayloadTable), CliError> {
    let files: Vec<PathBuf> = a
        .get_all("udp-payloads")
        .into_iter()
        .map(PathBuf::from)
        .collect();
    let nmap = a.flag("nmap-payloads");
    if (!files.is_empty() || nmap) && !scan.udp {
        return fail("--udp-payloads/--nmap-payloads: no UDP scan to send them: add -sU".into());
    }
    let mut entries = crate::probe::payloads::builtin();
    let nmap_path = nmap.then(|| PathBuf::from(NMAP_PAYLOADS));
    for f in files.iter().chain(nmap_path.iter()) {
        if nmap_path.as_ref() == Some(f) && !f.exists() {
            return fail(format!(
                "--nmap-payloads: {NMAP_PAYLOADS} is not there: install Debian's nmap-common, or give a file with --udp-payloads FILE"
            ));
        }
        entries.extend(read_payload_file(f).map_err(|e| CliError(e.to_string()))?);
    }
    Ok((files, nmap, PayloadTable::new(entries)))
}

fn targets(
    a: &Args,
    scan: &ScanPlan,
    payloads: &PayloadTable,
    discovery: Option<&Discovery>,
) -> Result<(TargetArgs, ProbeSpace), CliError> {
    let canon = |values: Vec<&str>, origin: &'static str| -> Result<Vec<String>, CliError> {
        let mut out = Vec::new();
        for v in values {
            grammar::parse_target_list(v, &Origin::Arg(origin), &mut |r| out.push(r.canonical()))
                .map_err(|e| CliError(e.to_string()))?;
        }
        Ok(out)
    };
    let mut ports = Vec::new();
    let protocols = scan.protocols();
    for p in a.get_all("ports") {
        ports.extend(
            grammar::parse_ports_for(p, &Origin::Arg("--ports"), &protocols)
                .map_err(|e| CliError(e.to_string()))?,
        );
    }
    let t = TargetArgs {
        tokens: canon(a.get_all("range"), "target")?,
        files: a
            .get_all("include-file")
            .into_iter()
            .map(PathBuf::from)
            .collect(),
        exclude_tokens: canon(a.get_all("exclude"), "--exclude")?,
        exclude_files: a
            .get_all("excludefile")
            .into_iter()
            .map(PathBuf::from)
            .collect(),
        ports,
        no_default_excludes: a.flag("no-default-excludes"),
    };
    let arg = |text: &String, origin| TargetSource::Arg {
        text: text.clone(),
        origin,
    };
    let spec = TargetSpec {
        includes: t
            .tokens
            .iter()
            .map(|x| arg(x, "target"))
            .chain(t.files.iter().cloned().map(TargetSource::File))
            .collect(),
        excludes: t
            .exclude_tokens
            .iter()
            .map(|x| arg(x, "--exclude"))
            .chain(t.exclude_files.iter().cloned().map(TargetSource::File))
            .collect(),
        ports: match discovery {
            // Discovery alone: its probes stand where ports would.
            Some(d) if !d.then_ports => {
                let k = d.entries().len() as u16;
                vec![PortRange {
                    proto: Protocol::Icmp,
                    first: 0,
                    last: k - 1,
                }]
            }
            _ => t.ports.clone(),
        },
        default_excludes: !t.no_default_excludes,
        udp_variants: (0..=u16::MAX)
            .filter(|&p| payloads.variants(p) > 1)
            .map(|p| (p, payloads.variants(p)))
            .collect(),
    };
    let space = ProbeSpace::build(&spec).map_err(|e| CliError(e.to_string()))?;
    Ok((t, space))
}

/// Discovery from `--ping`, `--ping-probe` and `--ping-first`. Probes
/// named with ports to scan mean discovery first, as nmap reads them;
/// probes named alone, discovery alone.
fn discovery(a: &Args) -> Result<Option<Discovery>, CliError> {
    let words = a.get_all("ping-probe");
    let ping = a.flag("ping");
    let first = a.flag("ping-first");
    let ports = !a.get_all("ports").is_empty();
    if !ping && !first && words.is_empty() {
        return Ok(None);
    }
    if ping && ports {
        return fail("--ping (-sn) scans no ports: give --ping-first to scan the ports of the hosts found up, or leave out -p".into());
    }
    if first && !ports {
        return fail("--ping-first: no ports to scan after discovery: give -p PORTS, or --ping (-sn) for discovery alone".into());
    }
    let mut probes = Vec::new();
    let mut arp = false;
    for word in words {
        if word == "arp" || word == "PR" {
            arp = true;
            continue;
        }
        probes.extend(
            PingProbe::parse(word).map_err(|why| CliError(format!("--ping-probe: {why}")))?,
        );
    }
    if probes.is_empty() && !arp {
        probes = PingProbe::DEFAULT.to_vec();
    }
    // One order whatever the spelling, each probe once, so the same probes
    // make the same space (and the same checkpoint identity).
    probes.sort_by_key(|p| match *p {
        PingProbe::Echo => (0, 0),
        PingProbe::Timestamp => (1, 0),
        PingProbe::Syn(port) => (2, port),
        PingProbe::Ack(port) => (3, port),
    });
    probes.dedup();
    if probes.len() > 4096 {
        return fail(format!(
            "--ping-probe: {} probes a host; at most 4096",
            probes.len()
        ));
    }
    Ok(Some(Discovery {
        probes,
        arp,
        then_ports: ports,
    }))
}

fn scan_plan(a: &Args) -> Result<ScanPlan, CliError> {
    let flags = a
        .get("scanflags")
        .map(|s| parse_scanflags(s).map_err(|why| CliError(format!("--scanflags: {why}"))))
        .transpose()?;
    let plan = ScanPlan::parse(&a.get_all("scan"), flags)
        .map_err(|why| CliError(format!("--scan: {why}")))?;
    if flags.is_some() && plan.tcp.is_none() {
        return fail("--scanflags: no TCP scan to send them: a UDP scan has no flags".into());
    }
    Ok(plan)
}

fn output(a: &Args) -> Result<OutputSpec, CliError> {
    let format = match a.get("format") {
        None => FormatKind::List,
        Some(f) => FormatKind::from_name(f).ok_or_else(|| {
            CliError(format!(
                "--format: {f:?} is not a format: give {}",
                FormatKind::NAMES.join(", ")
            ))
        })?,
    };
    let output = OutputSpec {
        path: a.get("output").map(PathBuf::from),
        format,
    };
    if a.flag("append") && output.file().is_none() {
        return fail("--append needs -o FILE: there is no file to add to".into());
    }
    Ok(output)
}

fn link(a: &Args) -> Result<(LinkOptions, LinkKind), CliError> {
    let mut source = Sources::default();
    for list in a.get_all("source-ip") {
        source
            .add_list(list)
            .map_err(|why| CliError(format!("--source-ip: {why}")))?;
    }
    let mac = |name: &str| -> Result<Option<MacAddr>, CliError> {
        a.get(name)
            .map(|s| {
                parse_mac(s).ok_or_else(|| {
                    CliError(format!(
                        "--{name}: {s:?} is not a MAC address (e.g. 02:00:5e:10:00:01)"
                    ))
                })
            })
            .transpose()
    };
    let (v4_mac, v6_mac) = (mac("router-mac")?, mac("router-mac-ipv6")?);
    let source_mac = mac("source-mac")?;
    let kind = match (a.flag("offline"), a.get("link").unwrap_or("afpacket")) {
        (true, _) => LinkKind::Offline,
        (false, "afpacket") => LinkKind::AfPacket,
        (false, "pnet") => LinkKind::Pnet,
        (false, other) => {
            return fail(format!(
                "--link: {other:?} is not a link kind: give afpacket or pnet"
            ));
        }
    };
    Ok((
        LinkOptions {
            interface: a.get("interface").map(str::to_string),
            source,
            // One next hop serves both families unless told apart.
            router_mac: [v4_mac, v6_mac.or(v4_mac)],
            source_mac,
        },
        kind,
    ))
}

/// Whether the scan reports silence, and whether its record fits.
fn silence(scan: &ScanPlan, show: StateSet, space: &ProbeSpace) -> Result<bool, CliError> {
    let states: Vec<State> = scan
        .silences()
        .into_iter()
        .map(|(_, s)| s)
        .filter(|s| show.contains(*s))
        .collect();
    let Some(state) = states.first() else {
        return Ok(false);
    };
    let limit = crate::engine::answered::MAX_PROBES;
    if space.size() > limit {
        return fail(format!(
            "--show {state}: reporting silence keeps a bit per probe, and this scan has {} probes, over the {limit} (2^37, a 16 GiB map) synsweep keeps: narrow the targets or ports, or leave {state} out of --show",
            space.size()
        ));
    }
    Ok(true)
}

fn shard(a: &Args, seed_given: bool) -> Result<Shard, CliError> {
    let Some(s) = a.get("shard") else {
        return Ok(Shard { index: 0, count: 1 });
    };
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
    if n > 1 && !seed_given {
        return fail("--shard needs --seed: every shard must walk the same order (give all shards the same --seed N)".into());
    }
    Ok(Shard {
        index: i - 1,
        count: n,
    })
}

fn checkpoint(
    a: &Args,
    output: &OutputSpec,
    link_kind: LinkKind,
    list_probes: bool,
) -> Result<(Option<PathBuf>, Duration), CliError> {
    let interval = seconds(
        "checkpoint-interval",
        a.get("checkpoint-interval").unwrap_or("2"),
        0.1,
        3600.0,
    )?;
    // Checkpoints by default for real scans, next to the output file.
    let path = match (a.get("checkpoint"), a.flag("no-checkpoint")) {
        (_, true) => None,
        (Some(p), false) => Some(PathBuf::from(p)),
        (None, false) if list_probes || a.flag("echo") || link_kind == LinkKind::Offline => None,
        (None, false) => Some(match output.file() {
            Some(f) => {
                let mut p = f.as_os_str().to_owned();
                p.push(".checkpoint");
                PathBuf::from(p)
            }
            None => PathBuf::from("synsweep.checkpoint"),
        }),
    };
    Ok((path, interval))
}

fn status_json(
    a: &Args,
    output: &OutputSpec,
    list_probes: bool,
) -> Result<Option<PathBuf>, CliError> {
    let status = a.get("status-json").map(PathBuf::from);
    if status.as_deref().is_some_and(|p| p.as_os_str() == "-")
        && output.path().is_none()
        && !list_probes
    {
        return fail("--status-json -: standard output already carries the results; give the results -o FILE, or the status a file".into());
    }
    Ok(status)
}

pub fn rate(s: &str) -> Result<Rate, CliError> {
    if s.eq_ignore_ascii_case("max") {
        return Ok(Rate::Unlimited);
    }
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && r <= 1e9 => Ok(Rate::PerSecond(r)),
        _ => fail(format!(
            "--rate: {s:?} is not a rate: give packets per second above 0 (up to 1e9, e.g. 100000) or \"max\""
        )),
    }
}

/// `--show`; by default `open`, and `up` too when discovery runs.
fn show(a: &Args, discovery: Option<&Discovery>) -> Result<StateSet, CliError> {
    if a.flag("open-only") {
        return Ok(StateSet::OPEN_ONLY);
    }
    let default = match discovery {
        None => "open",
        Some(d) if d.then_ports => "open,up",
        Some(_) => "up",
    };
    let s = a.get("show").unwrap_or(default);
    if s == "all" {
        return Ok(StateSet::ALL);
    }
    let mut states = Vec::new();
    for word in s.split(',').map(str::trim) {
        match State::from_name(word) {
            Some(st) => states.push(st),
            None => {
                return fail(format!(
                    "--show: {word:?} is not a port state: use {} (comma-separated) or all",
                    State::ALL.map(|s| s.as_str()).join(", ")
                ));
            }
        }
    }
    Ok(StateSet::new(&states))
}

fn source_ports(s: &str) -> Result<SourcePorts, CliError> {
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
