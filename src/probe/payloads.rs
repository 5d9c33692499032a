//! UDP payloads: what to send to a port so that a server there answers,
//! and where the cookie goes so that the answer proves itself.
//!
//! Each built-in payload is a protocol request written for this project
//! from the protocol's specification, one that a server in its default
//! configuration answers. Where the protocol has an identifier the answer
//! must echo (a DNS transaction id, an SNMP request-id, NTP's transmit
//! timestamp returned as the origin timestamp...), the payload names the
//! bytes and the check: the UDP module writes the cookie's bits there and
//! accepts an answer only if it echoes them. Payloads read from an
//! nmap-payloads file (`--udp-payloads`, `--nmap-payloads`) have no
//! identifier we know of; their answers are checked by address, port and
//! the cookie-chosen source port alone.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where an answer carries our identifier back, and how to find it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Echo {
    /// Nothing to check beyond address and ports.
    None,
    /// The answer's bytes `at..at + len` equal the probe's `at..at + len`
    /// (DNS, NetBIOS, mDNS, memcached, portmapper, IKE, STUN).
    Same { at: usize, len: usize },
    /// The answer's bytes `answer_at..+len` equal the probe's `at..+len`
    /// (NTP returns our transmit timestamp as its origin timestamp; CoAP
    /// keeps the message id two bytes in).
    Moved {
        at: usize,
        answer_at: usize,
        len: usize,
    },
    /// SNMP: the response PDU's request-id equals the probe's, a 4-byte
    /// INTEGER at `at`.
    SnmpRequestId { at: usize },
    /// SIP: the answer holds the probe's Call-ID, the `len` ASCII bytes at
    /// `at`.
    Text { at: usize, len: usize },
}

/// How the cookie fills a payload's identifier field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fill {
    /// The cookie's bytes, big-endian, repeated as needed.
    Bytes,
    /// SNMP's request-id, a signed BER INTEGER: 30 bits of the cookie with
    /// the top byte in 0x40..=0x7f, so the value's shortest encoding is our
    /// 4 bytes (an agent re-encodes it minimally: 0x00123456 would come
    /// back as 3 bytes).
    SnmpId,
    /// Lowercase hex digits of the cookie.
    Hex,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payload {
    /// A short name for the protocol, for listings.
    pub name: &'static str,
    pub bytes: Vec<u8>,
    /// The identifier field the cookie fills: offset, length, how.
    pub field: Option<(usize, usize, Fill)>,
    pub echo: Echo,
    /// The server answers from another port (TFTP picks a new one).
    pub answers_from_other_port: bool,
}

impl Payload {
    fn fixed(name: &'static str, bytes: Vec<u8>) -> Payload {
        Payload {
            name,
            bytes,
            field: None,
            echo: Echo::None,
            answers_from_other_port: false,
        }
    }

    fn echoing(name: &'static str, bytes: Vec<u8>, at: usize, len: usize) -> Payload {
        Payload {
            name,
            bytes,
            field: Some((at, len, Fill::Bytes)),
            echo: Echo::Same { at, len },
            answers_from_other_port: false,
        }
    }
}

/// A DNS name in wire form.
fn dns_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// A one-question DNS query: id 0 (the cookie's), `flags`, `qname`,
/// `qtype`, `qclass`.
fn dns_query(flags: u16, qname: &str, qtype: u16, qclass: u16) -> Vec<u8> {
    let mut q = vec![0, 0];
    q.extend_from_slice(&flags.to_be_bytes());
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    q.extend_from_slice(&dns_name(qname));
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&qclass.to_be_bytes());
    q
}

/// A BER length, short or long form.
fn ber_len(n: usize) -> Vec<u8> {
    if n < 0x80 {
        vec![n as u8]
    } else {
        vec![0x81, n as u8]
    }
}

fn ber(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend(ber_len(content.len()));
    v.extend_from_slice(content);
    v
}

