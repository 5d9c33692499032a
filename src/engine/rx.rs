//! Receive: frame -> parse -> addressed to us? -> the module validates and
//! classifies it by its cookie -> report it once.
//!
//! Nothing about the probes is remembered: a reply is ours exactly when
//! the cookie recomputed from its own addresses and ports matches what it
//! carries, which the probe module checks. Generic over the module, so the
//! whole path from frame to finding has no dynamic call, and it allocates
//! nothing per frame.

use super::dedup::Dedup;
use super::monitor::ToOutput;
use super::stats::{Counters, RxTally};
use crate::domain::StateSet;
use crate::link::RxLink;
use crate::probe::{ProbeModule, Validator, Verdict};
use crate::targets::ProbeSpace;
use crate::wire::reply::parse_frame;
use hdrhistogram::Histogram;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc::SyncSender;
use std::time::Duration;

/// The checks every reply passes, in order. `None`: not ours.
#[inline]
pub fn judge<M: ProbeModule>(module: &M, validator: &Validator, frame: &[u8]) -> Option<Verdict> {
    let reply = parse_frame(frame).ok()?;
    if !validator.is_ours(reply.dst) {
        return None;
    }
    module.classify(&reply, validator)
}

/// 1 µs to 1 hour: created once, recorded into without allocating.
pub fn rtt_histogram() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")
}

/// What the receive thread hands back.
pub struct Received {
    pub rtt_us: Histogram<u64>,
    pub answered: Option<super::answered::Answered>,
}

/// The receive thread's world.
pub struct Receiver<'a, M: ProbeModule> {
    pub module: &'a M,
    pub validator: &'a Validator,
    /// What was scanned: a reply for anything else is not ours, whatever
    /// it carries (a UDP answer's cookie can be as short as the source
    /// port's few bits).
    pub space: &'a ProbeSpace,
    pub dedup: Dedup,
    pub counters: &'a Counters,
    pub show: StateSet,
    pub found: SyncSender<ToOutput>,
}

impl<M: ProbeModule> Receiver<'_, M> {
    /// Runs until `stop`, hands new findings to the output thread, returns
    /// the round-trip times (µs) of replies that echoed our timestamp,
    /// measured from each frame's arrival stamp, and the exact record of
    /// answered probes where dedup kept one.
    pub fn run(mut self, link: &mut RxLink, stop: &AtomicBool) -> io::Result<Received> {
        let mut tally = RxTally::default();
        let mut rtt_us = rtt_histogram();
        while !stop.load(Relaxed) {
            link.recv_batch(Duration::from_millis(50), |frame, arrived_us| {
                self.one(frame, arrived_us, &mut tally, &mut rtt_us)
            })?;
            tally.publish(self.counters);
            if let Some(d) = link.kernel_drops() {
                self.counters.kernel_dropped.add(d);
            }
        }
        Ok(Received {
            rtt_us,
            answered: self.dedup.into_answered(),
        })
    }

    #[inline]
    fn one(
        &mut self,
        frame: &[u8],
        arrived_us: u64,
        tally: &mut RxTally,
        rtt_us: &mut Histogram<u64>,
    ) {
        tally.received += 1;
        let Some((v, index)) = judge(self.module, self.validator, frame)
            .and_then(|v| Some((v, self.space.index_of(v.addr, v.proto, v.port)?)))
        else {
            tally.dropped += 1;
            return;
        };
        tally.valid += 1;
        if let Some(echo) = v.ts_echo {
            // The echo and the arrival stamp are both Unix µs (the echo
            // wraps at 32 bits, so the difference is taken wrapping too).
            let rtt = (arrived_us as u32).wrapping_sub(echo);
            if rtt < 3_600_000_000 {
                rtt_us.saturating_record(u64::from(rtt.max(1)));
            }
        }
        if !self.dedup.first_time(index) {
            tally.duplicates += 1;
            return;
        }
        tally.found[v.state.index()] += 1;
        if self.show.contains(v.state) {
            // A closed channel means the output failed; the main thread
            // has seen that and is stopping us.
            let _ = self
                .found
                .send(ToOutput::Record(v.record(arrived_us / 1_000_000)));
        }
    }
}
