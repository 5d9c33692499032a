//! Transmit: next position -> permuted index -> (address, port) -> cookie
//! -> frame, in batches, paced.
//!
//! Generic over the probe module, so writing a frame is a direct call the
//! compiler can inline. Nothing here allocates or locks per probe: the
//! positions of a batch go into a fixed array, frames are written straight
//! into the link's buffers from the module's template, and the shared
//! counter is bumped once per batch.

use super::permute::Permutation;
use super::rate::{Pacer, Rate, SystemClock, unix_micros};
use super::schedule::SendSchedule;
use super::stats::{Counters, Padded};
use crate::cookie::CookieKey;
use crate::link::TxLink;
use crate::link::source::Sources;
use crate::probe::{ProbeFields, ProbeModule, SourcePorts};
use crate::targets::ProbeSpace;
use crate::wire::MacAddr;
use crate::wire::shape::Shaping;
use hdrhistogram::Histogram;
use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Instant;

/// Frames per batch at most.
pub const MAX_BATCH: usize = 256;

/// A module's templates for the families the scan sends to.
pub struct Templates<M: ProbeModule> {
    pub v4: Option<M::Template>,
    pub v6: Option<M::Template>,
}

/// The MAC address of each target on our own link, learned by the
/// neighbour sweep; their frames go there rather than to a gateway.
pub type Neighbors = HashMap<IpAddr, MacAddr>;

/// Turns permutation positions into frames.
pub struct ProbeMaker<'a, M: ProbeModule> {
    pub module: &'a M,
    templates: &'a Templates<M>,
    pub space: &'a ProbeSpace,
    permutation: &'a Permutation,
    key: &'a CookieKey,
    /// Our addresses in each family; each probe's is picked by its index.
    /// Empty only where the scan has no targets.
    sources: Sources,
    src_ports: SourcePorts,
    neighbors: Option<&'a Neighbors>,
    /// `--data-length`, `--badsum`, `-f`/`--mtu`.
    shaping: &'a Shaping,
}

/// Frames as their modules write them.
static PLAIN: Shaping = Shaping {
    data: Vec::new(),
    badsum: false,
    fragment: None,
};

impl<'a, M: ProbeModule> ProbeMaker<'a, M> {
    /// `sources`: our address per family (`Family as usize`), for every
    /// family `space` holds targets of, with a template for each.
    pub fn new(
        module: &'a M,
        templates: &'a Templates<M>,
        space: &'a ProbeSpace,
        permutation: &'a Permutation,
        key: &'a CookieKey,
        sources: [Option<IpAddr>; 2],
        src_ports: SourcePorts,
    ) -> Self {
        let (v4, v6) = space.first_hosts();
        assert!(v4.is_none() || templates.v4.is_some());
        assert!(v6.is_none() || templates.v6.is_some());
        ProbeMaker {
            module,
            templates,
            space,
            permutation,
            key,
            sources: Sources::default(),
            src_ports,
            neighbors: None,
            shaping: &PLAIN,
        }
        .with_sources(Sources::of(sources))
    }

    /// Spreads the probes of each family over that family's `sources`.
    pub fn with_sources(mut self, sources: Sources) -> Self {
        let (v4, v6) = self.space.first_hosts();
        assert!(v4.is_none() || !sources.v4.is_empty(), "an IPv4 source");
        assert!(v6.is_none() || !sources.v6.is_empty(), "an IPv6 source");
        self.sources = sources;
        self
    }

    /// Reshapes every probe as `shaping` says (see `wire::shape`).
    pub fn with_shaping(mut self, shaping: &'a Shaping) -> Self {
        self.shaping = shaping;
        self
    }

    /// The longest probe `write` produces, before any fragmenting: the
    /// size of a frame buffer.
    pub fn max_frame_len(&self) -> usize {
        self.module.max_frame_len() + self.shaping.growth()
    }

    /// Sends each target found on the link to its own MAC address.
    pub fn with_neighbors(mut self, neighbors: &'a Neighbors) -> Self {
        self.neighbors = Some(neighbors);
        self
    }