/// An SNMP GetRequest for sysDescr.0 with community `public`, and the
/// offset of its 4-byte request-id value.
fn snmp_get(version: u8) -> (Vec<u8>, usize) {
    // sysDescr.0 = 1.3.6.1.2.1.1.1.0
    let oid = [0x2b, 6, 1, 2, 1, 1, 1, 0];
    let varbind = ber(0x30, &[ber(0x06, &oid), vec![0x05, 0x00]].concat());
    let varbinds = ber(0x30, &varbind);
    // request-id: INTEGER of 4 bytes, filled per probe.
    let pdu_body = [
        vec![0x02, 0x04, 0, 0, 0, 0],
        vec![0x02, 0x01, 0x00],
        vec![0x02, 0x01, 0x00],
        varbinds,
    ]
    .concat();
    let pdu = ber(0xa0, &pdu_body);
    let msg_body = [vec![0x02, 0x01, version], ber(0x04, b"public"), pdu].concat();
    let msg = ber(0x30, &msg_body);
    // The request-id value follows the message header, version, community
    // and PDU header.
    let header = 1 + ber_len(msg_body.len()).len();
    let pdu_header = 1 + ber_len(pdu_body.len()).len();
    let at = header + 3 + (2 + 6) + pdu_header + 2;
    debug_assert_eq!(&msg[at - 2..at], &[0x02, 0x04]);
    (msg, at)
}

