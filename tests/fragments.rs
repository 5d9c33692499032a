//! Packet shaping against the lab (scripts/lab.sh, id 8): `-f`, `-ff` and
//! `--mtu 16` scans equal the unfragmented ground truth, since the lab's
//! kernel reassembles the fragments; a capture in the lab's namespace
//! shows the fragments field by field; `--data-length` probes carry their
//! bytes and still draw the truth; `--badsum` probes draw no answer at
//! all. Root only; every scan names the lab's veth.

mod common;

use common::*;
use etherparse::{Ipv4Header, TcpHeader};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const LAB: u32 = 8;
/// A SYN probe's TCP header: 20 bytes, MSS, NOP NOP, timestamps.
const SYN_LEN: usize = 36;

/// Runs `args` against the lab into a CSV with every state shown; returns
/// the results of `proto` (and fails on any other) and the log. One retry:
/// on two cores shared with builds, a starved receive thread can lose a
/// reply, which says nothing of the probes' shape.
fn scan_csv(lab: &Lab, proto: &str, args: &[&str], out: &Path) -> (Results, String) {
    let o = run_bounded(
        lab.scan()
            .args(args)
            .args(["--retries", "1", "--show", "all", "--format", "csv", "-o"])
            .arg(out),
        Duration::from_secs(240),
    );
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    let got = read_csv_of(out)
        .into_iter()
        .map(|((ip, p, port), v)| {
            assert_eq!(p, proto, "{ip} {port}");
            ((ip, port), v)
        })
        .collect();
    (got, stderr(&o))
}

/// tcpdump in the lab's namespace on its end of the veth (where our
/// frames arrive), stopped by its pid when dropped.
struct Capture {
    child: Child,
}

impl Capture {
    /// Captures the IPv4 packets to `target`.
    fn start(lab: &Lab, pcap: &Path, target: &str) -> Capture {
        let ns = format!("sswlab{}", lab.id);
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns, "tcpdump", "-i", "lab0", "-nn", "-U"])
            .arg("-w")
            .arg(pcap)
            .args(["ip", "dst", "host", target])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tcpdump");
        // tcpdump says "listening on" once its capture is open.
        let mut line = String::new();
        let stderr = child.stderr.take().unwrap();
        BufReader::new(stderr).read_line(&mut line).unwrap();
        assert!(line.contains("listening on"), "tcpdump: {line}");
        Capture { child }
    }

    /// Stops the capture and returns its frames.
    fn stop(mut self, pcap: &Path) -> Vec<Vec<u8>> {
        // The last frames are in by the time the scan has waited for
        // replies; SIGINT makes tcpdump flush and close the file.
        sigint(&self.child);
        self.child.wait().unwrap();
        read_pcap(pcap)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            sigint(&self.child);
            let _ = self.child.wait();
        }
    }
}

