//! The engine: the threads of a scan and what runs in them, with no
//! protocol knowledge. It is generic over the probe module, which alone
//! knows what a probe and a reply look like.
//!
//! ```text
//! transmit x N ──frames──> link ~~~> targets ~~~> link ──frames──> receive
//!      │ watermarks                                                  │ records
//!      └────────> monitor (status, --status-json, checkpoints) ──sync──> output ──> file
//! ```
//! The transmit and receive threads share nothing but a few atomic
//! counters and flags; records reach the output thread through a bounded
//! channel, and so do the monitor's sync requests, which is what makes a
//! checkpoint trustworthy (see `monitor.rs`). Ctrl-C once stops sending and
//! waits `--wait` for late replies; twice ends the wait at once. Either way
//! every record already received is written and a checkpoint is left to
//! resume from.

pub mod answered;
pub mod dedup;
pub mod monitor;
pub mod permute;
pub mod rate;
pub mod rx;
pub mod schedule;
pub mod stats;
pub mod tx;

use crate::domain::StateSet;
use crate::link::{RxLink, TxLink};
use crate::output::{OutputError, ResultWriter};
use crate::probe::session::Sessions;
use crate::probe::{ProbeModule, Validator};
use crate::service::identify::Identifier;
use dedup::Dedup;
use hdrhistogram::Histogram;
use monitor::{CheckpointPlan, Monitor, ToOutput, Watermarks};
use rate::Rate;
use rx::Receiver;
use schedule::SendSchedule;
use stats::{Counters, Progress};
use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};
use tx::{ProbeMaker, TxThread};

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

/// Frames of schedule between a probe and its retry: about one second of
/// sending, so a retry is not lost to the same burst as its original.
pub fn retry_gap(rate: Rate, retries: u32, tx_threads: u64) -> u64 {
    match rate {
        Rate::PerSecond(r) => ((r / f64::from(retries + 1) / tx_threads as f64) as u64).max(1),
        Rate::Unlimited => 1 << 20,
    }
}

/// Splits `total` frames over `threads` as evenly as possible.
pub fn share(total: u64, threads: u64, t: u64) -> u64 {
    total / threads + u64::from(t < total % threads)
}

/// What to send: each transmit thread's schedule and budget, and the rate.
pub struct SendPlan {
    pub schedules: Vec<SendSchedule>,
    pub budgets: Vec<Option<u64>>,
    /// Each thread's share of the rate.
    pub thread_rate: Rate,
    /// Frames the run will send.
    pub planned: u64,
    /// It sends everything left (no `--max-probes` cuts it short).
    pub whole: bool,
}

/// Everything a run needs besides the links, prepared by `scan.rs`.
pub struct Job<'a, M: ProbeModule> {
    pub maker: ProbeMaker<'a, M>,
    pub validator: &'a Validator,
    pub dedup: Dedup,
    pub plan: SendPlan,
    pub wait: Duration,
    pub show: StateSet,
    /// Position every thread starts from (a resume).
    pub resumed_at: u64,
    pub checkpoint: Option<CheckpointPlan>,
    pub status: Option<Box<dyn Write + Send>>,
    /// Banner mode: the sessions, run by the receive thread...
    pub sessions: Option<Sessions<'a>>,
    /// ...and what names their services, run by the output thread.
    pub identifier: Option<&'a Identifier>,
}

