//! Transmit: next position -> permuted index -> (address, port) -> cookie
//! -> frame, in batches, paced.
//!
//! Nothing here allocates or locks per probe: probe fields go into a fixed
//! array, frames are written straight into the link's buffers from the
//! template, and the shared counter is bumped once per batch.

use crate::cookie::{CookieKey, Flow};
use crate::link::FrameTx;
use crate::permute::Permutation;
use crate::rate::{Pacer, Rate, SystemClock, unix_micros};
use crate::schedule::SendSchedule;
use crate::stats::{Counters, Padded};
use crate::targets::ProbeSpace;
use crate::wire::template::{ProbeFields, SynTemplate};
use hdrhistogram::Histogram;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Instant;

/// Frames per batch at most.
pub const MAX_BATCH: usize = 256;

/// The inclusive range of source ports probes use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourcePorts {
    pub first: u16,
    pub last: u16,
}

impl SourcePorts {
    pub fn count(&self) -> u64 {
        u64::from(self.last - self.first) + 1
    }

    /// Derived from the probe index, so every retry of a probe uses the same
    /// port and a stateful middlebox sees one flow, not several.
    #[inline]
    pub fn for_index(&self, index: u64) -> u16 {
        self.first + (index % self.count()) as u16
    }
}

/// Turns permutation positions into probe headers.
#[derive(Clone, Debug)]
pub struct ProbeMaker<'a> {
    pub space: &'a ProbeSpace,
    pub permutation: &'a Permutation,
    pub key: &'a CookieKey,
    pub src_ip: u32,
    pub src_ports: SourcePorts,
}

impl ProbeMaker<'_> {
    #[inline]
    pub fn fields(&self, position: u64) -> ProbeFields {
        let index = self.permutation.apply(position);
        let probe = self.space.probe(index);
        let src_port = self.src_ports.for_index(index);
        let cookie = self.key.cookie(&Flow {
            src_ip: self.src_ip,
            dst_ip: probe.ip,
            src_port,
            dst_port: probe.port,
        });
        ProbeFields {
            dst_ip: probe.ip,
            src_port,
            dst_port: probe.port,
            seq: cookie.seq,
            ip_id: cookie.ip_id,
            tsval: 0,
        }
    }
}

/// One transmit thread's share of the work.
pub struct TxThread<'a> {
    pub maker: &'a ProbeMaker<'a>,
    pub template: &'a SynTemplate,
    pub schedule: SendSchedule,
    /// Stop after this many frames.
    pub budget: Option<u64>,
    /// This thread's share of the rate.
    pub rate: Rate,
    /// Where this thread publishes "every position of mine below this
    /// was sent", for checkpoints.
    pub watermark: &'a Padded,
}

/// What a transmit thread measured.
pub struct TxReport {
    /// Nanoseconds each `send_batch` took (the hand-over to the kernel).
    pub batch_latency_ns: Histogram<u64>,
}

/// 1 ns to 100 s at 3 significant figures: about 25 KiB, made once.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid histogram bounds")
}