/// The built-in payloads.
pub fn builtin() -> Vec<(Vec<u16>, Payload)> {
    let mut v: Vec<(Vec<u16>, Payload)> = Vec::new();
    // DNS (RFC 1035): a recursion-desired query for the root's NS records,
    // which every server answers (an answer, a referral or a refusal).
    v.push((
        vec![53],
        Payload::echoing("dns", dns_query(0x0100, ".", 2, 1), 0, 2),
    ));
    // NTP (RFC 5905): a version 4 client request; the server copies our
    // transmit timestamp (bytes 40..48) into its origin timestamp (24..32).
    let mut ntp = vec![0u8; 48];
    ntp[0] = 0x23; // LI 0, version 4, mode 3 (client)
    v.push((
        vec![123],
        Payload {
            name: "ntp",
            bytes: ntp,
            field: Some((40, 8, Fill::Bytes)),
            echo: Echo::Moved {
                at: 40,
                answer_at: 24,
                len: 8,
            },
            answers_from_other_port: false,
        },
    ));
    // SNMP (RFC 1157, RFC 3416): GetRequest sysDescr.0, community public,
    // version 1 and version 2c.
    for (name, version) in [("snmp-v1", 0u8), ("snmp-v2c", 1)] {
        let (bytes, at) = snmp_get(version);
        v.push((
            vec![161],
            Payload {
                name,
                bytes,
                field: Some((at, 4, Fill::SnmpId)),
                echo: Echo::SnmpRequestId { at },
                answers_from_other_port: false,
            },
        ));
    }
    // NetBIOS name service (RFC 1002): a node status request for "*".
    let mut nbns = vec![0, 0, 0x00, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0x20];
    nbns.extend_from_slice(b"CK");
    nbns.extend(std::iter::repeat_n(b'A', 30));
    nbns.extend_from_slice(&[0, 0x00, 0x21, 0x00, 0x01]);
    v.push((vec![137], Payload::echoing("netbios-ns", nbns, 0, 2)));
    // SSDP (UPnP device architecture): an M-SEARCH for every device.
    v.push((
        vec![1900],
        Payload::fixed(
            "ssdp",
            b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: ssdp:all\r\n\r\n".to_vec(),
        ),
    ));
    // mDNS (RFC 6762): a query for the DNS-SD service list; from a port
    // other than 5353 it is a legacy unicast query, answered unicast with
    // our id (section 6.7).
    v.push((
        vec![5353],
        Payload::echoing(
            "mdns",
            dns_query(0, "_services._dns-sd._udp.local", 12, 1),
            0,
            2,
        ),
    ));
    // memcached (protocol.txt, UDP): frame header (request id, sequence 0,
    // 1 datagram, reserved), then "version".
    let mut mc = vec![0, 0, 0, 0, 0, 1, 0, 0];
    mc.extend_from_slice(b"version\r\n");
    v.push((vec![11211], Payload::echoing("memcached", mc, 0, 2)));
    // IKEv1 (RFC 2408/2409): a main-mode SA proposal; the answer carries our
    // initiator cookie (bytes 0..8) back.
    v.push((vec![500], Payload::echoing("ike", ike_main_mode(), 0, 8)));
    // SIP (RFC 3261): OPTIONS; every response copies the Call-ID.
    let sip = b"OPTIONS sip:probe@synsweep.invalid SIP/2.0\r\nVia: SIP/2.0/UDP synsweep.invalid;branch=z9hG4bKsynsweep;rport\r\nMax-Forwards: 70\r\nTo: <sip:probe@synsweep.invalid>\r\nFrom: <sip:scan@synsweep.invalid>;tag=synsweep\r\nCall-ID: 0000000000000000@synsweep.invalid\r\nCSeq: 1 OPTIONS\r\nContact: <sip:scan@synsweep.invalid>\r\nAccept: application/sdp\r\nContent-Length: 0\r\n\r\n".to_vec();
    let call_id = sip
        .windows(9)
        .position(|w| w == b"Call-ID: ")
        .expect("a Call-ID")
        + 9;
    v.push((
        vec![5060],
        Payload {
            name: "sip",
            bytes: sip,
            field: Some((call_id, 16, Fill::Hex)),
            echo: Echo::Text {
                at: call_id,
                len: 16,
            },
            answers_from_other_port: false,
        },
    ));
    // ONC RPC portmapper (RFC 5531, RFC 1833): a NULL call to program
    // 100000 version 2; the reply echoes the xid (bytes 0..4).
    let mut rpc = vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    rpc.extend_from_slice(&100_000u32.to_be_bytes());
    rpc.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 0]);
    rpc.extend_from_slice(&[0; 16]); // AUTH_NONE credentials and verifier
    v.push((vec![111], Payload::echoing("portmapper", rpc, 0, 4)));
    // CoAP (RFC 7252): a confirmable GET /.well-known/core; the
    // acknowledgement keeps the message id (bytes 2..4).
    let mut coap = vec![0x40, 0x01, 0, 0, 0xbb];
    coap.extend_from_slice(b".well-known");
    coap.push(0x04);
    coap.extend_from_slice(b"core");
    v.push((
        vec![5683],
        Payload {
            name: "coap",
            bytes: coap,
            field: Some((2, 2, Fill::Bytes)),
            echo: Echo::Same { at: 2, len: 2 },
            answers_from_other_port: false,
        },
    ));
    // TFTP (RFC 1350): a read request; the server answers (data or an
    // error) from a port of its own.
    v.push((
        vec![69],
        Payload {
            answers_from_other_port: true,
            ..Payload::fixed("tftp", b"\x00\x01synsweep.txt\x00octet\x00".to_vec())
        },
    ));
    // STUN (RFC 8489): a binding request; the answer echoes the 96-bit
    // transaction id (bytes 8..20).
    let mut stun = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    stun.extend_from_slice(&[0; 12]);
    v.push((vec![3478], Payload::echoing("stun", stun, 8, 12)));
    // NAT-PMP (RFC 6886): an external address request.
    v.push((vec![5351], Payload::fixed("nat-pmp", vec![0, 0])));
    v
}

