//! A whole scan: set up the link, start the threads, wait, report.
//!
//! ```text
//! transmit ──frames──> link ~~~> targets ~~~> link ──frames──> receive
//!                                                                 │ findings
//!  status (stderr, 1/s) <── counters ──┘                         output ──> file
//! ```
//! The transmit and receive threads share nothing but a few atomic
//! counters and flags; findings reach the output thread through a bounded
//! channel. Ctrl-C once stops sending and waits `--wait` for late replies;
//! twice ends the wait at once. Either way every finding already received
//! is written and the output file is completed.

use crate::config::Config;
use crate::cookie::CookieKey;
use crate::dedup::Dedup;
use crate::link::{self, FrameRx, FrameTx, LinkError, LinkKind, LinkPlan};
use crate::output::{OutputError, ResultWriter};
use crate::permute::Permutation;
use crate::rate::Rate;
use crate::rx::{Finding, Validator};
use crate::schedule::SendSchedule;
use crate::stats::{self, Counters, Progress, RxTally, Summary};
use crate::tx::{self, ProbeMaker, TxThread};
use crate::wire::reply::parse_frame;
use crate::wire::template::{SYN_FRAME_LEN, SynTemplate, TemplateParams};
use hdrhistogram::Histogram;
use std::io::{self, IsTerminal, Write};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Ctrl-C presses, counted by the signal handler.
#[derive(Debug, Default)]
pub struct Interrupt {
    presses: AtomicU32,
}

impl Interrupt {
    pub const fn new() -> Self {
        Interrupt {
            presses: AtomicU32::new(0),
        }
    }
    /// Records a press; returns how many there have been.
    pub fn press(&self) -> u32 {
        self.presses.fetch_add(1, Relaxed) + 1
    }
    pub fn presses(&self) -> u32 {
        self.presses.load(Relaxed)
    }
}

