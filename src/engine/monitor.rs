//! The once-a-second thread: the live status line, `--status-json`, the
//! per-second samples of `--benchmark`, and checkpoints.
//!
//! A checkpoint must never claim a probe whose answer could still be lost.
//! So it records the send position as it was `lag` (= `--wait`) ago, and
//! before writing it, it pushes a sync request down the same channel the
//! findings take to the output thread: every finding received before the
//! request is on disk once the output thread acknowledges it. Replies take
//! less than `--wait` to arrive (that is what `--wait` means), so every
//! answer to a probe below the recorded position is in the synced output.
//! A resumed run re-sends at most `rate x (lag + interval)` probes.

use super::stats::{self, Counters, Padded, Progress};
use crate::checkpoint::Checkpoint;
use crate::domain::{Record, State};
use crate::output::{OutputError, ResultWriter};
use crate::service::identify::Identifier;
use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, Instant};

/// What the output thread receives.
pub enum ToOutput {
    Record(Record),
    /// Flush and sync everything so far, then acknowledge.
    Sync(SyncSender<()>),
}

/// The output thread: each record to `writer` (a banner's service named
/// first, here rather than on the thread that heard it, so a slow pattern
/// never holds up a scan), each sync done and acknowledged, until the scan
/// side hangs up. A write that fails raises `failed`, which stops the scan.
pub fn write_out(
    from_scan: Receiver<ToOutput>,
    writer: &mut ResultWriter,
    identifier: Option<&Identifier>,
    failed: &AtomicBool,
) -> Result<(), OutputError> {
    for msg in from_scan {
        let r = match msg {
            ToOutput::Record(mut r) => {
                if let (Some(id), Some(b)) = (identifier, r.banner.as_mut()) {
                    b.id = id.identify(&b.findings);
                }
                writer.write(&r)
            }
            ToOutput::Sync(ack) => writer.sync().map(|()| {
                let _ = ack.send(());
            }),
        };
        if let Err(e) = r {
            failed.store(true, Relaxed);
            return Err(e);
        }
    }
    Ok(())
}

/// The output thread's end: its result, or a panic as an output error.
pub fn join_output(
    thread: std::thread::ScopedJoinHandle<'_, Result<(), OutputError>>,
) -> Result<(), OutputError> {
    thread.join().unwrap_or_else(|_| {
        Err(OutputError {
            path: "the output".into(),
            err: std::io::Error::other("output thread panicked"),
        })
    })
}

/// Each transmit thread's "every position of mine below this was sent".
#[derive(Debug)]
pub struct Watermarks(Vec<Padded>);

impl Watermarks {
    pub fn new(threads: usize, start: u64) -> Self {
        let w = Watermarks((0..threads).map(|_| Padded::default()).collect());
        for p in &w.0 {
            p.set(start);
        }
        w
    }

    pub fn thread(&self, t: usize) -> &Padded {
        &self.0[t]
    }

    /// Every position of this shard below this was sent.
    pub fn low(&self) -> u64 {
        self.0.iter().map(Padded::get).min().unwrap_or(0)
    }
}

/// Where and how often to checkpoint, and what to put in it.
#[derive(Clone, Debug)]
pub struct CheckpointPlan {
    pub path: PathBuf,
    pub interval: Duration,
    /// How long replies may take: positions are recorded this much late.
    pub lag: Duration,
    pub config: Vec<String>,
    pub config_hash: u64,
    pub space_digest: u64,
    /// Position, sent and found counts the run started from.
    pub start_position: u64,
    pub prior_sent: u64,
    pub prior_found: [u64; State::COUNT],
}

impl CheckpointPlan {
    pub fn at(&self, position: u64, counters: &Counters) -> Checkpoint {
        Checkpoint {
            config_hash: self.config_hash,
            space_digest: self.space_digest,
            position,
            sent: self.prior_sent + counters.sent.get(),
            found: std::array::from_fn(|i| self.prior_found[i] + counters.found[i].get()),
            config: self.config.clone(),
        }
    }
}

pub struct Monitor<'a> {
    pub counters: &'a Counters,
    pub progress: &'a Progress,
    pub watermarks: &'a Watermarks,
    pub terminal: bool,
    pub status: Option<Box<dyn Write + Send>>,
    pub checkpoint: Option<CheckpointPlan>,
    pub to_output: SyncSender<ToOutput>,
}

pub struct MonitorReport {
    /// Frames sent in each second of the run.
    pub per_second: Vec<u64>,
    /// The `--status-json` stream, for the final object.
    pub status: Option<Box<dyn Write + Send>>,
}

pub fn unix_now() -> u64 {
    super::rate::unix_micros() / 1_000_000
}

