//! The hot paths allocate nothing per packet. A counting allocator (per
//! thread, so other tests cannot disturb the count) watches the transmit
//! loop and the receive path: the number of allocations must not grow with
//! the number of packets.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::AtomicBool;
use synsweep::cookie::{CookieKey, Flow};
use synsweep::dedup::Dedup;
use synsweep::link::offline::OfflineTx;
use synsweep::output::FormatKind;
use synsweep::permute::Permutation;
use synsweep::rate::Rate;
use synsweep::rx::Validator;
use synsweep::schedule::SendSchedule;
use synsweep::stats::{Counters, Padded};
use synsweep::targets::grammar::{Origin, parse_ports, parse_target_list};
use synsweep::targets::{ProbeSpace, TargetSpec};
use synsweep::tx::{ProbeMaker, SourcePorts, TxThread};
use synsweep::wire::reply::parse_frame;
use synsweep::wire::template::{ProbeFields, SYN_FRAME_LEN, SynTemplate, TemplateParams};

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

fn space() -> ProbeSpace {
    ProbeSpace::build(&TargetSpec {
        includes: parse_target_list("198.18.0.0/16,198.19.7.1-198.19.9.200", &Origin::Arg("t"))
            .unwrap(),
        excludes: parse_target_list("198.18.3.0/24", &Origin::Arg("x")).unwrap(),
        ports: parse_ports("1-100", &Origin::Arg("p")).unwrap(),
        default_excludes: true,
    })
    .unwrap()
}

const SRC: u32 = u32::from_be_bytes([198, 19, 255, 1]);

#[test]
fn transmit_and_receive_allocate_nothing_per_packet() {
    let space = space();
    let permutation = Permutation::new(space.size(), 5);
    let key = CookieKey::random();
    let ports = SourcePorts {
        first: 61000,
        last: 61255,
    };
    let maker = ProbeMaker {
        space: &space,
        permutation: &permutation,
        key: &key,
        src_ip: SRC,
        src_ports: ports,
    };
    let template = template(SRC);
    let counters = Counters::default();
    let stop = AtomicBool::new(false);

    // Transmit: the whole loop, for 1,000 and for 300,000 frames.
    let mut cost = Vec::new();
    for frames in [1_000u64, 300_000] {
        let mut link = OfflineTx::default();
        let before = allocations();
        let report = TxThread {
            maker: &maker,
            template: &template,
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

    // Receive: parse, validate, dedup, format. Replies are built first.
    let validator = Validator::new(key.clone(), SRC, ports.first, ports.last);
    let replies: Vec<Vec<u8>> = (0..50_000u64)
        .map(|i| {
            let p = space.probe(permutation.apply(i));
            let sport = ports.for_index(i);
            let seq = key
                .cookie(&Flow {
                    src_ip: SRC,
                    dst_ip: p.ip,
                    src_port: sport,
                    dst_port: p.port,
                })
                .seq;
            syn_ack(p.ip, p.port, sport, seq.wrapping_add(1))
        })
        .collect();
    let mut dedup = Dedup::for_space(std::sync::Arc::new(space.clone()));
    let mut format = FormatKind::Ndjson.formatter();
    // The writer's reusable record buffer, as ResultWriter keeps it.
    let mut record = Vec::with_capacity(1024);
    let mut cost = Vec::new();
    for n in [100usize, 50_000] {
        let before = allocations();
        let mut valid = 0;
        for frame in &replies[..n] {
            let v = validator
                .judge(&parse_frame(frame).unwrap())
                .expect("our reply");
            if dedup.first_time(v.ip, v.port) {
                format.record(&mut record, &v.finding(1));
                record.clear();
            }
            valid += 1;
        }
        assert_eq!(valid, n);
        cost.push(allocations() - before);
    }
    assert_eq!(cost, vec![0, 0], "receive path allocated");
}

fn template(src_ip: u32) -> SynTemplate {
    SynTemplate::new(&TemplateParams {
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [2, 0, 0, 0, 0, 2],
        src_ip,
        ttl: 64,
        window: 64240,
        mss: 1460,
    })
}

/// A SYN-ACK from `ip:port` to us, acknowledging `ack`, built by hand.
fn syn_ack(ip: u32, port: u16, our_port: u16, ack: u32) -> Vec<u8> {
    let mut f = vec![0u8; SYN_FRAME_LEN];
    template(ip).write(
        &mut f,
        &ProbeFields {
            dst_ip: SRC,
            src_port: port,
            dst_port: our_port,
            seq: 12345,
            ip_id: 1,
            tsval: 9,
        },
    );
    // Turn the SYN into a SYN-ACK with the acknowledgement set.
    f[14 + 20 + 8..14 + 20 + 12].copy_from_slice(&ack.to_be_bytes());
    f[14 + 20 + 13] = 0x12;
    f
}
