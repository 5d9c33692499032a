//! Counters shared by the threads, the live status line and the summary.
//!
//! Threads add to lock-free counters once per batch, never per packet; the
//! transmit and receive sides sit on separate cache lines so they do not
//! slow each other down.

use crate::domain::State;
use hdrhistogram::Histogram;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

#[derive(Default, Debug)]
#[repr(align(64))]
pub struct Padded(pub AtomicU64);

impl Padded {
    pub fn add(&self, n: u64) {
        if n != 0 {
            self.0.fetch_add(n, Relaxed);
        }
    }
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
    pub fn set(&self, v: u64) {
        self.0.store(v, Relaxed);
    }
}

#[derive(Default, Debug)]
pub struct Counters {
    /// Frames handed to the link (every attempt counts).
    pub sent: Padded,
    /// Frames the receive thread saw.
    pub received: Padded,
    /// Replies that carried our cookie.
    pub valid: Padded,
    /// Valid replies for an (address, port) already reported.
    pub duplicates: Padded,
    /// Frames that were not a valid reply to us.
    pub dropped: Padded,
    /// Frames the kernel dropped because our receive buffer was full.
    pub kernel_dropped: Padded,
    /// With `-f`/`--mtu`: the frames (fragments) the probes counted in
    /// `sent` left as.
    pub fragments: Padded,
    /// Distinct results by state, in `State::ALL` order.
    pub found: [Padded; State::COUNT],
    /// Banner mode: segments of sessions (after their handshake).
    pub session_segments: Padded,
    /// Banner mode: sessions open now.
    pub sessions_open: Padded,
}

impl Counters {
    pub fn found(&self, s: State) -> u64 {
        self.found[s.index()].get()
    }

    pub fn found_total(&self) -> u64 {
        self.found.iter().map(Padded::get).sum()
    }

    pub fn found_counts(&self) -> [u64; State::COUNT] {
        std::array::from_fn(|i| self.found[i].get())
    }
}

/// Counts a thread keeps locally and publishes in one go.
#[derive(Default, Debug, Clone, Copy)]
pub struct RxTally {
    pub received: u64,
    pub valid: u64,
    pub duplicates: u64,
    pub dropped: u64,
    pub found: [u64; State::COUNT],
    pub session_segments: u64,
}

impl RxTally {
    pub fn publish(&mut self, c: &Counters) {
        c.received.add(self.received);
        c.valid.add(self.valid);
        c.duplicates.add(self.duplicates);
        c.dropped.add(self.dropped);
        c.session_segments.add(self.session_segments);
        for (to, n) in c.found.iter().zip(self.found) {
            to.add(n);
        }
        *self = RxTally::default();
    }
}

/// The end-of-scan numbers.
#[derive(Debug, Clone)]
pub struct Summary {
    pub sent: u64,
    pub planned: u64,
    pub received: u64,
    pub valid: u64,
    pub duplicates: u64,
    pub dropped: u64,
    pub kernel_dropped: u64,
    pub fragments: u64,
    pub found: [u64; State::COUNT],
    pub send_time: Duration,
    pub elapsed: Duration,
    pub seed: u64,
    /// Round trips (µs) of SYN-ACKs that echoed our TCP timestamp.
    pub rtt_us: Option<Histogram<u64>>,
    /// Banner mode: what the sessions did.
    pub sessions: Option<crate::probe::session::SessionStats>,
    /// Connect mode: what was sent and answered are connects, not frames.
    pub connects: bool,
}

impl Summary {
    pub fn from_counters(
        c: &Counters,
        planned: u64,
        send_time: Duration,
        elapsed: Duration,
        seed: u64,
    ) -> Summary {
        Summary {
            sent: c.sent.get(),
            planned,
            received: c.received.get(),
            valid: c.valid.get(),
            duplicates: c.duplicates.get(),
            dropped: c.dropped.get(),
            kernel_dropped: c.kernel_dropped.get(),
            fragments: c.fragments.get(),
            found: c.found_counts(),
            send_time,
            elapsed,
            seed,
            rtt_us: None,
            sessions: None,
            connects: false,
        }
    }

    pub fn send_rate(&self) -> f64 {
        self.sent as f64 / self.send_time.as_secs_f64().max(1e-9)
    }

