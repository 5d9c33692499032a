//! Scans over an interface without a link layer: lab 9 up with `--tunnel
//! tun`, whose responding blocks are routed over a pair of tun devices (no
//! MAC, no ARP/ND; what WireGuard, ipip and sit interfaces look like to
//! AF_PACKET). SYN, UDP and ACK scans and an echo sweep of both families
//! through it equal the lab's ground truth; a capture on the tunnel shows
//! our probes as bare IP packets; what needs a link layer is refused. Root
//! only; every scan names the tunnel interface and targets only the lab.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const LAB_ID: u32 = 9;
/// The tun pair is joined by a python process: a rate it keeps up with
/// while other labs share the CPU.
const RATE: &str = "20000";

/// Lab 9 with its blocks behind the tunnel; `None` when not root.
fn tunnel_lab(test: &str) -> Option<Lab> {
    if !require_root(test) {
        return None;
    }
    let lab = Lab::up_with(LAB_ID, None, &["--tunnel", "tun"]);
    assert_eq!(lab.get("LAB_TUNNEL"), "tun");
    Some(lab)
}

/// A scan on the lab's tunnel interface and nowhere else.
fn tunnel_scan(lab: &Lab) -> Command {
    let mut c = synsweep();
    c.args(["--interface", lab.get("LAB_TUNNEL_IFACE")]);
    c
}

/// Runs `args` over the tunnel into a CSV; every result (each at most once)
/// of protocol `proto`, keyed as the truth is, and the log.
fn scan_over_tunnel(lab: &Lab, args: &[&str], out: &Path, proto: &str) -> (Results, String) {
    let o = run_bounded(
        tunnel_scan(lab)
            .args(args)
            .args(["--format", "csv", "-o", out.to_str().unwrap()]),
        Duration::from_secs(120),
    );
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    let all = read_csv_of(out);
    let got: Results = all
        .iter()
        .filter(|((_, p, _), _)| p == proto)
        .map(|((ip, _, port), v)| ((ip.clone(), *port), v.clone()))
        .collect();
    assert_eq!(got.len(), all.len(), "{args:?}: only {proto}");
    (got, stderr(&o))
}

/// The first few differences of two result maps, for failure messages.
fn differences(got: &Results, want: &Results) -> String {
    let mut d: Vec<String> = Vec::new();
    for (k, v) in want {
        match got.get(k) {
            None => d.push(format!("missing {k:?} {v:?}")),
            Some(g) if g != v => d.push(format!("{k:?}: got {g:?}, want {v:?}")),
            _ => {}
        }
    }
    d.extend(
        got.keys()
            .filter(|k| !want.contains_key(*k))
            .map(|k| format!("extra {k:?}")),
    );
    format!("{} differences: {:?}", d.len(), &d[..d.len().min(8)])
}