#[derive(Debug)]
pub enum ScanError {
    Link(LinkError),
    Output(OutputError),
    Io { what: &'static str, err: io::Error },
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

pub struct ScanOutcome {
    pub summary: Summary,
    /// Frames sent in each second of the run.
    pub per_second: Vec<u64>,
    /// How long each batch took to hand to the kernel, all threads.
    pub batch_latency_ns: Histogram<u64>,
    /// Bytes per probe frame.
    pub frame_len: usize,
    /// Ctrl-C cut the scan short.
    pub interrupted: bool,
    /// The reader of standard output went away (a closed pipe).
    pub output_closed: bool,
}

/// Frames of schedule between a probe and its retry: about one second of
/// sending, so a retry is not lost to the same burst as its original.
pub fn retry_gap(rate: Rate, retries: u32, tx_threads: u64) -> u64 {
    match rate {
        Rate::PerSecond(r) => ((r / f64::from(retries + 1) / tx_threads as f64) as u64).max(1),
        Rate::Unlimited => 1 << 20,
    }
}

/// The probes in send order, one `ip port` line each; retries included.
pub fn list_probes(config: &Config, out: &mut dyn Write) -> io::Result<()> {
    let seed = config.seed.unwrap_or_else(rand::random);
    let space = &config.space;
    let permutation = Permutation::new(space.size(), seed);
    let gap = retry_gap(config.rate, config.retries, 1);
    let mut out = io::BufWriter::with_capacity(1 << 16, out);
    for send in SendSchedule::new(space.size(), 0, 1, config.retries, gap, 0) {
        let p = space.probe(permutation.apply(send.position));
        writeln!(out, "{} {}", Ipv4Addr::from(p.ip), p.port)?;
    }
    out.flush()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The receive loop: runs until `stop`, hands new findings to `found`.
fn receive(
    link: &mut dyn FrameRx,
    validator: &Validator,
    mut dedup: Dedup,
    counters: &Counters,
    found: SyncSender<Finding>,
    show: crate::config::Show,
    stop: &AtomicBool,
) -> io::Result<()> {
    let mut tally = RxTally::default();
    while !stop.load(Relaxed) {
        link.recv_batch(Duration::from_millis(50), &mut |frame| {
            tally.received += 1;
            let verdict = parse_frame(frame).ok().and_then(|r| validator.judge(&r));
            let Some(v) = verdict else {
                tally.dropped += 1;
                return;
            };
            tally.valid += 1;
            if !dedup.first_time(v.ip, v.port) {
                tally.duplicates += 1;
                return;
            }
            tally.found[v.state as usize] += 1;
            if show.contains(v.state) {
                let f = Finding {
                    ip: Ipv4Addr::from(v.ip),
                    port: v.port,
                    state: v.state,
                    reason: v.reason,
                    ttl: v.ttl,
                    ts: unix_now(),
                };
                // A closed channel means the output failed; the main thread
                // has seen that and is stopping us.
                let _ = found.send(f);
            }
        })?;
        tally.publish(counters);
        if let Some(d) = link.kernel_drops() {
            counters.kernel_dropped.add(d);
        }
    }
    Ok(())
}

type OpenLink = (LinkPlan, Vec<Box<dyn FrameTx>>, Box<dyn FrameRx>);

/// Plans the link and opens the receiver, then one sender per thread: the
/// receiver first, so not even the first reply can arrive unheard.
fn open_link(config: &Config) -> Result<OpenLink, LinkError> {
    let plan = if config.link_kind == LinkKind::Offline {
        link::offline_plan(config.link.source_ip)
    } else {
        link::plan(&config.link, Ipv4Addr::from(config.space.hosts().nth(0)))?
    };
    let ports = config.source_ports;
    let rx = link::open_rx(config.link_kind, &plan, ports.first, ports.last)?;
    let txs = (0..config.tx_threads)
        .map(|_| link::open_tx(config.link_kind, &plan))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((plan, txs, rx))
}

pub fn run(config: &Config, interrupt: &Interrupt) -> Result<ScanOutcome, ScanError> {
    let started = Instant::now();
    // Open the output first: a bad path fails before any packet is sent.
    let writer = ResultWriter::create(&config.output).map_err(ScanError::Output)?;
    match open_link(config) {
        Ok((plan, txs, mut rx)) => {
            run_on_link(config, interrupt, writer, &plan, txs, &mut *rx, started)
        }
        Err(e) => {
            writer.discard();
            Err(ScanError::Link(e))
        }
    }
}

/// Splits `total` frames over `threads` as evenly as possible.
fn share(total: u64, threads: u64, t: u64) -> u64 {
    total / threads + u64::from(t < total % threads)
}

fn run_on_link(
    config: &Config,
    interrupt: &Interrupt,
    mut writer: ResultWriter,
    plan: &LinkPlan,
    tx_links: Vec<Box<dyn FrameTx>>,
    rx_link: &mut dyn FrameRx,
    started: Instant,
) -> Result<ScanOutcome, ScanError> {
    let space = &*config.space;
    let seed = config.seed.unwrap_or_else(rand::random);
    let key = CookieKey::random();
    let permutation = Permutation::new(space.size(), seed);
    let src_ip = u32::from(plan.src_ip);
    let template = SynTemplate::new(&TemplateParams {
        src_mac: plan.iface.mac,
        dst_mac: plan.next_hop_mac,
        src_ip,
        ttl: config.ttl,
        window: 64240,
        mss: 1460,
    });
    let maker = ProbeMaker {
        space,
        permutation: &permutation,
        key: &key,
        src_ip,
        src_ports: config.source_ports,
    };
    let threads = tx_links.len() as u64;
    let gap = retry_gap(config.rate, config.retries, threads);
    let schedules: Vec<SendSchedule> = (0..threads)
        .map(|t| SendSchedule::new(space.size(), t, threads, config.retries, gap, 0))
        .collect();
    let full: u64 = schedules.iter().map(|s| s.total_sends()).sum();
    let planned = config.max_probes.map_or(full, |m| m.min(full));
    let thread_rate = match config.rate {
        Rate::PerSecond(r) => Rate::PerSecond(r / threads as f64),
        Rate::Unlimited => Rate::Unlimited,
    };
    let validator = Validator::new(
        key.clone(),
        src_ip,
        config.source_ports.first,
        config.source_ports.last,
    );
    let dedup = Dedup::for_space(config.space.clone());

    eprintln!(
        "synsweep: {} probes ({} hosts x {} ports) x {} attempts at {}; {} link, {} transmit thread{}, {}",
        space.size(),
        space.host_count(),
        space.ports().len(),
        config.retries + 1,
        match config.rate {
            Rate::PerSecond(r) => stats::human_rate(r),
            Rate::Unlimited => "max rate".into(),
        },
        config.link_kind.name(),
        threads,
        if threads == 1 { "" } else { "s" },
        plan
    );

    let counters = Counters::default();
    let stop_tx = AtomicBool::new(false);
    let stop_rx = AtomicBool::new(false);
    let tx_finished = AtomicUsize::new(0);
    let output_failed = AtomicBool::new(false);
    let clock_origin = Instant::now();
    let progress = Progress {
        planned,
        started: clock_origin,
        wait_deadline_ms: AtomicU64::new(0),
        running: AtomicBool::new(true),
    };
    let (found_tx, found_rx) = sync_channel::<Finding>(16384);

    let mut interrupted = false;
    let mut send_time = Duration::ZERO;
    let (tx_result, rx_result, out_result, per_second) = std::thread::scope(|s| {
        let out_thread = s.spawn(|| {
            for f in found_rx {
                if let Err(e) = writer.write(&f) {
                    output_failed.store(true, Relaxed);
                    return Err(e);
                }
            }
            Ok(())
        });
        let rx_thread = s.spawn(|| {
            receive(
                rx_link,
                &validator,
                dedup,
                &counters,
                found_tx,
                config.show,
                &stop_rx,
            )
        });
        let send_started = Instant::now();
        let tx_threads: Vec<_> = tx_links
            .into_iter()
            .zip(schedules)
            .enumerate()
            .map(|(t, (mut link, schedule))| {
                let budget = config.max_probes.map(|m| share(m, threads, t as u64));
                let (maker, template, counters) = (&maker, &template, &counters);
                let (stop_tx, tx_finished) = (&stop_tx, &tx_finished);
                s.spawn(move || {
                    let job = TxThread {
                        maker,
                        template,
                        schedule,
                        budget,
                        rate: thread_rate,
                        clock_origin,
                    };
                    let r = job.run(&mut *link, counters, stop_tx);
                    tx_finished.fetch_add(1, Relaxed);
                    r
                })
            })
            .collect();
        let monitor = s.spawn(|| stats::monitor(&counters, &progress, io::stderr().is_terminal()));

        let mut wait_until: Option<(Instant, u32)> = None;
        loop {
            std::thread::sleep(Duration::from_millis(10));
            let presses = interrupt.presses();
            if output_failed.load(Relaxed) {
                stop_tx.store(true, Relaxed);
                break;
            }
            if presses >= 1 && !stop_tx.load(Relaxed) {
                interrupted = true;
                stop_tx.store(true, Relaxed);
            }
            if wait_until.is_none() && tx_finished.load(Relaxed) == threads as usize {
                send_time = send_started.elapsed();
                let deadline = Instant::now() + config.wait;
                let ms = deadline.duration_since(progress.started).as_millis() as u64;
                progress.wait_deadline_ms.store(ms.max(1), Relaxed);
                wait_until = Some((deadline, presses));
                if presses >= 1 && io::stderr().is_terminal() {
                    eprint!(
                        "\r\x1b[Kwaiting {:.0} s for late replies; Ctrl-C again to stop now\n",
                        config.wait.as_secs_f64()
                    );
                }
            }
            if let Some((deadline, presses_then)) = wait_until
                && (Instant::now() >= deadline || presses > presses_then)
            {
                interrupted |= presses > 0;
                break;
            }
        }
        stop_rx.store(true, Relaxed);
        // A panic in any transmit thread, else its first error, else the
        // threads' latency histograms merged.
        let mut tx_result: Result<io::Result<Histogram<u64>>, ()> = Ok(Ok(tx::latency_histogram()));
        for h in tx_threads {
            match (h.join(), &mut tx_result) {
                (Err(_), _) => tx_result = Err(()),
                (Ok(Err(e)), Ok(Ok(_))) => tx_result = Ok(Err(e)),
                (Ok(Ok(report)), Ok(Ok(all))) => {
                    // Same bounds on both sides: adding cannot fail.
                    let _ = all.add(&report.batch_latency_ns);
                }
                _ => {}
            }
        }
        let rx_result = rx_thread.join();
        let out_result = out_thread.join();
        progress.running.store(false, Relaxed);
        let per_second = monitor.join().unwrap_or_default();
        (tx_result, rx_result, out_result, per_second)
    });
    if send_time.is_zero() {
        send_time = started.elapsed();
    }

    let summary = Summary::from_counters(&counters, planned, send_time, started.elapsed(), seed);
    let panicked = |what| ScanError::Io {
        what,
        err: io::Error::other("thread panicked"),
    };
    let out_result = out_result.map_err(|_| panicked("output thread"))?;
    let mut output_closed = false;
    match out_result {
        Err(e) if e.is_broken_pipe() => output_closed = true,
        Err(e) => {
            writer.discard();
            return Err(ScanError::Output(e));
        }
        Ok(()) => {}
    }
    // Results are written before any transmit or receive error is raised,
    // so a failing link never costs what was already found.
    if output_closed {
        writer.discard();
    } else {
        writer.finish().map_err(ScanError::Output)?;
    }
    let batch_latency_ns = tx_result
        .map_err(|_| panicked("transmit thread"))?
        .map_err(|err| ScanError::Io {
            what: "sending",
            err,
        })?;
    rx_result
        .map_err(|_| panicked("receive thread"))?
        .map_err(|err| ScanError::Io {
            what: "receiving",
            err,
        })?;
    Ok(ScanOutcome {
        summary,
        per_second,
        batch_latency_ns,
        frame_len: SYN_FRAME_LEN,
        interrupted,
        output_closed,
    })
}