/// The frames of a little-endian classic pcap file.
fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    assert!(bytes.len() >= 24, "pcap header");
    assert_eq!(
        &bytes[0..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian pcap"
    );
    let mut at = 24;
    let mut frames = Vec::new();
    while at + 16 <= bytes.len() {
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        frames.push(bytes[at + 16..at + 16 + caplen].to_vec());
        at += 16 + caplen;
    }
    frames
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Runs `args` (a single host first) against the lab while capturing;
/// returns the IPv4 packets (header, data) that reached the host.
fn captured(lab: &Lab, pcap: &Path, args: &[&str]) -> Vec<(Ipv4Header, Vec<u8>)> {
    // The first argument is the one host scanned.
    let capture = Capture::start(lab, pcap, args[0]);
    let o = run_bounded(
        lab.scan()
            .args(args)
            .args(["--wait", "1", "-o", "/dev/null"]),
        Duration::from_secs(60),
    );
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    capture
        .stop(pcap)
        .iter()
        .map(|f| {
            assert_eq!(&f[12..14], &[0x08, 0x00], "IPv4");
            let (ip, rest) = Ipv4Header::from_slice(&f[14..]).unwrap();
            let data = rest[..usize::from(ip.total_len) - ip.header_len()].to_vec();
            (ip, data)
        })
        // The host's kernel resets the SYN-ACKs of open ports: not ours.
        .filter(|(ip, data)| {
            let whole = !ip.more_fragments && ip.fragment_offset.value() == 0;
            !(whole && TcpHeader::from_slice(data).is_ok_and(|(t, _)| t.rst))
        })
        .collect()
}

/// Checks the fragments of a capture field by field and joins each
/// probe's: returns (the IP ID, the header, the joined data) per probe.
/// One transmit thread sends a probe's fragments back to back, so a probe
/// is a run of frames from offset 0 to the one without more-fragments.
fn reassemble(packets: &[(Ipv4Header, Vec<u8>)], size: usize) -> Vec<(Ipv4Header, Vec<u8>)> {
    let mut probes = Vec::new();
    let mut current: Option<(Ipv4Header, Vec<u8>)> = None;
    for (i, (ip, data)) in packets.iter().enumerate() {
        let offset = usize::from(ip.fragment_offset.value()) * 8;
        assert_eq!(ip.header_checksum, ip.calc_header_checksum(), "frame {i}");
        assert!(!ip.dont_fragment, "frame {i}: a fragment without DF");
        match current.as_mut() {
            None => {
                assert_eq!(offset, 0, "frame {i} starts a probe");
                current = Some((ip.clone(), data.clone()));
            }
            Some((first, joined)) => {
                assert_eq!(ip.identification, first.identification, "frame {i}");
                assert_eq!(
                    (ip.source, ip.destination, ip.protocol),
                    (first.source, first.destination, first.protocol),
                    "frame {i}"
                );
                assert_eq!(offset, joined.len(), "frame {i}: offset in 8-byte units");
                joined.extend_from_slice(data);
            }
        }
        if ip.more_fragments {
            assert_eq!(data.len(), size, "frame {i}: {size} bytes but the last");
        } else {
            assert!(data.len() <= size, "frame {i}");
            probes.push(current.take().unwrap());
        }
    }
    assert!(current.is_none(), "a probe without its last fragment");
    probes
}

/// The SYN in `data` (to `ip`): its destination port, once its checksum
/// and length were checked.
fn syn_port(ip: &Ipv4Header, data: &[u8], tcp_data: usize) -> u16 {
    let (tcp, payload) = TcpHeader::from_slice(data).unwrap();
    assert!(tcp.syn && !tcp.ack && !tcp.rst);
    assert_eq!(tcp.header_len(), SYN_LEN);
    assert_eq!(payload.len(), tcp_data);
    assert_eq!(
        tcp.checksum,
        tcp.calc_checksum_ipv4(ip, payload).unwrap(),
        "TCP checksum"
    );
    tcp.destination_port
}

fn ports(lab: &Lab) -> Vec<u16> {
    lab.ports().split(',').map(|p| p.parse().unwrap()).collect()
}

#[test]
fn fragmented_syn_scans_equal_the_unfragmented_truth() {
    let Some((lab, truth, dir)) = lab_test(
        "fragmented_syn_scans_equal_the_unfragmented_truth",
        LAB,
        None,
    ) else {
        return;
    };
    // 65,536 probes twice; at 20,000 frames a second -f takes 33 s.
    for (shape, pieces) in [(&["-f"][..], 5), (&["-ff"], 3), (&["--mtu", "16"], 3)] {
        let out = dir.join("frag.csv");
        let args: Vec<&str> = [lab.block(), "-p", lab.ports(), "--rate", "20000"]
            .into_iter()
            .chain(["--wait", "1"])
            .chain(shape.iter().copied())
            .collect();
        let (got, log) = scan_csv(&lab, "tcp", &args, &out);
        assert!(got == truth, "{shape:?}: {}\n{log}", diff(&got, &truth));
        // A 36-byte SYN in 8- or 16-byte pieces, every attempt.
        let carried = format!(
            "fragments {} frames on the wire carried those 131072 probes",
            131072 * pieces
        );
        assert!(log.contains(&carried), "{shape:?}: {log}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_fragmented_udp_scan_equals_the_truth() {
    let Some((lab, _, dir)) = lab_test("a_fragmented_udp_scan_equals_the_truth", LAB, None) else {
        return;
    };
    let truth = lab.truth_for(&["--family", "4", "--scan", "udp", "--silent"]);
    let args = [lab.block(), "-p", lab.get("LAB_UDP_PORTS"), "-sU", "-f"]
        .into_iter()
        .chain(["--rate", "50000", "--wait", "2"])
        .collect::<Vec<_>>();
    let (got, log) = scan_csv(&lab, "udp", &args, &dir.join("udp.csv"));
    assert!(got == truth, "{}\n{log}", diff(&got, &truth));
    assert!(
        got.values()
            .any(|(s, r)| s == "open" && r == "udp-response"),
        "the daemons answered fragmented payloads"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_capture_shows_the_fragments_field_by_field() {
    let name = "a_capture_shows_the_fragments_field_by_field";
    if !require_root(name) {
        return;
    }
    let lab = Lab::up(LAB, None);
    let dir = temp_dir(name);
    let host = lab.base4().to_string();
    let ports = ports(&lab);
    let args = |extra: &'static [&'static str]| -> Vec<String> {
        [host.as_str(), "-p", lab.ports(), "--rate", "1000"]
            .into_iter()
            .chain(extra.iter().copied())
            .map(String::from)
            .collect()
    };

    // Unfragmented: one packet per port, DF set, the SYN whole.
    let whole = captured(&lab, &dir.join("whole.pcap"), &refs(&args(&[])));
    assert_eq!(whole.len(), ports.len());
    let mut seen: Vec<u16> = whole
        .iter()
        .map(|(ip, data)| {
            assert!(ip.dont_fragment && !ip.more_fragments);
            assert_eq!(ip.fragment_offset.value(), 0);
            syn_port(ip, data, 0)
        })
        .collect();
    seen.sort();
    assert_eq!(seen, ports);
    let unfragmented = whole[0].1.len();
    assert_eq!(unfragmented, SYN_LEN);

    for (extra, size) in [(&["-f"][..], 8), (&["-ff"], 16), (&["--mtu", "16"], 16)] {
        let v: Vec<String> = args(&[])
            .into_iter()
            .chain(extra.iter().map(|s| s.to_string()))
            .collect();
        let packets = captured(&lab, &dir.join("frag.pcap"), &refs(&v));
        assert_eq!(
            packets.len(),
            ports.len() * unfragmented.div_ceil(size),
            "{extra:?}"
        );
        let probes = reassemble(&packets, size);
        assert_eq!(probes.len(), ports.len(), "{extra:?}");
        let mut seen: Vec<u16> = probes
            .iter()
            .map(|(first, data)| {
                assert_eq!(data.len(), unfragmented, "{extra:?}");
                // The pseudo-header's length is the whole segment's.
                let mut ip = first.clone();
                ip.set_payload_len(data.len()).unwrap();
                syn_port(&ip, data, 0)
            })
            .collect();
        seen.sort();
        assert_eq!(seen, ports, "{extra:?}");
    }

    // --data-length: every SYN carries the same 25 bytes after its header.
    let v: Vec<String> = args(&["--data-length", "25"]);
    let packets = captured(&lab, &dir.join("data.pcap"), &refs(&v));
    assert_eq!(packets.len(), ports.len());
    let mut payloads = BTreeMap::new();
    for (ip, data) in &packets {
        assert_eq!(usize::from(ip.total_len), 20 + SYN_LEN + 25);
        let port = syn_port(ip, data, 25);
        payloads.insert(port, data[SYN_LEN..].to_vec());
    }
    assert_eq!(payloads.len(), ports.len());
    let first = payloads.values().next().unwrap();
    assert!(payloads.values().all(|p| p == first), "drawn once per run");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn data_length_scans_equal_the_truth() {
    let Some((lab, truth, dir)) = lab_test("data_length_scans_equal_the_truth", LAB, None) else {
        return;
    };
    // Both families, then IPv4 fragments: a RST acknowledges the data too.
    let both = lab.truth_of("all");
    for (blocks, extra, truth) in [
        (
            &[lab.block(), lab.block6()][..],
            &["--data-length", "40"][..],
            &both,
        ),
        (&[lab.block()], &["--data-length", "9", "-ff"], &truth),
    ] {
        let args: Vec<&str> = blocks
            .iter()
            .copied()
            .chain(["-p", lab.ports(), "--rate", "20000", "--wait", "1"])
            .chain(extra.iter().copied())
            .collect();
        let (got, log) = scan_csv(&lab, "tcp", &args, &dir.join("data.csv"));
        assert!(got == *truth, "{extra:?}: {}\n{log}", diff(&got, truth));
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn badsum_probes_draw_no_answer_at_all() {
    let Some((lab, _, dir)) = lab_test("badsum_probes_draw_no_answer_at_all", LAB, None) else {
        return;
    };
    // TCP and UDP, both families, the daemons' hosts among the targets.
    let targets = lab.first_hosts(1024);
    let tcp = lab.within(&lab.truth_of("all"), 1024);
    let udp = lab.within(
        &lab.truth_for(&["--family", "all", "--scan", "udp", "--silent"]),
        1024,
    );
    let answered = |r: &Results| r.values().filter(|(_, why)| why != "no-response").count();
    assert!(
        answered(&tcp) > 1000 && answered(&udp) > 5,
        "the truth has answers"
    );
    let ports = format!("T:{},U:{}", lab.ports(), lab.get("LAB_UDP_PORTS"));
    let args = [targets.as_str(), "-p", &ports, "-sS", "-sU", "--badsum"]
        .into_iter()
        .chain([
            "--rate", "20000", "--wait", "2", "--format", "csv", "--show", "all",
        ])
        .collect::<Vec<_>>();
    let out = dir.join("badsum.csv");
    let o = run_bounded(
        lab.scan().args(&args).arg("-o").arg(&out),
        Duration::from_secs(120),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let got = read_csv_of(&out);
    assert_eq!(got.len(), tcp.len() + udp.len());
    for ((ip, proto, port), (state, reason)) in &got {
        let silence = if proto == "tcp" {
            "filtered"
        } else {
            "open|filtered"
        };
        assert_eq!(
            (state.as_str(), reason.as_str()),
            (silence, "no-response"),
            "{ip} {port}/{proto} answered a bad checksum"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}
