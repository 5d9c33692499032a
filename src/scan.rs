//! A whole scan, from a validated configuration to a finished output file:
//! pick the probe module, open the output and the link, plan what each
//! transmit thread sends, run the engine, then write the summary.
//!
//! Order matters for what a failure leaves behind. The output file is
//! opened first (a bad path fails before any packet is sent) but nothing is
//! written to it, nor to standard output, until the link is up: a scan
//! that cannot start leaves no half-document anywhere. After that, records
//! are written before any transmit or receive error is raised, so a
//! failing link never costs what was already found.

use crate::config::{BannerOptions, Config, ResumePoint};
use crate::cookie::CookieKey;
use crate::domain::{Family, Protocol, State, StateSet};
use crate::engine::answered::Answered;
use crate::engine::dedup::Dedup;
use crate::engine::monitor::{self, CheckpointPlan};
use crate::engine::permute::Permutation;
use crate::engine::rate::Rate;
use crate::engine::schedule::SendSchedule;
use crate::engine::stats::{self, Counters, Summary};
use crate::engine::tx::{Neighbors, ProbeMaker, Templates};
use crate::engine::{self, Finished, Interrupt, Job, SendPlan, ThreadError};
use crate::link::hold::PortHold;
use crate::link::responder::Responder;
use crate::link::{self, LinkError, LinkKind, LinkPlan, NextHopSource, RxLink, TxLink, bpf};
use crate::output::{Continue, EndInfo, OutputError, ResultWriter, RunInfo, ScanInfo};
use crate::probe::both::Both;
use crate::probe::neighbor::NeighborSweep;
use crate::probe::ping::{PingProbe, PingScan};
use crate::probe::session::Sessions;
use crate::probe::session::segment::{MAX_FRAME, SegmentWriter};
use crate::probe::tcp::SynScan;
use crate::probe::tcp_flags::{FlagScan, Reading};
use crate::probe::udp::UdpScan;
use crate::probe::{ProbeModule, ScanPlan, TcpScanType, Validator};
use crate::service::dialogue::Context;
use crate::service::identify::Identifier;
use crate::targets::PortEntry;
use crate::targets::grammar::port_list;
use hdrhistogram::Histogram;
use std::fs::File;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub enum ScanError {
    Link(LinkError),
    Output(OutputError),
    Io { what: String, err: io::Error },
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScanError::Link(e) => e.fmt(f),
            ScanError::Output(e) => e.fmt(f),
            ScanError::Io { what, err } => write!(f, "{what}: {err}"),
        }
    }
}

impl std::error::Error for ScanError {}

impl ScanError {
    fn thread(which: &str, e: ThreadError) -> ScanError {
        match e {
            ThreadError::Panicked(t) => ScanError::Io {
                what: format!("{t} thread"),
                err: io::Error::other("thread panicked"),
            },
            ThreadError::Io(err) => ScanError::Io {
                what: which.into(),
                err,
            },
        }
    }
}

pub struct ScanOutcome {
    pub summary: Summary,
    /// Frames sent in each second of the run.
    pub per_second: Vec<u64>,
    /// How long each batch took to hand to the kernel, all threads.
    pub batch_latency_ns: Histogram<u64>,
    /// Bytes of the longest probe frame.
    pub frame_len: usize,
    /// Ctrl-C cut the scan short.
    pub interrupted: bool,
}

/// Runs the scan `config` describes with its probe module.
pub fn run(config: &Config, interrupt: &Interrupt) -> Result<ScanOutcome, ScanError> {
    if let Some(c) = &config.connect {
        return crate::connect::run(config, c, interrupt);
    }
    if let Some(d) = config.discovery.as_ref().filter(|d| !d.then_ports) {
        // Discovery alone: pinging is the scan (ARP/ND alone, `-PR`, has no
        // IP probe: an echo stands in, for targets that are never routed).
        let probes = if d.probes.is_empty() {
            vec![PingProbe::Echo]
        } else {
            d.probes.clone()
        };
        return run_module(config, interrupt, &PingScan::new(probes));
    }
    let udp = || UdpScan::new(config.udp_payloads.as_ref().clone());
    let ScanPlan {
        tcp,
        scanflags,
        udp: with_udp,
    } = config.scan;
    // The flag scan, if the TCP scan is one (or SYN with custom flags).
    let flags = match (tcp, scanflags) {
        (Some(TcpScanType::Syn), None) | (None, _) => None,
        (Some(TcpScanType::Syn), f) => Some(FlagScan::new(Reading::Syn, f)),
        (Some(TcpScanType::Flags(r)), f) => Some(FlagScan::new(r, f)),
    };
    let syn = SynScan {
        os_hints: config.os_hints,
        ..SynScan::default()
    };
    match (tcp, flags, with_udp) {
        (Some(_), None, false) => run_module(config, interrupt, &syn),
        (Some(_), Some(f), false) => run_module(config, interrupt, &f),
        (None, _, _) => run_module(config, interrupt, &udp()),
        (Some(_), None, true) => run_module(
            config,
            interrupt,
            &Both {
                tcp: syn,
                udp: udp(),
            },
        ),
        (Some(_), Some(f), true) => run_module(config, interrupt, &Both { tcp: f, udp: udp() }),
    }
}

