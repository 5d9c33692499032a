//! Connect mode (`--connect`, nmap's `-sT`): a scan through the kernel's
//! TCP stack, for users without root or CAP_NET_RAW.
//!
//! The same space, permutation, schedule (shards, resume), pacing, output
//! formats, status monitor and checkpoints as the raw engine; what differs
//! is the probe: a non-blocking connect() watched by one epoll loop
//! (`event_loop.rs`) over a fixed table of connection slots (`slab.rs`),
//! with a timeout that adapts to the round trips measured (`timeout.rs`).
//! No link is planned or opened: no interface, no privilege.
//!
//! ```text
//! schedule -> pacer -> connect() ─┐            ┌─> output thread (identify) -> file
//!                       epoll <───┴─ kernel ───┤
//!                       verdicts ──records─────┘   monitor (status, checkpoints)
//! ```

pub mod event_loop;
pub mod slab;
pub mod timeout;

use crate::config::{Config, ConnectOptions};
use crate::domain::Protocol;
use crate::engine::monitor::{self, CheckpointPlan, Monitor, ToOutput, Watermarks};
use crate::engine::permute::Permutation;
use crate::engine::rx::Received;
use crate::engine::schedule::SendSchedule;
use crate::engine::stats::{Counters, Progress};
use crate::engine::{Finished, Interrupt, ThreadError};
use crate::output::{RunInfo, ScanInfo};
use crate::probe::tcp::SynScan;
use crate::scan::{ScanError, ScanOutcome};
use crate::service::dialogue::Context;
use crate::service::identify::Identifier;
use crate::targets::grammar::port_list;
use event_loop::{ConnectLoop, Job, LoopReport, Shared, Talk};
use std::io::{self, IsTerminal};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

/// Descriptors kept back from `--max-inflight`'s default: standard
/// streams, the output and status files, epoll, the checkpoint.
pub const FD_RESERVE: u64 = 64;
/// The default's ceiling: past it the table's memory grows, not the speed
/// (a connect's slot lives a round trip, or a timeout when unanswered).
pub const DEFAULT_MAX_INFLIGHT: u64 = 65536;

/// How far behind the loop's watermark a checkpoint's position stays.
const CHECKPOINT_LAG: Duration = Duration::from_millis(250);

/// Raises the soft open-file limit to the hard one (allowed without
/// privilege) and returns the soft limit now in force.
fn raise_nofile() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) => {
            if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
                hard
            } else {
                soft
            }
        }
        Err(_) => 1024,
    }
}

/// Connections in flight at most: `--max-inflight`, or what the open-file
/// limit allows less the reserve, never more than the limit allows.
fn max_inflight(options: &ConnectOptions) -> Result<usize, ScanError> {
    let limit = raise_nofile();
    let allowed = limit.saturating_sub(FD_RESERVE);
    if allowed == 0 {
        return Err(ScanError::Io {
            what: format!("--connect: the open-file limit is {limit}"),
            err: io::Error::other(format!(
                "connect mode needs more than {FD_RESERVE} descriptors: raise it with `ulimit -n`"
            )),
        });
    }
    match options.max_inflight {
        Some(n) if n as u64 > allowed => Err(ScanError::Io {
            what: format!("--max-inflight {n}"),
            err: io::Error::other(format!(
                "the open-file limit is {limit} (hard limit included): give at most {allowed}, or raise the limit"
            )),
        }),
        Some(n) => Ok(n),
        None => Ok(allowed.min(DEFAULT_MAX_INFLIGHT) as usize),
    }
}

fn run_info(config: &Config) -> RunInfo {
    let ports = config.space.port_numbers(Protocol::Tcp);
    RunInfo {
        start_unix: crate::engine::monitor::unix_now(),
        command_line: config.command_line.clone(),
        scans: vec![ScanInfo {
            scan_type: "connect",
            protocol: Protocol::Tcp,
            ports: port_list(&ports),
            port_count: ports.len(),
        }],
        banners: config.banners.is_some(),
        os_hints: false,
    }
}

fn announce(config: &Config, inflight: usize) {
    eprintln!(
        "synsweep: {} (a timeout's retries only); connect mode, {} in flight at most{}",
        crate::scan::extent(config, "connects"),
        inflight,
        match &config.link.interface {
            Some(i) => format!(", bound to {i}"),
            None => String::new(),
        },
    );
}