/// A minimal IKEv1 main-mode first message: header plus one SA payload with
/// one proposal and one transform (3DES, SHA1, PSK, group 2).
fn ike_main_mode() -> Vec<u8> {
    let attrs: Vec<u8> = [
        [0x80, 0x01, 0x00, 0x05], // encryption: 3DES
        [0x80, 0x02, 0x00, 0x02], // hash: SHA1
        [0x80, 0x03, 0x00, 0x01], // authentication: pre-shared key
        [0x80, 0x04, 0x00, 0x02], // group 2
    ]
    .concat();
    let transform_len = 8 + attrs.len();
    let mut transform = vec![0, 0];
    transform.extend_from_slice(&(transform_len as u16).to_be_bytes());
    transform.extend_from_slice(&[1, 1, 0, 0]); // number 1, KEY_IKE
    transform.extend(attrs);
    let proposal_len = 8 + transform.len();
    let mut proposal = vec![0, 0];
    proposal.extend_from_slice(&(proposal_len as u16).to_be_bytes());
    proposal.extend_from_slice(&[1, 1, 0, 1]); // number 1, ISAKMP, no SPI, 1 transform
    proposal.extend(transform);
    let sa_len = 12 + proposal.len();
    let mut sa = vec![0, 0];
    sa.extend_from_slice(&(sa_len as u16).to_be_bytes());
    sa.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]); // DOI IPsec, situation identity
    sa.extend(proposal);
    let total = 28 + sa.len();
    let mut msg = vec![0u8; 8]; // initiator cookie, filled per probe
    msg.extend_from_slice(&[0; 8]); // responder cookie
    msg.extend_from_slice(&[1, 0x10, 2, 0]); // next SA, version 1.0, main mode
    msg.extend_from_slice(&[0, 0, 0, 0]); // message id
    msg.extend_from_slice(&(total as u32).to_be_bytes());
    msg.extend(sa);
    msg
}

/// The longest UDP payload: an IPv6 datagram of it fills a 1500-byte MTU
/// (1500 - 40 - 8), so no probe needs fragmenting.
pub const MAX_PAYLOAD: usize = 1452;

/// A bad line of a payload file.
#[derive(Debug, PartialEq, Eq)]
pub struct PayloadFileError {
    pub path: PathBuf,
    pub line: usize,
    pub why: String,
}

impl fmt::Display for PayloadFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "cannot read {}: {}", self.path.display(), self.why)
        } else {
            write!(
                f,
                "{}:{}: {} (accepted: `udp PORTS \"payload\" [\"more\"...] [source PORT]`, nmap-payloads format)",
                self.path.display(),
                self.line,
                self.why
            )
        }
    }
}

impl std::error::Error for PayloadFileError {}

/// A token of a payload file, with its line.
enum Token {
    Word(String),
    Quoted(Vec<u8>),
}

/// C-style escapes as nmap-payloads uses them: `\xHH`, `\0`, `\n`, `\r`,
/// `\t`, `\\`, `\"`, `\'`, `\a`, `\b`, `\f`, `\v`.
fn unescape(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let e = bytes.next().ok_or("a string ends in a lone backslash")?;
        out.push(match e {
            b'x' => {
                let hi = bytes.next().ok_or("\\x needs two hex digits")?;
                let lo = bytes.next().ok_or("\\x needs two hex digits")?;
                let hex = [hi, lo];
                let text = std::str::from_utf8(&hex).map_err(|_| "\\x needs two hex digits")?;
                u8::from_str_radix(text, 16).map_err(|_| format!("\\x{text} is not a hex byte"))?
            }
            b'0' => 0,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'a' => 7,
            b'b' => 8,
            b'f' => 12,
            b'v' => 11,
            b'\\' | b'"' | b'\'' => e,
            other => {
                return Err(format!(
                    "\\{} is not an escape this format has",
                    other as char
                ));
            }
        });
    }
    Ok(out)
}

fn tokens(text: &str, path: &Path) -> Result<Vec<(Token, usize)>, PayloadFileError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let err = |why: String| PayloadFileError {
            path: path.to_path_buf(),
            line: i + 1,
            why,
        };
        let mut rest = line.trim_start();
        while !rest.is_empty() && !rest.starts_with('#') {
            if let Some(q) = rest.strip_prefix('"') {
                // The closing quote is the first one not escaped.
                let mut end = None;
                let mut escaped = false;
                for (j, c) in q.char_indices() {
                    match c {
                        _ if escaped => escaped = false,
                        '\\' => escaped = true,
                        '"' => {
                            end = Some(j);
                            break;
                        }
                        _ => {}
                    }
                }
                let end = end.ok_or_else(|| err("a string is not closed on its line".into()))?;
                out.push((Token::Quoted(unescape(&q[..end]).map_err(err)?), i + 1));
                rest = q[end + 1..].trim_start();
            } else {
                let end = rest
                    .find(|c: char| c.is_whitespace() || c == '"')
                    .unwrap_or(rest.len());
                out.push((Token::Word(rest[..end].to_string()), i + 1));
                rest = rest[end..].trim_start();
            }
        }
    }
    Ok(out)
}