/// The schedules of this shard's transmit threads: thread `t` is slot
/// `shard + shards * t` of `shards * threads`, so shards and threads never
/// share a position and together hold them all.
fn schedules(config: &Config, threads: u64) -> Vec<SendSchedule> {
    let (shard, shards) = (config.shard.index, config.shard.count);
    let stride = shards * threads;
    let gap = engine::retry_gap(config.rate, config.retries, threads);
    (0..threads)
        .map(|t| {
            let slot = shard + shards * t;
            let mut s = SendSchedule::new(config.space.size(), slot, stride, config.retries, gap);
            if let Some(r) = config.resume {
                s.skip_to(r.position);
            }
            s
        })
        .collect()
}

/// What each transmit thread sends, and at what rate.
fn send_plan(config: &Config, threads: u64) -> SendPlan {
    let schedules = schedules(config, threads);
    // What is left to send: all of it, unless resuming.
    let full: u64 = schedules.iter().map(|s| s.remaining_sends()).sum();
    SendPlan {
        schedules,
        budgets: (0..threads)
            .map(|t| config.max_probes.map(|m| engine::share(m, threads, t)))
            .collect(),
        thread_rate: match config.rate {
            Rate::PerSecond(r) => Rate::PerSecond(r / threads as f64),
            Rate::Unlimited => Rate::Unlimited,
        },
        planned: config.max_probes.map_or(full, |m| m.min(full)),
        whole: config.max_probes.is_none_or(|m| m >= full),
    }
}

/// The probes in send order, one `ip port` line each (`ip port/udp` for
/// UDP, once per payload; `ip echo`, `ip syn:443`... for discovery);
/// retries included.
pub fn list_probes(config: &Config, out: &mut dyn Write) -> io::Result<()> {
    let space = &config.space;
    let probes = config
        .discovery
        .as_ref()
        .filter(|d| !d.then_ports)
        .map(|d| &d.probes);
    let permutation = Permutation::new(space.size(), config.seed);
    let mut out = io::BufWriter::with_capacity(1 << 16, out);
    // Connect mode starts each connect once in this order; a retry follows
    // its timeout, whenever that comes, so it has no place in the list.
    let first_attempts;
    let config = match config.connect {
        Some(_) => {
            first_attempts = Config {
                retries: 0,
                ..config.clone()
            };
            &first_attempts
        }
        None => config,
    };
    for schedule in schedules(config, 1) {
        for send in schedule {
            let p = space.probe(permutation.apply(send.position));
            match (p.proto, probes) {
                (Protocol::Tcp, _) => writeln!(out, "{} {}", p.addr, p.port)?,
                // Discovery: the probe by name.
                (Protocol::Icmp, Some(probes)) => match probes.get(usize::from(p.port)) {
                    Some(probe) => writeln!(out, "{} {probe}", p.addr)?,
                    None => writeln!(out, "{} arp", p.addr)?,
                },
                (proto, _) => writeln!(out, "{} {}/{proto}", p.addr, p.port)?,
            }
        }
    }
    out.flush()
}

/// The link, opened: the receiver first, so not even the first reply can
/// arrive unheard, then one sender per transmit thread.
struct OpenLink {
    plan: LinkPlan,
    txs: Vec<TxLink>,
    rx: RxLink,
}

