//! Banner mode against real daemons: the lab's `--services` namespace runs
//! Debian's vsftpd, OpenSSH, exim4, nginx (HTTP, HTTPS over TLS 1.3 and
//! over TLS 1.2), dovecot, PostgreSQL and redis on every host of its
//! blocks. Each test compares synsweep's banners and service names with
//! the lab's truth (`lab.sh truth --services --banners`) and with
//! `nmap -sV`, its certificates with the lab's files, and watches the veth
//! for resets the host kernel must not send. Root only; every scan names
//! the lab's veth and targets only the lab's addresses.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// (ip, port) -> (service, product), from `truth --services --banners`.
type Services = BTreeMap<(String, u16), (String, String)>;

fn services_truth(lab: &Lab, family: &str) -> Services {
    let o = run(Command::new("bash")
        .arg(repo_root().join("scripts/lab.sh"))
        .args([
            "truth",
            "--id",
            &lab.id.to_string(),
            "--services",
            "--banners",
            "--family",
            family,
        ]));
    assert!(o.status.success(), "truth --banners: {}", stderr(&o));
    let mut t = Services::new();
    for line in stdout(&o).lines() {
        let mut f = line.splitn(4, ' ');
        let (ip, port, service, product) = (
            f.next().unwrap(),
            f.next().unwrap(),
            f.next().unwrap(),
            f.next().unwrap_or(""),
        );
        t.insert(
            (canonical_ip(ip), port.parse().unwrap()),
            (service.to_string(), product.to_string()),
        );
    }
    assert!(!t.is_empty());
    t
}

/// Every NDJSON object of `path`, keyed by (ip, port); each at most once.
fn ndjson(path: &Path) -> BTreeMap<(String, u16), Value> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let key = (
            canonical_ip(v["ip"].as_str().unwrap()),
            v["port"].as_u64().unwrap() as u16,
        );
        assert!(out.insert(key, v).is_none(), "{line} twice");
    }
    out
}

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or("")
}

/// The services' ports, the lab's list.
fn service_ports(lab: &Lab) -> String {
    lab.get("LAB_SERVICE_PORTS").to_string()
}

/// The first `n` hosts of the IPv4 block.
fn first_v4(lab: &Lab, n: u32) -> String {
    let b = lab.base4();
    format!("{b}-{}", std::net::Ipv4Addr::from(u32::from(b) + n - 1))
}

fn first_v6(lab: &Lab, n: u32) -> String {
    let b = lab.base6();
    format!(
        "{b}-{}",
        std::net::Ipv6Addr::from(u128::from(b) + u128::from(n) - 1)
    )
}

