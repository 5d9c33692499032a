//! Connect mode (`--connect`, `-sT`) as the user it is for: one without
//! root or CAP_NET_RAW. Each test builds its lab as root, then runs a copy
//! of synsweep as `nobody` (setpriv, no capabilities, no groups) against
//! the lab's block, bound to the lab's veth, and compares every result
//! with the lab's connect truth (`lab.sh truth --scan connect`: what Linux
//! makes of each answer, read as nmap -sT reads it) and with `nmap -sT`.
//! Root only (for the lab); labs 11 and 12.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A copy of the binary that `nobody` may run, and a directory it may
/// write its results to.
struct Unprivileged {
    bin: PathBuf,
    out: PathBuf,
    dir: PathBuf,
}

impl Unprivileged {
    fn new(name: &str) -> Unprivileged {
        let dir = temp_dir(name);
        let chmod = |p: &Path, mode: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
        };
        chmod(&dir, 0o755);
        let bin = dir.join("synsweep");
        std::fs::copy(env!("CARGO_BIN_EXE_synsweep"), &bin).unwrap();
        chmod(&bin, 0o755);
        let out = dir.join("out");
        std::fs::create_dir(&out).unwrap();
        chmod(&out, 0o777);
        let u = Unprivileged { bin, out, dir };
        // Really without privilege: no effective capability at all.
        let o = run(u.command("cat").arg("/proc/self/status"));
        let status = stdout(&o);
        assert!(
            status.contains("CapEff:\t0000000000000000") && status.contains("Uid:\t65534"),
            "{status}"
        );
        u
    }

    /// `program` run as nobody:nogroup, without groups or capabilities.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .arg(program);
        c
    }

    /// synsweep, unprivileged, in connect mode on the lab's veth.
    fn connect(&self, lab: &Lab) -> Command {
        let mut c = self.command(&self.bin);
        c.args(["--connect", "--interface", lab.iface()]);
        c
    }
}

