//! Passive OS hints (`--os-hints`) against the lab: the namespace's own
//! Linux answers must read as Linux in every format, and SYN-ACKs of other
//! stacks' shapes, hand-built by `scripts/os_responder.py` inside the
//! namespace for addresses of its silent block (which its kernel drops at
//! ingress, after a packet socket has seen them), must read as the family
//! they imitate, or as unknown. Root only; every scan names the lab's veth
//! and targets only the lab's addresses. Labs 6 and 7.

mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// (ip, port) -> the os field as the format writes it.
type Hints = BTreeMap<(String, u16), String>;

/// The open ports of `truth`.
fn open_ports(truth: &Results) -> BTreeSet<(String, u16)> {
    truth
        .iter()
        .filter(|(_, (state, _))| state == "open")
        .map(|(k, _)| k.clone())
        .collect()
}

/// Runs `lab`'s scan of `targets` with `args`, into `path` as `format`.
fn scan_into(lab: &Lab, targets: &str, ports: &str, format: &str, path: &Path, args: &[&str]) {
    let mut cmd = lab.scan();
    cmd.args([targets, "-p", ports, "--rate", "5000", "--wait", "2"])
        .args(["--format", format, "-o"])
        .arg(path)
        .args(args);
    let o = run_bounded(&mut cmd, Duration::from_secs(120));
    assert!(o.status.success(), "{format} scan: {}", stderr(&o));
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn insert(hints: &mut Hints, ip: &str, port: u16, os: &str, line: &str) {
    let prev = hints.insert((canonical_ip(ip), port), os.to_string());
    assert!(prev.is_none(), "reported twice: {line}");
}

/// `open tcp PORT IP TS OS` lines.
fn list_hints(text: &str) -> Hints {
    let mut hints = Hints::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!(f.len(), 6, "{line}");
        assert_eq!(&f[..2], ["open", "tcp"], "{line}");
        insert(&mut hints, f[3], f[2].parse().unwrap(), f[5], line);
    }
    hints
}

fn ndjson_hints(text: &str) -> Hints {
    let mut hints = Hints::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let port = v["port"].as_u64().unwrap() as u16;
        let os = v["os"].as_str().unwrap_or_else(|| panic!("no os: {line}"));
        insert(&mut hints, v["ip"].as_str().unwrap(), port, os, line);
    }
    hints
}

/// CSV rows with the `os` column after the seven facts.
fn csv_hints(text: &str) -> Hints {
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("ip,port,proto,state,reason,ttl,ts,os"));
    let mut hints = Hints::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 8, "{line}");
        assert_eq!(&f[2..5], ["tcp", "open", "syn-ack"], "{line}");
        insert(&mut hints, f[0], f[1].parse().unwrap(), f[7], line);
    }
    hints
}

/// `Host: IP ()\tPorts: PORT/open/tcp/////\tOS: NAME` lines.
fn grepable_hints(text: &str) -> Hints {
    let mut hints = Hints::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 3, "{line}");
        let ip = f[0].strip_prefix("Host: ").unwrap().trim_end_matches(" ()");
        let ports = f[1].strip_prefix("Ports: ").unwrap();
        let port = ports.split('/').next().unwrap().parse().unwrap();
        assert_eq!(ports, format!("{port}/open/tcp/////"), "{line}");
        insert(
            &mut hints,
            ip,
            port,
            f[2].strip_prefix("OS: ").unwrap(),
            line,
        );
    }
    hints
}

/// Valid against nmap.dtd; each host's `<os>` read by Python's parser:
/// the port used and the osclass family (`-` where it has no osmatch).
fn xml_hints(path: &Path) -> Hints {
    let o = run(Command::new("xmllint")
        .args(["--noout", "--dtdvalid", "/usr/share/nmap/nmap.dtd"])
        .arg(path));
    assert!(o.status.success(), "xmllint: {}", stderr(&o));
    let o = run(Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, xml.etree.ElementTree as ET\n\
         for host in ET.parse(sys.argv[1]).getroot().iter('host'):\n\
         \x20   addr = host.find('address').get('addr')\n\
         \x20   used = host.find('os/portused')\n\
         \x20   port = host.find('ports/port').get('portid')\n\
         \x20   assert used.get('portid') == port and used.get('state') == 'open', addr\n\
         \x20   c = host.find('os/osmatch/osclass')\n\
         \x20   print(addr, port, c.get('osfamily') if c is not None else '-')\n",
        )
        .arg(path));
    assert!(o.status.success(), "python: {}", stderr(&o));
    let mut hints = Hints::new();
    for line in stdout(&o).lines() {
        let f: Vec<&str> = line.split(' ').collect();
        insert(&mut hints, f[0], f[1].parse().unwrap(), f[2], line);
    }
    hints
}

