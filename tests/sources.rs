//! Scans from several source addresses (`--source-ip` ranges), some of
//! which the machine does not own, and with a made-up `--source-mac`,
//! against the ground truth of lab 13. Root only: they build the lab's
//! network namespace; every scan names the lab's veth (sswlab13) and
//! targets only the lab's blocks.
//!
//! The sources: 198.19.255.116/30, outside every lab's link net (labs use
//! 198.19.255.0-59), and 2001:2:0:ff0d::5000/126, inside lab 13's link /64
//! (which the namespace already has on-link) and outside its LAN hosts
//! (::100/120). The test, not lab.sh, puts the first two of each on the
//! host end of the veth and routes the IPv4 /30 on-link in the namespace,
//! so the namespace asks ARP (IPv6: neighbour solicitations) for each:
//! the kernel answers for the two it owns, synsweep for the other two.

mod common;

use common::*;
use etherparse::{ArpOperation, Icmpv6Type, LinkSlice, NetSlice, SlicedPacket, TransportSlice};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const LAB: u32 = 13;
const V4: [&str; 4] = [
    "198.19.255.116",
    "198.19.255.117",
    "198.19.255.118",
    "198.19.255.119",
];
const V4_BLOCK: &str = "198.19.255.116/30";
const V6: [&str; 4] = [
    "2001:2:0:ff0d::5000",
    "2001:2:0:ff0d::5001",
    "2001:2:0:ff0d::5002",
    "2001:2:0:ff0d::5003",
];
/// A locally administered MAC no interface has.
const MADE_UP_MAC: &str = "02:53:53:57:0d:99";

fn ip_cmd(args: &[&str]) -> std::process::Output {
    run(Command::new("ip").args(args))
}

/// The test's own additions to the lab: host addresses and the namespace's
/// route. The lab's teardown removes them too (the veth and namespace go
/// away); this removes them first, also when the test fails.
struct SourceAddrs {
    iface: String,
    ns: String,
    owned: Vec<&'static str>,
}

impl SourceAddrs {
    fn add(lab: &Lab, owned: &[&'static str]) -> SourceAddrs {
        let guard = SourceAddrs {
            iface: lab.iface().to_string(),
            ns: lab.get("LAB_NS").to_string(),
            owned: owned.to_vec(),
        };
        for a in owned {
            let v6 = a.contains(':');
            let cidr = format!("{a}/{}", if v6 { 128 } else { 32 });
            let mut args = vec!["addr", "add", &cidr, "dev", &guard.iface];
            if v6 {
                // No duplicate address detection: usable at once.
                args.push("nodad");
            }
            let o = ip_cmd(&args);
            assert!(o.status.success(), "ip {args:?}: {}", stderr(&o));
        }
        let o = ip_cmd(&[
            "netns", "exec", &guard.ns, "ip", "route", "add", V4_BLOCK, "dev", "lab0",
        ]);
        assert!(o.status.success(), "route in the namespace: {}", stderr(&o));
        guard
    }

    /// The namespace's neighbour entry for `addr`, as `ip neigh` prints it.
    fn neighbour(&self, addr: &str) -> String {
        let o = ip_cmd(&[
            "netns", "exec", &self.ns, "ip", "neigh", "show", addr, "dev", "lab0",
        ]);
        stdout(&o).trim().to_string()
    }
}

impl Drop for SourceAddrs {
    fn drop(&mut self) {
        for a in &self.owned {
            let len = if a.contains(':') { 128 } else { 32 };
            let _ = ip_cmd(&["addr", "del", &format!("{a}/{len}"), "dev", &self.iface]);
        }
        let _ = ip_cmd(&[
            "netns", "exec", &self.ns, "ip", "route", "del", V4_BLOCK, "dev", "lab0",
        ]);
    }
}

/// What the capture saw of one address of ours.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Seen {
    /// SYNs it sent.
    syns: u32,
    /// SYN-ACKs and RSTs addressed to it.
    replies: u32,
    /// ARP replies or neighbour advertisements that gave a MAC for it.
    neighbour_answers: u32,
}

/// Everything the capture says, per address of ours, and the Ethernet
/// source of our SYNs and destination of their replies.
struct Capture {
    seen: BTreeMap<IpAddr, Seen>,
    /// (our SYNs' Ethernet source, replies' Ethernet destination)
    macs: (Vec<[u8; 6]>, Vec<[u8; 6]>),
    /// The MAC each neighbour answer gave.
    answered_with: Vec<[u8; 6]>,
}

