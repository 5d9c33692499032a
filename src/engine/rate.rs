//! Pacing: hold the send rate to `--rate` packets per second.
//!
//! A token bucket filled by the clock. Tokens accrue continuously, so late
//! wake-ups do not drift the long-run rate; the bucket is capped at a few
//! milliseconds' worth, so a stall is never "caught up" in a burst (the
//! reason masscan can send several times its set rate). Batches are sized
//! to about 200 µs of traffic so that each syscall carries many frames at
//! high rates, while at low rates the thread sleeps until the next frame
//! is due instead of spinning.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Wall-clock time in microseconds since the Unix epoch: the clock of the
/// TCP timestamps we send and of the kernel's receive timestamps, so a
/// round trip is one subtraction.
pub fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Time as the pacer sees it; a trait so tests can run on a fake clock.
pub trait Clock {
    /// Nanoseconds since some fixed start.
    fn now_ns(&mut self) -> u64;
    fn sleep_ns(&mut self, ns: u64);
}

pub struct SystemClock {
    start: Instant,
}

impl SystemClock {
    pub fn new() -> Self {
        SystemClock {
            start: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now_ns(&mut self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }
    fn sleep_ns(&mut self, ns: u64) {
        std::thread::sleep(Duration::from_nanos(ns));
    }
}

/// A rate in packets per second, or no limit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rate {
    PerSecond(f64),
    Unlimited,
}

/// Waits shorter than this are spun; the scheduler cannot wake us sooner.
const SPIN_BELOW_NS: u64 = 50_000;
/// A batch is about this much traffic.
const BATCH_SPAN_NS: f64 = 200_000.0;
/// The bucket holds at most this much traffic (or two batches): more than
/// a late wake-up on a loaded machine, so no tokens are lost to it, and
/// 1% of a second, so a stall adds at most 1% to any one-second window.
const BURST_SPAN_NS: f64 = 10_000_000.0;

pub struct Pacer<C: Clock> {
    clock: C,
    /// Packets per nanosecond; `None` is unlimited.
    per_ns: Option<f64>,
    tokens: f64,
    burst: f64,
    min_batch: usize,
    last_ns: u64,
}

impl<C: Clock> Pacer<C> {
    pub fn new(rate: Rate, max_batch: usize, mut clock: C) -> Self {
        let last_ns = clock.now_ns();
        match rate {
            Rate::Unlimited => Pacer {
                clock,
                per_ns: None,
                tokens: 0.0,
                burst: 0.0,
                min_batch: max_batch,
                last_ns,
            },
            Rate::PerSecond(pps) => {
                let per_ns = pps / 1e9;
                let min_batch = ((per_ns * BATCH_SPAN_NS) as usize).clamp(1, max_batch);
                let burst = (per_ns * BURST_SPAN_NS).max(2.0 * min_batch as f64);
                Pacer {
                    clock,
                    per_ns: Some(per_ns),
                    // The first frame goes at once.
                    tokens: 1.0,
                    burst,
                    min_batch,
                    last_ns,
                }
            }
        }
    }

    /// Blocks until at least one frame may go, then returns how many may go
    /// now (1..=want). Returns 0 only if `stop()` says so while waiting.
    pub fn acquire(&mut self, want: usize, stop: &dyn Fn() -> bool) -> usize {
        let Some(per_ns) = self.per_ns else {
            return want;
        };
        let target = want.min(self.min_batch).max(1) as f64;
        loop {
            let now = self.clock.now_ns();
            let elapsed = now.saturating_sub(self.last_ns);
            self.last_ns = now;
            self.tokens = (self.tokens + elapsed as f64 * per_ns).min(self.burst);
            if self.tokens >= target {
                let n = (self.tokens.floor() as usize).min(want);
                self.tokens -= n as f64;
                return n;
            }
            if stop() {
                return 0;
            }
            let wait = ((target - self.tokens) / per_ns).ceil() as u64;
            if wait < SPIN_BELOW_NS {
                std::hint::spin_loop();
            } else {
                // Sleep in slices of at most 100 ms so a stop is noticed.
                self.clock.sleep_ns(wait.min(100_000_000));
            }
        }
    }

    /// After `acquire` granted `granted` frames, `used` went: the rest is
    /// given back, or the excess (a probe cut into more fragments than
    /// were left) is owed and waited out by the next `acquire`.
    pub fn settle(&mut self, granted: usize, used: usize) {
        if self.per_ns.is_some() {
            self.tokens += granted as f64 - used as f64;
        }
    }
}

impl<C: Clock> Pacer<C> {
    /// How many frames may go now (0..=want), without waiting: for a
    /// caller that waits on something else meanwhile (connect mode's event
    /// loop sleeps in epoll, not here).
    pub fn take_ready(&mut self, want: usize) -> usize {
        let Some(per_ns) = self.per_ns else {
            return want;
        };
        let now = self.clock.now_ns();
        let elapsed = now.saturating_sub(self.last_ns);
        self.last_ns = now;
        self.tokens = (self.tokens + elapsed as f64 * per_ns).min(self.burst);
        let n = (self.tokens.max(0.0).floor() as usize).min(want);
        self.tokens -= n as f64;
        n
    }