/// Runs a connect scan from its configuration to its finished output.
pub fn run(
    config: &Config,
    options: &ConnectOptions,
    interrupt: &Interrupt,
) -> Result<ScanOutcome, ScanError> {
    let started = Instant::now();
    let mut writer = crate::scan::open_output(config, run_info(config))?;
    // A result is handed to the output before the watermark passes its
    // probe, and no answer comes after a connect's verdict: the checkpoint
    // needs no `--wait` of lag, only a margin for the monitor's sampling.
    let checkpoint = crate::scan::checkpoint_plan(config).map(|p| CheckpointPlan {
        lag: CHECKPOINT_LAG,
        ..p
    });
    let prepared = (|| {
        if let Some(name) = &config.link.interface {
            // Named and up, or say so now, before the first connect.
            crate::link::find_interface(name).map_err(ScanError::Link)?;
        }
        let inflight = max_inflight(options)?;
        let status = crate::scan::open_status(config)?;
        if let Some(p) = &checkpoint {
            p.at(p.start_position, &Counters::default())
                .write_atomic(&p.path)
                .map_err(|err| ScanError::Io {
                    what: format!("cannot write checkpoint {}", p.path.display()),
                    err,
                })?;
        }
        Ok((inflight, status))
    })();
    let (inflight, status) = match prepared {
        Ok(p) => p,
        Err(e) => {
            writer.discard();
            return Err(e);
        }
    };
    writer.start().map_err(ScanError::Output)?;
    let banner_kit = config.banners.as_ref().map(|b| {
        (
            Context::new(b.max_bytes),
            Identifier::new(b.service_db.as_ref().map(|d| Arc::clone(&d.0))),
        )
    });
    let (shard, shards) = (config.shard.index, config.shard.count);
    let mut schedule = SendSchedule::new(config.space.size(), shard, shards, 0, 1);
    if let Some(r) = config.resume {
        schedule.skip_to(r.position);
    }
    let planned = schedule.remaining_sends();
    let planned = config.max_probes.map_or(planned, |m| m.min(planned));
    let whole = config
        .max_probes
        .is_none_or(|m| m >= schedule.remaining_sends());
    let job = Job {
        space: &config.space,
        permutation: Permutation::new(config.space.size(), config.seed),
        schedule,
        retries: config.retries,
        rate: config.rate,
        budget: config.max_probes,
        show: config.show,
        max_inflight: inflight,
        device: config.link.interface.as_ref().map(Into::into),
        sources: config.link.source.clone(),
        talk: config
            .banners
            .as_ref()
            .zip(banner_kit.as_ref())
            .map(|(b, (context, _))| Talk {
                context,
                hellos: &b.sessions.hellos,
                hello_wait: b.sessions.hello_wait,
                timeout: b.sessions.timeout,
            }),
    };
    announce(config, inflight);
    let identifier = banner_kit.as_ref().map(|(_, id)| id);
    let counters = Counters::default();
    let progress = Progress {
        planned,
        started: Instant::now(),
        wait_deadline_ms: AtomicU64::new(0),
        running: AtomicBool::new(true),
        completed: AtomicBool::new(false),
    };
    let resumed_at = config.resume.map_or(0, |r| r.position);
    let watermarks = Watermarks::new(1, resumed_at);
    let (to_output, from_scan) = sync_channel::<ToOutput>(16384);
    let output_failed = AtomicBool::new(false);

    let (report, output, monitor) = std::thread::scope(|s| {
        let writer = &mut writer;
        let out_thread =
            s.spawn(|| monitor::write_out(from_scan, writer, identifier, &output_failed));
        let monitor = Monitor {
            counters: &counters,
            progress: &progress,
            watermarks: &watermarks,
            terminal: io::stderr().is_terminal(),
            status,
            checkpoint: checkpoint.clone(),
            to_output: to_output.clone(),
        };
        let monitor = s.spawn(move || monitor.run());
        let shared = Shared {
            counters: &counters,
            watermark: watermarks.thread(0),
            to_output,
            interrupt,
        };
        let report = ConnectLoop::new(job, shared).and_then(ConnectLoop::run);
        let completed = report.as_ref().is_ok_and(|r| r.completed) && !output_failed.load(Relaxed);
        progress.completed.store(completed, Relaxed);
        progress.running.store(false, Relaxed);
        // The monitor writes the last checkpoint (if incomplete) while the
        // output thread still listens, then lets go of the channel.
        let monitor = monitor.join();
        let output = monitor::join_output(out_thread);
        (report, output, monitor)
    });
    let (per_second, status) = match monitor {
        Ok(r) => (r.per_second, r.status),
        Err(_) => (Vec::new(), None),
    };
    let (send_time, rx, interrupted) = match report {
        Ok(LoopReport {
            send_time,
            rtt_us,
            interrupted,
            final_timeout,
            timeouts,
            peak_inflight,
            ..
        }) => {
            eprintln!(
                "connect   {peak_inflight} in flight at most; {timeouts} connects timed out; timeout at the end {:.0} ms",
                final_timeout.as_secs_f64() * 1e3
            );
            (
                send_time,
                Ok(Received {
                    rtt_us,
                    answered: None,
                    sessions: None,
                }),
                interrupted,
            )
        }
        Err(e) => (progress.started.elapsed(), Err(ThreadError::Io(e)), false),
    };
    let finished = Finished {
        counters,
        completed: progress.completed.load(Relaxed),
        interrupted,
        send_time,
        per_second,
        status,
        tx: Ok(event_loop::no_batches()),
        rx,
        output,
    };
    // Silence was reported by the loop as each connect timed out: with no
    // record of answered probes, `finish` consults no probe module.
    let mut outcome = crate::scan::finish(
        config,
        &SynScan::default(),
        writer,
        finished,
        whole,
        planned,
        started,
        0,
        checkpoint,
    )?;
    outcome.summary.connects = true;
    Ok(outcome)
}