impl Drop for Unprivileged {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// (ip, port) -> (state, reason) of a result file; formats without a
/// reason (list, grepable) give "" for it.
fn read_results(format: &str, path: &Path) -> Results {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut got = Results::new();
    let mut put = |ip: &str, port: u16, state: &str, reason: &str, line: &str| {
        let prev = got.insert(
            (canonical_ip(ip), port),
            (state.to_string(), reason.to_string()),
        );
        assert!(prev.is_none(), "{format}: reported twice: {line}");
    };
    match format {
        "list" => {
            for line in text.lines().filter(|l| !l.starts_with('#')) {
                // STATE tcp PORT IP TIME
                let f: Vec<&str> = line.split(' ').collect();
                assert_eq!((f.len(), f[1]), (5, "tcp"), "{line}");
                put(f[3], f[2].parse().unwrap(), f[0], "", line);
            }
        }
        "ndjson" => {
            for line in text.lines() {
                let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
                assert_eq!(v["proto"], "tcp", "{line}");
                assert_eq!(v["ttl"], 0, "connect mode sees no TTL: {line}");
                put(
                    v["ip"].as_str().unwrap(),
                    v["port"].as_u64().unwrap() as u16,
                    v["state"].as_str().unwrap(),
                    v["reason"].as_str().unwrap(),
                    line,
                );
            }
        }
        "grepable" => {
            for line in text.lines().filter(|l| !l.starts_with('#')) {
                // Host: IP ()<TAB>Ports: PORT/STATE/tcp/////
                let (host, ports) = line.split_once('\t').expect("tab");
                let ip = host
                    .strip_prefix("Host: ")
                    .and_then(|h| h.strip_suffix(" ()"))
                    .unwrap();
                let f: Vec<&str> = ports.strip_prefix("Ports: ").unwrap().split('/').collect();
                assert_eq!((f.len(), f[2]), (8, "tcp"), "{line}");
                put(ip, f[0].parse().unwrap(), f[1], "", line);
            }
        }
        "csv" => {
            let mut lines = text.lines();
            assert_eq!(lines.next(), Some("ip,port,proto,state,reason,ttl,ts"));
            for line in lines {
                let f: Vec<&str> = line.split(',').collect();
                assert_eq!((f.len(), f[2], f[5]), (7, "tcp", "0"), "{line}");
                put(f[0], f[1].parse().unwrap(), f[3], f[4], line);
            }
        }
        "xml" => {
            let v = run(Command::new("xmllint")
                .args(["--noout", "--dtdvalid", "/usr/share/nmap/nmap.dtd"])
                .arg(path));
            assert!(v.status.success(), "xmllint: {}", stderr(&v));
            assert!(text.contains(r#"<scaninfo type="connect" protocol="tcp""#));
            return nmap_results(&text);
        }
        _ => unreachable!(),
    }
    got
}

/// `results` without reasons, for the formats that have none.
fn states_only(results: &Results) -> Results {
    results
        .iter()
        .map(|(k, (s, _))| (k.clone(), (s.clone(), String::new())))
        .collect()
}

fn nth_host(lab: &Lab, offset: u32) -> String {
    std::net::Ipv4Addr::from(u32::from(lab.base4()) + offset).to_string()
}

#[test]
fn unprivileged_connect_scan_reports_the_truth_in_every_format_and_agrees_with_nmap() {
    let name = "unprivileged_connect_scan_reports_the_truth_in_every_format";
    if !require_root(name) {
        return;
    }
    let lab = Lab::up(11, None);
    let truth = lab.truth_for(&["--scan", "connect", "--family", "4", "--silent"]);
    // 4,096 hosts x 16 ports: open, refused, every ICMP reject, silence.
    assert_eq!(truth.len(), 65536);
    for reason in [
        "syn-ack",
        "conn-refused",
        "host-unreach",
        "net-unreach",
        "proto-unreach",
        "no-response",
    ] {
        assert!(truth.values().any(|(_, r)| r == reason), "{reason}");
    }
    let u = Unprivileged::new(name);
    let mut ndjson = Results::new();
    for format in ["list", "ndjson", "csv", "xml", "grepable"] {
        let out = u.out.join(format!("r.{format}"));
        let o = run_bounded(
            u.connect(&lab)
                .args([lab.block(), "-p", lab.ports()])
                .args(["--rate", "20000", "--show", "all", "--format", format])
                .arg("-o")
                .arg(&out),
            Duration::from_secs(120),
        );
        let log = stderr(&o);
        assert!(o.status.success(), "{format}: {log}");
        assert!(log.contains("connect mode"), "{log}");
        let got = read_results(format, &out);
        let want = if matches!(format, "list" | "grepable") {
            states_only(&truth)
        } else {
            truth.clone()
        };
        assert!(got == want, "{format}: {}\n{log}", diff(&got, &want));
        if format == "ndjson" {
            ndjson = got;
        }
    }

    // nmap -sT on a sample: open, refused, each ICMP reject, the
    // rejected and the silent host ranges; the same states and reasons.
    let sample: Vec<String> = [0, 1, 3, 5, 7, 9, 3584, 3840]
        .into_iter()
        .map(|o| nth_host(&lab, o))
        .collect();
    // (nmap's timeout floor raised as for IPv6 below: an ICMP error that
    // Linux keeps as a soft one is heard only after the SYN's
    // retransmission.)
    let xml = nmap(
        &lab,
        "4",
        &[
            "-sT",
            "-Pn",
            "-p",
            lab.ports(),
            "--min-rtt-timeout",
            "1500ms",
            "--initial-rtt-timeout",
            "2s",
            "--max-rtt-timeout",
            "3s",
        ],
        &sample,
    );
    let by_nmap = nmap_results(&xml);
    let ours: Results = ndjson
        .iter()
        .filter(|((ip, _), _)| sample.contains(ip))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(by_nmap.len(), sample.len() * 16, "{xml}");
    assert!(ours == by_nmap, "{}", diff(&ours, &by_nmap));
}

#[test]
fn unprivileged_connect_scan_of_the_ipv6_block_reports_its_truth() {
    let name = "unprivileged_connect_scan_of_the_ipv6_block_reports_its_truth";
    if !require_root(name) {
        return;
    }
    let lab = Lab::up(11, None);
    // IPv6's rejects read differently: administratively prohibited and
    // the policy rejects are EACCES (admin-prohibited), no route is
    // ENETUNREACH.
    let truth = lab.truth_for(&["--scan", "connect", "--family", "6", "--silent"]);
    assert!(truth.values().any(|(_, r)| r == "admin-prohibited"));
    let u = Unprivileged::new(name);
    let out = u.out.join("r.ndjson");
    let o = run_bounded(
        u.connect(&lab)
            .args([lab.block6(), "-p", lab.ports()])
            .args(["--rate", "20000", "--show", "all", "--format", "ndjson"])
            .arg("-o")
            .arg(&out),
        Duration::from_secs(120),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let got = read_results("ndjson", &out);
    assert!(got == truth, "{}", diff(&got, &truth));
    // And nmap -sT agrees on a sample, given the time to hear the
    // rejects: through the lab's veth, Linux takes the first ICMPv6 error
    // as a soft error while connect() still holds the socket, and only
    // the SYN's retransmission (1 s) draws one connect() reports, so nmap
    // needs a timeout over 1 s, also once its round trips say less (its
    // floor raised); synsweep reads the soft error, SO_ERROR, when its own
    // timeout ends.
    let b = lab.base6();
    let sample: Vec<String> = [1u128, 7, 3584]
        .into_iter()
        .map(|o| std::net::Ipv6Addr::from(u128::from(b) + o).to_string())
        .collect();
    let xml = nmap(
        &lab,
        "6",
        &[
            "-sT",
            "-Pn",
            "-p",
            lab.ports(),
            "--min-rtt-timeout",
            "1500ms",
            "--initial-rtt-timeout",
            "2s",
            "--max-rtt-timeout",
            "3s",
        ],
        &sample,
    );
    let by_nmap = nmap_results(&xml);
    let ours: Results = got
        .iter()
        .filter(|((ip, _), _)| sample.contains(ip))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert!(ours == by_nmap, "{}", diff(&ours, &by_nmap));
}

#[test]
fn without_privilege_the_raw_scan_refuses_in_one_line_naming_connect_mode() {
    let name = "without_privilege_the_raw_scan_refuses_naming_connect_mode";
    if !require_root(name) {
        return;
    }
    let lab = Lab::up(11, None);
    let u = Unprivileged::new(name);
    let out = u.out.join("r.txt");
    let o = run_bounded(
        u.command(&u.bin)
            .args(["--interface", lab.iface(), lab.block(), "-p", "80"])
            .arg("-o")
            .arg(&out),
        Duration::from_secs(30),
    );
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(
        e.starts_with("synsweep: no permission to open a raw socket on")
            && e.contains("--connect (-sT)"),
        "{e}"
    );
    assert!(!out.exists() && !u.out.join("r.txt.partial").exists());
}

/// (ip, port) -> (service, product), from `truth --services --banners`.
fn services_truth(lab: &Lab) -> BTreeMap<(String, u16), (String, String)> {
    let o = run(Command::new("bash")
        .arg(repo_root().join("scripts/lab.sh"))
        .args(["truth", "--id", &lab.id.to_string()])
        .args(["--services", "--banners", "--family", "4"]));
    assert!(o.status.success(), "truth --banners: {}", stderr(&o));
    stdout(&o)
        .lines()
        .map(|line| {
            let mut f = line.splitn(4, ' ');
            let (ip, port) = (f.next().unwrap(), f.next().unwrap());
            let (service, product) = (f.next().unwrap(), f.next().unwrap_or(""));
            (
                (canonical_ip(ip), port.parse().unwrap()),
                (service.to_string(), product.to_string()),
            )
        })
        .collect()
}

#[test]
fn banners_in_connect_mode_name_the_services_as_the_truth_does() {
    let name = "banners_in_connect_mode_name_the_services_as_the_truth_does";
    if !require_root(name) {
        return;
    }
    let lab = Lab::up_with(12, None, &["--services"]);
    let hosts = 256;
    let truth: BTreeMap<_, _> = services_truth(&lab)
        .into_iter()
        .filter(|((ip, _), _)| lab.offset(ip) < hosts)
        .collect();
    // The connect truth of the same ports: what is not open.
    let ports = lab.get("LAB_SERVICE_PORTS").to_string();
    let connect_truth = lab.within(
        &lab.truth_for(&[
            "--scan",
            "connect",
            "--services",
            "--family",
            "4",
            "--silent",
        ]),
        hosts,
    );
    let u = Unprivileged::new(name);
    let out = u.out.join("r.ndjson");
    let targets = format!("{}-{}", lab.base4(), nth_host(&lab, hosts as u32 - 1));
    let o = run_bounded(
        u.connect(&lab)
            .args([targets.as_str(), "-p", &ports, "--banners"])
            .args(["--rate", "10000", "--banner-timeout", "30", "--show", "all"])
            .args(["--format", "ndjson", "-o"])
            .arg(&out),
        Duration::from_secs(180),
    );
    let log = stderr(&o);
    assert!(o.status.success(), "{log}");
    let text = std::fs::read_to_string(&out).unwrap();
    let mut got: BTreeMap<(String, u16), Value> = BTreeMap::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let key = (
            canonical_ip(v["ip"].as_str().unwrap()),
            v["port"].as_u64().unwrap() as u16,
        );
        assert!(got.insert(key, v).is_none(), "{line} twice");
    }
    // Every port's state and reason as the connect truth has them.
    let states: Results = got
        .iter()
        .map(|(k, v)| {
            let s = |f: &str| v[f].as_str().unwrap().to_string();
            (k.clone(), (s("state"), s("reason")))
        })
        .collect();
    assert!(states == connect_truth, "{}", diff(&states, &connect_truth));
    // Every open port: a banner, and (95% at least, as in banner mode on a
    // loaded machine) the truth's service and product.
    let field = |v: &Value, f: &str| v[f].as_str().unwrap_or("").to_string();
    let (mut named, mut rest) = (0, Vec::new());
    for (key, (service, product)) in &truth {
        let v = &got[key];
        assert_eq!(field(v, "state"), "open", "{v}");
        assert!(!field(v, "banner").is_empty(), "no banner: {v}\n{log}");
        if field(v, "service") == *service && field(v, "product") == *product {
            named += 1;
        } else {
            rest.push(format!("{key:?}: {v}"));
        }
    }
    assert!(truth.len() >= 1000, "{}", truth.len());
    assert!(
        named * 100 >= truth.len() * 95,
        "{named} of {} named as the truth: {rest:#?}",
        truth.len()
    );
    eprintln!(
        "{named} of {} named as the truth; the rest: {rest:#?}",
        truth.len()
    );
}

#[test]
fn sharded_and_interrupted_then_resumed_connect_scans_add_up_to_the_truth() {
    let name = "sharded_and_interrupted_then_resumed_connect_scans_add_up";
    if !require_root(name) {
        return;
    }
    let lab = Lab::up(11, None);
    let truth = lab.truth_for(&["--scan", "connect", "--family", "4", "--silent"]);
    let u = Unprivileged::new(name);
    let scan = |extra: &[&str], out: &Path| {
        let mut c = u.connect(&lab);
        c.args([
            lab.block(),
            "-p",
            lab.ports(),
            "--show",
            "all",
            "--seed",
            "11",
        ])
        .args(["--format", "ndjson"])
        .args(extra)
        .arg("-o")
        .arg(out);
        c
    };
    // Two shards: disjoint, and together the truth.
    let mut union = Results::new();
    for shard in ["1/2", "2/2"] {
        let out = u.out.join(format!("shard{}.ndjson", &shard[..1]));
        let o = run_bounded(
            &mut scan(&["--rate", "20000", "--shard", shard], &out),
            Duration::from_secs(120),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let got = read_results("ndjson", &out);
        assert!((32000..=33536).contains(&got.len()), "{}", got.len());
        for (k, v) in got {
            assert!(union.insert(k.clone(), v).is_none(), "{k:?} in both shards");
        }
    }
    assert!(union == truth, "{}", diff(&union, &truth));

    // Ctrl-C a third of the way, then --resume (as nobody too): every
    // result, a repeat only ever the same line.
    let out = u.out.join("resumed.ndjson");
    let checkpoint = u.out.join("scan.checkpoint");
    let child = scan(
        &[
            "--rate",
            "5000",
            "--checkpoint",
            checkpoint.to_str().unwrap(),
        ],
        &out,
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_secs(4));
    sigint(&child);
    let o = wait_bounded(child, Duration::from_secs(60));
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    let text = std::fs::read_to_string(&checkpoint).unwrap();
    let position: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("position = "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(position > 5000, "{text}");
    let o = run_bounded(
        u.command(&u.bin)
            .args(["--resume", checkpoint.to_str().unwrap(), "--rate", "20000"]),
        Duration::from_secs(120),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&out).unwrap();
    let mut got = Results::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let s = |f: &str| v[f].as_str().unwrap().to_string();
        let key = (canonical_ip(&s("ip")), v["port"].as_u64().unwrap() as u16);
        let value = (s("state"), s("reason"));
        if let Some(prev) = got.insert(key, value.clone()) {
            assert_eq!(prev, value, "{line}: contradicts an earlier line");
        }
    }
    assert!(got == truth, "{}", diff(&got, &truth));
    assert!(!checkpoint.exists(), "a finished scan leaves no checkpoint");
}