    /// Nanoseconds until the next frame may go, as of the last look at
    /// the clock (0: now).
    pub fn next_in_ns(&self) -> u64 {
        match self.per_ns {
            Some(per_ns) if self.tokens < 1.0 => ((1.0 - self.tokens) / per_ns).ceil() as u64,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock that advances only when slept on, plus a fixed cost per call
    /// and a sleep overshoot, the way a loaded machine behaves.
    struct FakeClock {
        now: u64,
        overshoot: u64,
        call_cost: u64,
        sleeps: u64,
        spins: u64,
    }

    impl Clock for FakeClock {
        fn now_ns(&mut self) -> u64 {
            self.now += self.call_cost;
            self.spins += 1;
            self.now
        }
        fn sleep_ns(&mut self, ns: u64) {
            self.sleeps += 1;
            self.now += ns + self.overshoot;
        }
    }

    /// Sends for `secs` simulated seconds; returns (time, frames) per batch.
    fn simulate(
        pps: f64,
        secs: u64,
        overshoot: u64,
        stall_at: Option<u64>,
    ) -> (Vec<(u64, usize)>, FakeClock) {
        let clock = FakeClock {
            now: 0,
            overshoot,
            call_cost: 30,
            sleeps: 0,
            spins: 0,
        };
        let mut p = Pacer::new(Rate::PerSecond(pps), 256, clock);
        let mut sent = Vec::new();
        let mut stalled = false;
        while p.clock.now < secs * 1_000_000_000 {
            let n = p.acquire(256, &|| false);
            sent.push((p.clock.now, n));
            // A 300 ms stall (preemption, page fault storm) once.
            if let Some(at) = stall_at
                && !stalled
                && p.clock.now >= at
            {
                stalled = true;
                p.clock.now += 300_000_000;
            }
        }
        (sent, p.clock)
    }

    /// Frames in every 1 s window starting at each 100 ms step.
    fn window_counts(sent: &[(u64, usize)], secs: u64) -> Vec<usize> {
        let mut before = vec![0usize];
        for &(_, n) in sent {
            before.push(before.last().unwrap() + n);
        }
        let at = |t: u64| before[sent.partition_point(|&(s, _)| s < t)];
        (0..(secs - 1) * 10)
            .map(|step| {
                let a = step * 100_000_000;
                at(a + 1_000_000_000) - at(a)
            })
            .collect()
    }

    #[test]
    fn every_one_second_window_is_within_five_percent() {
        for pps in [1.0, 10.0, 1000.0, 100_000.0, 1_000_000.0, 5_000_000.0] {
            for overshoot in [0, 60_000, 2_000_000] {
                let secs = 6;
                let (sent, _) = simulate(pps, secs, overshoot, None);
                for (i, c) in window_counts(&sent, secs).into_iter().enumerate() {
                    let c = c as f64;
                    // At 1 and 10 pps a window holds whole frames: allow one.
                    let slack = (pps * 0.05).max(1.0);
                    assert!(
                        (c - pps).abs() <= slack,
                        "{pps} pps, overshoot {overshoot}: window {i} had {c}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_stall_is_not_caught_up_in_a_burst() {
        let pps = 100_000.0;
        let (sent, _) = simulate(pps, 5, 60_000, Some(2_000_000_000));
        for c in window_counts(&sent, 5) {
            assert!((c as f64) <= pps * 1.05, "burst after stall: {c}");
        }
    }

    #[test]
    fn low_rates_sleep_instead_of_spinning() {
        let (sent, clock) = simulate(10.0, 5, 60_000, None);
        let frames: usize = sent.iter().map(|&(_, n)| n).sum();
        assert!((49..=51).contains(&frames));
        // One sleep per frame, give or take; no spinning between them.
        assert!(clock.sleeps <= 60, "{} sleeps", clock.sleeps);
        assert!(
            clock.spins <= 3 * clock.sleeps + 10,
            "{} clock reads",
            clock.spins
        );
    }

    #[test]
    fn high_rates_batch() {
        let mut p = Pacer::new(
            Rate::PerSecond(1_000_000.0),
            256,
            FakeClock {
                now: 0,
                overshoot: 0,
                call_cost: 0,
                sleeps: 0,
                spins: 0,
            },
        );
        p.clock.now = 1_000_000; // 1 ms in: tokens for a full batch
        assert!(p.acquire(256, &|| false) >= 200);
    }

    #[test]
    fn stop_interrupts_a_long_wait_and_unlimited_never_waits() {
        let mut p = Pacer::new(Rate::PerSecond(0.001), 16, SystemClock::new());
        assert_eq!(p.acquire(1, &|| false), 1); // first frame is free
        assert_eq!(p.acquire(1, &|| true), 0);
        let mut p = Pacer::new(Rate::Unlimited, 16, SystemClock::new());
        assert_eq!(p.acquire(16, &|| false), 16);
    }
}