impl TxThread<'_> {
    /// Runs the schedule to its end, the budget, or `stop`.
    pub fn run(
        self,
        link: &mut dyn FrameTx,
        counters: &Counters,
        stop: &AtomicBool,
    ) -> io::Result<TxReport> {
        let TxThread {
            maker,
            template,
            mut schedule,
            budget,
            rate,
            watermark,
        } = self;
        let mut latency = latency_histogram();
        let mut pacer = Pacer::new(rate, MAX_BATCH, SystemClock::new());
        let mut batch = [ProbeFields::default(); MAX_BATCH];
        let mut left = budget.unwrap_or(u64::MAX);
        while left > 0 {
            let want = MAX_BATCH.min(usize::try_from(left).unwrap_or(MAX_BATCH));
            let allowed = pacer.acquire(want, &|| stop.load(Relaxed));
            if allowed == 0 || stop.load(Relaxed) {
                break;
            }
            let mut n = 0;
            while n < allowed {
                let Some(send) = schedule.next_send() else {
                    break;
                };
                batch[n] = maker.fields(send.position);
                n += 1;
            }
            if n == 0 {
                break;
            }
            // One clock read per batch: the TSval is the send time in Unix
            // microseconds (wrapping), which the target echoes and the
            // receiver subtracts from the kernel's arrival stamp.
            let tsval = unix_micros() as u32;
            let started = Instant::now();
            link.send_batch(n, &mut |i, buf| {
                let mut f = batch[i];
                f.tsval = tsval;
                template.write(buf, &f)
            })?;
            // Saturates rather than fails: no batch takes 100 s.
            latency.saturating_record(started.elapsed().as_nanos() as u64);
            counters.sent.add(n as u64);
            watermark.set(schedule.originals_done_below());
            left -= n as u64;
        }
        Ok(TxReport {
            batch_latency_ns: latency,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::TargetSpec;
    use crate::targets::grammar::{Origin, parse_ports, parse_target_list};
    use crate::wire::reply::{Reply, parse_frame};
    use crate::wire::template::TemplateParams;
    use std::collections::HashSet;

    /// Keeps every frame it is given.
    struct Capture(Vec<Vec<u8>>);

    impl FrameTx for Capture {
        fn send_batch(
            &mut self,
            count: usize,
            fill: &mut dyn FnMut(usize, &mut [u8]) -> usize,
        ) -> io::Result<()> {
            for i in 0..count {
                let mut buf = vec![0u8; 256];
                let n = fill(i, &mut buf);
                buf.truncate(n);
                self.0.push(buf);
            }
            Ok(())
        }
    }

    #[test]
    fn every_probe_leaves_once_with_its_cookie() {
        let space = ProbeSpace::build(&TargetSpec {
            includes: parse_target_list("198.18.0.0/24,198.18.9.9", &Origin::Arg("t")).unwrap(),
            excludes: vec![],
            ports: parse_ports("22,80,443", &Origin::Arg("p")).unwrap(),
            default_excludes: true,
        })
        .unwrap();
        let permutation = Permutation::new(space.size(), 1);
        let key = CookieKey::random();
        let src_ip = u32::from_be_bytes([198, 19, 255, 1]);
        let maker = ProbeMaker {
            space: &space,
            permutation: &permutation,
            key: &key,
            src_ip,
            src_ports: SourcePorts {
                first: 61000,
                last: 61003,
            },
        };
        let template = SynTemplate::new(&TemplateParams {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src_ip,
            ttl: 64,
            window: 1024,
            mss: 1460,
        });
        let schedule = SendSchedule::new(space.size(), 0, 1, 1, 100);
        let mut link = Capture(Vec::new());
        let counters = Counters::default();
        let stop = AtomicBool::new(false);
        TxThread {
            maker: &maker,
            template: &template,
            schedule,
            budget: None,
            rate: Rate::Unlimited,
            watermark: &Padded::default(),
        }
        .run(&mut link, &counters, &stop)
        .unwrap();

        // Two attempts of each of 257 * 3 probes.
        assert_eq!(link.0.len(), 257 * 3 * 2);
        assert_eq!(counters.sent.get(), 257 * 3 * 2);
        let mut seen = HashSet::new();
        for frame in &link.0 {
            // Parse the frame back the way the wire test does.
            let p = etherparse::SlicedPacket::from_ethernet(frame).unwrap();
            let Some(etherparse::TransportSlice::Tcp(tcp)) = p.transport else {
                panic!("not TCP")
            };
            let Some(etherparse::NetSlice::Ipv4(ip)) = p.net else {
                panic!("not IPv4")
            };
            let dst = u32::from_be_bytes(ip.header().destination());
            assert!(space.hosts().contains(dst));
            assert!(space.ports().contains(&tcp.destination_port()));
            assert!((61000..=61003).contains(&tcp.source_port()));
            let flow = Flow {
                src_ip,
                dst_ip: dst,
                src_port: tcp.source_port(),
                dst_port: tcp.destination_port(),
            };
            assert_eq!(tcp.sequence_number(), key.cookie(&flow).seq);
            assert_eq!(ip.header().identification(), key.cookie(&flow).ip_id);
            seen.insert((dst, tcp.destination_port()));
            // Our own parser reads it as a TCP segment too.
            assert!(matches!(parse_frame(frame), Ok(Reply::Tcp(_))));
        }
        assert_eq!(seen.len(), 257 * 3);
    }

    #[test]
    fn source_ports_cycle_through_the_range() {
        let p = SourcePorts {
            first: 65534,
            last: 65535,
        };
        assert_eq!(
            (p.for_index(0), p.for_index(1), p.for_index(2)),
            (65534, 65535, 65534)
        );
        let one = SourcePorts {
            first: 40000,
            last: 40000,
        };
        assert_eq!(one.for_index(12345), 40000);
    }
}