#[test]
fn syn_udp_ack_and_echo_scans_over_a_tun_link_equal_the_truth() {
    let name = "syn_udp_ack_and_echo_scans_over_a_tun_link_equal_the_truth";
    let Some(lab) = tunnel_lab(name) else { return };
    let dir = temp_dir(name);
    let tcp_ports = lab.ports().to_string();
    let udp_ports = lab.get("LAB_UDP_PORTS").to_string();
    // (the scan's options, its ports, what the truth calls it, protocol)
    let cases: [(&[&str], &str, &str, &str); 3] = [
        (&[], &tcp_ports, "syn", "tcp"),
        (&["-sU"], &udp_ports, "udp", "udp"),
        (&["-sA"], &tcp_ports, "ack", "tcp"),
    ];
    for (flags, ports, scan, proto) in cases {
        let truth = lab.truth_for(&["--family", "all", "--scan", scan, "--silent"]);
        let mut args = vec![lab.block(), lab.block6(), "-p", ports];
        args.extend(flags);
        args.extend(["--rate", RATE, "--wait", "2", "--show", "all"]);
        let (got, log) = scan_over_tunnel(&lab, &args, &dir.join(format!("{scan}.csv")), proto);
        assert!(
            got == truth,
            "{scan} over the tunnel: {}",
            differences(&got, &truth)
        );
        // Planned as a link without a link layer.
        assert!(
            log.contains(&format!(
                "interface {} (no link layer: tun or WireGuard)",
                lab.get("LAB_TUNNEL_IFACE")
            )) && log.contains("bare IP packets, no next-hop MAC"),
            "{log}"
        );
    }
    // Host discovery: echo requests, both families.
    let want: Results = lab.truth_for(&["--family", "all", "--scan", "echo"]);
    let (got, _) = scan_over_tunnel(
        &lab,
        &[lab.block(), lab.block6(), "-sn", "-PE", "--rate", RATE],
        &dir.join("echo.csv"),
        "icmp",
    );
    let got: Results = got
        .into_iter()
        .map(|((ip, _), (state, reason))| ((ip, 0), (state, reason)))
        .collect();
    assert!(got == want, "echo: {}", differences(&got, &want));
    std::fs::remove_dir_all(dir).unwrap();
}

