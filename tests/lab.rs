//! Scans of real test networks (scripts/lab.sh), compared with the lab's
//! ground truth. Root only: they build network namespaces. Every scan names
//! the lab's veth and targets only the lab's block; every lab is torn down
//! when its test ends, whether it passed or not.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RATE: &str = "100000";

fn count_states(r: &Results) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for (state, _) in r.values() {
        *m.entry(state.clone()).or_default() += 1;
    }
    m
}

#[test]
fn full_lab_scan_at_100kpps_reports_exactly_the_ground_truth_afpacket() {
    if require_root("full_lab_scan_at_100kpps_reports_exactly_the_ground_truth_afpacket") {
        exact_scan(1, "afpacket");
    }
}

#[test]
fn full_lab_scan_at_100kpps_reports_exactly_the_ground_truth_pnet() {
    if require_root("full_lab_scan_at_100kpps_reports_exactly_the_ground_truth_pnet") {
        exact_scan(8, "pnet");
    }
}

fn exact_scan(lab_id: u32, link: &str) {
    let lab = Lab::up(lab_id, None);
    let truth = lab.truth();
    let dir = temp_dir(&format!("scan-{lab_id}"));
    let out = dir.join("results.csv");
    let o = run_bounded(
        lab.scan()
            .args([
                lab.block(),
                "-p",
                lab.ports(),
                "--rate",
                RATE,
                "--wait",
                "2",
                "--link",
                link,
            ])
            .args([
                "--show",
                "open,closed,filtered",
                "--format",
                "csv",
                "-o",
                out.to_str().unwrap(),
            ]),
        Duration::from_secs(60),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let log = stderr(&o);
    // At least 65,536 probes over at least 4,096 hosts, at 100 kpps or more.
    assert!(
        log.contains("65536 probes (4096 IPv4 hosts x 16 ports)"),
        "{log}"
    );
    assert!(log.contains(&format!("{link} link")), "{log}");
    // How fast it went is the benchmark's business (bench/run.sh) and the
    // pacer's fake-clock test's; here only the results count.
    let got = read_csv_results(&out);
    assert!(got == truth, "{}", diff(&got, &truth));
    // Sanity on the lab itself: every kind of answer is in there.
    let states = count_states(&truth);
    assert!(
        states["open"] > 10_000 && states["closed"] > 10_000 && states["filtered"] > 5_000,
        "{states:?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn two_percent_loss_each_way_with_two_retries_finds_999_permille_and_nothing_false_afpacket() {
    if require_root(
        "two_percent_loss_each_way_with_two_retries_finds_999_permille_and_nothing_false_afpacket",
    ) {
        lossy_scan(2, "afpacket");
    }
}

#[test]
fn two_percent_loss_each_way_with_two_retries_finds_999_permille_and_nothing_false_pnet() {
    if require_root(
        "two_percent_loss_each_way_with_two_retries_finds_999_permille_and_nothing_false_pnet",
    ) {
        lossy_scan(9, "pnet");
    }
}

fn lossy_scan(lab_id: u32, link: &str) {
    let lab = Lab::up(lab_id, Some(2));
    let truth = lab.truth();
    let dir = temp_dir(&format!("scan-{lab_id}"));
    let out = dir.join("results.csv");
    let o = run_bounded(
        lab.scan()
            .args([
                lab.block(),
                "-p",
                lab.ports(),
                "--rate",
                RATE,
                "--retries",
                "2",
                "--wait",
                "3",
                "--link",
                link,
            ])
            .args([
                "--show",
                "open,closed,filtered",
                "--format",
                "csv",
                "-o",
                out.to_str().unwrap(),
            ]),
        Duration::from_secs(90),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("x 3 attempts"), "{}", stderr(&o));
    let got = read_csv_results(&out);
    assert_lossy_results(&got, &truth, &stderr(&o));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn every_format_reports_the_same_results() {
    let Some((lab, truth, dir)) = lab_test("every_format_reports_the_same_results", 3, None) else {
        return;
    };
    // One /24 of the block and every port, in each format.
    let block_base = lab.block().split('/').next().unwrap().to_string();
    let octets: Vec<&str> = block_base.split('.').collect();
    let sub = format!(
        "{}.{}.{}.0/24",
        octets[0],
        octets[1],
        octets[2].parse::<u32>().unwrap() + 1
    );
    // And a /120 of the IPv6 block: every format writes both families.
    let first6 = u128::from(lab.base6()) + 0x100;
    let sub6 = format!("{}/120", std::net::Ipv6Addr::from(first6));
    let in_sub6 = |ip: &str| {
        ip.parse::<std::net::Ipv6Addr>()
            .is_ok_and(|a| (first6..first6 + 256).contains(&u128::from(a)))
    };
    let want: Results = truth
        .iter()
        .chain(lab.truth_of("6").iter())
        .filter(|((ip, _), (state, _))| {
            (ip.starts_with(&sub[..sub.len() - 4]) || in_sub6(ip)) && state != "closed"
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert!(want.keys().any(|(ip, _)| ip.contains(':')) && want.len() > 1000);
    for format in ["list", "ndjson", "csv", "grepable", "xml"] {
        let out = dir.join(format!("r.{format}"));
        let o = run_bounded(
            lab.scan()
                .args([
                    &sub,
                    &sub6,
                    "-p",
                    lab.ports(),
                    "--rate",
                    RATE,
                    "--wait",
                    "1",
                ])
                .args([
                    "--show",
                    "open,filtered",
                    "--format",
                    format,
                    "-o",
                    out.to_str().unwrap(),
                ]),
            Duration::from_secs(30),
        );
        assert!(o.status.success(), "{format}: {}", stderr(&o));
        let text = std::fs::read_to_string(&out).unwrap();
        let mut got: BTreeMap<(String, u16), String> = BTreeMap::new();
        for line in text.lines() {
            let (ip, port, state) = match format {
                "list" => {
                    if line.starts_with('#') {
                        continue;
                    }
                    let f: Vec<&str> = line.split(' ').collect();
                    assert_eq!(f.len(), 5, "{line}");
                    assert_eq!(f[1], "tcp");
                    (
                        f[3].to_string(),
                        f[2].parse::<u16>().unwrap(),
                        f[0].to_string(),
                    )
                }
                "ndjson" => {
                    let field = |name: &str| {
                        let start = line.find(&format!("\"{name}\":")).unwrap() + name.len() + 3;
                        let rest = &line[start..];
                        let end = rest.find([',', '}']).unwrap();
                        rest[..end].trim_matches('"').to_string()
                    };
                    assert!(line.starts_with('{') && line.ends_with('}'), "{line}");
                    (field("ip"), field("port").parse().unwrap(), field("state"))
                }
                "grepable" => {
                    if line.starts_with('#') {
                        continue;
                    }
                    // Host: IP ()<TAB>Ports: PORT/STATE/tcp/////
                    let (host, ports) = line.split_once("\t").expect("tab");
                    let ip = host
                        .strip_prefix("Host: ")
                        .unwrap()
                        .strip_suffix(" ()")
                        .unwrap();
                    let f: Vec<&str> = ports.strip_prefix("Ports: ").unwrap().split('/').collect();
                    assert_eq!((f.len(), f[2]), (8, "tcp"), "{line}");
                    (ip.to_string(), f[0].parse().unwrap(), f[1].to_string())
                }
                "xml" => {
                    if !line.starts_with("<host ") {
                        continue;
                    }
                    let attr = |name: &str| {
                        let start = line.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
                        line[start..].split('"').next().unwrap().to_string()
                    };
                    (attr("addr"), attr("portid").parse().unwrap(), {
                        let st = line.find("<state ").unwrap();
                        let rest = &line[st + "<state state=\"".len()..];
                        rest.split('"').next().unwrap().to_string()
                    })
                }
                _ => {
                    if line.starts_with("ip,") {
                        continue;
                    }
                    let f: Vec<&str> = line.split(',').collect();
                    (f[0].to_string(), f[1].parse().unwrap(), f[3].to_string())
                }
            };
            assert!(
                got.insert((ip, port), state).is_none(),
                "{format}: duplicate {line}"
            );
        }
        let want_states: BTreeMap<(String, u16), String> = want
            .iter()
            .map(|(k, (s, _))| (k.clone(), s.clone()))
            .collect();
        assert_eq!(got, want_states, "{format}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn ctrl_c_stops_sending_waits_and_flushes_every_result() {
    let Some((lab, truth, dir)) = lab_test(
        "ctrl_c_stops_sending_waits_and_flushes_every_result",
        4,
        None,
    ) else {
        return;
    };
    let out = dir.join("results.csv");
    // 65,536 probes at 4,000 pps would take 16 s; interrupt after 2 s.
    let child = lab
        .scan()
        .args([
            lab.block(),
            "-p",
            lab.ports(),
            "--rate",
            "4000",
            "--wait",
            "1",
            "--seed",
            "3",
        ])
        .args([
            "--show",
            "open,closed,filtered",
            "--format",
            "csv",
            "-o",
            out.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    assert!(!out.exists(), "the result file appears only when complete");
    let pressed = Instant::now();
    sigint(&child);
    let o = wait_bounded(child, Duration::from_secs(10));
    let took = pressed.elapsed();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(
        took >= Duration::from_millis(900),
        "waited --wait for late replies: {took:?}"
    );
    assert!(took < Duration::from_secs(4), "stopped promptly: {took:?}");
    let got = read_csv_results(&out);
    let log = stderr(&o);
    let sent: u64 = log
        .lines()
        .find(|l| l.starts_with("sent"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!((4_000..20_000).contains(&sent), "sent {sent}: {log}");
    // Every answer to what was sent is in the file, and only true ones. The
    // lab answers all but its silent probes (~12%), so nearly every sent
    // probe has a result line.
    assert!(got.iter().all(|(k, v)| truth.get(k) == Some(v)));
    assert!(
        got.len() as u64 >= sent * 80 / 100,
        "{} results for {sent} probes",
        got.len()
    );
    assert!(!dir.join("results.csv.partial").exists());
    // Ctrl-C left a checkpoint: resuming finishes the scan in the same file.
    let checkpoint = dir.join("results.csv.checkpoint");
    assert!(checkpoint.exists(), "Ctrl-C writes a checkpoint");
    let o = run_bounded(
        synsweep().args(["--resume", checkpoint.to_str().unwrap(), "--rate", "100000"]),
        Duration::from_secs(60),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let (all, _) = read_csv_with_repeats(&out);
    assert!(all == truth, "after resume: {}", diff(&all, &truth));
    assert!(!checkpoint.exists());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn second_ctrl_c_ends_the_wait_at_once_with_a_complete_file() {
    if !require_root("second_ctrl_c_ends_the_wait_at_once_with_a_complete_file") {
        return;
    }
    let lab = Lab::up(5, None);
    let dir = temp_dir("ctrlc2");
    let out = dir.join("results.ndjson");
    let child = lab
        .scan()
        .args([
            lab.block(),
            "-p",
            lab.ports(),
            "--rate",
            "4000",
            "--wait",
            "60",
        ])
        .args(["--format", "ndjson", "-o", out.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    sigint(&child);
    std::thread::sleep(Duration::from_millis(500));
    let second = Instant::now();
    sigint(&child);
    let o = wait_bounded(child, Duration::from_secs(10));
    assert!(
        second.elapsed() < Duration::from_secs(1),
        "second Ctrl-C took {:?}",
        second.elapsed()
    );
    assert_eq!(o.status.code(), Some(130));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.lines().count() > 100, "results kept");
    for line in text.lines() {
        assert!(
            line.starts_with("{\"ip\":\"198.18.") && line.ends_with('}'),
            "whole lines only: {line}"
        );
    }
    assert!(stderr(&o).contains("found "), "summary printed");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn router_mac_option_skips_arp_and_scans_the_same() {
    let Some((lab, truth, dir)) =
        lab_test("router_mac_option_skips_arp_and_scans_the_same", 6, None)
    else {
        return;
    };
    let out = dir.join("r.csv");
    let o = run_bounded(
        lab.scan()
            .args([
                lab.block(),
                "-p",
                "22,80",
                "--rate",
                RATE,
                "--wait",
                "1",
                "--format",
                "csv",
            ])
            .args([
                "--router-mac",
                lab.get("LAB_GATEWAY_MAC"),
                "--source-ip",
                lab.get("LAB_SOURCE_IP"),
            ])
            .args(["-o", out.to_str().unwrap()]),
        Duration::from_secs(30),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("(--router-mac)"), "{}", stderr(&o));
    let got = read_csv_results(&out);
    let want: Results = truth
        .into_iter()
        .filter(|((_, p), (s, _))| (*p == 22 || *p == 80) && s == "open")
        .collect();
    assert!(got == want, "{}", diff(&got, &want));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn link_errors_are_one_line_and_leave_no_file() {
    if !require_root("link_errors_are_one_line_and_leave_no_file") {
        return;
    }
    let dir = temp_dir("linkerr");
    let out = dir.join("r.txt");
    std::fs::write(&out, "earlier results\n").unwrap();
    let o = run(synsweep().args([
        "198.18.0.0/24",
        "-p",
        "80",
        "--interface",
        "nosuchif0",
        "-o",
        out.to_str().unwrap(),
    ]));
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(
        e.starts_with("synsweep: no network interface named \"nosuchif0\" (available: "),
        "{e}"
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "earlier results\n");
    assert!(!dir.join("r.txt.partial").exists());
    // Results to standard output: not even a header goes out before the
    // link is up, so no format is left unterminated there.
    for format in ["list", "xml", "csv", "grepable"] {
        let o = run(synsweep().args([
            "198.18.0.0/24",
            "2001:2::/120",
            "-p",
            "80",
            "--interface",
            "nosuchif0",
            "--format",
            format,
        ]));
        assert_eq!(o.status.code(), Some(1), "{format}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "{format}: {:?}", stdout(&o));
    }

    // Without CAP_NET_RAW: run as nobody with no capabilities.
    let lab = Lab::up(7, None);
    let o = run(Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(env!("CARGO_BIN_EXE_synsweep"))
        .args([
            lab.block(),
            "-p",
            "80",
            "--interface",
            lab.iface(),
            "--router-mac",
            "02:00:00:00:00:01",
        ]));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(
        e.contains(&format!(
            "no permission to open a raw socket on {}: run as root",
            lab.iface()
        )) && e.contains("setcap cap_net_raw,cap_net_admin+eip"),
        "{e}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn sharded_lab_scans_are_disjoint_and_add_up_to_the_whole() {
    let Some((lab, _, dir)) = lab_test(
        "sharded_lab_scans_are_disjoint_and_add_up_to_the_whole",
        12,
        None,
    ) else {
        return;
    };
    let truth = lab.truth_of("all");
    for n in [1u32, 2, 3, 7] {
        let mut union = Results::new();
        for i in 1..=n {
            let out = dir.join(format!("part-{i}-of-{n}.csv"));
            let o = run_bounded(
                lab.scan()
                    .args([
                        lab.block(),
                        lab.block6(),
                        "-p",
                        lab.ports(),
                        "--rate",
                        "200000",
                        "--wait",
                        "1",
                        "--seed",
                        "9",
                    ])
                    .args([
                        "--shard",
                        &format!("{i}/{n}"),
                        "--show",
                        "all",
                        "--format",
                        "csv",
                    ])
                    .args(["-o", out.to_str().unwrap()]),
                Duration::from_secs(30),
            );
            assert!(o.status.success(), "{}", stderr(&o));
            let part = read_csv_results(&out);
            assert!(!part.is_empty());
            for (k, v) in part {
                assert!(
                    union.insert(k.clone(), v).is_none(),
                    "{k:?} found by two of {n} shards"
                );
            }
        }
        assert!(union == truth, "{n} shards: {}", diff(&union, &truth));
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn kill_9_at_random_moments_then_resume_loses_nothing() {
    let Some((lab, _, dir)) = lab_test(
        "kill_9_at_random_moments_then_resume_loses_nothing",
        11,
        None,
    ) else {
        return;
    };
    let truth = lab.truth_of("all");
    let rate = 16000u64;
    let (wait, interval) = (1.0, 0.5);
    for round in 0..3 {
        let out = dir.join(format!("r{round}.csv"));
        let checkpoint = dir.join(format!("r{round}.csv.checkpoint"));
        // 131,072 probes (both families) at 16,000 pps take about 8 s: die
        // somewhere in them.
        let at = Duration::from_millis(rand::random_range(300..7800));
        kill_9_after(
            lab.scan()
                .args([
                    lab.block(),
                    lab.block6(),
                    "-p",
                    lab.ports(),
                    "--rate",
                    &rate.to_string(),
                    "--seed",
                    "4",
                ])
                .args([
                    "--wait",
                    &wait.to_string(),
                    "--checkpoint-interval",
                    &interval.to_string(),
                ])
                .args([
                    "--show",
                    "all",
                    "--format",
                    "csv",
                    "-o",
                    out.to_str().unwrap(),
                ]),
            at,
        );
        assert!(
            checkpoint.exists(),
            "round {round}: no checkpoint after {at:?}"
        );
        assert!(
            !out.exists(),
            "round {round}: the result file is not complete yet"
        );

        // Another scan's options are refused, and nothing is touched.
        let before = std::fs::read(dir.join(format!("r{round}.csv.partial"))).unwrap_or_default();
        let o = run(lab.scan().args([
            "--resume",
            checkpoint.to_str().unwrap(),
            lab.block(),
            "-p",
            "22",
            "--seed",
            "4",
        ]));
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("belongs to a different scan"),
            "{}",
            stderr(&o)
        );
        assert_eq!(
            std::fs::read(dir.join(format!("r{round}.csv.partial"))).unwrap_or_default(),
            before
        );

        let o = resume(&checkpoint);
        assert!(o.status.success(), "round {round}: {}", stderr(&o));
        assert!(stderr(&o).contains("resumed at position"), "{}", stderr(&o));
        let (got, repeats) = read_csv_with_repeats(&out);
        assert!(
            got == truth,
            "round {round} (killed at {at:?}): {}",
            diff(&got, &truth)
        );
        // Re-sent across the seam: at most rate x (wait + lag margin + interval).
        let bound = (rate as f64 * (wait + 0.25 + interval + 0.5)) as usize;
        assert!(
            repeats <= bound,
            "round {round}: {repeats} repeated results > {bound}"
        );
        assert!(!checkpoint.exists(), "a finished scan leaves no checkpoint");
        eprintln!(
            "kill -9 at {at:?}: {} results, {repeats} repeated across the seam",
            got.len()
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn nmap_xml_validates_against_nmap_dtd_and_appends_stay_valid() {
    let Some((lab, _, dir)) = lab_test(
        "nmap_xml_validates_against_nmap_dtd_and_appends_stay_valid",
        13,
        None,
    ) else {
        return;
    };
    let out = dir.join("r.xml");
    let status = dir.join("status.ndjson");
    let o = run_bounded(
        lab.scan_all("100000", "1").args([
            "-oX",
            out.to_str().unwrap(),
            "--status-json",
            status.to_str().unwrap(),
        ]),
        Duration::from_secs(30),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let validate = |path: &std::path::Path| {
        let v = run(Command::new("xmllint")
            .args(["--noout", "--dtdvalid", "/usr/share/nmap/nmap.dtd"])
            .arg(path));
        assert!(v.status.success(), "xmllint: {}", stderr(&v));
    };
    validate(&out);
    let xml = std::fs::read_to_string(&out).unwrap();
    let truth = lab.truth_of("all");
    assert_eq!(xml.matches("<host ").count(), truth.len());
    for ((ip, port), (state, reason)) in truth.iter().step_by(97) {
        let family = if ip.contains(':') { "ipv6" } else { "ipv4" };
        let needle = format!(
            "<address addr=\"{ip}\" addrtype=\"{family}\"/><ports><port protocol=\"tcp\" portid=\"{port}\"><state state=\"{state}\" reason=\"{reason}\""
        );
        assert!(xml.contains(&needle), "{needle}");
    }
    assert!(xml.contains("addrtype=\"ipv6\""));
    // Append a second scan: still one valid document, with both.
    let o = run_bounded(
        lab.scan()
            .args([
                lab.block(),
                "-p",
                "22",
                "--rate",
                "100000",
                "--wait",
                "1",
                "--show",
                "all",
            ])
            .args(["-oX", out.to_str().unwrap(), "--append"]),
        Duration::from_secs(30),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    validate(&out);
    let xml = std::fs::read_to_string(&out).unwrap();
    let port22 = truth
        .keys()
        .filter(|(ip, p)| *p == 22 && !ip.contains(':'))
        .count();
    assert_eq!(xml.matches("<host ").count(), truth.len() + port22);
    assert_eq!(xml.matches("<nmaprun ").count(), 1);
    assert_eq!(xml.matches("</nmaprun>").count(), 1);

    // The status stream: an object a second, then the final one.
    let lines: Vec<String> = std::fs::read_to_string(&status)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert!(lines.len() >= 2, "{lines:?}");
    let field = |line: &str, name: &str| -> f64 {
        let start = line
            .find(&format!("\"{name}\":"))
            .unwrap_or_else(|| panic!("{name} in {line}"))
            + name.len()
            + 3;
        line[start..]
            .split([',', '}'])
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let mut last_sent = 0.0;
    for l in &lines {
        assert!(l.starts_with('{') && l.ends_with('}'), "{l}");
        let sent = field(l, "sent");
        assert!(sent >= last_sent);
        last_sent = sent;
    }
    let done = lines.last().unwrap();
    assert!(done.contains("\"phase\":\"done\""), "{done}");
    assert_eq!(field(done, "sent"), 131072.0);
    assert_eq!(field(done, "planned"), 131072.0);
    let open = truth.values().filter(|(s, _)| s == "open").count() as f64;
    assert!(done.contains(&format!("\"open\":{open}")), "{done}");
    // Round trips from the echoed TCP timestamps: present and plausible.
    let p50 = field(&done[done.find("rtt_ms").unwrap()..], "p50");
    // The lab's round trip is microseconds; the kernel's arrival stamp keeps
    // the receive ring's hand-over delay (up to 8 ms) out of it.
    assert!(p50 > 0.0 && p50 < 2.0, "rtt p50 {p50} ms: {done}");
    assert!(field(done, "samples") >= open, "{done}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn every_port_of_four_hosts_with_two_retries_is_reported_exactly_once() {
    // Port 65535 once served the exact dedup as "port not scanned": with
    // every port scanned, its three answers were all reported.
    let Some((lab, truth, dir)) = lab_test(
        "every_port_of_four_hosts_with_two_retries_is_reported_exactly_once",
        5,
        None,
    ) else {
        return;
    };
    let base = lab.base4();
    let hosts: Vec<String> = (0..4)
        .map(|i| std::net::Ipv4Addr::from(u32::from(base) + i).to_string())
        .collect();
    let out = dir.join("r.csv");
    let o = run_bounded(
        lab.scan()
            .args([&hosts.join(","), "-p", "0-65535", "--retries", "2"])
            .args(["--rate", "200000", "--wait", "1", "--show", "all"])
            .args(["--format", "csv", "-o", out.to_str().unwrap()]),
        Duration::from_secs(60),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // read_csv_results fails on any (address, port) reported twice.
    let got = read_csv_results(&out);
    let lab_ports: Vec<u16> = lab.ports().split(',').map(|p| p.parse().unwrap()).collect();
    let mut want = Results::new();
    for h in &hosts {
        for port in 0..=65535u16 {
            let answer = if lab_ports.contains(&port) {
                truth.get(&(h.clone(), port)).cloned()
            } else {
                // No rule names the other ports: the kernel resets them.
                Some(("closed".into(), "reset".into()))
            };
            if let Some(a) = answer {
                want.insert((h.clone(), port), a);
            }
        }
    }
    assert!(got == want, "{}", diff(&got, &want));
    assert_eq!(got.keys().filter(|(_, p)| *p == 65535).count(), 4);
    assert!(stderr(&o).contains("duplicate"), "retries were answered");
    std::fs::remove_dir_all(dir).unwrap();
}
