//! The hot paths allocate nothing per packet, for every probe module and
//! both address families. A counting allocator (per thread, so other tests
//! cannot disturb the count) watches the transmit loop and the receive
//! loop, each run whole: the number of allocations must not grow with the
//! number of packets.

use etherparse::PacketBuilder;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc::sync_channel;
use std::time::Duration;
use synsweep::cookie::{CookieKey, Flow};
use synsweep::domain::{Family, StateSet};
use synsweep::engine::dedup::Dedup;
use synsweep::engine::monitor::ToOutput;
use synsweep::engine::permute::Permutation;
use synsweep::engine::rate::Rate;
use synsweep::engine::rx::Receiver;
use synsweep::engine::schedule::SendSchedule;
use synsweep::engine::stats::{Counters, Padded};
use synsweep::engine::tx::{ProbeMaker, Templates, TxThread};
use synsweep::link::memory::MemoryRx;
use synsweep::link::offline::OfflineTx;
use synsweep::link::{RxLink, TxLink};
use synsweep::output::FormatKind;
use synsweep::probe::tcp::SynScan;
use synsweep::probe::{ProbeModule, SourcePorts, Validator};
use synsweep::targets::ProbeSpace;
use synsweep::wire::template::FrameParams;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// only addition is a thread-local counter with a const initialiser, which
// itself never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(|c| c.get())
}

const US4: &str = "198.19.255.1";
const US6: &str = "2001:2:0:ff03::1";
const PORTS: SourcePorts = SourcePorts {
    first: 61000,
    last: 61255,
};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn space() -> ProbeSpace {
    ProbeSpace::parse(
        "198.18.0.0/16,198.19.7.1-198.19.9.200,2001:2:0:300::/112,2001:2::7",
        "198.18.3.0/24",
        "1-100",
    )
    .unwrap()
}

/// How a module's test builds the answer a target gives to a probe.
type Answer =
    fn(target: IpAddr, target_port: u16, us: IpAddr, our_port: u16, cookie: u64) -> Vec<u8>;

/// Runs the transmit loop for 1,000 and for 300,000 frames, and the whole
/// receive loop over 100 and over 50,000 answers, counting allocations.
fn check_module<M: ProbeModule>(module: &M, answer: Answer) {
    let space = space();
    let permutation = Permutation::new(space.size(), 5);
    let key = CookieKey::random();
    let sources = [Some(ip(US4)), Some(ip(US6))];
    let params = |src: &str| FrameParams {
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [2, 0, 0, 0, 0, 2],
        src: ip(src),
        ttl: 64,
    };
    let templates = Templates::<M> {
        v4: Some(module.template(&params(US4))),
        v6: Some(module.template(&params(US6))),
    };
    let maker = ProbeMaker::new(
        module,
        &templates,
        &space,
        &permutation,
        &key,
        sources,
        PORTS,
    );
    let counters = Counters::default();
    let stop = AtomicBool::new(false);
    let mut cost = Vec::new();
    for frames in [1_000u64, 300_000] {
        let mut link = TxLink::Offline(OfflineTx::new(module.max_frame_len()));
        let before = allocations();
        let report = TxThread {
            maker: &maker,
            schedule: SendSchedule::new(space.size(), 0, 1, 1, 1000),
            budget: Some(frames),
            rate: Rate::Unlimited,
            watermark: &Padded::default(),
        }
        .run(&mut link, &counters, &stop)
        .unwrap();
        cost.push(allocations() - before);
        drop(report);
    }
    assert_eq!(
        cost[0], cost[1],
        "transmit allocations grew with frames: {cost:?}"
    );

    // Receive: the answers of both families, built first.
    let validator = Validator::new(key.clone(), sources, PORTS);
    let answers: Vec<(Vec<u8>, u64)> = (0..50_000u64)
        .map(|i| {
            let index = permutation.apply(i * 7 % space.size());
            let p = space.probe(index);
            let us = sources[Family::of(&p.addr) as usize].unwrap();
            let sport = PORTS.for_index(index);
            let flow = Flow {
                src: us,
                dst: p.addr,
                src_port: sport,
                dst_port: p.port,
            };
            (
                answer(p.addr, p.port, us, sport, key.cookie(module.kind(), &flow)),
                i,
            )
        })
        .collect();
    assert!(
        answers.iter().any(|(f, _)| f[12..14] == [0x86, 0xdd]),
        "IPv6 answers too"
    );
    let mut cost = Vec::new();
    for n in [100usize, 50_000] {
        let counters = Counters::default();
        let stop = AtomicBool::new(false);
        // Room for every record: a sender blocked on a full channel
        // registers itself with std's channel, which may allocate when it
        // first waits; that is per stall, not per packet, and not this
        // test's subject.
        let (to_output, from_rx) = sync_channel::<ToOutput>(65_536);
        let mut link = RxLink::Memory(MemoryRx {
            frames: answers[..n].iter().cloned().collect::<VecDeque<_>>(),
            batch: 64,
        });
        let allocated = std::thread::scope(|s| {
            // The output side: formats every record into a reused buffer,
            // as the writer does.
            s.spawn(|| {
                let mut format = FormatKind::Ndjson.formatter();
                let mut record = Vec::with_capacity(1024);
                for msg in from_rx {
                    if let ToOutput::Record(r) = msg {
                        format.record(&mut record, &r);
                        record.clear();
                    }
                }
            });
            let rx = s.spawn(|| {
                let receiver = Receiver {
                    module,
                    validator: &validator,
                    dedup: Dedup::for_space(std::sync::Arc::new(space.clone())),
                    counters: &counters,
                    show: StateSet::ALL,
                    found: to_output,
                };
                let before = allocations();
                receiver.run(&mut link, &stop).unwrap();
                allocations() - before
            });
            while counters.received.get() < n as u64 {
                std::thread::sleep(Duration::from_millis(2));
            }
            stop.store(true, Relaxed);
            rx.join().unwrap()
        });
        assert_eq!(counters.valid.get(), n as u64, "every answer validated");
        cost.push(allocated);
    }
    assert_eq!(
        cost[0], cost[1],
        "receive allocations grew with frames: {cost:?}"
    );
}

/// A SYN-ACK acknowledging the cookie, as the target's kernel builds it.
fn syn_ack(target: IpAddr, port: u16, us: IpAddr, our_port: u16, cookie: u64) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1]);
    let b = match (target, us) {
        (IpAddr::V4(t), IpAddr::V4(u)) => b.ipv4(t.octets(), u.octets(), 61),
        (IpAddr::V6(t), IpAddr::V6(u)) => b.ipv6(t.octets(), u.octets(), 61),
        _ => unreachable!(),
    };
    let mut out = Vec::new();
    b.tcp(port, our_port, 7, 65160)
        .syn()
        .ack((cookie as u32).wrapping_add(1))
        .write(&mut out, &[])
        .unwrap();
    out
}

#[test]
fn syn_scan_transmits_and_receives_without_allocating_per_packet() {
    check_module(&SynScan::default(), syn_ack);
}
