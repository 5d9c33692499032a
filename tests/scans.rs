//! Every scan type of nmap's port-scanning chapter, and host discovery,
//! against real test networks (scripts/lab.sh): TCP flag scans, UDP with
//! payloads against real daemons (dnsmasq, chrony, snmpd, memcached), TCP
//! and UDP in one scan, silences, ICMP and TCP pings, ARP/ND sweeps of an
//! on-link LAN and a LAN port scan with no gateway. Each is compared with
//! the lab's ground truth (`lab.sh truth --scan TYPE`), both families.
//! nmap's second opinion is in tests/nmap.rs. Root only; every scan names
//! the lab's veth and targets only the lab's addresses.

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

/// (ip, proto, port) -> (state, reason)
type ByProto = BTreeMap<(String, String, u16), (String, String)>;

/// Runs `args` against the lab into a CSV, bounded in time; returns every
/// result (each at most once, `read_csv_of` checks) and the log.
fn scan_csv(lab: &Lab, args: &[&str], out: &Path) -> (ByProto, String) {
    let o = run_bounded(
        lab.scan()
            .args(args)
            .args(["--format", "csv", "-o", out.to_str().unwrap()]),
        Duration::from_secs(120),
    );
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    (read_csv_of(out), stderr(&o))
}

/// The results of one protocol, keyed as the truth is.
fn of_proto(got: &ByProto, proto: &str) -> Results {
    got.iter()
        .filter(|((_, p, _), _)| p == proto)
        .map(|((ip, _, port), v)| ((ip.clone(), *port), v.clone()))
        .collect()
}

/// The counts of each (state, reason) in `r`, for failure messages.
fn census(r: &Results) -> BTreeMap<(String, String), usize> {
    let mut c = BTreeMap::new();
    for v in r.values() {
        *c.entry(v.clone()).or_insert(0) += 1;
    }
    c
}