/// The way out for the space's families: routes, source addresses and
/// next hops, resolved once for every pass of a run.
fn plan_link(config: &Config) -> Result<LinkPlan, LinkError> {
    let (v4, v6) = config.space.first_hosts();
    if config.link_kind == LinkKind::Offline {
        Ok(link::offline_plan(&config.link, [v4, v6]))
    } else {
        link::plan(&config.link, [v4, v6])
    }
}

fn open_link<M: ProbeModule>(
    config: &Config,
    plan: &LinkPlan,
    module: &M,
) -> Result<OpenLink, LinkError> {
    let plan = plan.clone();
    let filter = bpf::reply_filter_for(
        plan.iface.link_layer.framing(),
        &plan.source_set,
        config.source_ports,
        module.capture(),
    );
    let rx = link::open_rx(config.link_kind, &plan, &filter, config.banners.is_some())?;
    let txs = (0..config.tx_threads)
        .map(|_| {
            let frame = module.max_frame_len() + config.shaping.growth();
            link::open_tx(config.link_kind, &plan, frame)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(OpenLink { plan, txs, rx })
}

pub(crate) fn checkpoint_plan(config: &Config) -> Option<CheckpointPlan> {
    let path = config.checkpoint.clone()?;
    let resume = config.resume.unwrap_or(ResumePoint {
        position: 0,
        sent: 0,
        found: [0; State::COUNT],
    });
    Some(CheckpointPlan {
        path,
        interval: config.checkpoint_interval,
        lag: config.wait + Duration::from_millis(250),
        config: config.effective.clone(),
        config_hash: config.identity_hash,
        space_digest: config.space.digest(),
        start_position: resume.position,
        prior_sent: resume.sent,
        prior_found: resume.found,
    })
}

pub(crate) fn open_status(config: &Config) -> Result<Option<Box<dyn Write + Send>>, ScanError> {
    Ok(match &config.status_json {
        None => None,
        Some(p) if p.as_os_str() == "-" => Some(Box::new(io::stdout())),
        Some(p) => Some(Box::new(File::create(p).map_err(|err| ScanError::Io {
            what: format!("cannot write {}", p.display()),
            err,
        })?)),
    })
}

fn run_info<M: ProbeModule>(config: &Config, module: &M) -> RunInfo {
    RunInfo {
        start_unix: monitor::unix_now(),
        command_line: config.command_line.clone(),
        scans: module
            .scans()
            .into_iter()
            .map(|(scan_type, protocol)| {
                let ports = config.space.port_numbers(protocol);
                ScanInfo {
                    scan_type,
                    protocol,
                    ports: port_list(&ports),
                    port_count: ports.len(),
                }
            })
            .collect(),
        banners: config.banners.is_some(),
        os_hints: config.os_hints,
    }
}

/// Opens the status stream and the link for `module` and writes the first
/// checkpoint.
fn prepare<M: ProbeModule>(
    config: &Config,
    plan: &LinkPlan,
    module: &M,
    checkpoint: &Option<CheckpointPlan>,
) -> Result<(OpenLink, Option<Box<dyn Write + Send>>), ScanError> {
    let status = open_status(config)?;
    // The link first: without privilege, that is the error to show.
    let link = open_link(config, plan, module).map_err(ScanError::Link)?;
    if let Some(p) = checkpoint {
        // Writable now, or fail before sending; and a run killed from
        // here on always leaves a checkpoint.
        p.at(p.start_position, &Counters::default())
            .write_atomic(&p.path)
            .map_err(|err| ScanError::Io {
                what: format!("cannot write checkpoint {}", p.path.display()),
                err,
            })?;
    }
    Ok((link, status))
}

fn announce(config: &Config, link: &OpenLink) {
    let threads = link.txs.len();
    eprintln!(
        "synsweep: {}; {} link, {} transmit thread{}, {}",
        extent(config, "probes"),
        config.link_kind.name(),
        threads,
        if threads == 1 { "" } else { "s" },
        link.plan
    );
}

/// What a scan's opening line says of its size and pace, in `unit`s:
/// "N UNIT (H FAMILY hosts x P ports) x A attempts[, shard][, resumed] at RATE".
pub(crate) fn extent(config: &Config, unit: &str) -> String {
    let space = &config.space;
    let families: Vec<String> = Family::ALL
        .into_iter()
        .filter(|f| config.scans(*f))
        .map(|f| f.to_string())
        .collect();
    format!(
        "{} {unit} ({} {} hosts x {} {}) x {} attempts{}{} at {}",
        space.size(),
        space.host_count(),
        families.join("+"),
        space.ports().len(),
        // Discovery's entries are its probes, not ports.
        if space.ports().iter().all(|e| e.proto == Protocol::Icmp) {
            "discovery probes"
        } else {
            "ports"
        },
        config.retries + 1,
        if config.shard.count > 1 {
            format!(", shard {}/{}", config.shard.index + 1, config.shard.count)
        } else {
            String::new()
        },
        match config.resume {
            Some(r) => format!(", resumed at position {}", r.position),
            None => String::new(),
        },
        match config.rate {
            Rate::PerSecond(r) => stats::human_rate(r),
            Rate::Unlimited => "max rate".into(),
        },
    )
}

/// What one pass of the engine left, with its plan's size.
struct Pass {
    finished: Finished,
    planned: u64,
    whole: bool,
}

/// One pass of the engine over `config.space` with `module`: its sockets,
/// templates, cookie key and dedup, then the run. Frames to a target in
/// `neighbors` go to its own MAC.
fn run_pass<M: ProbeModule>(
    config: &Config,
    interrupt: &Interrupt,
    module: &M,
    plan: &LinkPlan,
    writer: &mut ResultWriter,
    neighbors: Option<&Neighbors>,
    checkpoint: &Option<CheckpointPlan>,
) -> Result<Pass, ScanError> {
    let (mut link, status) = prepare(config, plan, module, checkpoint)?;
    writer.start().map_err(ScanError::Output)?;
    let key = CookieKey::random();
    let sources = link.plan.sources();
    let permutation = Permutation::new(config.space.size(), config.seed);
    let templates = Templates::<M> {
        v4: link
            .plan
            .frame_params(Family::V4, config.ttl)
            .map(|p| module.template(&p)),
        v6: link
            .plan
            .frame_params(Family::V6, config.ttl)
            .map(|p| module.template(&p)),
    };
    let validator = Validator::for_sources(
        key.clone(),
        link.plan.source_set.clone(),
        config.source_ports,
    )
    .with_tcp_data(config.shaping.data.len());
    let send = send_plan(config, link.txs.len() as u64);
    announce(config, &link);
    let (planned, whole) = (send.planned, send.whole);
    let answered = answered_record(config, checkpoint)?;
    let mut maker = ProbeMaker::new(
        module,
        &templates,
        &config.space,
        &permutation,
        &key,
        sources,
        config.source_ports,
    )
    .with_sources(link.plan.source_set.clone());
    if let Some(n) = neighbors {
        maker = maker.with_neighbors(n);
    }
    maker = maker.with_shaping(&config.shaping);
    let banner_kit = match &config.banners {
        Some(b) => Some(BannerKit::open(config, b, &link.plan)?),
        None => None,
    };
    let sessions = match (&config.banners, &banner_kit) {
        (Some(b), Some(kit)) => Some(Sessions::new(
            b.sessions.clone(),
            &kit.context,
            &validator,
            SynScan::KIND,
            SegmentWriter::new(
                [Family::V4, Family::V6].map(|f| link.plan.frame_params(f, config.ttl)),
            ),
            link::open_tx(config.link_kind, &link.plan, MAX_FRAME).map_err(ScanError::Link)?,
        )),
        _ => None,
    };
    let job = Job {
        maker,
        validator: &validator,
        dedup: Dedup::for_space(&config.space, answered),
        plan: send,
        wait: config.wait,
        show: config.show,
        resumed_at: config.resume.map_or(0, |r| r.position),
        checkpoint: checkpoint.clone(),
        status,
        sessions,
        identifier: banner_kit.as_ref().map(|k| &k.identifier),
    };
    let txs = std::mem::take(&mut link.txs);
    Ok(Pass {
        finished: engine::run(job, txs, &mut link.rx, writer, interrupt),
        planned,
        whole,
    })
}

/// What banner mode needs for a run beside the sessions themselves.
struct BannerKit {
    context: Context,
    identifier: Identifier,
    /// Held for the whole run: the kernel must not reset our sessions.
    _hold: PortHold,
}

impl BannerKit {
    fn open(config: &Config, b: &BannerOptions, plan: &LinkPlan) -> Result<BannerKit, ScanError> {
        let identifier = Identifier::new(b.service_db.as_ref().map(|d| Arc::clone(&d.0)));
        // Only an address the kernel owns draws its resets; it cannot bind
        // another, and has no need to.
        let owned = link::owned_addresses();
        let held = plan.sources().map(|s| s.filter(|ip| owned.contains(ip)));
        let hold = PortHold::new(held, config.source_ports).map_err(|err| ScanError::Io {
            what: "--banners".into(),
            err,
        })?;
        Ok(BannerKit {
            context: Context::new(b.max_bytes),
            identifier,
            _hold: hold,
        })
    }
}

/// The run's output, opened first so that a bad path fails before anything
/// is sent: continued with `--append` or `--resume`, else fresh.
pub(crate) fn open_output(config: &Config, info: RunInfo) -> Result<ResultWriter, ScanError> {
    let mode = if config.append || config.resume.is_some() {
        Continue::Existing
    } else {
        Continue::Fresh
    };
    ResultWriter::create(&config.output, info, mode).map_err(ScanError::Output)
}

fn run_module<M: ProbeModule>(
    config: &Config,
    interrupt: &Interrupt,
    module: &M,
) -> Result<ScanOutcome, ScanError> {
    let started = Instant::now();
    let mut writer = open_output(config, run_info(config, module))?;
    let plan = match plan_link(config) {
        Ok(p) => p,
        Err(e) => {
            writer.discard();
            return Err(ScanError::Link(e));
        }
    };
    if let (Some(d), link::LinkLayer::BareIp { kind }) = (&config.discovery, plan.iface.link_layer)
        && d.arp
    {
        writer.discard();
        return Err(ScanError::Link(LinkError::NoLinkLayer {
            iface: plan.iface.name.clone(),
            kind,
            what: "--ping-probe arp (-PR)",
            instead: "use the IP probes (-PE, -PP, -PS, -PA) there",
        }));
    }
    // Replies to a source the kernel does not own need someone to answer
    // ARP and ND for it: us, for as long as the scan runs (to the drop).
    let _responder = match start_responder(config, &plan) {
        Ok(r) => r,
        Err(e) => {
            writer.discard();
            return Err(ScanError::Link(e));
        }
    };
    let on_link: Vec<Family> = Family::ALL
        .into_iter()
        .filter(|f| {
            plan.families[*f as usize]
                .as_ref()
                .is_some_and(|p| p.next_hop_source == NextHopSource::OnLink)
        })
        .collect();
    let first = config.discovery.as_ref().is_some_and(|d| d.then_ports);
    if !on_link.is_empty() || first {
        return run_phases(config, interrupt, module, &plan, writer, &on_link, started);
    }
    let checkpoint = checkpoint_plan(config);
    let pass = run_pass(
        config,
        interrupt,
        module,
        &plan,
        &mut writer,
        None,
        &checkpoint,
    );
    let pass = match pass {
        Ok(p) => p,
        Err(e) => {
            writer.discard();
            if let Some(p) = &checkpoint
                && config.resume.is_none()
            {
                let _ = std::fs::remove_file(&p.path);
                let _ = std::fs::remove_file(answered_path(&p.path));
            }
            return Err(e);
        }
    };
    finish(
        config,
        module,
        writer,
        pass.finished,
        pass.whole,
        pass.planned,
        started,
        module.max_frame_len(),
        checkpoint,
    )
}

/// The ARP/ND responder for the plan's sources no local interface has.
fn start_responder(config: &Config, plan: &LinkPlan) -> Result<Option<Responder>, LinkError> {
    // Offline sends nothing; a link without a link layer has no ARP or ND
    // to answer: routing alone brings the replies.
    if config.link_kind == LinkKind::Offline || plan.iface.link_layer != link::LinkLayer::Ethernet {
        return Ok(None);
    }
    let responder = Responder::start(plan, &link::owned_addresses())?;
    if let Some(r) = &responder {
        eprintln!(
            "synsweep: answering ARP and neighbour solicitations for {} (no address of this machine) as {}",
            r.addrs.words().join(", "),
            crate::wire::format_mac(&plan.mac)
        );
    }
    Ok(responder)
}

/// A scan that discovers before it probes: the targets on our own link by
/// ARP/ND (their MACs are where their probes go), then, for discovery, the
/// others by the ping probes; then the ports of the hosts found up (with
/// `--ping-first`; else of every target behind a gateway). Each pass is a
/// run of the engine over its own space. The hosts found are kept in
/// memory (24 bytes a live host); no checkpoint covers a scan of several
/// passes.
fn run_phases<M: ProbeModule>(
    config: &Config,
    interrupt: &Interrupt,
    module: &M,
    plan: &LinkPlan,
    mut writer: ResultWriter,
    on_link: &[Family],
    started: Instant,
) -> Result<ScanOutcome, ScanError> {
    let refuse = |why: String| {
        Err(ScanError::Io {
            what: why,
            err: io::Error::other("give the scan without --resume, --checkpoint and --status-json"),
        })
    };
    if config.resume.is_some() || config.checkpoint_given.is_some() || config.status_json.is_some()
    {
        writer.discard();
        return refuse(format!(
            "this scan runs in passes (discovery, then {}), which checkpoints and status objects do not cover",
            if config.scans_ports() {
                "ports"
            } else {
                "more discovery"
            }
        ));
    }
    let quiet = Config {
        checkpoint: None,
        status_json: None,
        resume: None,
        max_probes: None,
        ..config.clone()
    };
    let routed: Vec<Family> = Family::ALL
        .into_iter()
        .filter(|f| config.scans(*f) && !on_link.contains(f))
        .collect();
    let probes = config
        .discovery
        .as_ref()
        .map(|d| d.probes.as_slice())
        .unwrap_or(&[]);
    if config.discovery.is_some() && probes.is_empty() && !routed.is_empty() {
        writer.discard();
        let (v4, v6) = config.space.first_hosts();
        let target = if routed[0] == Family::V4 { v4 } else { v6 };
        return Err(ScanError::Io {
            what: format!(
                "--ping-probe arp (-PR): ARP and ND reach only this link, and {} is behind a gateway",
                target.expect("a host of a scanned family")
            ),
            err: io::Error::other("add an IP probe (-PE, -PS...) or leave those targets out"),
        });
    }
    let up_only = StateSet::new(&[State::Up]);
    writer.collect_hosts(config.show.contains(State::Up));
    let mut neighbors = Neighbors::new();
    // Per family: the hosts found up, where discovery ran for it.
    let mut found: [Option<Vec<IpAddr>>; 2] = [None, None];
    let mut last: Option<(Config, Pass)> = None;

    // 1. The link: ARP and ND.
    if let Some(space) = config.space.of_families(on_link) {
        let space = Arc::new(space.with_ports(vec![PortEntry {
            proto: Protocol::Icmp,
            port: 0,
            variant: 0,
        }]));
        let c = Config {
            space: space.clone(),
            show: up_only,
            report_silence: false,
            ..quiet.clone()
        };
        let pass = run_pass(
            &c,
            interrupt,
            &NeighborSweep::new(space),
            plan,
            &mut writer,
            None,
            &None,
        )
        .inspect_err(|_| writer.discard())?;
        for (ip, mac) in writer.take_hosts() {
            if let Some(mac) = mac {
                neighbors.insert(ip, mac);
            }
            found[Family::of(&ip) as usize]
                .get_or_insert_with(Vec::new)
                .push(ip);
        }
        for f in on_link {
            found[*f as usize].get_or_insert_with(Vec::new);
        }
        eprintln!(
            "synsweep: on the link (ARP/ND): {} hosts up of {}",
            neighbors.len(),
            c.space.host_count()
        );
        last = Some((c, pass));
    }
    // 2. Behind a gateway: the ping probes.
    // A pass that did not run its course (Ctrl-C, a thread's or the
    // output's failure) ends the scan: `finish` reports what it found and
    // raises its error.
    let cut_short = |last: &Option<(Config, Pass)>| {
        last.as_ref().is_some_and(|(_, p)| {
            let f = &p.finished;
            !f.completed || f.tx.is_err() || f.rx.is_err() || f.output.is_err()
        })
    };
    if config.discovery.is_some()
        && !probes.is_empty()
        && !cut_short(&last)
        && let Some(space) = config.space.of_families(&routed)
    {
        let d = config.discovery.as_ref().expect("discovery");
        let space = Arc::new(space.with_ports(d.entries()));
        let c = Config {
            space,
            show: up_only,
            report_silence: false,
            ..quiet.clone()
        };
        let pass = run_pass(
            &c,
            interrupt,
            &PingScan::new(probes.to_vec()),
            plan,
            &mut writer,
            None,
            &None,
        )
        .inspect_err(|_| writer.discard())?;
        let hosts = writer.take_hosts();
        eprintln!(
            "synsweep: discovery: {} hosts up of {}",
            hosts.len(),
            c.space.host_count()
        );
        for f in &routed {
            found[*f as usize].get_or_insert_with(Vec::new);
        }
        for (ip, _) in hosts {
            found[Family::of(&ip) as usize]
                .get_or_insert_with(Vec::new)
                .push(ip);
        }
        last = Some((c, pass));
    }
    writer.stop_collecting();

    // 3. The ports of the hosts found (every host of a family discovery
    // did not look at).
    let space = if config.scans_ports() && !cut_short(&last) {
        let [v4, v6] = found;
        config.space.replace_hosts(v4, v6)
    } else {
        None
    };
    let Some(space) = space else {
        // Discovery was the scan, or it found nobody to scan.
        let (c, pass) = last.expect("a pass ran: the space has hosts in some family");
        return finish(
            &c,
            module,
            writer,
            pass.finished,
            pass.whole,
            pass.planned,
            started,
            module.max_frame_len(),
            None,
        );
    };
    let c = Config {
        space: Arc::new(space),
        ..quiet
    };
    let pass = run_pass(
        &c,
        interrupt,
        module,
        plan,
        &mut writer,
        Some(&neighbors),
        &None,
    )
    .inspect_err(|_| writer.discard())?;
    finish(
        &c,
        module,
        writer,
        pass.finished,
        pass.whole,
        pass.planned,
        started,
        module.max_frame_len(),
        None,
    )
}

/// Completes the output, prints nothing, writes the last status object,
/// removes a finished scan's checkpoint, and raises any thread's error.
#[allow(clippy::too_many_arguments)] // what the run left, handed over once
pub(crate) fn finish<M: ProbeModule>(
    config: &Config,
    module: &M,
    mut writer: ResultWriter,
    mut f: Finished,
    plan_whole: bool,
    planned: u64,
    started: Instant,
    frame_len: usize,
    checkpoint: Option<CheckpointPlan>,
) -> Result<ScanOutcome, ScanError> {
    // Silence is known only once every probe went out and its wait ran.
    if f.output.is_ok()
        && f.completed
        && plan_whole
        && let Ok(received) = &f.rx
        && let Some(answered) = &received.answered
        && config.report_silence
    {
        let r = report_silence(config, module, answered, &mut writer, &f.counters);
        if let Err(e) = r {
            f.output = Err(e);
        }
    }
    match f.output {
        Err(e) if e.is_broken_pipe() => writer.discard(),
        Err(e) => {
            writer.discard();
            return Err(ScanError::Output(e));
        }
        Ok(()) => writer
            .finish(&EndInfo {
                end_unix: monitor::unix_now(),
                elapsed: started.elapsed(),
                records: 0,
            })
            .map_err(ScanError::Output)?,
    }
    let mut summary = Summary::from_counters(
        &f.counters,
        planned,
        f.send_time,
        started.elapsed(),
        config.seed,
    );
    summary.rtt_us =
        f.rx.as_ref()
            .ok()
            .map(|r| &r.rtt_us)
            .filter(|h| !h.is_empty())
            .cloned();
    summary.sessions = f.rx.as_ref().ok().and_then(|r| r.sessions);
    if let Some(mut w) = f.status {
        let _ = writeln!(
            w,
            "{}",
            final_status(&f.counters, &summary, planned, started)
        );
        let _ = w.flush();
    }
    if f.completed
        && let Some(p) = &checkpoint
    {
        // Done: nothing to resume.
        let _ = std::fs::remove_file(&p.path);
        let _ = std::fs::remove_file(answered_path(&p.path));
    }
    let batch_latency_ns = f.tx.map_err(|e| ScanError::thread("sending", e))?;
    f.rx.map(drop)
        .map_err(|e| ScanError::thread("receiving", e))?;
    Ok(ScanOutcome {
        summary,
        per_second: f.per_second,
        batch_latency_ns,
        frame_len,
        interrupted: f.interrupted,
    })
}

/// Where a checkpointed scan keeps its record of answered probes.
fn answered_path(checkpoint: &Path) -> PathBuf {
    let mut p = checkpoint.as_os_str().to_owned();
    p.push(".answered");
    PathBuf::from(p)
}

/// The record of answered probes, for a scan that reports silence: beside
/// the checkpoint, so a resume keeps it, else in memory. A resumed record
/// forgets every probe of this shard at or after the resume position: their
/// answers may have been heard but not yet written when the scan stopped,
/// and they are sent again.
fn answered_record(
    config: &Config,
    checkpoint: &Option<CheckpointPlan>,
) -> Result<Option<Answered>, ScanError> {
    if !config.report_silence {
        return Ok(None);
    }
    let size = config.space.size();
    let io_err = |what: String| move |err| ScanError::Io { what, err };
    let Some(cp) = checkpoint else {
        return Answered::in_memory(size)
            .map(Some)
            .map_err(io_err("cannot map the record of answered probes".into()));
    };
    let path = answered_path(&cp.path);
    let resume = config.resume.map(|r| r.position);
    let mut record = Answered::in_file(&path, size, resume.is_none())
        .map_err(io_err(format!("cannot keep {}", path.display())))?;
    if let Some(from) = resume {
        let permutation = Permutation::new(size, config.seed);
        let (shard, shards) = (config.shard.index, config.shard.count);
        let mut p = (from..from + shards)
            .find(|p| p % shards == shard)
            .expect("one of any `shards` positions in a row is this shard's");
        let space = &config.space;
        while p < size {
            // A reply to any payload of a port marks the port's first
            // probe (`index_of`): that is the bit to forget.
            let probe = space.probe(permutation.apply(p));
            if let Some(key) = space.index_of(probe.addr, probe.proto, probe.port) {
                record.clear(key);
            }
            p += shards;
        }
    }
    Ok(Some(record))
}

/// Every base probe of this shard that no reply answered, with the
/// module's silence; counted among the results.
fn report_silence<M: ProbeModule>(
    config: &Config,
    module: &M,
    answered: &Answered,
    writer: &mut ResultWriter,
    counters: &Counters,
) -> Result<(), OutputError> {
    let space = &config.space;
    let ts = monitor::unix_now();
    let mut found = [0u64; State::COUNT];
    let mut one = |index: u64| -> Result<(), OutputError> {
        let p = space.probe(index);
        if p.variant != 0 || answered.get(index) {
            return Ok(());
        }
        let (state, reason) = module.silence(p.proto);
        found[state.index()] += 1;
        if config.show.contains(state) {
            writer.write(&crate::domain::Record {
                ip: p.addr,
                proto: p.proto,
                port: p.port,
                state,
                reason,
                ttl: 0,
                ts,
                mac: None,
                banner: None,
                os: None,
            })?;
        }
        Ok(())
    };
    if config.shard.count == 1 {
        (0..space.size()).try_for_each(&mut one)?;
    } else {
        // This shard's positions, through the permutation to their probes.
        let permutation = Permutation::new(space.size(), config.seed);
        let (shard, shards) = (config.shard.index, config.shard.count);
        (shard..space.size())
            .step_by(shards as usize)
            .try_for_each(|p| one(permutation.apply(p)))?;
    }
    for (c, n) in counters.found.iter().zip(found) {
        c.add(n);
    }
    Ok(())
}

/// The last `--status-json` object: phase `done`, with round-trip times.
fn final_status(counters: &Counters, summary: &Summary, planned: u64, started: Instant) -> String {
    let progress = stats::Progress {
        planned,
        started,
        wait_deadline_ms: Default::default(),
        running: Default::default(),
        completed: Default::default(),
    };
    let mut last = monitor::status_json(counters, &progress, "done", summary.send_rate());
    if let Some(h) = &summary.rtt_us {
        last.pop();
        last.push_str(&format!(
            r#","rtt_ms":{{"p50":{:.3},"p90":{:.3},"p99":{:.3},"max":{:.3},"samples":{}}}}}"#,
            h.value_at_quantile(0.5) as f64 / 1e3,
            h.value_at_quantile(0.9) as f64 / 1e3,
            h.value_at_quantile(0.99) as f64 / 1e3,
            h.max() as f64 / 1e3,
            h.len()
        ));
    }
    last
}
