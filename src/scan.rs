//! A whole scan: set up the link, start the threads, wait, report.
//!
//! ```text
//! transmit x N ──frames──> link ~~~> targets ~~~> link ──frames──> receive
//!      │ watermarks                                                  │ findings
//!      └────────> monitor (status, --status-json, checkpoints) ──sync──> output ──> file
//! ```
//! The transmit and receive threads share nothing but a few atomic
//! counters and flags; findings reach the output thread through a bounded
//! channel, and so do the monitor's sync requests, which is what makes a
//! checkpoint trustworthy (see `monitor.rs`). Ctrl-C once stops sending and
//! waits `--wait` for late replies; twice ends the wait at once. Either way
//! every finding already received is written, the output file is completed,
//! and a checkpoint is left to resume from.

use crate::config::Config;
use crate::cookie::CookieKey;
use crate::dedup::Dedup;
use crate::link::{self, FrameRx, FrameTx, LinkError, LinkKind, LinkPlan};
use crate::monitor::{self, CheckpointPlan, Monitor, ToOutput, Watermarks};
use crate::output::{Continue, EndInfo, OutputError, ResultWriter, RunInfo};
use crate::permute::Permutation;
use crate::rate::Rate;
use crate::rx::Validator;
use crate::schedule::SendSchedule;
use crate::stats::{self, Counters, Progress, RxTally, Summary};
use crate::tx::{self, ProbeMaker, TxThread};
use crate::wire::reply::parse_frame;
use crate::wire::template::{SYN_FRAME_LEN, SynTemplate, TemplateParams};
use hdrhistogram::Histogram;
use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::time::{Duration, Instant};

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
}

/// Frames of schedule between a probe and its retry: about one second of
/// sending, so a retry is not lost to the same burst as its original.
pub fn retry_gap(rate: Rate, retries: u32, tx_threads: u64) -> u64 {
    match rate {
        Rate::PerSecond(r) => ((r / f64::from(retries + 1) / tx_threads as f64) as u64).max(1),
        Rate::Unlimited => 1 << 20,
    }
}