/// Reads a pcap file: its link type and each packet's bytes.
fn read_pcap(path: &Path) -> (u32, Vec<Vec<u8>>) {
    let bytes = std::fs::read(path).unwrap();
    assert!(bytes.len() >= 24, "pcap header");
    assert_eq!(
        &bytes[0..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian pcap"
    );
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let link_type = word(20);
    let mut at = 24;
    let mut packets = Vec::new();
    while at + 16 <= bytes.len() {
        let caplen = word(at + 8) as usize;
        packets.push(bytes[at + 16..(at + 16 + caplen).min(bytes.len())].to_vec());
        at += 16 + caplen;
    }
    (link_type, packets)
}

/// The pcap link type of raw IP (no link header at all).
const LINKTYPE_RAW: u32 = 101;

#[test]
fn probes_leave_on_the_tunnel_as_bare_ip_packets() {
    use synsweep::wire::reply::{Transport, parse_ip, tcp_flags};
    let name = "probes_leave_on_the_tunnel_as_bare_ip_packets";
    let Some(lab) = tunnel_lab(name) else { return };
    let dir = temp_dir(name);
    let pcap = dir.join("tun.pcap");
    // On the namespace's end, where our probes arrive: the sender skips
    // the queueing layer (PACKET_QDISC_BYPASS), and with it the taps that
    // would show its packets on our own end.
    let ns = lab.get("LAB_NS").to_string();
    let mut dump = Command::new("ip")
        .args([
            "netns", "exec", &ns, "tcpdump", "-i", "tun0", "-nn", "-U", "-w",
        ])
        .arg(&pcap)
        .arg("tcp")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tcpdump (scripts/deps.sh test installs it)");
    // Started once it says it listens, and on what.
    let mut said = String::new();
    BufReader::new(dump.stderr.take().unwrap())
        .read_line(&mut said)
        .unwrap();
    assert!(said.contains("listening on tun0, link-type RAW"), "{said}");
    // 64 hosts of each block x 16 ports.
    let (v4, v6) = (
        format!("{}/26", lab.base4()),
        format!("{}/122", lab.base6()),
    );
    let o = run_bounded(
        tunnel_scan(&lab)
            .args([v4.as_str(), v6.as_str(), "-p", lab.ports()])
            .args([
                "--source-port",
                "61000-61099",
                "--ttl",
                "77",
                "--rate",
                "5000",
            ])
            .args(["--wait", "1", "-o", dir.join("out.txt").to_str().unwrap()]),
        Duration::from_secs(60),
    );
    std::thread::sleep(Duration::from_millis(300));
    sigint(&dump);
    dump.wait().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));

    let (link_type, packets) = read_pcap(&pcap);
    assert_eq!(link_type, LINKTYPE_RAW, "tcpdump sees no link header");
    let us: [IpAddr; 2] = [
        lab.get("LAB_TUNNEL_SOURCE_IP").parse().unwrap(),
        lab.get("LAB_TUNNEL_SOURCE_IP6").parse().unwrap(),
    ];
    let ports: Vec<u16> = lab.ports().split(',').map(|p| p.parse().unwrap()).collect();
    // Each probe once: (target, port) -> count; and the answers.
    let mut syns: BTreeMap<(IpAddr, u16), usize> = BTreeMap::new();
    let mut answers = 0;
    for p in &packets {
        // The packet is all there is: an IP header at byte 0.
        let r = parse_ip(p).unwrap_or_else(|e| panic!("not a bare IP packet ({e:?}): {p:02x?}"));
        let Transport::Tcp(t) = r.transport else {
            panic!("tcp filter let through {r:?}")
        };
        if us.contains(&r.src) && t.flags == tcp_flags::SYN {
            assert!((61000..=61099).contains(&t.src_port), "{r:?}");
            assert!(ports.contains(&t.dst_port), "{r:?}");
            assert_eq!(r.ttl, 77, "{r:?}");
            *syns.entry((r.dst, t.dst_port)).or_default() += 1;
        } else if us.contains(&r.dst) {
            answers += 1;
        }
    }
    let probes = 2 * 64 * ports.len();
    assert_eq!(syns.len(), probes, "every probe captured, bare");
    assert!(syns.values().all(|n| *n == 1), "each once");
    let base = [IpAddr::V4(lab.base4()), IpAddr::V6(lab.base6())];
    assert!(
        syns.keys().all(|(ip, _)| base.iter().any(|b| {
            match (b, ip) {
                (IpAddr::V4(b), IpAddr::V4(a)) => u32::from(*a).wrapping_sub(u32::from(*b)) < 64,
                (IpAddr::V6(b), IpAddr::V6(a)) => u128::from(*a).wrapping_sub(u128::from(*b)) < 64,
                _ => false,
            }
        })),
        "only the lab's first 64 hosts of each block"
    );
    assert!(answers > 0, "the answers came back over the tunnel too");
    // tcpdump's own reading of the file agrees: raw IP, no Ethernet.
    let o = run(Command::new("tcpdump")
        .args(["-r"])
        .arg(&pcap)
        .args(["-e", "-nn", "-c", "1"]));
    assert!(
        stderr(&o).contains("link-type RAW"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    assert!(!stdout(&o).contains("ethertype"), "{}", stdout(&o));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn what_needs_a_link_layer_is_refused_on_the_tunnel_in_one_line() {
    let name = "what_needs_a_link_layer_is_refused_on_the_tunnel_in_one_line";
    let Some(lab) = tunnel_lab(name) else { return };
    let dir = temp_dir(name);
    let tun = lab.get("LAB_TUNNEL_IFACE").to_string();
    let out = dir.join("never.txt");
    let cases: [(&[&str], &str); 4] = [
        (&["-sn", "-PR"], "--ping-probe arp (-PR) needs a link layer"),
        (
            &["-p", "80", "--router-mac", "02:00:00:00:00:01"],
            "--router-mac needs a link layer",
        ),
        (
            &["-p", "80", "--router-mac-ipv6", "02:00:00:00:00:01"],
            "--router-mac-ipv6 needs a link layer",
        ),
        (
            &["-p", "80", "--link", "pnet"],
            "--link pnet needs a link layer",
        ),
    ];
    for (flags, says) in cases {
        let o = run_bounded(
            tunnel_scan(&lab)
                .arg(lab.block())
                .args(flags)
                .args(["-o", out.to_str().unwrap()]),
            Duration::from_secs(30),
        );
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{flags:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{flags:?}: one line: {err}");
        assert!(
            err.starts_with(&format!("synsweep: {says}, and interface {tun} has none")),
            "{flags:?}: {err}"
        );
        assert!(!out.exists(), "{flags:?} left an output file");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn banner_sessions_run_over_the_tunnel_and_name_every_service() {
    let name = "banner_sessions_run_over_the_tunnel_and_name_every_service";
    if !require_root(name) {
        return;
    }
    // Banner mode's own TCP segments take the same bare-IP sender.
    let lab = Lab::up_with(LAB_ID, None, &["--tunnel", "tun", "--services"]);
    let dir = temp_dir(name);
    let out = dir.join("b.ndjson");
    let hosts = format!("{}/26", lab.base4());
    let o = run_bounded(
        tunnel_scan(&lab)
            .args([hosts.as_str(), "-p", lab.get("LAB_SERVICE_PORTS")])
            .args(["--banners", "--rate", "5000", "--wait", "1"])
            .args(["--format", "ndjson", "-o", out.to_str().unwrap()]),
        Duration::from_secs(120),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // (ip, port) -> (service, product), the first 64 hosts'.
    let mut got = BTreeMap::new();
    for line in std::fs::read_to_string(&out).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["state"] != "open" {
            continue;
        }
        let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        assert!(!text("banner").is_empty(), "no banner: {line}");
        got.insert(
            (text("ip"), v["port"].as_u64().unwrap() as u16),
            (text("service"), text("product")),
        );
    }
    let truth = run(Command::new("bash")
        .arg(repo_root().join("scripts/lab.sh"))
        .args(["truth", "--id", &LAB_ID.to_string()])
        .args(["--services", "--banners"]));
    assert!(truth.status.success(), "{}", stderr(&truth));
    let base = u32::from(lab.base4());
    let want: BTreeMap<(String, u16), (String, String)> = stdout(&truth)
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(4, ' ');
            let (ip, port, service, product) = (f.next()?, f.next()?, f.next()?, f.next()?);
            let ip: std::net::Ipv4Addr = ip.parse().ok()?;
            (u32::from(ip).wrapping_sub(base) < 64).then(|| {
                (
                    (ip.to_string(), port.parse().unwrap()),
                    (service.to_string(), product.to_string()),
                )
            })
        })
        .collect();
    assert!(!want.is_empty());
    assert!(
        got == want,
        "{} banners, {} in truth; first differences: {:?}",
        got.len(),
        want.len(),
        want.iter()
            .filter(|(k, v)| got.get(*k) != Some(*v))
            .take(5)
            .collect::<Vec<_>>()
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// A tun device of our own, deleted when dropped.
struct OwnTun(&'static str);

impl Drop for OwnTun {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", self.0]).output();
    }
}

#[test]
fn a_tun_device_nobody_reads_fails_the_scan_instead_of_hanging() {
    let name = "a_tun_device_nobody_reads_fails_the_scan_instead_of_hanging";
    if !require_root(name) {
        return;
    }
    // Up, but with no process attached: the kernel refuses every packet
    // (no carrier), as for a VPN whose daemon died. Nothing leaves it.
    let tun = OwnTun("sswtunq9");
    for args in [
        &["tuntap", "add", "dev", tun.0, "mode", "tun"][..],
        &["link", "set", tun.0, "up"],
    ] {
        let o = run(Command::new("ip").args(args));
        assert!(o.status.success(), "ip {args:?}: {}", stderr(&o));
    }
    let dir = temp_dir(name);
    let o = run_bounded(
        synsweep()
            .args(["--interface", tun.0, "--source-ip", "198.19.255.250"])
            .args(["198.18.144.0/24", "-p", "80", "--rate", "100000"])
            .args(["-o", dir.join("out.txt").to_str().unwrap()]),
        Duration::from_secs(30),
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.lines().last().unwrap_or_default().starts_with(
            "synsweep: sending: the interface took no frame for 5 s (No buffer space available"
        ),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