    /// Several lines for stderr.
    pub fn render(&self) -> String {
        let mut s = String::new();
        if self.connects {
            let _ = writeln!(
                s,
                "sent      {} of {} connects in {:.2} s ({:.0}/s)",
                self.sent,
                self.planned,
                self.send_time.as_secs_f64(),
                self.send_rate()
            );
            let _ = writeln!(
                s,
                "received  {} answers (connected, refused or rejected by ICMP)",
                self.received
            );
        } else {
            let _ = writeln!(
                s,
                "sent      {} of {} frames in {:.2} s ({})",
                self.sent,
                self.planned,
                self.send_time.as_secs_f64(),
                human_rate(self.send_rate())
            );
            if self.fragments > 0 {
                let _ = writeln!(
                    s,
                    "fragments {} frames on the wire carried those {} probes (-f/--mtu)",
                    self.fragments, self.sent
                );
            }
            let _ = writeln!(
                s,
                "received  {} frames: {} valid, {} duplicate, {} dropped; {} lost in the kernel (buffer full)",
                self.received, self.valid, self.duplicates, self.dropped, self.kernel_dropped
            );
        }
        let _ = writeln!(s, "found     {}", found_words(&self.found));
        if let Some(h) = &self.rtt_us {
            let ms = |q: f64| h.value_at_quantile(q) as f64 / 1e3;
            let _ = writeln!(
                s,
                "rtt       p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} {})",
                ms(0.5),
                ms(0.9),
                ms(0.99),
                h.max() as f64 / 1e3,
                h.len(),
                if self.connects {
                    "answered connects"
                } else {
                    "SYN-ACKs echoing our timestamp"
                }
            );
        }
        if let Some(b) = &self.sessions {
            let _ = writeln!(
                s,
                "banners   {} sessions, {} with bytes from the server: {} completed, {} timed out, {} reset, {} cut short; {} refused (table full), {} open at most, {} retransmitted, {} late segments reset",
                b.opened,
                b.with_banner,
                b.completed,
                b.timed_out,
                b.reset,
                b.cut_short,
                b.refused,
                b.peak,
                b.retransmits,
                b.late
            );
        }
        let _ = writeln!(
            s,
            "elapsed   {:.2} s (seed {})",
            self.elapsed.as_secs_f64(),
            self.seed
        );
        s
    }
}

pub fn human_rate(pps: f64) -> String {
    if pps >= 1e6 {
        format!("{:.2} Mpps", pps / 1e6)
    } else if pps >= 1e3 {
        format!("{:.2} kpps", pps / 1e3)
    } else {
        format!("{pps:.1} pps")
    }
}

pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// `12 open, 3 closed, 0 filtered`, plus any other state that has results.
pub fn found_words(found: &[u64; State::COUNT]) -> String {
    State::ALL
        .into_iter()
        .zip(found)
        .filter(|(s, n)| **n > 0 || s.index() < 3)
        .map(|(s, n)| format!("{n} {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Seconds left at `rate` frames a second, if the rate says anything.
pub fn eta_secs(planned: u64, sent: u64, rate: f64) -> Option<f64> {
    (rate > 0.0).then(|| planned.saturating_sub(sent) as f64 / rate)
}

/// One status line: while sending, rate / percent / found / ETA.
pub fn status_line(
    rate: f64,
    sent: u64,
    planned: u64,
    found: u64,
    waiting: Option<Duration>,
) -> String {
    let pct = if planned == 0 {
        100.0
    } else {
        100.0 * sent as f64 / planned as f64
    };
    match waiting {
        Some(left) => format!(
            "rate: {:>11}, {pct:6.2}% done, waiting {:>3} s, found={found}",
            human_rate(rate),
            left.as_secs()
        ),
        None => {
            let eta = eta_secs(planned, sent, rate).map_or("-:--:--".into(), |s| {
                human_duration(Duration::from_secs_f64(s))
            });
            format!(
                "rate: {:>11}, {pct:6.2}% done, {eta} remaining, found={found}",
                human_rate(rate)
            )
        }
    }
}

/// What the monitor thread needs to know about the run.
#[derive(Debug)]
pub struct Progress {
    /// Frames the whole run will send.
    pub planned: u64,
    /// When sending started; seconds are counted from here.
    pub started: Instant,
    /// While waiting for late replies: milliseconds after `started` when
    /// the wait ends; 0 while sending.
    pub wait_deadline_ms: AtomicU64,
    /// Cleared when the scan is over.
    pub running: AtomicBool,
    /// Set when every probe was sent and the wait ran its course.
    pub completed: AtomicBool,
}

/// The `--benchmark` report: frames and bits per second of the run, and the
/// batch send latency distribution.
pub fn benchmark_report(
    per_second: &[u64],
    frame_len: usize,
    batch_latency_ns: &Histogram<u64>,
) -> String {
    let mut s = String::new();
    // Seconds after the last frame (the wait for replies) are not sending.
    let sending = per_second.iter().rposition(|&n| n > 0).map_or(0, |i| i + 1);
    let _ = writeln!(
        s,
        "benchmark: frames sent in each second ({frame_len}-byte frames; L1 adds 24 bytes of preamble, gap and FCS)"
    );
    let _ = writeln!(s, "  second      frames/s    Mbit/s L2    Mbit/s L1");
    for (i, &n) in per_second[..sending].iter().enumerate() {
        let l2 = n as f64 * frame_len as f64 * 8.0 / 1e6;
        let l1 = n as f64 * (frame_len + 24) as f64 * 8.0 / 1e6;
        let _ = writeln!(s, "  {:>6}  {n:>12}  {l2:>11.1}  {l1:>11.1}", i + 1);
    }
    let us = |q: f64| batch_latency_ns.value_at_quantile(q) as f64 / 1e3;
    let _ = writeln!(
        s,
        "batch send latency over {} batches (us): p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}",
        batch_latency_ns.len(),
        us(0.5),
        us(0.9),
        us(0.99),
        us(0.999),
        batch_latency_ns.max() as f64 / 1e3
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_durations_read_like_masscan() {
        assert_eq!(human_rate(99_930.0), "99.93 kpps");
        assert_eq!(human_rate(1_234_567.0), "1.23 Mpps");
        assert_eq!(human_rate(5.0), "5.0 pps");
        assert_eq!(human_duration(Duration::from_secs(3725)), "1:02:05");
        assert_eq!(
            status_line(100_000.0, 50_000, 100_000, 7, None),
            "rate: 100.00 kpps,  50.00% done, 0:00:00 remaining, found=7"
        );
        assert!(status_line(0.0, 1, 1, 0, Some(Duration::from_secs(9))).contains("waiting   9 s"));
    }

    #[test]
    fn benchmark_report_lists_sending_seconds_and_percentiles() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 1_000_000_000, 3).unwrap();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap(); // 1 us .. 1 ms
        }
        let r = benchmark_report(&[1_000_000, 2_000_000, 5, 0, 0], 70, &h);
        assert!(
            r.contains("       1       1000000        560.0        752.0"),
            "{r}"
        );
        assert!(r.contains("       3             5"), "{r}");
        assert!(
            !r.contains("       4 "),
            "trailing idle seconds are cut: {r}"
        );
        // Three significant figures: the histogram's precision.
        assert!(r.contains("over 1000 batches (us): p50 500."), "{r}");
        assert!(r.contains("p90 900.") && r.contains("p99 990."), "{r}");
    }

    #[test]
    fn tallies_publish_and_reset() {
        let c = Counters::default();
        let mut t = RxTally {
            received: 5,
            valid: 3,
            duplicates: 1,
            dropped: 2,
            found: [1, 1, 0, 0, 2, 0, 0],
            session_segments: 4,
        };
        t.publish(&c);
        t.publish(&c);
        assert_eq!(
            (c.received.get(), c.valid.get(), c.found(State::Closed)),
            (5, 3, 1)
        );
        assert_eq!(c.found(State::OpenFiltered), 2);
        assert_eq!(c.found_total(), 4);
    }

    #[test]
    fn found_words_name_the_usual_three_and_any_other() {
        assert_eq!(
            found_words(&[1, 0, 2, 0, 0, 0, 0]),
            "1 open, 0 closed, 2 filtered"
        );
        assert_eq!(
            found_words(&[0, 0, 0, 5, 0, 1, 0]),
            "0 open, 0 closed, 0 filtered, 5 unfiltered, 1 closed|filtered"
        );
    }
}