/// Runs a banner scan of `targets` into NDJSON; returns the results and
/// the log.
fn banner_scan(
    lab: &Lab,
    targets: &str,
    extra: &[&str],
    out: &Path,
) -> (BTreeMap<(String, u16), Value>, String) {
    let o = run_bounded(
        lab.scan()
            .args([targets, "-p", &service_ports(lab), "--banners"])
            .args(extra)
            .args(["--format", "ndjson", "-o", out.to_str().unwrap()]),
        Duration::from_secs(180),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    (ndjson(out), stderr(&o))
}

/// How many of `truth`'s open ports have a banner and the truth's service
/// and product in `got`; the rest, listed.
fn agreement(
    got: &BTreeMap<(String, u16), Value>,
    truth: &Services,
) -> (usize, usize, Vec<String>) {
    let (mut with_banner, mut named, mut rest) = (0, 0, Vec::new());
    for (key, (service, product)) in truth {
        let Some(v) = got.get(key) else {
            rest.push(format!("{key:?}: missing"));
            continue;
        };
        assert_eq!(text(v, "state"), "open", "{v}");
        if !text(v, "banner").is_empty() {
            with_banner += 1;
        }
        if text(v, "service") == service && text(v, "product") == product {
            named += 1;
        } else {
            rest.push(format!(
                "{key:?}: {} / {} (want {service} / {product}), banner {:?}",
                text(v, "service"),
                text(v, "product"),
                text(v, "banner")
            ));
        }
    }
    (with_banner, named, rest)
}

#[test]
fn banners_of_every_service_on_256_hosts_agree_with_the_truth_and_nmap() {
    let name = "banners_of_every_service_on_256_hosts_agree_with_the_truth_and_nmap";
    if !require_root(name) {
        return;
    }
    let lab = Lab::up_with(3, None, &["--services"]);
    let dir = temp_dir(name);
    let truth = services_truth(&lab, "4");
    let truth = lab_within(&lab, &truth, 256);
    // 2,560 probes at 20,000 a second: every open port's session runs at
    // once against the daemons.
    let out = dir.join("v4.ndjson");
    let (got, log) = banner_scan(
        &lab,
        &first_v4(&lab, 256),
        &["--rate", "20000", "--banner-timeout", "30", "--wait", "1"],
        &out,
    );
    let opens = got.values().filter(|v| text(v, "state") == "open").count();
    assert_eq!(opens, truth.len(), "{log}");
    let (with_banner, named, rest) = agreement(&got, &truth);
    assert_eq!(
        with_banner,
        truth.len(),
        "every open port has a banner: {rest:#?}\n{log}"
    );
    assert!(
        named * 100 >= truth.len() * 95,
        "{named} of {} named as the truth: {rest:#?}\n{log}",
        truth.len()
    );
    eprintln!(
        "IPv4: {named} of {} ports named as the truth; the rest: {rest:#?}",
        truth.len()
    );

    // nmap -sV on a sample of hosts: the same service and product.
    let sample: Vec<String> = ["0", "1", "2", "6"]
        .iter()
        .map(|o| {
            std::net::Ipv4Addr::from(u32::from(lab.base4()) + o.parse::<u32>().unwrap()).to_string()
        })
        .collect();
    let xml = nmap(
        &lab,
        "4",
        &["-sV", "-Pn", "-p", &service_ports(&lab)],
        &sample,
    );
    let by_nmap = nmap_services(&xml);
    let (mut same, mut differ) = (0, Vec::new());
    for (key, (service, product)) in &by_nmap {
        let v = &got[key];
        if text(v, "service") == service && text(v, "product") == product {
            same += 1;
        } else {
            differ.push(format!(
                "{key:?}: ours {} / {}, nmap {service} / {product}",
                text(v, "service"),
                text(v, "product")
            ));
        }
    }
    assert!(
        by_nmap.len() >= 30,
        "nmap found {} ports: {xml}",
        by_nmap.len()
    );
    assert!(
        same * 100 >= by_nmap.len() * 95,
        "{same} of {} agree with nmap -sV: {differ:#?}",
        by_nmap.len()
    );
    eprintln!(
        "nmap -sV: {same} of {} agree; the rest: {differ:#?}",
        by_nmap.len()
    );

    // TLS: the lab's certificates, through TLS 1.3 (443), TLS 1.2 (8443),
    // SMTP's STARTTLS (25), POP3's STLS (110) and IMAP's STARTTLS (143).
    // A certificate reported is always the lab's; on a loaded machine a
    // few STARTTLS answers may come after the session's deadline, so 95%
    // of the hosts must have it.
    let certs = lab_certs(&lab);
    for (port, version) in [
        (443, "TLSv1.3"),
        (8443, "TLSv1.2"),
        (25, ""),
        (110, ""),
        (143, ""),
    ] {
        let want = &certs[&port];
        let of_port: Vec<&Value> = got
            .iter()
            .filter(|((_, p), v)| *p == port && text(v, "state") == "open")
            .map(|(_, v)| v)
            .collect();
        let mut with_cert = 0;
        for v in &of_port {
            if text(v, "cert_subject").is_empty() {
                continue;
            }
            with_cert += 1;
            if !version.is_empty() {
                assert_eq!(text(v, "tls_version"), version, "{v}");
            }
            assert_eq!(text(v, "cert_subject"), want.subject, "{port}: {v}");
            assert_eq!(
                text(v, "cert_issuer"),
                want.subject,
                "{port}: self-signed: {v}"
            );
            assert_eq!(text(v, "cert_not_before"), want.not_before, "{port}: {v}");
            assert_eq!(text(v, "cert_not_after"), want.not_after, "{port}: {v}");
            assert!(!text(v, "tls_cipher").is_empty(), "{v}");
        }
        assert!(
            !of_port.is_empty() && with_cert * 100 >= of_port.len() * 95,
            "port {port}: {with_cert} of {} sessions reported the certificate",
            of_port.len()
        );
        eprintln!(
            "port {port}: {with_cert} of {} sessions reported the lab's certificate",
            of_port.len()
        );
    }

    // IPv6: a smaller block, the same agreement.
    let truth6 = lab_within(&lab, &services_truth(&lab, "6"), 32);
    let (got6, log6) = banner_scan(
        &lab,
        &first_v6(&lab, 32),
        &["--rate", "20000", "--banner-timeout", "20", "--wait", "1"],
        &dir.join("v6.ndjson"),
    );
    let (with_banner6, named6, rest6) = agreement(&got6, &truth6);
    assert_eq!(with_banner6, truth6.len(), "{rest6:#?}\n{log6}");
    assert!(named6 * 100 >= truth6.len() * 95, "{rest6:#?}");
}

/// `truth` of the hosts of offset below `n`.
fn lab_within(lab: &Lab, truth: &Services, n: u128) -> Services {
    truth
        .iter()
        .filter(|((ip, _), _)| lab.offset(ip) < n)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// (ip, port) -> (service name, product) of nmap -sV's XML, open ports.
fn nmap_services(xml: &str) -> Services {
    let mut out = Services::new();
    let mut addr = String::new();
    let mut port = 0u16;
    let attr = |part: &str, name: &str| -> Option<String> {
        let start = part.find(&format!(" {name}=\""))? + name.len() + 3;
        Some(part[start..].split('"').next().unwrap().to_string())
    };
    for part in xml.split('<') {
        if part.starts_with("address ") {
            addr = canonical_ip(&attr(part, "addr").unwrap());
        } else if part.starts_with("port ") {
            port = attr(part, "portid").unwrap().parse().unwrap();
        } else if part.starts_with("service ") {
            out.insert(
                (addr.clone(), port),
                (
                    attr(part, "name").unwrap(),
                    attr(part, "product").unwrap_or_default(),
                ),
            );
        }
    }
    out
}

struct Cert {
    subject: String,
    not_before: String,
    not_after: String,
}

/// The lab's certificate of each TLS port, read with openssl: its
/// subject in certificate order (as synsweep and openssl print it) and its
/// validity in RFC 3339.
fn lab_certs(lab: &Lab) -> BTreeMap<u16, Cert> {
    let o = run(Command::new("bash")
        .arg(repo_root().join("scripts/lab.sh"))
        .args(["certs", "--id", &lab.id.to_string()]));
    assert!(o.status.success(), "{}", stderr(&o));
    let mut out = BTreeMap::new();
    for line in stdout(&o).lines() {
        let (port, file) = line.split_once(' ').unwrap();
        let x = run(
            Command::new("openssl").args(["x509", "-noout", "-subject", "-dates", "-in", file])
        );
        let text = stdout(&x);
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k))
                .unwrap_or_else(|| panic!("{k} in {text}"))
                .trim()
                .to_string()
        };
        // openssl's default one-line form, in certificate order, spaced
        // around its equals signs: "CN = a, O = b".
        let subject = field("subject=").replace(" = ", "=");
        out.insert(
            port.parse().unwrap(),
            Cert {
                subject,
                not_before: rfc3339(&field("notBefore=")),
                not_after: rfc3339(&field("notAfter=")),
            },
        );
    }
    out
}

