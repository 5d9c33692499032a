//! nmap as a second opinion on every scan type: for each of -sA -sF -sN
//! -sX -sM -sW -sU and -sn, nmap and synsweep scan the same sample of lab
//! hosts (both families) and must agree port for port, state and reason,
//! silences included. Root only; both name the lab's veth and target only
//! the lab's addresses.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::time::Duration;

/// Hosts that between them meet every line of the lab's rule tables: TCP
/// and UDP rejects and drops, the daemons (16, 17, 1040), the hosts that
/// drop echo (3072...), all ICMP (3328...) or everything (3840...).
const OFFSETS: [u32; 23] = [
    0, 3, 5, 7, 9, 11, 16, 17, 21, 200, 251, 263, 1040, 1799, 2053, 3072, 3328, 3583, 3584, 3591,
    3839, 3840, 4095,
];

/// The sample of one family (`4` or `6`).
fn sample(lab: &Lab, family: &str) -> Vec<String> {
    OFFSETS
        .iter()
        .map(|&off| match family {
            "4" => std::net::Ipv4Addr::from(u32::from(lab.base4()) + off).to_string(),
            _ => std::net::Ipv6Addr::from(u128::from(lab.base6()) + u128::from(off)).to_string(),
        })
        .collect()
}

/// synsweep's results of `args` against `hosts`, every state.
fn synsweep_csv(lab: &Lab, args: &[&str], hosts: &[String], out: &std::path::Path) -> Results {
    let o = run_bounded(
        lab.scan()
            .arg(hosts.join(","))
            .args(args)
            .args([
                "--rate",
                "50000",
                "--wait",
                "2",
                "--retries",
                "1",
                "--show",
                "all",
            ])
            .args(["--format", "csv", "-o", out.to_str().unwrap()]),
        Duration::from_secs(60),
    );
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    read_csv_of(out)
        .into_iter()
        .map(|((ip, _, port), v)| ((ip, port), v))
        .collect()
}

/// The ports on which the two differ: (ours, nmap's).
fn differences(ours: &Results, theirs: &Results) -> BTreeMap<(String, u16), (String, String)> {
    theirs
        .iter()
        .filter_map(|(k, nmap_says)| {
            let ours = ours.get(k).cloned().unwrap_or_default();
            (&ours != nmap_says).then(|| {
                (
                    k.clone(),
                    (
                        format!("{} {}", ours.0, ours.1),
                        format!("{} {}", nmap_says.0, nmap_says.1),
                    ),
                )
            })
        })
        .collect()
}

#[test]
fn nmap_agrees_with_every_tcp_flag_scan_and_udp_port_for_port() {
    let Some((lab, _, dir)) = lab_test(
        "nmap_agrees_with_every_tcp_flag_scan_and_udp_port_for_port",
        6,
        None,
    ) else {
        return;
    };
    // nmap calls TFTP (69) open|filtered: its payload for 69 draws no
    // answer from dnsmasq, ours (a read request) does.
    let udp_ports: Vec<&str> = lab
        .get("LAB_UDP_PORTS")
        .split(',')
        .filter(|p| *p != "69")
        .collect();
    let udp_ports = udp_ports.join(",");
    let types = [
        ("-sA", lab.ports()),
        ("-sF", lab.ports()),
        ("-sN", lab.ports()),
        ("-sX", lab.ports()),
        ("-sM", lab.ports()),
        ("-sW", lab.ports()),
        ("-sU", udp_ports.as_str()),
    ];
    let out = dir.join("r.csv");
    for (flag, ports) in types {
        for family in ["4", "6"] {
            let hosts = sample(&lab, family);
            let ours = synsweep_csv(&lab, &[flag, "-p", ports], &hosts, &out);
            let theirs = nmap_results(&nmap(&lab, family, &["-Pn", flag, "-p", ports], &hosts));
            let per_host = ports.split(',').count();
            assert_eq!(
                theirs.len(),
                hosts.len() * per_host,
                "{flag}: nmap reports every port"
            );
            assert_eq!(
                ours.len(),
                theirs.len(),
                "{flag} IPv{family}: each port once"
            );
            let d = differences(&ours, &theirs);
            assert!(
                d.is_empty(),
                "{flag} IPv{family}: synsweep and nmap differ on {} ports (ours, nmap's): {d:?}",
                d.len()
            );
            let states: std::collections::BTreeSet<&str> =
                theirs.values().map(|(s, _)| s.as_str()).collect();
            assert!(
                states.len() >= 2,
                "{flag} IPv{family}: a sample of one state: {states:?}"
            );
            eprintln!(
                "{flag} IPv{family}: {} ports agree: {states:?}",
                theirs.len()
            );
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// nmap's hosts up: address -> reason.
fn nmap_up(xml: &str) -> BTreeMap<String, String> {
    let mut up = BTreeMap::new();
    let mut reason = None;
    for part in xml.split('<') {
        let attr = |name: &str| {
            let at = part.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
            part[at..].split('"').next().unwrap().to_string()
        };
        if part.starts_with("status ") {
            reason = (attr("state") == "up").then(|| attr("reason"));
        } else if part.starts_with("address ")
            && !part.contains("addrtype=\"mac\"")
            && let Some(r) = reason.take()
        {
            up.insert(canonical_ip(&attr("addr")), r);
        }
    }
    up
}

#[test]
fn nmap_and_synsweep_find_the_same_hosts_up() {
    let Some((lab, _, dir)) = lab_test("nmap_and_synsweep_find_the_same_hosts_up", 10, None) else {
        return;
    };
    let out = dir.join("r.csv");
    for family in ["4", "6"] {
        let hosts = sample(&lab, family);
        let ours: BTreeMap<String, String> = synsweep_csv(&lab, &["-sn"], &hosts, &out)
            .into_iter()
            .map(|((ip, _), (state, reason))| {
                assert_eq!(state, "up");
                (ip, reason)
            })
            .collect();
        let theirs = nmap_up(&nmap(&lab, family, &["-sn"], &hosts));
        // The same hosts; the reason is whichever answer came first.
        let (a, b): (Vec<_>, Vec<_>) = (ours.keys().collect(), theirs.keys().collect());
        assert_eq!(a, b, "IPv{family}: ours {ours:?}, nmap's {theirs:?}");
        assert!(
            a.len() > 3 && a.len() < hosts.len(),
            "IPv{family}: {ours:?}"
        );
        eprintln!(
            "-sn IPv{family}: {} of {} hosts up: ours {ours:?}, nmap's {theirs:?}",
            a.len(),
            hosts.len()
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}