#[test]
fn every_tcp_flag_scan_of_both_families_equals_the_truth_with_silences() {
    let Some((lab, _, dir)) = lab_test(
        "every_tcp_flag_scan_of_both_families_equals_the_truth_with_silences",
        1,
        None,
    ) else {
        return;
    };
    for scan in ["ack", "fin", "null", "xmas", "maimon", "window"] {
        let truth = lab.truth_for(&["--family", "all", "--scan", scan, "--silent"]);
        let out = dir.join(format!("{scan}.csv"));
        // 131,072 probes at 100,000 a second.
        let (all, log) = scan_csv(
            &lab,
            &[lab.block(), lab.block6(), "-p", lab.ports(), "--scan", scan]
                .into_iter()
                .chain(["--rate", "100000", "--wait", "1", "--show", "all"])
                .collect::<Vec<_>>(),
            &out,
        );
        let got = of_proto(&all, "tcp");
        assert_eq!(got.len(), all.len(), "{scan}: TCP only");
        assert!(
            got == truth,
            "{scan}: {}\ngot {:?}\nwant {:?}",
            diff(&got, &truth),
            census(&got),
            census(&truth)
        );
        assert!(log.contains("131072 probes"), "{log}");
        // The silence of this type is there, and a reply of this type.
        let silence = if ["ack", "window"].contains(&scan) {
            "filtered"
        } else {
            "open|filtered"
        };
        assert!(
            got.values()
                .any(|(s, r)| s == silence && r == "no-response"),
            "{scan}: {:?}",
            census(&got)
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// The daemons' sockets of `lab.sh info` (`ADDR:PORT/udp`, IPv6 in
/// brackets) as (ip, port).
fn daemons(lab: &Lab) -> Vec<(String, u16)> {
    [lab.get("LAB_DAEMONS"), lab.get("LAB_DAEMONS6")]
        .iter()
        .flat_map(|list| list.split(','))
        .map(|s| {
            let s = s.strip_suffix("/udp").expect("ADDR:PORT/udp");
            let (ip, port) = s.rsplit_once(':').unwrap();
            (
                canonical_ip(ip.trim_matches(['[', ']'])),
                port.parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn udp_scan_of_both_families_equals_the_truth_and_finds_every_daemon() {
    let Some((lab, _, dir)) = lab_test(
        "udp_scan_of_both_families_equals_the_truth_and_finds_every_daemon",
        2,
        None,
    ) else {
        return;
    };
    let truth = lab.truth_for(&["--family", "all", "--scan", "udp", "--silent"]);
    // 8,192 hosts x 13 ports (and the ports with two payloads twice) at
    // 50,000 a second. The daemons live on three hosts of each block, so
    // each sees a few dozen probes: a rate any of them keeps up with.
    let (all, log) = scan_csv(
        &lab,
        &[
            lab.block(),
            lab.block6(),
            "-p",
            lab.get("LAB_UDP_PORTS"),
            "-sU",
        ]
        .into_iter()
        .chain(["--rate", "50000", "--wait", "2", "--show", "all"])
        .collect::<Vec<_>>(),
        &dir.join("udp.csv"),
    );
    let got = of_proto(&all, "udp");
    assert_eq!(got.len(), all.len(), "UDP only");
    assert!(
        got == truth,
        "{}\ngot {:?}\nwant {:?}\n{log}",
        diff(&got, &truth),
        census(&got),
        census(&truth)
    );
    let daemons = daemons(&lab);
    assert_eq!(daemons.len(), 20, "{daemons:?}");
    for d in &daemons {
        assert_eq!(
            got.get(d).map(|(s, r)| (s.as_str(), r.as_str())),
            Some(("open", "udp-response")),
            "daemon {d:?}"
        );
    }
    eprintln!("{log}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn tcp_and_udp_in_one_scan_report_each_port_with_its_protocol() {
    let Some((lab, _, dir)) = lab_test(
        "tcp_and_udp_in_one_scan_report_each_port_with_its_protocol",
        3,
        None,
    ) else {
        return;
    };
    // 2,048 hosts of each block: the daemons' hosts among them.
    let n = 2048;
    let tcp = lab.within(&lab.truth_of("all"), n);
    let udp = lab.within(
        &lab.truth_for(&["--family", "all", "--scan", "udp", "--silent"]),
        n,
    );
    let ports = format!("T:{},U:{}", lab.ports(), lab.get("LAB_UDP_PORTS"));
    let (all, _) = scan_csv(
        &lab,
        &[&lab.first_hosts(n as u32), "-p", &ports, "-sS", "-sU"]
            .into_iter()
            .chain(["--rate", "50000", "--wait", "2", "--show", "all"])
            .collect::<Vec<_>>(),
        &dir.join("both.csv"),
    );
    let (got_tcp, got_udp) = (of_proto(&all, "tcp"), of_proto(&all, "udp"));
    assert_eq!(got_tcp.len() + got_udp.len(), all.len());
    assert!(got_tcp == tcp, "TCP: {}", diff(&got_tcp, &tcp));
    assert!(got_udp == udp, "UDP: {}", diff(&got_udp, &udp));
    // Port 53 is scanned in both protocols, reported in each.
    assert!(all.keys().any(|(_, p, port)| p == "tcp" && *port == 53));
    assert!(all.keys().any(|(_, p, port)| p == "udp" && *port == 53));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn udp_through_two_percent_loss_with_two_retries_finds_every_daemon_and_nothing_false() {
    if !require_root("udp_through_two_percent_loss") {
        return;
    }
    let lab = Lab::up(4, Some(2));
    let dir = temp_dir("udp-loss");
    let truth = lab.truth_for(&["--family", "all", "--scan", "udp", "--silent"]);
    let out = dir.join("udp.csv");
    let o = run_bounded(
        lab.scan()
            .args([
                lab.block(),
                lab.block6(),
                "-p",
                lab.get("LAB_UDP_PORTS"),
                "-sU",
            ])
            .args(["--rate", "50000", "--retries", "2", "--wait", "2"])
            .args([
                "--show",
                "all",
                "--format",
                "csv",
                "-o",
                out.to_str().unwrap(),
            ]),
        Duration::from_secs(120),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let all = read_csv_of(&out);
    let got = of_proto(&all, "udp");
    assert_eq!(got.len(), all.len());
    assert_lossy_results(&got, &truth, &stderr(&o));
    for d in daemons(&lab) {
        assert_eq!(got.get(&d).map(|v| v.0.as_str()), Some("open"), "{d:?}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// The hosts up in the union of the truths of `kinds` (lab.sh truth --scan
/// KIND), each with the reasons any of them gives.
fn discovery_truth(lab: &Lab, kinds: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let mut up = BTreeMap::<String, BTreeSet<String>>::new();
    for kind in kinds {
        for ((ip, port), (state, reason)) in lab.truth_for(&["--family", "all", "--scan", kind]) {
            assert_eq!((port, state.as_str()), (0, "up"));
            up.entry(ip).or_default().insert(reason);
        }
    }
    up
}

#[test]
fn host_discovery_finds_exactly_the_live_hosts_by_each_probe_and_by_all() {
    let Some((lab, _, dir)) = lab_test(
        "host_discovery_finds_exactly_the_live_hosts_by_each_probe_and_by_all",
        5,
        None,
    ) else {
        return;
    };
    let both = [lab.block(), lab.block6()];
    // Each probe alone: exactly its truth (timestamp is IPv4's alone).
    // Then nmap's default set (-sn: echo, timestamp, SYN to 443, ACK to
    // 80): the union, each host once, with a reason one of its probes can
    // draw.
    let cases: [(&[&str], &[&str], &[&str]); 5] = [
        (&["-PE"], &both, &["echo"]),
        (&["-PP"], &both[..1], &["timestamp"]),
        (&["-PS443"], &both, &["ping-syn:443"]),
        (&["-PA80"], &both, &["ping-ack:80"]),
        (
            &[],
            &both,
            &["echo", "timestamp", "ping-syn:443", "ping-ack:80"],
        ),
    ];
    for (flags, blocks, kinds) in cases {
        let want = discovery_truth(&lab, kinds);
        let mut args = blocks.to_vec();
        args.extend(["-sn", "--rate", "50000", "--wait", "1"]);
        args.extend(flags);
        let (all, _) = scan_csv(&lab, &args, &dir.join("up.csv"));
        let mut got = BTreeMap::new();
        for ((ip, proto, port), (state, reason)) in all {
            assert_eq!(
                (proto.as_str(), port, state.as_str()),
                ("icmp", 0, "up"),
                "{ip}"
            );
            got.insert(ip, reason);
        }
        let (a, b): (BTreeSet<_>, BTreeSet<_>) = (got.keys().collect(), want.keys().collect());
        assert!(
            a == b,
            "{flags:?}: {} up, {} in truth; extra {:?}; missing {:?}",
            a.len(),
            b.len(),
            a.difference(&b).take(5).collect::<Vec<_>>(),
            b.difference(&a).take(5).collect::<Vec<_>>()
        );
        for (ip, reason) in &got {
            assert!(
                want[ip].contains(reason),
                "{flags:?} {ip}: {reason} of {:?}",
                want[ip]
            );
        }
        eprintln!("{flags:?}: {} hosts up", got.len());
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn arp_and_nd_find_the_lan_and_a_lan_port_scan_needs_no_router_mac() {
    let Some((lab, _, dir)) = lab_test(
        "arp_and_nd_find_the_lan_and_a_lan_port_scan_needs_no_router_mac",
        7,
        None,
    ) else {
        return;
    };
    let lans = [lab.get("LAB_LAN"), lab.get("LAB_LAN6")];
    let mac = lab.get("LAB_GATEWAY_MAC").to_ascii_lowercase();
    // -sn of the LAN: ARP and ND, each host once, with its MAC (NDJSON).
    let want = lab.truth_for(&["--family", "all", "--scan", "arp"]);
    let out = dir.join("lan.ndjson");
    let o = run_bounded(
        lab.scan()
            .args([lans[0], lans[1], "-sn", "--rate", "20000", "--wait", "1"])
            .args(["--format", "ndjson", "-o", out.to_str().unwrap()]),
        Duration::from_secs(60),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let mut got = Results::new();
    for line in std::fs::read_to_string(&out).unwrap().lines() {
        let field = |name: &str| {
            let at = line
                .find(&format!("\"{name}\":\""))
                .unwrap_or_else(|| panic!("{name}: {line}"));
            line[at + name.len() + 4..]
                .split('"')
                .next()
                .unwrap()
                .to_string()
        };
        assert_eq!(field("mac"), mac, "{line}");
        let prev = got.insert((field("ip"), 0), (field("state"), field("reason")));
        assert!(prev.is_none(), "twice: {line}");
    }
    assert!(got == want, "{}", diff(&got, &want));

    // A port scan of the LAN, with no gateway and no --router-mac: the
    // hosts found by ARP/ND are scanned at their own MACs.
    let want = lab.truth_for(&["--family", "all", "--lan", "--silent"]);
    let (all, log) = scan_csv(
        &lab,
        &[
            lans[0],
            lans[1],
            "-p",
            lab.ports(),
            "--rate",
            "20000",
            "--wait",
            "1",
            "--show",
            "all",
        ],
        &dir.join("lan.csv"),
    );
    let got = of_proto(&all, "tcp");
    assert!(got == want, "{}\n{log}", diff(&got, &want));
    assert!(log.contains("on the link (ARP/ND)"), "{log}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn ping_first_scans_the_ports_of_the_hosts_found_up_only() {
    let Some((lab, _, dir)) = lab_test(
        "ping_first_scans_the_ports_of_the_hosts_found_up_only",
        8,
        None,
    ) else {
        return;
    };
    let up = discovery_truth(&lab, &["echo", "timestamp", "ping-syn:443", "ping-ack:80"]);
    let ports: Results = lab
        .truth_of("all")
        .into_iter()
        .filter(|((ip, _), _)| up.contains_key(ip))
        .collect();
    let (all, log) = scan_csv(
        &lab,
        &[lab.block(), lab.block6(), "-p", lab.ports(), "--ping-first"]
            .into_iter()
            .chain(["--rate", "50000", "--wait", "1", "--show", "all"])
            .collect::<Vec<_>>(),
        &dir.join("first.csv"),
    );
    let got_up: BTreeSet<&String> = all
        .keys()
        .filter(|(_, p, _)| p == "icmp")
        .map(|(ip, _, _)| ip)
        .collect();
    assert!(
        got_up == up.keys().collect(),
        "hosts up: {} of {}",
        got_up.len(),
        up.len()
    );
    let got = of_proto(&all, "tcp");
    assert!(got == ports, "{}\n{log}", diff(&got, &ports));
    assert!(up.len() < 8192, "some hosts are down: {}", up.len());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn fin_silences_add_up_across_shards_and_survive_kill_9_and_resume() {
    let Some((lab, _, dir)) = lab_test(
        "fin_silences_add_up_across_shards_and_survive_kill_9_and_resume",
        9,
        None,
    ) else {
        return;
    };
    let truth = lab.truth_for(&["--family", "all", "--scan", "fin", "--silent"]);
    let base = [
        lab.block(),
        lab.block6(),
        "-p",
        lab.ports(),
        "-sF",
        "--seed",
        "5",
    ];
    // Two shards: disjoint, each reports its own silences, together the
    // whole.
    let mut union = Results::new();
    for shard in ["1/2", "2/2"] {
        let (all, _) = scan_csv(
            &lab,
            &base
                .into_iter()
                .chain([
                    "--shard", shard, "--rate", "100000", "--wait", "1", "--show", "all",
                ])
                .collect::<Vec<_>>(),
            &dir.join("shard.csv"),
        );
        for (k, v) in of_proto(&all, "tcp") {
            assert!(union.insert(k.clone(), v).is_none(), "{k:?} in both shards");
        }
    }
    assert!(union == truth, "shards: {}", diff(&union, &truth));

    // Killed with SIGKILL halfway, then resumed: the silences of the whole
    // scan, once.
    let out = dir.join("killed.csv");
    let checkpoint = dir.join("killed.csv.checkpoint");
    // 131,072 probes at 20,000 a second: about 6.5 s.
    kill_9_after(
        lab.scan()
            .args(base)
            .args([
                "--rate",
                "20000",
                "--wait",
                "1",
                "--checkpoint-interval",
                "0.5",
            ])
            .args([
                "--show",
                "all",
                "--format",
                "csv",
                "-o",
                out.to_str().unwrap(),
            ]),
        Duration::from_millis(3000),
    );
    assert!(checkpoint.exists() && !out.exists());
    let o = resume(&checkpoint);
    assert!(o.status.success(), "{}", stderr(&o));
    let (got, repeats) = read_csv_with_repeats(&out);
    assert!(got == truth, "resumed: {}", diff(&got, &truth));
    let silences = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .filter(|l| l.contains("no-response"))
        .count();
    let want_silences = truth.values().filter(|(_, r)| r == "no-response").count();
    assert_eq!(
        silences, want_silences,
        "each silence once ({repeats} answers repeated)"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