/// "Nov 30 11:00:00 2026 GMT" -> "2026-11-30T11:00:00Z".
fn rfc3339(openssl: &str) -> String {
    let f: Vec<&str> = openssl.split_whitespace().collect();
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == f[0])
    .unwrap()
        + 1;
    format!(
        "{}-{month:02}-{:02}T{}Z",
        f[3],
        f[1].parse::<u32>().unwrap(),
        f[2]
    )
}

/// The RST segments of a pcap file: (source address, flags).
fn resets(pcap: &Path) -> Vec<(String, u8)> {
    use synsweep::wire::reply::{Transport, parse_frame, tcp_flags};
    let bytes = std::fs::read(pcap).unwrap();
    assert!(bytes.len() >= 24, "pcap header");
    assert_eq!(
        &bytes[0..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian pcap"
    );
    let mut at = 24;
    let mut out = Vec::new();
    while at + 16 <= bytes.len() {
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = &bytes[at + 16..(at + 16 + caplen).min(bytes.len())];
        at += 16 + caplen;
        if let Ok(r) = parse_frame(frame)
            && let Transport::Tcp(t) = r.transport
            && t.flags & tcp_flags::RST != 0
        {
            out.push((r.src.to_string(), t.flags));
        }
    }
    out
}

/// Captures the lab side of the veth (where our frames arrive) while
/// `scan` runs; returns the pcap.
fn capture_during(lab: &Lab, out: &Path, scan: &mut Command) -> Vec<(String, u8)> {
    let ns = format!("sswlab{}", lab.id);
    let mut dump = Command::new("ip")
        .args([
            "netns", "exec", &ns, "tcpdump", "-i", "lab0", "-nn", "-U", "-w",
        ])
        .arg(out)
        .arg("tcp")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tcpdump");
    std::thread::sleep(Duration::from_millis(1500));
    let o = run_bounded(scan, Duration::from_secs(120));
    std::thread::sleep(Duration::from_millis(500));
    sigint(&dump);
    dump.wait().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    resets(out)
}

#[test]
fn the_host_kernel_resets_nothing_and_kill_9_leaves_nothing() {
    let name = "the_host_kernel_resets_nothing_and_kill_9_leaves_nothing";
    if !require_root(name) {
        return;
    }
    let lab = Lab::up_with(4, None, &["--services"]);
    let dir = temp_dir(name);
    let us = lab.get("LAB_SOURCE_IP").to_string();
    let ports = service_ports(&lab);
    let targets = first_v4(&lab, 64);
    // The control: a SYN scan without sessions. The kernel owns no socket
    // for its flows and resets every SYN-ACK, with a bare RST (RFC 9293:
    // the reset of a segment carrying ACK has no ACK itself).
    let kernel = capture_during(
        &lab,
        &dir.join("syn.pcap"),
        lab.scan()
            .args([
                targets.as_str(),
                "-p",
                &ports,
                "--rate",
                "20000",
                "--wait",
                "1",
            ])
            .args(["-o", dir.join("syn.txt").to_str().unwrap()]),
    );
    let bare = |r: &[(String, u8)]| {
        r.iter()
            .filter(|(src, f)| *src == us && f & 0x10 == 0)
            .count()
    };
    assert!(
        bare(&kernel) > 100,
        "the control scan drew the kernel's resets: {kernel:?}"
    );
    // Banner mode: our own resets carry ACK; the kernel sends none.
    let banners = capture_during(
        &lab,
        &dir.join("banners.pcap"),
        lab.scan()
            .args([
                targets.as_str(),
                "-p",
                &ports,
                "--banners",
                "--rate",
                "20000",
            ])
            .args(["--banner-timeout", "15", "--wait", "1"])
            .args([
                "--format",
                "ndjson",
                "-o",
                dir.join("b.ndjson").to_str().unwrap(),
            ]),
    );
    assert_eq!(
        bare(&banners),
        0,
        "the host kernel reset sessions: {banners:?}"
    );
    let got = ndjson(&dir.join("b.ndjson"));
    let with_banner = got
        .values()
        .filter(|v| !text(v, "banner").is_empty())
        .count();
    let truth = lab_within(&lab, &services_truth(&lab, "4"), 64);
    assert_eq!(with_banner, truth.len());

    // kill -9 in the middle of a banner scan: no rule, address or socket
    // of ours survives it.
    let snapshot = || {
        let out = |c: &mut Command| stdout(&run(c));
        (
            out(Command::new("nft").args(["list", "ruleset"])),
            out(Command::new("ip").args(["-o", "addr"])),
            out(Command::new("ip").args(["route", "show", "table", "all"])),
        )
    };
    let before = snapshot();
    kill_9_after(
        lab.scan()
            .args([lab.block(), "-p", &ports, "--banners", "--rate", "5000"])
            .args(["-o", dir.join("killed.txt").to_str().unwrap()]),
        Duration::from_secs(2),
    );
    assert!(
        before == snapshot(),
        "kill -9 left a rule, address or route behind"
    );
    let sockets = stdout(&run(Command::new("ss").args([
        "-Htan", "sport", ">=", ":61000", "and", "sport", "<=", ":61255",
    ])));
    assert!(
        sockets.trim().is_empty(),
        "sockets left on our source ports:\n{sockets}"
    );
}

#[test]
fn banners_survive_two_percent_loss_each_way() {
    let name = "banners_survive_two_percent_loss_each_way";
    if !require_root(name) {
        return;
    }
    let lab = Lab::up_with(5, Some(2), &["--services"]);
    let dir = temp_dir(name);
    let truth = lab_within(&lab, &services_truth(&lab, "4"), 256);
    let (got, log) = banner_scan(
        &lab,
        &first_v4(&lab, 256),
        &[
            "--rate",
            "20000",
            "--retries",
            "2",
            "--banner-timeout",
            "20",
            "--wait",
            "1",
        ],
        &dir.join("lossy.ndjson"),
    );
    let (with_banner, named, rest) = agreement(&got, &truth);
    assert!(
        with_banner * 100 >= truth.len() * 99,
        "{with_banner} of {} banners: {rest:#?}\n{log}",
        truth.len()
    );
    assert!(named * 100 >= truth.len() * 95, "{rest:#?}");
    eprintln!(
        "2% loss: {with_banner} of {} banners, {named} named; {log}",
        truth.len()
    );
}