/// One `--status-json` object.
pub fn status_json(counters: &Counters, progress: &Progress, phase: &str, rate: f64) -> String {
    let sent = counters.sent.get();
    let planned = progress.planned;
    let percent = if planned == 0 {
        100.0
    } else {
        100.0 * sent as f64 / planned as f64
    };
    let eta = match phase {
        "sending" => stats::eta_secs(planned, sent, rate).unwrap_or(0.0),
        _ => 0.0,
    };
    let found = State::ALL
        .iter()
        .map(|s| format!(r#""{s}":{}"#, counters.found(*s)))
        .collect::<Vec<_>>()
        .join(",");
    format!(
        r#"{{"time":{},"elapsed":{:.3},"phase":"{phase}","sent":{sent},"planned":{planned},"percent":{percent:.2},"rate":{rate:.0},"eta":{eta:.0},"received":{},"valid":{},"duplicates":{},"dropped":{},"found":{{{found}}}}}"#,
        unix_now(),
        progress.started.elapsed().as_secs_f64(),
        counters.received.get(),
        counters.valid.get(),
        counters.duplicates.get(),
        counters.dropped.get(),
    )
}

impl Monitor<'_> {
    /// Asks the output thread to sync, waits for it, writes a checkpoint.
    fn checkpoint(&self, plan: &CheckpointPlan, position: u64, warned: &mut bool) {
        let (ack_tx, ack_rx) = sync_channel(1);
        let synced = self.to_output.send(ToOutput::Sync(ack_tx)).is_ok()
            && ack_rx.recv_timeout(Duration::from_secs(30)).is_ok();
        if !synced {
            return; // the output is gone or stuck: keep the previous checkpoint
        }
        if let Err(e) = plan.at(position, self.counters).write_atomic(&plan.path)
            && !*warned
        {
            eprintln!(
                "synsweep: cannot write checkpoint {}: {e}",
                plan.path.display()
            );
            *warned = true;
        }
    }

    pub fn run(mut self) -> MonitorReport {
        let start = self.progress.started;
        let lag = self.checkpoint.as_ref().map_or(Duration::ZERO, |p| p.lag);
        let start_position = self.checkpoint.as_ref().map_or(0, |p| p.start_position);
        // (time, low watermark) samples, back to the newest one older than lag.
        let mut history: VecDeque<(Instant, u64)> = VecDeque::from([(start, start_position)]);
        let safe_position = |history: &VecDeque<(Instant, u64)>, now: Instant| match history.front()
        {
            Some(&(t, w)) if t + lag <= now => w,
            _ => start_position,
        };
        let mut per_second = Vec::new();
        let mut last_sent = 0;
        let mut tick = 1u64;
        let mut next_checkpoint = self.checkpoint.as_ref().map(|p| start + p.interval);
        let mut warned = false;
        let mut err = std::io::stderr();
        while self.progress.running.load(Relaxed) {
            let now = Instant::now();
            history.push_back((now, self.watermarks.low()));
            while history.len() >= 2 && history[1].0 + lag <= now {
                history.pop_front();
            }
            if now >= start + Duration::from_secs(tick) {
                tick += 1;
                let sent = self.counters.sent.get();
                let rate = (sent - last_sent) as f64;
                per_second.push(sent - last_sent);
                last_sent = sent;
                let waiting = match self.progress.wait_deadline_ms.load(Relaxed) {
                    0 => None,
                    ms => Some(Duration::from_millis(ms).saturating_sub(start.elapsed())),
                };
                if self.terminal {
                    let found = self.counters.found_total();
                    let line =
                        stats::status_line(rate, sent, self.progress.planned, found, waiting);
                    let _ = write!(err, "\r{line}\x1b[K");
                }
                if let Some(w) = self.status.as_mut() {
                    let phase = if waiting.is_some() {
                        "waiting"
                    } else {
                        "sending"
                    };
                    let _ = writeln!(
                        w,
                        "{}",
                        status_json(self.counters, self.progress, phase, rate)
                    );
                    let _ = w.flush();
                }
            }
            if let (Some(plan), Some(due)) = (&self.checkpoint, next_checkpoint)
                && now >= due
            {
                self.checkpoint(plan, safe_position(&history, now), &mut warned);
                next_checkpoint = Some(Instant::now() + plan.interval);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if self.terminal {
            let _ = write!(err, "\r\x1b[K");
        }
        // A scan that did not run to its end leaves a checkpoint to resume.
        if let Some(plan) = &self.checkpoint
            && !self.progress.completed.load(Relaxed)
        {
            self.checkpoint(plan, safe_position(&history, Instant::now()), &mut warned);
        }
        MonitorReport {
            per_second,
            status: self.status.take(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU64};

    #[test]
    fn low_watermark_is_the_slowest_thread() {
        let w = Watermarks::new(3, 10);
        assert_eq!(w.low(), 10);
        w.thread(0).set(40);
        w.thread(1).set(25);
        w.thread(2).set(31);
        assert_eq!(w.low(), 25);
    }

    #[test]
    fn status_objects_carry_every_field() {
        let c = Counters::default();
        c.sent.add(500);
        c.found[0].add(7);
        let p = Progress {
            planned: 1000,
            started: Instant::now(),
            wait_deadline_ms: AtomicU64::new(0),
            running: AtomicBool::new(true),
            completed: AtomicBool::new(false),
        };
        let line = status_json(&c, &p, "sending", 250.0);
        for field in [
            r#""phase":"sending""#,
            r#""sent":500,"planned":1000,"percent":50.00,"rate":250,"eta":2,"#,
            r#""found":{"open":7,"closed":0,"filtered":0,"unfiltered":0,"open|filtered":0,"closed|filtered":0,"up":0}}"#,
        ] {
            assert!(line.contains(field), "{field} in {line}");
        }
        assert!(line.starts_with(r#"{"time":"#) && !line.contains('\n'));
    }
}