/// The payloads of a file in nmap-payloads format: entries of `udp`, a
/// port list, one or more quoted strings (joined), and an optional
/// `source PORT` (ignored: synsweep chooses its source ports by cookie).
pub fn parse_payload_file(
    text: &str,
    path: &Path,
) -> Result<Vec<(Vec<u16>, Payload)>, PayloadFileError> {
    let err = |line: usize, why: String| PayloadFileError {
        path: path.to_path_buf(),
        line,
        why,
    };
    let toks = tokens(text, path)?;
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let (Token::Word(proto), line) = &toks[i] else {
            return Err(err(
                toks[i].1,
                "a string where an entry should start with `udp`".into(),
            ));
        };
        if proto != "udp" {
            return Err(err(
                *line,
                format!("{proto:?} is not a protocol this file has: udp"),
            ));
        }
        let Some((Token::Word(list), _)) = toks.get(i + 1) else {
            return Err(err(*line, "`udp` needs a port list".into()));
        };
        let mut ports = Vec::new();
        for part in list.split(',') {
            let bad = || err(*line, format!("{part:?} is not a port or range 0-65535"));
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            let (a, b): (u16, u16) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
            if a > b {
                return Err(bad());
            }
            ports.extend(a..=b);
        }
        i += 2;
        let mut bytes = Vec::new();
        let mut strings = 0;
        while let Some((Token::Quoted(b), _)) = toks.get(i) {
            bytes.extend_from_slice(b);
            strings += 1;
            i += 1;
        }
        if strings == 0 {
            return Err(err(*line, "`udp PORTS` needs a quoted payload".into()));
        }
        if bytes.len() > MAX_PAYLOAD {
            return Err(err(
                *line,
                format!(
                    "a payload of {} bytes: at most {MAX_PAYLOAD} fit one frame at a 1500-byte MTU",
                    bytes.len()
                ),
            ));
        }
        if let Some((Token::Word(w), l)) = toks.get(i)
            && w == "source"
        {
            match toks.get(i + 1) {
                Some((Token::Word(p), _)) if p.parse::<u16>().is_ok() => i += 2,
                _ => return Err(err(*l, "`source` needs a port number".into())),
            }
        }
        out.push((ports, Payload::fixed("file", bytes)));
    }
    Ok(out)
}

