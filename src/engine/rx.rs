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
use crate::domain::{Protocol, State};
use crate::link::RxLink;
use crate::probe::session::{Now, SessionStats, Sessions};
use crate::probe::{ProbeModule, Validator, Verdict};
use crate::targets::ProbeSpace;
use crate::wire::reply::{Reply, Transport, parse_frame, tcp_flags};
use hdrhistogram::Histogram;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc::SyncSender;
use std::time::Duration;

/// The first check of every frame: a reply addressed to us.
#[inline]
pub fn addressed_to_us<'f>(validator: &Validator, frame: &'f [u8]) -> Option<Reply<'f>> {
    parse_frame(frame).ok().filter(|r| validator.is_ours(r.dst))
}

/// The checks every reply passes, in order. `None`: not ours.
#[inline]
pub fn judge<M: ProbeModule>(module: &M, validator: &Validator, frame: &[u8]) -> Option<Verdict> {
    module.classify(&addressed_to_us(validator, frame)?, validator)
}

/// 1 µs to 1 hour: created once, recorded into without allocating.
pub fn rtt_histogram() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")
}

/// What the receive thread hands back.
pub struct Received {
    pub rtt_us: Histogram<u64>,
    pub answered: Option<super::answered::Answered>,
    /// What banner sessions did, in banner mode.
    pub sessions: Option<SessionStats>,
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
    /// Banner mode: the sessions that open ports' SYN-ACKs start.
    pub sessions: Option<Sessions<'a>>,
}

impl<M: ProbeModule> Receiver<'_, M> {
    /// Runs until `stop`, hands new findings to the output thread, returns
    /// the round-trip times (µs) of replies that echoed our timestamp,
    /// measured from each frame's arrival stamp, and the exact record of
    /// answered probes where dedup kept one.
    pub fn run(mut self, link: &mut RxLink, stop: &AtomicBool) -> io::Result<Received> {
        let mut tally = RxTally::default();
        let mut rtt_us = rtt_histogram();
        let started = std::time::Instant::now();
        while !stop.load(Relaxed) {
            let now = Now::at(started);
            link.recv_batch(Duration::from_millis(50), |frame, arrived_us| {
                self.one(frame, arrived_us, now, &mut tally, &mut rtt_us)
            })?;
            if self.sessions.is_some() {
                self.tend_sessions(Some(Now::at(started)))?;
            }
            tally.publish(self.counters);
            if let Some(d) = link.kernel_drops() {
                self.counters.kernel_dropped.add(d);
            }
        }
        // Whatever the sessions still hold is reported as it stands.
        if let Some(s) = self.sessions.as_mut() {
            s.end_all(Now::at(started));
        }
        self.tend_sessions(None)?;
        Ok(Received {
            rtt_us,
            answered: self.dedup.into_answered(),
            sessions: self.sessions.as_ref().map(|s| s.stats()),
        })
    }

    /// Runs the sessions' timers (unless the scan is over), sends what
    /// they wrote and hands the results of those that ended to the output.
    fn tend_sessions(&mut self, now: Option<Now>) -> io::Result<()> {
        let Some(s) = self.sessions.as_mut() else {
            return Ok(());
        };
        if let Some(now) = now {
            s.tick(now);
        }
        s.flush()?;
        self.counters.sessions_open.set(s.open() as u64);
        for r in s.take_done() {
            if self.show.contains(r.state) {
                let _ = self.found.send(ToOutput::Record(r));
            }
        }
        Ok(())
    }

    #[inline]
    fn one(
        &mut self,
        frame: &[u8],
        arrived_us: u64,
        now: Now,
        tally: &mut RxTally,
        rtt_us: &mut Histogram<u64>,
    ) {
        tally.received += 1;
        // Our timestamps must not be older than the SYN's, which may have
        // left after this batch began: the frame's arrival is later.
        let now = Now {
            tsval: arrived_us as u32,
            ..now
        };
        let Some(reply) = addressed_to_us(self.validator, frame) else {
            tally.dropped += 1;
            return;
        };
        let segment = match reply.transport {
            Transport::Tcp(seg) if self.sessions.is_some() => Some(seg),
            _ => None,
        };
        // After the handshake a flow's segments are its session's.
        if let (Some(s), Some(seg)) = (self.sessions.as_mut(), &segment)
            && seg.flags & tcp_flags::SYN == 0
            && self.validator.our_port(seg.dst_port)
            && s.segment(&reply, seg, now)
        {
            tally.session_segments += 1;
            return;
        }
        let Some((v, index)) = self
            .module
            .classify(&reply, self.validator)
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
        let first = self.dedup.first_time(index);
        if first {
            tally.found[v.state.index()] += 1;
        } else {
            tally.duplicates += 1;
        }
        if let (Some(s), Some(seg)) = (self.sessions.as_mut(), &segment)
            && v.proto == Protocol::Tcp
            && v.state == State::Open
        {
            // The open port's result waits for its session to end, and
            // goes out with what the session heard; a repeated SYN-ACK
            // still goes to its session (our ACK was lost).
            s.syn_ack(
                &reply,
                seg,
                first.then(|| v.record(arrived_us / 1_000_000)),
                now,
            );
            return;
        }
        if first && self.show.contains(v.state) {
            // A closed channel means the output failed; the main thread
            // has seen that and is stopping us.
            let _ = self
                .found
                .send(ToOutput::Record(v.record(arrived_us / 1_000_000)));
        }
    }
}