/// Reads a pcap of the lab's side of the veth, field by field.
fn read_capture(path: &Path, ours: &[IpAddr]) -> Capture {
    let bytes = std::fs::read(path).unwrap();
    assert!(bytes.len() >= 24, "a pcap header");
    let mut c = Capture {
        seen: ours.iter().map(|a| (*a, Seen::default())).collect(),
        macs: (Vec::new(), Vec::new()),
        answered_with: Vec::new(),
    };
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = &bytes[at + 16..(at + 16 + caplen).min(bytes.len())];
        at += 16 + caplen;
        let Ok(p) = SlicedPacket::from_ethernet(frame) else {
            continue;
        };
        let Some(LinkSlice::Ethernet2(eth)) = &p.link else {
            continue;
        };
        let (eth_src, eth_dst) = (eth.source(), eth.destination());
        let addrs: Option<(IpAddr, IpAddr)> = match &p.net {
            Some(NetSlice::Ipv4(ip)) => Some((
                ip.header().source_addr().into(),
                ip.header().destination_addr().into(),
            )),
            Some(NetSlice::Ipv6(ip)) => Some((
                ip.header().source_addr().into(),
                ip.header().destination_addr().into(),
            )),
            Some(NetSlice::Arp(arp)) => {
                let sender = IpAddr::from(<[u8; 4]>::try_from(arp.sender_protocol_addr()).unwrap());
                if arp.operation() == ArpOperation::REPLY
                    && let Some(s) = c.seen.get_mut(&sender)
                {
                    s.neighbour_answers += 1;
                    c.answered_with
                        .push(arp.sender_hw_addr().try_into().unwrap());
                }
                None
            }
            _ => None,
        };
        let Some((src, dst)) = addrs else { continue };
        match &p.transport {
            Some(TransportSlice::Tcp(t)) => {
                if t.syn() && !t.ack() && c.seen.contains_key(&src) {
                    c.seen.get_mut(&src).unwrap().syns += 1;
                    c.macs.0.push(eth_src);
                } else if (t.rst() || (t.syn() && t.ack())) && c.seen.contains_key(&dst) {
                    c.seen.get_mut(&dst).unwrap().replies += 1;
                    c.macs.1.push(eth_dst);
                }
            }
            Some(TransportSlice::Icmpv6(icmp)) => {
                if let Icmpv6Type::NeighborAdvertisement(_) = icmp.icmp_type() {
                    let target = icmp
                        .payload()
                        .get(..16)
                        .and_then(|t| <[u8; 16]>::try_from(t).ok());
                    if let Some(target) = target.map(IpAddr::from)
                        && let Some(s) = c.seen.get_mut(&target)
                    {
                        s.neighbour_answers += 1;
                        // The target link-layer option follows the target.
                        let opt = &icmp.payload()[16..];
                        if opt.len() >= 8 && opt[0] == 2 {
                            c.answered_with.push(opt[2..8].try_into().unwrap());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    c
}

/// Runs `scan` while tcpdump captures the lab side of the veth (port 80
/// of TCP, ARP and ICMPv6 only); stops tcpdump by its pid.
fn capture_during(lab: &Lab, pcap: &Path, scan: &mut Command) -> std::process::Output {
    let ns = lab.get("LAB_NS").to_string();
    let mut dump = Command::new("ip")
        .args([
            "netns", "exec", &ns, "tcpdump", "-i", "lab0", "-nn", "-U", "-B", "16384", "-w",
        ])
        .arg(pcap)
        .arg("tcp port 80 or arp or icmp6")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tcpdump");
    std::thread::sleep(Duration::from_millis(1500));
    let o = run_bounded(scan, Duration::from_secs(120));
    std::thread::sleep(Duration::from_millis(500));
    sigint(&dump);
    dump.wait().unwrap();
    o
}

fn host_mac(lab: &Lab) -> String {
    std::fs::read_to_string(format!("/sys/class/net/{}/address", lab.iface()))
        .unwrap()
        .trim()
        .to_string()
}

fn mac_text(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[test]
fn four_sources_two_not_ours_in_both_families_equal_the_truth() {
    let name = "four_sources_two_not_ours_in_both_families_equal_the_truth";
    if !require_root(name) {
        return;
    }
    let lab = Lab::up(LAB, None);
    let truth = lab.truth_of("all");
    let dir = temp_dir(name);
    let owned = [V4[0], V4[1], V6[0], V6[1]];
    let addrs = SourceAddrs::add(&lab, &owned);
    let out = dir.join("r.csv");
    let range4 = format!("{}-{}", V4[0], V4[3]);
    let range6 = format!("{}-{}", V6[0], V6[3]);
    let o = capture_during(
        &lab,
        &dir.join("scan.pcap"),
        lab.scan_all("100000", "2")
            .args(["--source-ip", &format!("{range4},{range6}")])
            .args(["--format", "csv", "-o", out.to_str().unwrap()]),
    );
    let log = stderr(&o);
    assert!(o.status.success(), "{log}");
    assert!(
        log.contains(&format!(
            "answering ARP and neighbour solicitations for {}-{}, {}-{} (no address of this machine)",
            V4[2], V4[3], V6[2], V6[3]
        )),
        "{log}"
    );
    assert!(
        log.contains("IPv4: source 4 addresses from 198.19.255.116"),
        "{log}"
    );
    let got = read_csv_results(&out);
    assert!(got == truth, "{}", diff(&got, &truth));

    // Every source sent probes and drew replies; the namespace learned a
    // MAC for each, ours (the interface's) for the two only we answer for.
    let ours: Vec<IpAddr> = V4.iter().chain(&V6).map(|a| a.parse().unwrap()).collect();
    let c = read_capture(&dir.join("scan.pcap"), &ours);
    for (a, s) in &c.seen {
        assert!(s.syns > 0 && s.replies > 0, "{a}: {s:?}");
    }
    let mac = host_mac(&lab);
    for a in [V4[2], V4[3], V6[2], V6[3]] {
        let ip: IpAddr = a.parse().unwrap();
        assert!(c.seen[&ip].neighbour_answers > 0, "{a}: {:?}", c.seen[&ip]);
        let entry = addrs.neighbour(a);
        assert!(
            entry.contains(&format!("lladdr {mac}")) && !entry.contains("FAILED"),
            "{a}: {entry:?}"
        );
    }
    assert!(c.answered_with.iter().all(|m| mac_text(m) == mac));
    // Spread: no source carried more than half of the probes seen.
    let syns: u32 = c.seen.values().map(|s| s.syns).sum();
    for (a, s) in &c.seen {
        assert!(s.syns * 8 < syns * 3, "{a} sent {} of {syns}", s.syns);
    }
    drop(addrs);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_made_up_source_mac_equals_the_truth_and_is_on_the_wire() {
    let name = "a_made_up_source_mac_equals_the_truth_and_is_on_the_wire";
    if !require_root(name) {
        return;
    }
    let lab = Lab::up(LAB, None);
    let truth = lab.truth();
    let dir = temp_dir(name);
    // An address only we answer for: the namespace sends its replies to
    // the made-up MAC, which the interface does not own.
    let addrs = SourceAddrs::add(&lab, &[]);
    let out = dir.join("r.csv");
    let o = capture_during(
        &lab,
        &dir.join("mac.pcap"),
        lab.scan()
            .args([
                lab.block(),
                "-p",
                lab.ports(),
                "--rate",
                "100000",
                "--wait",
                "2",
            ])
            .args([
                "--show",
                "all",
                "--source-ip",
                V4[2],
                "--source-mac",
                MADE_UP_MAC,
            ])
            .args(["--format", "csv", "-o", out.to_str().unwrap()]),
    );
    let log = stderr(&o);
    assert!(o.status.success(), "{log}");
    assert!(log.contains(&format!("frames from {MADE_UP_MAC}")), "{log}");
    let got = read_csv_results(&out);
    assert!(got == truth, "{}", diff(&got, &truth));
    let ours: Vec<IpAddr> = vec![V4[2].parse().unwrap()];
    let c = read_capture(&dir.join("mac.pcap"), &ours);
    let s = c.seen[&ours[0]];
    // The namespace learns the MAC from our own ARP for its address (we
    // ask from the source we scan from); any answer of ours gives it too.
    assert!(s.syns > 0 && s.replies > 0, "{s:?}");
    assert!(
        c.macs.0.iter().all(|m| mac_text(m) == MADE_UP_MAC),
        "our SYNs"
    );
    assert!(
        c.macs.1.iter().all(|m| mac_text(m) == MADE_UP_MAC),
        "replies"
    );
    assert!(c.answered_with.iter().all(|m| mac_text(m) == MADE_UP_MAC));
    let entry = addrs.neighbour(V4[2]);
    assert!(
        entry.contains(&format!("lladdr {MADE_UP_MAC}")),
        "{entry:?}"
    );
    assert_ne!(host_mac(&lab), MADE_UP_MAC);
    drop(addrs);
    std::fs::remove_dir_all(dir).unwrap();
}