pub fn read_payload_file(path: &Path) -> Result<Vec<(Vec<u16>, Payload)>, PayloadFileError> {
    let text = std::fs::read(path).map_err(|e| PayloadFileError {
        path: path.to_path_buf(),
        line: 0,
        why: e.to_string(),
    })?;
    // nmap-payloads is ASCII; a stray byte is not ours to refuse.
    parse_payload_file(&String::from_utf8_lossy(&text), path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_least_twelve_services_with_their_identifiers() {
        let all = builtin();
        let names: std::collections::BTreeSet<&str> = all.iter().map(|(_, p)| p.name).collect();
        assert!(names.len() >= 12, "{names:?}");
        for (ports, p) in &all {
            assert!(!ports.is_empty() && !p.bytes.is_empty(), "{}", p.name);
            if let Some((at, len, _)) = p.field {
                assert!(at + len <= p.bytes.len(), "{}", p.name);
            }
        }
        // Two SNMP versions on one port: two probes.
        assert_eq!(all.iter().filter(|(ports, _)| ports == &[161]).count(), 2);
    }

    #[test]
    fn built_in_requests_parse_as_their_protocols() {
        let get = |name: &str| {
            builtin()
                .into_iter()
                .find(|(_, p)| p.name == name)
                .unwrap()
                .1
        };
        let dns = get("dns");
        let msg = etherparse_free_dns(&dns.bytes);
        assert_eq!(msg, (1, 0)); // one question, no answers
        let snmp = get("snmp-v2c");
        assert_eq!(snmp.bytes[0], 0x30);
        assert_eq!(usize::from(snmp.bytes[1]) + 2, snmp.bytes.len());
        let Echo::SnmpRequestId { at } = snmp.echo else {
            panic!()
        };
        assert_eq!(&snmp.bytes[at - 2..at], &[0x02, 0x04]);
        // a0 LL | 04 06 "public" | 02 01 01 (version 2c) before it.
        assert_eq!(
            &snmp.bytes[at - 2 - 2 - 8 - 3..at - 2 - 2 - 8],
            &[0x02, 0x01, 0x01]
        );
        let ike = get("ike");
        assert_eq!(
            u32::from_be_bytes(ike.bytes[24..28].try_into().unwrap()) as usize,
            ike.bytes.len()
        );
        let ntp = get("ntp");
        assert_eq!((ntp.bytes.len(), ntp.bytes[0] & 7), (48, 3));
    }

    /// (questions, answers) of a DNS message, read by hand.
    fn etherparse_free_dns(m: &[u8]) -> (u16, u16) {
        (
            u16::from_be_bytes([m[4], m[5]]),
            u16::from_be_bytes([m[6], m[7]]),
        )
    }

    #[test]
    fn nmap_payloads_format_reads_and_errors_name_the_line() {
        let text = "# comment\nudp 7 \"\\x0D\\x0A\\x0D\\x0A\"\nudp 53,5353,26198\n  \"\\x77\\x77\\x01\\x00\\x00\"\n  \"\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x07version\\x04bind\\x00\\x00\\x10\\x00\\x03\"\nudp 500 \"a\\\"b\" source 500\nudp 32768-32770 \"\\0\"\n";
        let got = parse_payload_file(text, Path::new("p")).unwrap();
        assert_eq!(got.len(), 4);
        assert_eq!(
            got[0],
            (vec![7], Payload::fixed("file", b"\r\n\r\n".to_vec()))
        );
        assert_eq!(got[1].0, vec![53, 5353, 26198]);
        assert_eq!(&got[1].1.bytes[..5], b"ww\x01\x00\x00");
        assert!(
            got[1]
                .1
                .bytes
                .ends_with(b"\x07version\x04bind\x00\x00\x10\x00\x03")
        );
        assert_eq!(got[2].1.bytes, b"a\"b");
        assert_eq!(got[3].0, vec![32768, 32769, 32770]);
        let cases = [
            ("udp 7\n", "p:1: `udp PORTS` needs a quoted payload"),
            (
                "tcp 7 \"a\"\n",
                "p:1: \"tcp\" is not a protocol this file has",
            ),
            ("udp 7 \"abc\n", "p:1: a string is not closed on its line"),
            ("\n\nudp 70000 \"a\"\n", "p:3: \"70000\" is not a port"),
            ("udp 7 \"\\xZZ\"\n", "p:1: \\xZZ is not a hex byte"),
            ("udp 7 \"a\" source\n", "p:1: `source` needs a port number"),
            (
                &format!("udp 7 \"{}\"\n", "a".repeat(1453)),
                "p:1: a payload of 1453 bytes: at most 1452",
            ),
            ("\"a\"\n", "p:1: a string where an entry should start"),
        ];
        for (text, want) in cases {
            let e = parse_payload_file(text, Path::new("p"))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(want), "{text:?}: {e}");
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn the_systems_nmap_payloads_reads_when_present() {
        let path = Path::new("/usr/share/nmap/nmap-payloads");
        if path.exists() {
            let got = read_payload_file(path).unwrap();
            assert!(got.len() >= 30, "{}", got.len());
            assert!(got.iter().any(|(ports, _)| ports.contains(&53)));
        }
    }
}