#[test]
fn the_labs_linux_is_hinted_linux_in_every_format() {
    let Some((lab, _, dir)) = lab_test("os_hints_linux", 6, None) else {
        return;
    };
    let targets = lab.first_hosts(256);
    let truth = open_ports(&lab.within(&lab.truth_of("all"), 256));
    assert!(truth.len() > 500, "{} open ports", truth.len());
    let every_linux = |hints: &Hints, word: &str, format: &str| {
        let got: BTreeSet<_> = hints.keys().cloned().collect();
        assert_eq!(got, truth, "{format}: open ports differ from the truth");
        let others: Vec<_> = hints.iter().filter(|(_, os)| *os != word).collect();
        assert!(others.is_empty(), "{format}: not {word}: {others:?}");
    };
    for format in ["list", "ndjson", "csv", "xml", "grepable"] {
        let path = dir.join(format!("scan.{format}"));
        scan_into(&lab, &targets, lab.ports(), format, &path, &["--os-hints"]);
        let text = read(&path);
        match format {
            "list" => every_linux(&list_hints(&text), "linux", format),
            "ndjson" => every_linux(&ndjson_hints(&text), "linux", format),
            "csv" => every_linux(&csv_hints(&text), "linux", format),
            "xml" => every_linux(&xml_hints(&path), "Linux", format),
            _ => every_linux(&grepable_hints(&text), "Linux", format),
        }
    }
    // Without the flag, no format says anything of an OS.
    for format in ["ndjson", "csv"] {
        let path = dir.join(format!("plain.{format}"));
        scan_into(&lab, &targets, "22,80", format, &path, &[]);
        let text = read(&path);
        assert!(text.lines().count() > 100, "{text}");
        assert!(
            !text.contains(r#""os":"#) && !text.contains("linux"),
            "{text}"
        );
        if format == "csv" {
            assert_eq!(
                text.lines().next(),
                Some("ip,port,proto,state,reason,ttl,ts")
            );
        }
    }
    // Banner mode: the open port's record waits for its session, and
    // still carries the hint beside its banner.
    let path = dir.join("banners.ndjson");
    scan_into(
        &lab,
        &lab.first_hosts(16),
        "22,80",
        "ndjson",
        &path,
        &[
            "--os-hints",
            "--banners",
            "--banner-timeout",
            "1",
            "--hello-wait",
            "0.2",
        ],
    );
    let text = read(&path);
    let hints = ndjson_hints(&text);
    let truth16: BTreeSet<_> = truth
        .iter()
        .filter(|(ip, port)| lab.offset(ip) < 16 && [22, 80].contains(port))
        .cloned()
        .collect();
    assert_eq!(hints.keys().cloned().collect::<BTreeSet<_>>(), truth16);
    assert!(hints.values().all(|os| os == "linux"), "{text}");
    assert!(text.lines().all(|l| l.contains(r#""banner":"#)), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `scripts/os_responder.py` in the lab's namespace, killed by its pid
/// when dropped, pass or fail.
struct Responder(Child);

impl Responder {
    fn start(lab: &Lab, shapes: &[(String, &str)]) -> Responder {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", lab.get("LAB_NS"), "python3"])
            .arg(repo_root().join("scripts/os_responder.py"))
            .arg("lab0")
            .args(shapes.iter().map(|(a, s)| format!("{a}={s}")))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // `ip netns exec` executes python in its own place: the pid is
        // python's.
        let mut r = Responder(cmd.spawn().expect("spawn os_responder.py"));
        let mut ready = String::new();
        BufReader::new(r.0.stdout.take().unwrap())
            .read_line(&mut ready)
            .unwrap();
        assert_eq!(ready, "ready\n", "os_responder.py did not start");
        r
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn crafted_replies_are_hinted_by_their_shape() {
    if !require_root("os_hints_crafted") {
        return;
    }
    let lab = Lab::up(7, None);
    let dir = temp_dir("os_hints_crafted");
    let silent4: std::net::Ipv4Addr = lab
        .get("LAB_SILENT_BLOCK")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let silent6: std::net::Ipv6Addr = lab
        .get("LAB_SILENT_BLOCK6")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let v4 = |n: u32| std::net::Ipv4Addr::from(u32::from(silent4) + n).to_string();
    let v6 = |n: u128| std::net::Ipv6Addr::from(u128::from(silent6) + n).to_string();
    // (address, responder shape, TTL as sent, the hint it must get)
    let cases = [
        (v4(1), "windows", 126, "windows"),
        (v4(2), "windows-ws", 128, "windows"),
        (v4(3), "bsd", 61, "bsd"),
        (v4(4), "macos", 64, "bsd"),
        (v4(5), "router", 254, "network-device"),
        (v4(6), "odd", 64, "unknown"),
        (v6(1), "windows", 126, "windows"),
        (v6(2), "bsd", 61, "bsd"),
        (v6(6), "odd", 64, "unknown"),
    ];
    let shapes: Vec<(String, &str)> = cases.iter().map(|c| (c.0.clone(), c.1)).collect();
    let _responder = Responder::start(&lab, &shapes);
    // Beside them: a silent address nobody answers for, and two of the
    // lab's own Linux hosts.
    let linux4 = lab.base4().to_string();
    let linux6 = lab.base6().to_string();
    let mut targets: Vec<String> = cases.iter().map(|c| c.0.clone()).collect();
    targets.extend([v4(7), linux4.clone(), linux6.clone()]);
    let path = dir.join("crafted.csv");
    scan_into(
        &lab,
        &targets.join(","),
        "80,443",
        "csv",
        &path,
        &["--os-hints", "--retries", "1"],
    );
    let text = read(&path);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("ip,port,proto,state,reason,ttl,ts,os"));
    // (ip, port) -> (ttl, os), each field checked on the way.
    let mut got = BTreeMap::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 8, "{line}");
        assert_eq!(&f[2..5], ["tcp", "open", "syn-ack"], "{line}");
        let key = (canonical_ip(f[0]), f[1].parse::<u16>().unwrap());
        let prev = got.insert(key, (f[5].parse::<u8>().unwrap(), f[7].to_string()));
        assert!(prev.is_none(), "reported twice: {line}");
    }
    let mut want = BTreeMap::new();
    for (addr, _, ttl, os) in &cases {
        for port in [80, 443] {
            want.insert((canonical_ip(addr), port), (*ttl, os.to_string()));
        }
    }
    for addr in [&linux4, &linux6] {
        for port in [80, 443] {
            want.insert((canonical_ip(addr), port), (64, "linux".to_string()));
        }
    }
    assert_eq!(got, want, "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