    /// Writes the probe at `position` into `buf`; returns its length.
    #[inline(always)]
    pub fn write(&self, position: u64, tsval: u32, buf: &mut [u8]) -> usize {
        let index = self.permutation.apply(position);
        let probe = self.space.probe(index);
        let kind = self.module.kind(probe.proto);
        // One branch on the family; everything after it is that family's.
        // The source from the index, like the port: a retry or a resumed
        // run sends the probe from the same address.
        let (template, src, src_port, cookie) = match probe.addr {
            IpAddr::V4(dst) => {
                let src = self.sources.pick_v4(index);
                let sp = self.module.source_port(
                    self.key,
                    self.src_ports,
                    index,
                    IpAddr::V4(src),
                    probe.addr,
                    probe.proto,
                    probe.port,
                );
                let c = self.key.cookie_v4(kind, src, dst, sp, probe.port);
                (&self.templates.v4, IpAddr::V4(src), sp, c)
            }
            IpAddr::V6(dst) => {
                let src = self.sources.pick_v6(index);
                let sp = self.module.source_port(
                    self.key,
                    self.src_ports,
                    index,
                    IpAddr::V6(src),
                    probe.addr,
                    probe.proto,
                    probe.port,
                );
                let c = self.key.cookie_v6(kind, src, dst, sp, probe.port);
                (&self.templates.v6, IpAddr::V6(src), sp, c)
            }
        };
        let fields = ProbeFields {
            src,
            dst: probe.addr,
            proto: probe.proto,
            src_port,
            dst_port: probe.port,
            variant: probe.variant,
            cookie,
            tsval,
        };
        // `new` checked a template exists for every family of the space.
        let template = template.as_ref().expect("a template per family scanned");
        let mut len = self.module.write(template, buf, &fields);
        if self.shaping.reshapes() {
            len = self.shaping.reshape(buf, len);
        }
        if let Some(mac) = self.neighbors.and_then(|n| n.get(&probe.addr)) {
            buf[..6].copy_from_slice(mac);
        }
        len
    }
}

/// One transmit thread's share of the work.
pub struct TxThread<'a, M: ProbeModule> {
    pub maker: &'a ProbeMaker<'a, M>,
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

