//! The hot paths allocate nothing per packet, for every probe module and
//! both address families. A counting allocator (per thread, so other tests
//! cannot disturb the count) watches the transmit loop and the receive
//! loop, each run whole: the number of allocations must not grow with the
//! number of packets.

use etherparse::{
    ArpHardwareId, ArpOperation, ArpPacket, EtherType, Icmpv4Type, Icmpv6Type, IpHeaders, NetSlice,
    PacketBuilder, PacketBuilderStep, SlicedPacket, TransportSlice,
    icmpv6::NeighborAdvertisementHeader,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc::sync_channel;
use std::time::Duration;
use synsweep::cookie::{CookieKey, Flow};
use synsweep::domain::{Family, Protocol, StateSet};
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
use synsweep::probe::both::Both;
use synsweep::probe::neighbor::NeighborSweep;
use synsweep::probe::payloads;
use synsweep::probe::ping::{PingProbe, PingScan};
use synsweep::probe::tcp::SynScan;
use synsweep::probe::tcp_flags::{FlagScan, Reading};
use synsweep::probe::udp::{PayloadTable, UdpScan};
use synsweep::probe::{ProbeFields, ProbeModule, SourcePorts, Validator};
use synsweep::targets::{PortEntry, ProbeSpace};
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

/// How a module's test answers a probe: from the probe frame it got and
/// the cookie it carries, as the target's kernel or daemon would.
type Answer = fn(probe: &[u8], cookie: u64) -> Vec<u8>;

/// Runs the transmit loop for 1,000 and for 300,000 frames, and the whole
/// receive loop over 100 and over 50,000 answers, counting allocations.
fn check_module<M: ProbeModule>(module: &M, ports: &str, answer: Answer) {
    check_module_over(module, space(ports), answer)
}

/// Hosts of both families, some excluded, over `ports`.
fn space(ports: &str) -> ProbeSpace {
    ProbeSpace::parse(
        "198.18.0.0/16,198.19.7.1-198.19.9.200,2001:2:0:300::/112,2001:2::7",
        "198.18.3.0/24",
        ports,
    )
    .unwrap()
}

fn check_module_over<M: ProbeModule>(module: &M, space: ProbeSpace, answer: Answer) {
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

    // Receive: the answers of both families to the probes as written,
    // built first.
    let validator = Validator::new(key.clone(), sources, PORTS);
    let mut probe = vec![0u8; module.max_frame_len()];
    let answers: Vec<(Vec<u8>, u64)> = (0..50_000u64)
        .map(|i| {
            let index = permutation.apply(i * 7 % space.size());
            let p = space.probe(index);
            let us = sources[Family::of(&p.addr) as usize].unwrap();
            let sport = module.source_port(&key, PORTS, index, us, p.addr, p.proto, p.port);
            let flow = Flow {
                src: us,
                dst: p.addr,
                src_port: sport,
                dst_port: p.port,
            };
            let cookie = key.cookie(module.kind(p.proto), &flow);
            let template = match p.addr {
                IpAddr::V4(_) => templates.v4.as_ref(),
                IpAddr::V6(_) => templates.v6.as_ref(),
            };
            let fields = ProbeFields {
                src: us,
                dst: p.addr,
                proto: p.proto,
                src_port: sport,
                dst_port: p.port,
                variant: p.variant,
                cookie,
                tsval: 0,
            };
            let n = module.write(template.unwrap(), &mut probe, &fields);
            (answer(&probe[..n], cookie), i)
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
                    space: &space,
                    dedup: Dedup::for_space(&space, None),
                    counters: &counters,
                    show: StateSet::ALL,
                    found: to_output,
                    sessions: None,
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

/// The probe's addresses and ports, swapped: the answer's.
fn answer_builder(probe: &[u8]) -> (PacketBuilderStep<IpHeaders>, u16, u16, &[u8]) {
    let p = SlicedPacket::from_ethernet(probe).unwrap();
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1]);
    let b = match p.net.unwrap() {
        NetSlice::Ipv4(ip) => b.ipv4(ip.header().destination(), ip.header().source(), 61),
        NetSlice::Ipv6(ip) => b.ipv6(ip.header().destination(), ip.header().source(), 61),
        _ => unreachable!(),
    };
    let (sport, dport, payload) = match p.transport.unwrap() {
        TransportSlice::Tcp(t) => (t.source_port(), t.destination_port(), &[][..]),
        TransportSlice::Udp(u) => (u.source_port(), u.destination_port(), u.payload()),
        _ => (0, 0, &[][..]),
    };
    (b, dport, sport, payload)
}

/// A SYN-ACK acknowledging the cookie, as the target's kernel builds it.
fn syn_ack(probe: &[u8], cookie: u64) -> Vec<u8> {
    let (b, from, to, _) = answer_builder(probe);
    let mut out = Vec::new();
    b.tcp(from, to, 7, 65160)
        .syn()
        .ack((cookie as u32).wrapping_add(1))
        .write(&mut out, &[])
        .unwrap();
    out
}

/// A RST to a flag probe, as a closed port's kernel sends it (for a
/// probe without ACK: ack = seq + the flags' sequence space; the module
/// checks what a kernel writes).
fn reset(probe: &[u8], _cookie: u64) -> Vec<u8> {
    let p = SlicedPacket::from_ethernet(probe).unwrap();
    let TransportSlice::Tcp(t) = p.transport.unwrap() else {
        unreachable!()
    };
    let (b, from, to, _) = answer_builder(probe);
    let mut out = Vec::new();
    let b = b.tcp(from, to, t.acknowledgment_number(), 0).rst();
    let b = if t.ack() {
        b
    } else {
        let len = u32::from(t.syn()) + u32::from(t.fin());
        b.ack(t.sequence_number().wrapping_add(len))
    };
    b.write(&mut out, &[]).unwrap();
    out
}

/// The daemon's answer to a UDP probe: its payload sent back, which
/// echoes the identifier where a payload has one (DNS's id, for one).
fn udp_echo(probe: &[u8], _cookie: u64) -> Vec<u8> {
    let (b, from, to, payload) = answer_builder(probe);
    let mut out = Vec::new();
    b.udp(from, to).write(&mut out, payload).unwrap();
    out
}

#[test]
fn syn_scan_transmits_and_receives_without_allocating_per_packet() {
    check_module(&SynScan::default(), "1-100", syn_ack);
}

#[test]
fn flag_scans_transmit_and_receive_without_allocating_per_packet() {
    for reading in [Reading::Fin, Reading::Ack, Reading::Xmas] {
        check_module(&FlagScan::new(reading, None), "1-100", reset);
    }
}

#[test]
fn udp_scan_transmits_and_receives_without_allocating_per_packet() {
    let udp = UdpScan::new(PayloadTable::new(payloads::builtin()));
    check_module(&udp, "U:53,U:1000-1099", udp_echo);
}

#[test]
fn tcp_and_udp_together_transmit_and_receive_without_allocating_per_packet() {
    let both = Both {
        tcp: SynScan::default(),
        udp: UdpScan::new(PayloadTable::new(payloads::builtin())),
    };
    check_module(&both, "T:1-50,U:53,U:1000-1049", |probe, cookie| {
        if probe[23] == 17 || probe[20] == 17 {
            udp_echo(probe, cookie)
        } else {
            syn_ack(probe, cookie)
        }
    });
}

/// A host's answer to a discovery probe: an echo reply with the request's
/// identifier and sequence, or a SYN-ACK to a SYN ping.
fn ping_answer(probe: &[u8], _cookie: u64) -> Vec<u8> {
    let p = SlicedPacket::from_ethernet(probe).unwrap();
    let (b, from, to, _) = answer_builder(probe);
    let mut out = Vec::new();
    match p.transport.unwrap() {
        TransportSlice::Icmpv4(icmp) => {
            let Icmpv4Type::EchoRequest(echo) = icmp.icmp_type() else {
                panic!("an echo request")
            };
            b.icmpv4(Icmpv4Type::EchoReply(echo))
                .write(&mut out, icmp.payload())
                .unwrap();
        }
        TransportSlice::Icmpv6(icmp) => {
            let Icmpv6Type::EchoRequest(echo) = icmp.icmp_type() else {
                panic!("an echo request")
            };
            b.icmpv6(Icmpv6Type::EchoReply(echo))
                .write(&mut out, icmp.payload())
                .unwrap();
        }
        TransportSlice::Tcp(t) => b
            .tcp(from, to, 7, 65160)
            .syn()
            .ack(t.sequence_number().wrapping_add(1))
            .write(&mut out, &[])
            .unwrap(),
        _ => unreachable!(),
    }
    out
}

#[test]
fn host_discovery_transmits_and_receives_without_allocating_per_packet() {
    // Echo (ICMP and ICMPv6) and a SYN ping: a probe index each.
    let ping = PingScan::new(vec![PingProbe::Echo, PingProbe::Syn(443)]);
    let entries = (0..2)
        .map(|i| PortEntry {
            proto: Protocol::Icmp,
            port: i,
            variant: 0,
        })
        .collect();
    check_module_over(&ping, space("1").with_ports(entries), ping_answer);
}

/// A host's answer to a neighbour sweep: an ARP reply to an ARP request,
/// a Neighbor Advertisement (with its link-layer address) to a
/// solicitation; from the host's own MAC to ours.
fn neighbor_answer(probe: &[u8], _cookie: u64) -> Vec<u8> {
    let host_mac = [2, 0, 0, 0, 0, 9];
    let our_mac: [u8; 6] = probe[6..12].try_into().unwrap();
    let mut out = Vec::new();
    let b = PacketBuilder::ethernet2(host_mac, our_mac);
    if probe[12..14] == [0x08, 0x06] {
        // ARP: sender (ours) at 22..32, the asked-for address at 38..42.
        let (us, asked) = (&probe[28..32], &probe[38..42]);
        let reply = ArpPacket::new(
            ArpHardwareId::ETHERNET,
            EtherType::IPV4,
            ArpOperation::REPLY,
            &host_mac,
            asked,
            &our_mac,
            us,
        )
        .unwrap();
        b.arp(reply).write(&mut out).unwrap();
    } else {
        let p = SlicedPacket::from_ethernet(probe).unwrap();
        let Some(NetSlice::Ipv6(ip)) = p.net else {
            panic!("an IPv6 solicitation")
        };
        let Some(TransportSlice::Icmpv6(icmp)) = p.transport else {
            panic!("ICMPv6")
        };
        let asked: [u8; 16] = icmp.payload()[..16].try_into().unwrap();
        let mut payload = asked.to_vec();
        payload.extend_from_slice(&[2, 1]); // target link-layer address option
        payload.extend_from_slice(&host_mac);
        let na = NeighborAdvertisementHeader {
            router: false,
            solicited: true,
            r#override: true,
        };
        b.ipv6(asked, ip.header().source_addr().octets(), 255)
            .icmpv6(Icmpv6Type::NeighborAdvertisement(na))
            .write(&mut out, &payload)
            .unwrap();
    }
    out
}

#[test]
fn neighbor_sweeps_transmit_and_receive_without_allocating_per_packet() {
    let space = space("1").with_ports(vec![PortEntry {
        proto: Protocol::Icmp,
        port: 0,
        variant: 0,
    }]);
    let sweep = NeighborSweep::new(std::sync::Arc::new(space.clone()));
    check_module_over(&sweep, space, neighbor_answer);
}

/// `--os-hints` reads each SYN-ACK's shape into fixed-size values: still
/// nothing allocated per packet.
#[test]
fn syn_scan_with_os_hints_receives_without_allocating_per_packet() {
    let hinting = SynScan {
        os_hints: true,
        ..SynScan::default()
    };
    check_module(&hinting, "1-100", syn_ack);
}