/// How a thread ended, if not well.
#[derive(Debug)]
pub enum ThreadError {
    Panicked(&'static str),
    Io(io::Error),
}

/// What the run left behind, for the summary and the output's end.
pub struct Finished {
    pub counters: Counters,
    /// Every probe went out and the wait ran its course.
    pub completed: bool,
    pub interrupted: bool,
    /// From the first frame to the last.
    pub send_time: Duration,
    pub per_second: Vec<u64>,
    /// The `--status-json` stream, for the final object.
    pub status: Option<Box<dyn Write + Send>>,
    /// All threads' batch send latencies, or the first thread's failure.
    pub tx: Result<Histogram<u64>, ThreadError>,
    /// Round-trip times and the record of answered probes, or the receive
    /// thread's failure.
    pub rx: Result<rx::Received, ThreadError>,
    pub output: Result<(), OutputError>,
}

/// Shared between the main thread and the workers.
struct Flags {
    stop_tx: AtomicBool,
    stop_rx: AtomicBool,
    tx_finished: AtomicUsize,
    output_failed: AtomicBool,
}

/// Runs a scan to its end: starts the output, receive, transmit and
/// monitor threads, waits for sending, Ctrl-C and the wait for late
/// replies, and joins them all.
pub fn run<M: ProbeModule>(
    job: Job<'_, M>,
    txs: Vec<TxLink>,
    rx: &mut RxLink,
    writer: &mut ResultWriter,
    interrupt: &Interrupt,
) -> Finished {
    let Job {
        maker,
        validator,
        dedup,
        plan,
        wait,
        show,
        resumed_at,
        checkpoint,
        status,
        sessions,
        identifier,
    } = job;
    let threads = txs.len();
    let counters = Counters::default();
    let flags = Flags {
        stop_tx: AtomicBool::new(false),
        stop_rx: AtomicBool::new(false),
        tx_finished: AtomicUsize::new(0),
        output_failed: AtomicBool::new(false),
    };
    let progress = Progress {
        planned: plan.planned,
        started: Instant::now(),
        wait_deadline_ms: AtomicU64::new(0),
        running: AtomicBool::new(true),
        completed: AtomicBool::new(false),
    };
    let watermarks = Watermarks::new(threads, resumed_at);
    let (to_output, from_scan) = sync_channel::<ToOutput>(16384);

    let (ending, tx, rx_result, output, report) = std::thread::scope(|s| {
        let out_thread =
            s.spawn(|| monitor::write_out(from_scan, writer, identifier, &flags.output_failed));
        let receiver = Receiver {
            module: maker.module,
            validator,
            space: maker.space,
            dedup,
            counters: &counters,
            show,
            found: to_output.clone(),
            sessions,
        };
        let rx_thread = s.spawn(|| receiver.run(rx, &flags.stop_rx));
        let maker = &maker;
        let tx_threads: Vec<_> = txs
            .into_iter()
            .zip(plan.schedules)
            .zip(plan.budgets)
            .enumerate()
            .map(|(t, ((mut link, schedule), budget))| {
                let (counters, flags) = (&counters, &flags);
                let job = TxThread {
                    maker,
                    schedule,
                    budget,
                    rate: plan.thread_rate,
                    watermark: watermarks.thread(t),
                };
                s.spawn(move || {
                    let r = job.run(&mut link, counters, &flags.stop_tx);
                    flags.tx_finished.fetch_add(1, Relaxed);
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

        let ending = supervise(interrupt, wait, threads, &flags, &progress);
        flags.stop_rx.store(true, Relaxed);
        let tx = join_transmitters(tx_threads);
        let rx_result = match rx_thread.join() {
            Ok(r) => r.map_err(ThreadError::Io),
            Err(_) => Err(ThreadError::Panicked("receive")),
        };
        let completed = ending.ran_out && !ending.interrupted && !flags.output_failed.load(Relaxed);
        progress.completed.store(completed, Relaxed);
        progress.running.store(false, Relaxed);
        // The monitor writes the last checkpoint (if incomplete) while the
        // output thread still listens, then lets go of the channel.
        let report = monitor.join();
        let output = monitor::join_output(out_thread);
        (ending, tx, rx_result, output, report)
    });
    let (per_second, status) = match report {
        Ok(r) => (r.per_second, r.status),
        Err(_) => (Vec::new(), None),
    };
    Finished {
        completed: progress.completed.load(Relaxed),
        interrupted: ending.interrupted,
        send_time: ending
            .send_time
            .unwrap_or_else(|| progress.started.elapsed()),
        counters,
        per_second,
        status,
        tx,
        rx: rx_result,
        output,
    }
}

/// How the main thread saw the run end.
struct Ending {
    interrupted: bool,
    /// Every transmit thread ran to its end (nothing stopped it).
    ran_out: bool,
    send_time: Option<Duration>,
}

/// Waits for the transmit threads, Ctrl-C, a failed output and the wait
/// for late replies, and says how the run ended.
fn supervise(
    interrupt: &Interrupt,
    wait: Duration,
    threads: usize,
    flags: &Flags,
    progress: &Progress,
) -> Ending {
    let mut ending = Ending {
        interrupted: false,
        ran_out: false,
        send_time: None,
    };
    let mut wait_until: Option<(Instant, u32)> = None;
    loop {
        std::thread::sleep(Duration::from_millis(10));
        let presses = interrupt.presses();
        if flags.output_failed.load(Relaxed) {
            flags.stop_tx.store(true, Relaxed);
            return ending;
        }
        if presses >= 1 && !flags.stop_tx.load(Relaxed) {
            ending.interrupted = true;
            flags.stop_tx.store(true, Relaxed);
        }
        if wait_until.is_none() && flags.tx_finished.load(Relaxed) == threads {
            ending.send_time = Some(progress.started.elapsed());
            ending.ran_out = !flags.stop_tx.load(Relaxed);
            let deadline = Instant::now() + wait;
            let ms = deadline.duration_since(progress.started).as_millis() as u64;
            progress.wait_deadline_ms.store(ms.max(1), Relaxed);
            wait_until = Some((deadline, presses));
            if presses >= 1 && io::stderr().is_terminal() {
                eprint!(
                    "\r\x1b[Kwaiting {:.0} s for late replies; Ctrl-C again to stop now\n",
                    wait.as_secs_f64()
                );
            }
        }
        if let Some((deadline, presses_then)) = wait_until
            && (Instant::now() >= deadline || presses > presses_then)
        {
            ending.interrupted |= presses > 0;
            return ending;
        }
    }
}

/// A panic in any transmit thread, else its first error, else the threads'
/// latency histograms merged.
fn join_transmitters(
    handles: Vec<std::thread::ScopedJoinHandle<'_, io::Result<tx::TxReport>>>,
) -> Result<Histogram<u64>, ThreadError> {
    let mut all = Ok(tx::latency_histogram());
    for h in handles {
        match (h.join(), &mut all) {
            (Err(_), _) => all = Err(ThreadError::Panicked("transmit")),
            (Ok(Err(e)), Ok(_)) => all = Err(ThreadError::Io(e)),
            (Ok(Ok(report)), Ok(merged)) => {
                // Same bounds on both sides: adding cannot fail.
                let _ = merged.add(&report.batch_latency_ns);
            }
            _ => {}
        }
    }
    all
}
