//! Forged replies must not count. While synsweep scans a lab, a forger
//! inside the lab's namespace watches the probes go by and answers each
//! with frames that look like replies but are not: SYN-ACKs acknowledging
//! the wrong number, RSTs with random acknowledgements, ICMP and ICMPv6
//! errors quoting the probe with a wrong sequence number, answers from
//! addresses never probed, truncated frames and oversized ones. The scan
//! must report exactly the lab's truth, and count every forgery as dropped.
//! Root only; every frame goes out of the lab's own namespace on its veth.

mod common;

use common::*;
use etherparse::{
    Icmpv4Type, Icmpv6Type, NetSlice, PacketBuilder, SlicedPacket, TransportSlice,
    icmpv4::DestUnreachableHeader, icmpv6::DestUnreachableCode,
};
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};
use synsweep::link::socket::PacketSocket;

/// A probe as the forger saw it on the wire.
struct Seen {
    frame: Vec<u8>,
    us: IpAddr,
    target: IpAddr,
    our_port: u16,
    port: u16,
    seq: u32,
    macs: ([u8; 6], [u8; 6]),
}

/// A packet's (source, destination).
fn addresses(p: &SlicedPacket) -> Option<(IpAddr, IpAddr)> {
    match &p.net {
        Some(NetSlice::Ipv4(ip)) => Some((
            IpAddr::V4(ip.header().source_addr()),
            IpAddr::V4(ip.header().destination_addr()),
        )),
        Some(NetSlice::Ipv6(ip)) => Some((
            IpAddr::V6(ip.header().source_addr()),
            IpAddr::V6(ip.header().destination_addr()),
        )),
        _ => None,
    }
}

fn seen(frame: &[u8]) -> Option<Seen> {
    let p = SlicedPacket::from_ethernet(frame).ok()?;
    let Some(TransportSlice::Tcp(tcp)) = &p.transport else {
        return None;
    };
    if !tcp.syn() || tcp.ack() {
        return None;
    }
    let (us, target) = addresses(&p)?;
    Some(Seen {
        frame: frame.to_vec(),
        us,
        target,
        our_port: tcp.source_port(),
        port: tcp.destination_port(),
        seq: tcp.sequence_number(),
        macs: (
            frame[6..12].try_into().unwrap(),
            frame[0..6].try_into().unwrap(),
        ),
    })
}

