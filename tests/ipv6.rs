//! IPv6 and mixed-family scans of real test networks (scripts/lab.sh),
//! compared with the lab's ground truth and with nmap's own answers. Root
//! only: they build network namespaces; every scan names the lab's veth
//! and targets only the lab's blocks.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::time::Duration;

const RATE: &str = "100000";

/// Runs a scan of `targets` over every lab port, all states, into a CSV,
/// and returns its results and the log.
fn scan(lab: &Lab, targets: &[&str], extra: &[&str], out: &std::path::Path) -> (Results, String) {
    let o = run_bounded(
        lab.scan()
            .args(targets)
            .args([
                "-p",
                lab.ports(),
                "--rate",
                RATE,
                "--wait",
                "2",
                "--show",
                "all",
            ])
            .args(extra)
            .args(["--format", "csv", "-o", out.to_str().unwrap()]),
        Duration::from_secs(90),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    (read_csv_results(out), stderr(&o))
}

fn exact_v6(lab_id: u32, link: &str) {
    let lab = Lab::up(lab_id, None);
    let truth = lab.truth_of("6");
    let dir = temp_dir(&format!("v6-{lab_id}"));
    let out = dir.join("r.csv");
    let (got, log) = scan(&lab, &[lab.block6()], &["--link", link], &out);
    assert!(
        log.contains("65536 probes (4096 IPv6 hosts x 16 ports)"),
        "{log}"
    );
    assert!(log.contains("(neighbor discovery for gateway "), "{log}");
    assert!(got == truth, "{}", diff(&got, &truth));
    // Every kind of answer is in there, ICMPv6 rejects of every code.
    let reasons: std::collections::BTreeSet<&str> =
        truth.values().map(|(_, r)| r.as_str()).collect();
    for r in [
        "syn-ack",
        "reset",
        "no-route",
        "admin-prohibited",
        "host-unreach",
        "port-unreach",
        "reject-route",
    ] {
        assert!(reasons.contains(r), "the lab answers {r}: {reasons:?}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn ipv6_lab_scan_at_100kpps_reports_exactly_the_ground_truth_afpacket() {
    if require_root("ipv6_lab_scan_at_100kpps_reports_exactly_the_ground_truth_afpacket") {
        exact_v6(1, "afpacket");
    }
}

#[test]
fn ipv6_lab_scan_at_100kpps_reports_exactly_the_ground_truth_pnet() {
    if require_root("ipv6_lab_scan_at_100kpps_reports_exactly_the_ground_truth_pnet") {
        exact_v6(8, "pnet");
    }
}

#[test]
fn a_target_file_mixing_both_families_equals_the_union_of_both_truths() {
    let Some((lab, _, dir)) = lab_test(
        "a_target_file_mixing_both_families_equals_the_union_of_both_truths",
        2,
        None,
    ) else {
        return;
    };
    let truth = lab.truth_of("all");
    // Both blocks, a few addresses named again one by one (IPv6 written
    // long-hand), comments and blank lines.
    let long_hand = lab
        .base6()
        .segments()
        .iter()
        .map(|s| format!("{s:04x}"))
        .collect::<Vec<_>>()
        .join(":");
    let list = dir.join("targets.txt");
    std::fs::write(
        &list,
        format!(
            "# both families\n{}\n\n{}  # the IPv6 block\n{long_hand}, {}\n",
            lab.block(),
            lab.block6(),
            lab.block().split('/').next().unwrap()
        ),
    )
    .unwrap();
    let out = dir.join("r.csv");
    let (got, log) = scan(&lab, &["-iL", list.to_str().unwrap()], &[], &out);
    assert!(log.contains("(8192 IPv4+IPv6 hosts x 16 ports)"), "{log}");
    assert!(got == truth, "{}", diff(&got, &truth));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn ipv6_two_percent_loss_each_way_with_two_retries_finds_999_permille_and_nothing_false() {
    let Some((lab, _, dir)) = lab_test(
        "ipv6_two_percent_loss_each_way_with_two_retries_finds_999_permille_and_nothing_false",
        9,
        Some(2),
    ) else {
        return;
    };
    let truth = lab.truth_of("6");
    let out = dir.join("r.csv");
    let (got, log) = scan(&lab, &[lab.block6()], &["--retries", "2"], &out);
    assert!(log.contains("x 3 attempts"), "{log}");
    assert_lossy_results(&got, &truth, &log);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn nmap_agrees_with_synsweep_port_for_port_on_a_sample_of_both_families() {
    let Some((lab, _, dir)) = lab_test(
        "nmap_agrees_with_synsweep_port_for_port_on_a_sample_of_both_families",
        4,
        None,
    ) else {
        return;
    };
    // Hosts that between them meet every line of the lab's rule tables.
    let offsets = [
        0u32, 3, 5, 7, 11, 21, 251, 263, 1799, 2053, 3583, 3584, 3591, 3839, 3840, 4095,
    ];
    let (base4, base6) = (lab.base4(), lab.base6());
    let mut hosts = Vec::new();
    for off in offsets {
        hosts.push(std::net::Ipv4Addr::from(u32::from(base4) + off).to_string());
        hosts.push(std::net::Ipv6Addr::from(u128::from(base6) + u128::from(off)).to_string());
    }
    let out = dir.join("r.csv");
    let (ours, _) = scan(&lab, &[&hosts.join(",")], &[], &out);
    assert!(!ours.is_empty());
    for family in ["4", "6"] {
        let sample: Vec<&String> = hosts
            .iter()
            .filter(|h| h.contains(':') == (family == "6"))
            .collect();
        let xml = nmap(&lab, family, &["-Pn", "-sS", "-p", lab.ports()], &sample);
        let theirs = nmap_results(&xml);
        assert_eq!(theirs.len(), sample.len() * 16, "nmap reported every port");
        let mut differences = BTreeMap::new();
        for (key, nmap_says) in &theirs {
            let ours = ours.get(key).cloned().unwrap_or_default();
            if &ours != nmap_says {
                differences.insert(key.clone(), (ours, nmap_says.clone()));
            }
        }
        assert!(
            differences.is_empty(),
            "IPv{family}: synsweep and nmap differ on {} ports: {differences:?}",
            differences.len()
        );
        let states: std::collections::BTreeSet<&str> =
            theirs.values().map(|(s, _)| s.as_str()).collect();
        assert_eq!(
            states.len(),
            3,
            "the sample covers open, closed and filtered: {states:?}"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}