/// The schedules of this shard's transmit threads: thread `t` is slot
/// `shard + shards * t` of `shards * threads`, so shards and threads never
/// share a position and together hold them all.
fn schedules(config: &Config, threads: u64) -> Vec<SendSchedule> {
    let (shard, shards) = (config.shard.index, config.shard.count);
    let stride = shards * threads;
    let gap = retry_gap(config.rate, config.retries, threads);
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

/// The probes in send order, one `ip port` line each; retries included.
pub fn list_probes(config: &Config, out: &mut dyn Write) -> io::Result<()> {
    let space = &config.space;
    let permutation = Permutation::new(space.size(), config.seed);
    let mut out = io::BufWriter::with_capacity(1 << 16, out);
    for schedule in schedules(config, 1) {
        for send in schedule {
            let p = space.probe(permutation.apply(send.position));
            writeln!(out, "{} {}", Ipv4Addr::from(p.ip), p.port)?;
        }
    }
    out.flush()
}

/// The receive loop: runs until `stop`, hands new findings to `found`,
/// returns the round-trip times (µs) of SYN-ACKs that echoed our TSval,
/// measured from each frame's arrival stamp.
#[allow(clippy::too_many_arguments)] // the receive thread's whole world
fn receive(
    link: &mut dyn FrameRx,
    validator: &Validator,
    mut dedup: Dedup,
    counters: &Counters,
    found: SyncSender<ToOutput>,
    show: crate::config::Show,
    stop: &AtomicBool,
) -> io::Result<Histogram<u64>> {
    let mut tally = RxTally::default();
    // 1 µs to 1 hour: created once, recorded into without allocating.
    let mut rtt_us = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds");
    while !stop.load(Relaxed) {
        link.recv_batch(Duration::from_millis(50), &mut |frame, arrived_us| {
            tally.received += 1;
            let verdict = parse_frame(frame).ok().and_then(|r| validator.judge(&r));
            let Some(v) = verdict else {
                tally.dropped += 1;
                return;
            };
            tally.valid += 1;
            if let Some(echo) = v.ts_echo {
                // TSval and arrival stamp are both Unix µs (TSval wraps at
                // 32 bits, so the difference is taken wrapping too).
                let rtt = (arrived_us as u32).wrapping_sub(echo);
                if rtt < 3_600_000_000 {
                    rtt_us.saturating_record(u64::from(rtt.max(1)));
                }
            }
            if !dedup.first_time(v.ip, v.port) {
                tally.duplicates += 1;
                return;
            }
            tally.found[v.state as usize] += 1;
            if show.contains(v.state) {
                // A closed channel means the output failed; the main thread
                // has seen that and is stopping us.
                let _ = found.send(ToOutput::Finding(v.finding(arrived_us / 1_000_000)));
            }
        })?;
        tally.publish(counters);
        if let Some(d) = link.kernel_drops() {
            counters.kernel_dropped.add(d);
        }
    }
    Ok(rtt_us)
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

fn checkpoint_plan(config: &Config) -> Option<CheckpointPlan> {
    let path = config.checkpoint.clone()?;
    let resume = config.resume.unwrap_or(crate::config::ResumePoint {
        position: 0,
        sent: 0,
        found: [0; 3],
    });
    Some(CheckpointPlan {
        path,
        interval: config.checkpoint_interval,
        lag: config.wait + Duration::from_millis(250),
        config: config.effective.clone(),
        config_hash: config.identity_hash,
        start_position: resume.position,
        prior_sent: resume.sent,
        prior_found: resume.found,
    })
}

fn open_status(config: &Config) -> Result<Option<Box<dyn Write + Send>>, ScanError> {
    Ok(match &config.status_json {
        None => None,
        Some(p) if p.as_os_str() == "-" => Some(Box::new(io::stdout())),
        Some(p) => Some(Box::new(File::create(p).map_err(|err| ScanError::Io {
            what: format!("cannot write {}", p.display()),
            err,
        })?)),
    })
}

pub fn run(config: &Config, interrupt: &Interrupt) -> Result<ScanOutcome, ScanError> {
    let started = Instant::now();
    let run_info = RunInfo {
        start_unix: monitor::unix_now(),
        command_line: config.command_line.clone(),
        ports: crate::cli::port_list(config.space.ports()),
        port_count: config.space.ports().len(),
    };
    let mode = if config.append || config.resume.is_some() {
        Continue::Existing
    } else {
        Continue::Fresh
    };
    // Open the output first: a bad path fails before any packet is sent.
    let writer = ResultWriter::create(&config.output, run_info, mode).map_err(ScanError::Output)?;
    let plan = checkpoint_plan(config);
    let prepared = (|| {
        let status = open_status(config)?;
        // The link first: without privilege, that is the error to show.
        let link = open_link(config).map_err(ScanError::Link)?;
        if let Some(p) = &plan {
            // Writable now, or fail before sending; and a run killed from
            // here on always leaves a checkpoint.
            let counters = Counters::default();
            p.at(p.start_position, &counters)
                .write_atomic(&p.path)
                .map_err(|err| ScanError::Io {
                    what: format!("cannot write checkpoint {}", p.path.display()),
                    err,
                })?;
        }
        Ok((status, link))
    })();
    match prepared {
        Ok((status, (link_plan, txs, mut rx))) => run_on_link(
            config, interrupt, writer, &link_plan, txs, &mut *rx, plan, status, started,
        ),
        Err(e) => {
            writer.discard();
            if let Some(p) = &plan
                && config.resume.is_none()
            {
                let _ = std::fs::remove_file(&p.path);
            }
            Err(e)
        }
    }
}

/// Splits `total` frames over `threads` as evenly as possible.
fn share(total: u64, threads: u64, t: u64) -> u64 {
    total / threads + u64::from(t < total % threads)
}

#[allow(clippy::too_many_arguments)] // the pieces `run` prepared, handed over once
fn run_on_link(
    config: &Config,
    interrupt: &Interrupt,
    mut writer: ResultWriter,
    plan: &LinkPlan,
    tx_links: Vec<Box<dyn FrameTx>>,
    rx_link: &mut dyn FrameRx,
    checkpoint: Option<CheckpointPlan>,
    status: Option<Box<dyn Write + Send>>,
    started: Instant,
) -> Result<ScanOutcome, ScanError> {
    let space = &*config.space;
    let key = CookieKey::random();
    let permutation = Permutation::new(space.size(), config.seed);
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
    let schedules = schedules(config, threads);
    // What is left to send: all of it, unless resuming.
    let full: u64 = schedules.iter().map(|s| s.remaining_sends()).sum();
    let resumed_at = config.resume.map_or(0, |r| r.position);
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
        "synsweep: {} probes ({} hosts x {} ports) x {} attempts{}{} at {}; {} link, {} transmit thread{}, {}",
        space.size(),
        space.host_count(),
        space.ports().len(),
        config.retries + 1,
        if config.shard.count > 1 {
            format!(", shard {}/{}", config.shard.index + 1, config.shard.count)
        } else {
            String::new()
        },
        if config.resume.is_some() {
            format!(", resumed at position {resumed_at}")
        } else {
            String::new()
        },
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
    let progress = Progress {
        planned,
        started: Instant::now(),
        wait_deadline_ms: AtomicU64::new(0),
        running: AtomicBool::new(true),
        completed: AtomicBool::new(false),
    };
    let watermarks = Watermarks::new(tx_links.len(), resumed_at);
    let (to_output, from_scan) = sync_channel::<ToOutput>(16384);
    let checkpoint_path = checkpoint.as_ref().map(|p| p.path.clone());

    let mut interrupted = false;
    let mut send_time = Duration::ZERO;
    let (tx_result, rx_result, out_result, report) = std::thread::scope(|s| {
        let out_thread = s.spawn(|| {
            for msg in from_scan {
                let r = match msg {
                    ToOutput::Finding(f) => writer.write(&f),
                    ToOutput::Sync(ack) => writer.sync().map(|()| {
                        let _ = ack.send(());
                    }),
                };
                if let Err(e) = r {
                    output_failed.store(true, Relaxed);
                    return Err(e);
                }
            }
            Ok(())
        });
        let rx_to_output = to_output.clone();
        let rx_thread = s.spawn(|| {
            receive(
                rx_link,
                &validator,
                dedup,
                &counters,
                rx_to_output,
                config.show,
                &stop_rx,
            )
        });
        let tx_threads: Vec<_> = tx_links
            .into_iter()
            .zip(schedules)
            .enumerate()
            .map(|(t, (mut link, schedule))| {
                let budget = config.max_probes.map(|m| share(m, threads, t as u64));
                let (maker, template, counters) = (&maker, &template, &counters);
                let (stop_tx, tx_finished) = (&stop_tx, &tx_finished);
                let watermark = watermarks.thread(t);
                s.spawn(move || {
                    let job = TxThread {
                        maker,
                        template,
                        schedule,
                        budget,
                        rate: thread_rate,
                        watermark,
                    };
                    let r = job.run(&mut *link, counters, stop_tx);
                    tx_finished.fetch_add(1, Relaxed);
                    r
                })
            })
            .collect();
        let monitor = Monitor {
            counters: &counters,
            progress: &progress,
            watermarks: &watermarks,
            terminal: io::stderr().is_terminal(),
            status,
            checkpoint,
            to_output,
        };
        let monitor = s.spawn(move || monitor.run());

        let mut wait_until: Option<(Instant, u32)> = None;
        let mut ran_out = false;
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
                send_time = progress.started.elapsed();
                ran_out = !stop_tx.load(Relaxed);
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
        // Complete only if every probe went out and the wait was not cut.
        let complete = ran_out && !interrupted && !output_failed.load(Relaxed);
        progress.completed.store(complete, Relaxed);
        progress.running.store(false, Relaxed);
        // The monitor writes the last checkpoint (if incomplete) while the
        // output thread still listens, then lets go of the channel.
        let report = monitor.join();
        let out_result = out_thread.join();
        (tx_result, rx_result, out_result, report)
    });
    if send_time.is_zero() {
        send_time = started.elapsed();
    }
    let panicked = |what: &str| ScanError::Io {
        what: what.to_string(),
        err: io::Error::other("thread panicked"),
    };
    let report = report.map_err(|_| panicked("monitor thread"))?;
    let rx_result = rx_result.map_err(|_| panicked("receive thread"))?;
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
    let end = EndInfo {
        end_unix: monitor::unix_now(),
        elapsed: started.elapsed(),
        records: 0,
    };
    if output_closed {
        writer.discard();
    } else {
        writer.finish(&end).map_err(ScanError::Output)?;
    }
    let rtt = match &rx_result {
        Ok(h) => h.clone(),
        Err(_) => tx::latency_histogram(),
    };
    let mut summary = Summary::from_counters(
        &counters,
        planned,
        send_time,
        started.elapsed(),
        config.seed,
    );
    summary.rtt_us = (!rtt.is_empty()).then_some(rtt);
    if let Some(mut w) = report.status {
        let mut last = monitor::status_json(&counters, &progress, "done", summary.send_rate());
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
        let _ = writeln!(w, "{last}");
        let _ = w.flush();
    }
    if progress.completed.load(Relaxed)
        && let Some(path) = &checkpoint_path
    {
        // Done: nothing to resume.
        let _ = std::fs::remove_file(path);
    }
    let batch_latency_ns = tx_result
        .map_err(|_| panicked("transmit thread"))?
        .map_err(|err| ScanError::Io {
            what: "sending".into(),
            err,
        })?;
    rx_result.map_err(|err| ScanError::Io {
        what: "receiving".into(),
        err,
    })?;
    Ok(ScanOutcome {
        summary,
        per_second: report.per_second,
        batch_latency_ns,
        frame_len: SYN_FRAME_LEN,
        interrupted,
    })
}