/// A TCP answer from `from` to the probe's sender.
fn tcp_from(p: &Seen, from: IpAddr, ack: u32, syn: bool, payload: &[u8]) -> Vec<u8> {
    let (to_mac, from_mac) = p.macs;
    let b = PacketBuilder::ethernet2(from_mac, to_mac);
    let b = match (from, p.us) {
        (IpAddr::V4(f), IpAddr::V4(u)) => b.ipv4(f.octets(), u.octets(), 64),
        (IpAddr::V6(f), IpAddr::V6(u)) => b.ipv6(f.octets(), u.octets(), 64),
        _ => unreachable!(),
    };
    let mut b = b.tcp(p.port, p.our_port, 0x1234_5678, 64240).ack(ack);
    b = if syn { b.syn() } else { b.rst() };
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

/// An unreachable from `from` to `to` quoting `quote` (an IP packet):
/// ICMP type 3 code `code4`, or ICMPv6 `code6`; `macs` (to, from).
fn icmp_unreachable(
    macs: ([u8; 6], [u8; 6]),
    from: IpAddr,
    to: IpAddr,
    (code4, code6): (u8, DestUnreachableCode),
    quote: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    let b = PacketBuilder::ethernet2(macs.1, macs.0);
    match (from, to) {
        (IpAddr::V4(f), IpAddr::V4(u)) => b
            .ipv4(f.octets(), u.octets(), 64)
            .icmpv4(Icmpv4Type::DestinationUnreachable(
                DestUnreachableHeader::from_values(code4, 0).unwrap(),
            ))
            .write(&mut out, quote)
            .unwrap(),
        (IpAddr::V6(f), IpAddr::V6(u)) => b
            .ipv6(f.octets(), u.octets(), 64)
            .icmpv6(Icmpv6Type::DestinationUnreachable(code6))
            .write(&mut out, quote)
            .unwrap(),
        _ => unreachable!(),
    }
    out
}

/// An administratively prohibited unreachable from `from` quoting `quote`.
fn unreachable(p: &Seen, from: IpAddr, quote: &[u8]) -> Vec<u8> {
    let prohibited = (13, DestUnreachableCode::Prohibited);
    icmp_unreachable(p.macs, from, p.us, prohibited, quote)
}

/// An address of the lab's block that the scan never probes.
fn never_probed(target: IpAddr) -> IpAddr {
    match target {
        IpAddr::V4(a) => IpAddr::V4((u32::from(a) + 3000).into()),
        IpAddr::V6(a) => IpAddr::V6((u128::from(a) + 3000).into()),
    }
}

/// Kinds of forgery made of each probe.
const KINDS: usize = 9;

/// Every forgery of one probe; none of them may validate.
fn forgeries(p: &Seen) -> Forgeries {
    let ip_start = 14;
    let seq_at = p.frame.len() - 36 + 4; // our SYN carries 36 bytes of TCP
    let mut wrong_seq = p.frame[ip_start..].to_vec();
    wrong_seq[seq_at - ip_start + 3] ^= 1;
    let right = tcp_from(p, p.target, p.seq.wrapping_add(1), true, &[]);
    let mut lying_length = right.clone();
    match p.us {
        IpAddr::V4(_) => lying_length[16..18].copy_from_slice(&1400u16.to_be_bytes()),
        IpAddr::V6(_) => lying_length[18..20].copy_from_slice(&1400u16.to_be_bytes()),
    }
    let l4 = if p.us.is_ipv4() { 14 + 20 } else { 14 + 40 };
    let random_ack = p.seq.wrapping_add(0x8000_0000);
    vec![
        (
            "SYN-ACK off by one",
            tcp_from(p, p.target, p.seq.wrapping_add(2), true, &[]),
        ),
        (
            "RST, random ack",
            tcp_from(p, p.target, random_ack, false, &[]),
        ),
        (
            "ICMP quoting a wrong sequence number",
            unreachable(p, p.target, &wrong_seq),
        ),
        (
            "SYN-ACK from an address never probed",
            tcp_from(p, never_probed(p.target), p.seq.wrapping_add(1), true, &[]),
        ),
        (
            "RST from an address never probed",
            tcp_from(p, never_probed(p.target), p.seq.wrapping_add(1), false, &[]),
        ),
        ("truncated SYN-ACK", right[..l4 + 10].to_vec()),
        ("SYN-ACK claiming more bytes than it has", lying_length),
        (
            "ICMP quoting under 8 bytes of TCP",
            unreachable(p, p.target, &p.frame[ip_start..l4 + 7]),
        ),
        // Not ack = seq: our host kernel answers a bad SYN-ACK with a RST
        // whose sequence number is that ack, and the lab rejects some ports
        // with an ICMP error quoting the RST: a genuine answer carrying
        // our cookie, which must (and does) count.
        (
            "oversized SYN-ACK, wrong ack",
            tcp_from(p, p.target, p.seq.wrapping_add(5), true, &[0xa5; 1400]),
        ),
    ]
}

/// Forged frames, each named by its kind.
type Forgeries = Vec<(&'static str, Vec<u8>)>;

/// Runs `scan` while a forger in the lab's namespace answers each of the
/// first `probes` probes it sees (`see`) with `forge`'s frames; returns the
/// scan's output, the kinds forged in each family (kind, IPv6?), and how
/// many frames were forged.
fn scan_while_forging<P>(
    lab: &Lab,
    scan: &mut std::process::Command,
    see: fn(&[u8]) -> Option<P>,
    forge: fn(&P) -> Forgeries,
    is_v6: fn(&P) -> bool,
    probes: usize,
) -> (std::process::Output, BTreeSet<(&'static str, bool)>, u64) {
    let (ready, done, forged) = (
        AtomicBool::new(false),
        AtomicBool::new(false),
        AtomicU64::new(0),
    );
    let ns = std::fs::File::open(format!("/run/netns/{}", lab.get("LAB_NS"))).unwrap();
    std::thread::scope(|s| {
        let forger = s.spawn(|| {
            // This thread only: into the lab's namespace, onto its veth.
            nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let index = nix::net::if_::if_nametoindex("lab0").unwrap();
            let sock = PacketSocket::open(index, libc::ETH_P_ALL as u16).unwrap();
            ready.store(true, Relaxed);
            let mut kinds = BTreeSet::new();
            let (mut buf, mut seen) = (vec![0u8; 2048], 0);
            let deadline = Instant::now() + Duration::from_secs(30);
            while !done.load(Relaxed) && Instant::now() < deadline {
                let Some(n) = sock
                    .recv_timeout(&mut buf, Duration::from_millis(50))
                    .unwrap()
                else {
                    continue;
                };
                let Some(p) = see(&buf[..n]) else { continue };
                seen += 1;
                if seen > probes {
                    continue;
                }
                for (kind, frame) in forge(&p) {
                    sock.send(&frame).unwrap();
                    forged.fetch_add(1, Relaxed);
                    kinds.insert((kind, is_v6(&p)));
                }
            }
            kinds
        });
        while !ready.load(Relaxed) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let o = run_bounded(scan, Duration::from_secs(60));
        done.store(true, Relaxed);
        (o, forger.join().unwrap(), forged.load(Relaxed))
    })
}

/// The summary line "received N frames: V valid, D duplicate, X dropped":
/// (line, valid, duplicates, dropped).
fn received(log: &str) -> (&str, u64, u64, u64) {
    let line = log.lines().find(|l| l.starts_with("received")).unwrap();
    let n: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    (line, n[1], n[2], n[3])
}

#[test]
fn forged_replies_are_dropped_counted_and_never_reported() {
    let Some((lab, _, dir)) = lab_test(
        "forged_replies_are_dropped_counted_and_never_reported",
        6,
        None,
    ) else {
        return;
    };
    // 256 hosts of each family.
    let want = lab.within(&lab.truth_of("all"), 256);
    let out = dir.join("r.csv");
    let (o, kinds, forged) = scan_while_forging(
        &lab,
        lab.scan()
            .args([&lab.first_hosts(256), "-p", lab.ports()])
            .args(["--rate", "4000", "--wait", "2", "--show", "all"])
            .args(["--format", "csv", "-o", out.to_str().unwrap()]),
        seen,
        forgeries,
        |p| p.us.is_ipv6(),
        800,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        kinds.len(),
        2 * KINDS,
        "every kind in both families: {kinds:?}"
    );
    let got = read_csv_results(&out);
    assert!(
        got == want,
        "forgeries were reported: {}",
        diff(&got, &want)
    );
    let log = stderr(&o);
    let (line, valid, _, dropped) = received(&log);
    assert_eq!(forged, 800 * KINDS as u64, "forged for 800 probes");
    let answered = want.values().filter(|(_, r)| r != "no-response").count();
    assert_eq!(valid, answered as u64, "{line}");
    assert!(dropped >= forged, "{forged} forged, {line}");
    eprintln!("{forged} forged frames; the scan: {line}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// A UDP probe as the forger saw it on the wire.
struct SeenUdp {
    frame: Vec<u8>,
    us: IpAddr,
    target: IpAddr,
    our_port: u16,
    port: u16,
    payload: Vec<u8>,
    macs: ([u8; 6], [u8; 6]),
}

fn seen_udp(frame: &[u8]) -> Option<SeenUdp> {
    let p = SlicedPacket::from_ethernet(frame).ok()?;
    let Some(TransportSlice::Udp(udp)) = &p.transport else {
        return None;
    };
    let (us, target) = addresses(&p)?;
    // Our probes only, not the lab's answers.
    if !(61000..=61255).contains(&udp.source_port()) {
        return None;
    }
    Some(SeenUdp {
        frame: frame.to_vec(),
        us,
        target,
        our_port: udp.source_port(),
        port: udp.destination_port(),
        payload: udp.payload().to_vec(),
        macs: (
            frame[6..12].try_into().unwrap(),
            frame[0..6].try_into().unwrap(),
        ),
    })
}

/// A UDP datagram from `from`'s `port` to our `to_port`.
fn udp_from(p: &SeenUdp, from: IpAddr, to_port: u16, payload: &[u8]) -> Vec<u8> {
    let (to_mac, from_mac) = p.macs;
    let b = PacketBuilder::ethernet2(from_mac, to_mac);
    let b = match (from, p.us) {
        (IpAddr::V4(f), IpAddr::V4(u)) => b.ipv4(f.octets(), u.octets(), 64),
        (IpAddr::V6(f), IpAddr::V6(u)) => b.ipv6(f.octets(), u.octets(), 64),
        _ => unreachable!(),
    };
    let mut out = Vec::new();
    b.udp(p.port, to_port).write(&mut out, payload).unwrap();
    out
}

/// A port unreachable from the target quoting `quote`.
fn port_unreachable(p: &SeenUdp, quote: &[u8]) -> Vec<u8> {
    let port = (3, DestUnreachableCode::Port);
    icmp_unreachable(p.macs, p.target, p.us, port, quote)
}

/// Every forgery of one UDP probe (the wrong DNS id for DNS probes only);
/// none of them may validate.
fn udp_forgeries(p: &SeenUdp) -> Forgeries {
    let ip = p.frame[14..].to_vec();
    let l4 = if p.us.is_ipv4() { 20 } else { 40 };
    let mut other_port = ip.clone();
    other_port[l4 + 1] ^= 1;
    let mut other_mark = ip.clone();
    other_mark[if p.us.is_ipv4() { 5 } else { 3 }] ^= 1;
    let quote = |q: &[u8]| q[..(l4 + 8 + 8).min(q.len())].to_vec();
    let right = udp_from(p, p.target, p.our_port, &p.payload);
    let mut out = vec![
        (
            "UDP answer to another port of ours",
            udp_from(p, p.target, p.our_port ^ 1, &p.payload),
        ),
        (
            "UDP answer from an address never probed",
            udp_from(p, never_probed(p.target), p.our_port, &p.payload),
        ),
        (
            "port unreachable quoting another source port",
            port_unreachable(p, &quote(&other_port)),
        ),
        (
            "port unreachable quoting another IP ID or flow label",
            port_unreachable(p, &quote(&other_mark)),
        ),
        ("truncated UDP answer", right[..14 + l4 + 6].to_vec()),
    ];
    if p.port == 53 && p.payload.len() > 12 {
        let mut wrong_id = p.payload.clone();
        wrong_id[1] ^= 1;
        wrong_id[2] |= 0x80;
        out.push((
            "DNS answer with another id",
            udp_from(p, p.target, p.our_port, &wrong_id),
        ));
    }
    out
}

#[test]
fn forged_udp_and_icmp_replies_are_dropped_counted_and_never_reported() {
    let Some((lab, _, dir)) = lab_test(
        "forged_udp_and_icmp_replies_are_dropped_counted_and_never_reported",
        7,
        None,
    ) else {
        return;
    };
    // 256 hosts of each family, the daemons' hosts (16, 17) among them.
    let want = lab.within(
        &lab.truth_for(&["--family", "all", "--scan", "udp", "--silent"]),
        256,
    );
    let out = dir.join("r.csv");
    let (o, kinds, forged) = scan_while_forging(
        &lab,
        lab.scan()
            .args([&lab.first_hosts(256), "-sU", "-p", lab.get("LAB_UDP_PORTS")])
            .args(["--rate", "4000", "--wait", "2", "--show", "all"])
            .args(["--format", "csv", "-o", out.to_str().unwrap()]),
        seen_udp,
        udp_forgeries,
        |p| p.us.is_ipv6(),
        1500,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(kinds.len(), 2 * 6, "every kind in both families: {kinds:?}");
    let got: Results = read_csv_of(&out)
        .into_iter()
        .map(|((ip, proto, port), v)| {
            assert_eq!(proto, "udp");
            ((ip, port), v)
        })
        .collect();
    assert!(
        got == want,
        "forgeries were reported: {}",
        diff(&got, &want)
    );
    let log = stderr(&o);
    let (line, valid, duplicates, dropped) = received(&log);
    // SNMP's two probes (v1, v2c) draw two answers a port.
    let answered = want.values().filter(|(_, r)| r != "no-response").count();
    assert_eq!(valid - duplicates, answered as u64, "{line}");
    assert!(dropped >= forged, "{forged} forged, {line}");
    eprintln!("{forged} forged frames; the scan: {line}");
    std::fs::remove_dir_all(dir).unwrap();
}