impl<M: ProbeModule> TxThread<'_, M> {
    /// Runs the schedule to its end, the budget, or `stop`.
    pub fn run(
        self,
        link: &mut TxLink,
        counters: &Counters,
        stop: &AtomicBool,
    ) -> io::Result<TxReport> {
        if self.maker.shaping.fragment.is_some() {
            return self.run_fragmented(link, counters, stop);
        }
        let TxThread {
            maker,
            mut schedule,
            budget,
            rate,
            watermark,
        } = self;
        let mut latency = latency_histogram();
        let mut pacer = Pacer::new(rate, MAX_BATCH, SystemClock::new());
        let mut positions = [0u64; MAX_BATCH];
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
                positions[n] = send.position;
                n += 1;
            }
            if n == 0 {
                break;
            }
            // One clock read per batch: the send time in Unix microseconds
            // (wrapping), which a target may echo for the round-trip time.
            let tsval = unix_micros() as u32;
            let started = Instant::now();
            link.send_batch(n, |i, buf| maker.write(positions[i], tsval, buf))?;
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

    /// `run` for IPv4 fragments: each probe is written whole into this
    /// thread's scratch space, then copied out fragment by fragment into
    /// the link's frame buffers. The rate and the budget's batches count
    /// frames on the wire, as nmap's and masscan's rates do; `sent` and
    /// the budget count probes, as the checkpoint and progress do.
    fn run_fragmented(
        self,
        link: &mut TxLink,
        counters: &Counters,
        stop: &AtomicBool,
    ) -> io::Result<TxReport> {
        let TxThread {
            maker,
            mut schedule,
            budget,
            rate,
            watermark,
        } = self;
        let shaping = maker.shaping;
        let slot = maker.max_frame_len();
        // Allocated once per thread: a batch's probes, whole.
        let mut whole = vec![0u8; MAX_BATCH * slot];
        let mut lens = [0usize; MAX_BATCH];
        let mut counts = [0usize; MAX_BATCH];
        let most = shaping.most_fragments(slot);
        let mut latency = latency_histogram();
        let mut pacer = Pacer::new(rate, MAX_BATCH, SystemClock::new());
        let mut left = budget.unwrap_or(u64::MAX);
        while left > 0 {
            let allowed = pacer.acquire(MAX_BATCH, &|| stop.load(Relaxed));
            if allowed == 0 || stop.load(Relaxed) {
                break;
            }
            // As many probes as surely fit the frames allowed, at least one.
            let want = (allowed / most)
                .max(1)
                .min(usize::try_from(left).unwrap_or(MAX_BATCH));
            let tsval = unix_micros() as u32;
            let (mut n, mut frames) = (0, 0);
            while n < want {
                let Some(send) = schedule.next_send() else {
                    break;
                };
                let buf = &mut whole[n * slot..(n + 1) * slot];
                lens[n] = maker.write(send.position, tsval, buf);
                counts[n] = shaping.fragment_count(buf, lens[n]);
                frames += counts[n];
                n += 1;
            }
            pacer.settle(allowed, frames);
            if n == 0 {
                break;
            }
            let (mut probe, mut piece) = (0, 0);
            let started = Instant::now();
            link.send_batch(frames, |_, buf| {
                let from = &whole[probe * slot..(probe + 1) * slot];
                let len = shaping.write_fragment(from, lens[probe], piece, buf);
                piece += 1;
                if piece == counts[probe] {
                    (probe, piece) = (probe + 1, 0);
                }
                len
            })?;
            latency.saturating_record(started.elapsed().as_nanos() as u64);
            counters.sent.add(n as u64);
            counters.fragments.add(frames as u64);
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
    use crate::cookie::Flow;
    use crate::domain::Family;
    use crate::link::memory::MemoryTx;
    use crate::probe::tcp::SynScan;
    use crate::probe::tcp::tests::params;
    use std::collections::HashSet;

    #[test]
    fn every_probe_leaves_once_with_its_cookie_in_both_families() {
        let space = ProbeSpace::parse("198.18.0.0/24,198.18.9.9,2001:2::1000/122", "", "22,80,443")
            .unwrap();
        let permutation = Permutation::new(space.size(), 1);
        let key = CookieKey::random();
        let module = SynScan::default();
        let (us4, us6) = ("198.19.255.1", "2001:2:0:ff03::1");
        let templates = Templates::<SynScan> {
            v4: Some(module.template(&params(us4))),
            v6: Some(module.template(&params(us6))),
        };
        let sources = [Some(us4.parse().unwrap()), Some(us6.parse().unwrap())];
        let ports = SourcePorts {
            first: 61000,
            last: 61003,
        };
        let maker = ProbeMaker::new(
            &module,
            &templates,
            &space,
            &permutation,
            &key,
            sources,
            ports,
        );
        let schedule = SendSchedule::new(space.size(), 0, 1, 1, 100);
        let mut link = TxLink::Memory(MemoryTx::new(module.max_frame_len()));
        let counters = Counters::default();
        TxThread {
            maker: &maker,
            schedule,
            budget: None,
            rate: Rate::Unlimited,
            watermark: &Padded::default(),
        }
        .run(&mut link, &counters, &AtomicBool::new(false))
        .unwrap();

        let TxLink::Memory(link) = link else {
            unreachable!()
        };
        // Two attempts of each of (257 + 64) * 3 probes.
        let probes = (257 + 64) * 3;
        assert_eq!(link.frames.len(), probes * 2);
        assert_eq!(counters.sent.get(), probes as u64 * 2);
        let mut seen = HashSet::new();
        for frame in &link.frames {
            let p = etherparse::SlicedPacket::from_ethernet(frame).unwrap();
            let Some(etherparse::TransportSlice::Tcp(tcp)) = p.transport else {
                panic!("not TCP")
            };
            let (src, dst): (IpAddr, IpAddr) = match p.net {
                Some(etherparse::NetSlice::Ipv4(ip)) => (
                    ip.header().source_addr().into(),
                    ip.header().destination_addr().into(),
                ),
                Some(etherparse::NetSlice::Ipv6(ip)) => (
                    ip.header().source_addr().into(),
                    ip.header().destination_addr().into(),
                ),
                other => panic!("{other:?}"),
            };
            assert_eq!(Some(src), sources[Family::of(&dst) as usize]);
            let index = space.index_of(dst, crate::domain::Protocol::Tcp, tcp.destination_port());
            assert!(index.is_some(), "{dst} {}", tcp.destination_port());
            assert!((61000..=61003).contains(&tcp.source_port()));
            let flow = Flow {
                src,
                dst,
                src_port: tcp.source_port(),
                dst_port: tcp.destination_port(),
            };
            assert_eq!(
                tcp.sequence_number(),
                key.cookie(SynScan::KIND, &flow) as u32
            );
            seen.insert((dst, tcp.destination_port()));
        }
        assert_eq!(seen.len(), probes);
    }

    #[test]
    fn fragmented_probes_leave_whole_in_order_at_a_rate_of_frames() {
        let space = ProbeSpace::parse("198.18.0.0/26", "", "22,80").unwrap();
        let permutation = Permutation::new(space.size(), 1);
        let key = CookieKey::random();
        let module = SynScan::default();
        let us = "198.19.255.1";
        let templates = Templates::<SynScan> {
            v4: Some(module.template(&params(us))),
            v6: None,
        };
        let shaping = Shaping {
            data: vec![7; 5],
            badsum: false,
            fragment: Some(8),
        };
        let maker = ProbeMaker::new(
            &module,
            &templates,
            &space,
            &permutation,
            &key,
            [Some(us.parse().unwrap()), None],
            SourcePorts {
                first: 61000,
                last: 61000,
            },
        )
        .with_shaping(&shaping);
        let mut link = TxLink::Memory(MemoryTx::new(maker.max_frame_len()));
        let counters = Counters::default();
        TxThread {
            maker: &maker,
            schedule: SendSchedule::new(space.size(), 0, 1, 0, 100),
            budget: None,
            // Fragments outrun probes: settling must not lose any.
            rate: Rate::PerSecond(1e6),
            watermark: &Padded::default(),
        }
        .run(&mut link, &counters, &AtomicBool::new(false))
        .unwrap();
        let TxLink::Memory(link) = link else {
            unreachable!()
        };
        // 36 bytes of SYN and 5 of data: five 8-byte fragments and one of 1.
        let probes = 64 * 2;
        assert_eq!(counters.sent.get(), probes as u64);
        assert_eq!(link.frames.len(), probes * 6);
        assert_eq!(counters.fragments.get(), probes as u64 * 6);
        let mut seen = HashSet::new();
        for probe in link.frames.chunks(6) {
            let mut data = Vec::new();
            let mut first = None;
            for (i, frame) in probe.iter().enumerate() {
                let (ip, rest) = etherparse::Ipv4Header::from_slice(&frame[14..]).unwrap();
                assert_eq!(usize::from(ip.fragment_offset.value()) * 8, data.len());
                assert_eq!(ip.more_fragments, i < 5);
                let id = *first.get_or_insert(ip.identification);
                assert_eq!(ip.identification, id);
                data.extend_from_slice(rest);
            }
            let (tcp, payload) = etherparse::TcpHeader::from_slice(&data).unwrap();
            assert_eq!(payload, &[7; 5]);
            seen.insert(tcp.destination_port);
            assert_eq!(tcp.source_port, 61000);
        }
        assert_eq!(seen.len(), 2);
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

    #[test]
    fn probes_spread_over_the_sources_each_with_its_own_cookie_and_the_same_on_retry() {
        let space = ProbeSpace::parse("198.18.0.0/26,2001:2::1000/124", "", "22,80").unwrap();
        let permutation = Permutation::new(space.size(), 7);
        let key = CookieKey::random();
        let module = SynScan::default();
        let mut sources = Sources::default();
        sources
            .add_list("198.19.255.116-198.19.255.119,2001:2:0:ff0d::5000/127")
            .unwrap();
        let templates = Templates::<SynScan> {
            v4: Some(module.template(&params("198.19.255.116"))),
            v6: Some(module.template(&params("2001:2:0:ff0d::5000"))),
        };
        let ports = SourcePorts {
            first: 61000,
            last: 61255,
        };
        let maker = ProbeMaker::new(
            &module,
            &templates,
            &space,
            &permutation,
            &key,
            sources.firsts(),
            ports,
        )
        .with_sources(sources.clone());
        let validator = crate::probe::Validator::for_sources(key.clone(), sources.clone(), ports);
        let mut used = HashSet::new();
        let mut buf = vec![0u8; module.max_frame_len()];
        let mut again = vec![0u8; module.max_frame_len()];
        for position in 0..space.size() {
            let n = maker.write(position, 9, &mut buf);
            // A retry (or a resumed run) writes the very same frame.
            assert_eq!(maker.write(position, 9, &mut again), n);
            assert_eq!(buf[..n], again[..n]);
            let p = etherparse::SlicedPacket::from_ethernet(&buf[..n]).unwrap();
            let (src, dst): (IpAddr, IpAddr) = match p.net {
                Some(etherparse::NetSlice::Ipv4(ip)) => {
                    let h = ip.header().to_header();
                    assert_eq!(h.header_checksum, h.calc_header_checksum());
                    (
                        ip.header().source_addr().into(),
                        ip.header().destination_addr().into(),
                    )
                }
                Some(etherparse::NetSlice::Ipv6(ip)) => (
                    ip.header().source_addr().into(),
                    ip.header().destination_addr().into(),
                ),
                other => panic!("{other:?}"),
            };
            let Some(etherparse::TransportSlice::Tcp(tcp)) = p.transport else {
                panic!("not TCP")
            };
            let valid = match (src, dst) {
                (IpAddr::V4(s), IpAddr::V4(d)) => tcp.calc_checksum_ipv4(s.octets(), d.octets()),
                (IpAddr::V6(s), IpAddr::V6(d)) => tcp.calc_checksum_ipv6(s.octets(), d.octets()),
                _ => unreachable!(),
            }
            .unwrap();
            assert_eq!(tcp.checksum(), valid, "{src} -> {dst}");
            assert!(sources.contains(src) && validator.is_ours(src), "{src}");
            let flow = Flow {
                src,
                dst,
                src_port: tcp.source_port(),
                dst_port: tcp.destination_port(),
            };
            assert_eq!(
                tcp.sequence_number(),
                key.cookie(SynScan::KIND, &flow) as u32
            );
            used.insert(src);
        }
        assert_eq!(used.len(), 6, "every source sends: {used:?}");
        for not_ours in ["198.19.255.115", "198.19.255.120", "2001:2:0:ff0d::5002"] {
            assert!(!validator.is_ours(not_ours.parse().unwrap()));
        }
    }
}
