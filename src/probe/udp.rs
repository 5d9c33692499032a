//! UDP scan (`-sU`): a datagram per (port, payload), answered or not.
//!
//! UDP has no sequence number to carry a cookie, so the cookie does three
//! jobs, as in zmap. It chooses the source port out of our range (a hash of
//! the flow without that port), so an answer must come back to the one
//! port we used for it; it fills the payload's identifier where the
//! protocol has one (payloads.rs), which the answer must echo; and it sets
//! the IPv4 ID (IPv6 flow label), which an ICMP error quotes along with
//! the UDP header. nmap's reading: any UDP answer is `open`
//! (`udp-response`); an ICMP port unreachable from the target `closed`,
//! from anyone else, and any other unreachable, `filtered`; silence
//! `open|filtered`.

use super::payloads::{Echo, Fill, Payload};
use super::tcp::filtering_code;
use super::{Capture, ProbeFields, ProbeModule, SourcePorts, Validator, Verdict};
use crate::cookie::{CookieKey, ProbeKind};
use crate::domain::{Family, Protocol, Reason, State};
use crate::wire::checksum::{finish, sum_bytes};
use crate::wire::reply::{Quoted, Reply, Transport};
use crate::wire::template::{ETH_LEN, FrameParams, FrameTemplate, IPV6_LEN};
use std::net::IpAddr;

const IPPROTO_UDP: u8 = 17;

/// What silence means to a UDP probe (nmap's reading).
pub const SILENCE: (State, Reason) = (State::OpenFiltered, Reason::NoResponse);
const UDP_HEADER: usize = 8;

/// The payloads of each port, for the scan's lifetime.
#[derive(Clone, Debug)]
pub struct PayloadTable {
    /// Every payload; id 0 is the empty datagram.
    payloads: Vec<Payload>,
    /// Per port: the ids of its payloads (empty: only the empty datagram).
    by_port: Vec<Box<[u16]>>,
}

impl PayloadTable {
    /// Payloads by port; the same bytes named twice for a port count once.
    pub fn new(entries: Vec<(Vec<u16>, Payload)>) -> PayloadTable {
        let mut payloads = vec![Payload {
            name: "empty",
            bytes: Vec::new(),
            field: None,
            echo: Echo::None,
            answers_from_other_port: false,
        }];
        let mut by_port: Vec<Vec<u16>> = vec![Vec::new(); 65536];
        for (mut ports, p) in entries {
            // A file may name a port twice on one line (`53,53`, `50-60,55`).
            ports.sort_unstable();
            ports.dedup();
            let id = payloads.len() as u16;
            let mut used = false;
            for port in ports {
                let list = &mut by_port[usize::from(port)];
                if !list
                    .iter()
                    .any(|&i| payloads[usize::from(i)].bytes == p.bytes)
                {
                    list.push(id);
                    used = true;
                }
            }
            if used {
                payloads.push(p);
            }
        }
        PayloadTable {
            payloads,
            by_port: by_port.into_iter().map(Vec::into_boxed_slice).collect(),
        }
    }

    /// How many probes a port gets: one per payload, one if none.
    pub fn variants(&self, port: u16) -> u16 {
        (self.by_port[usize::from(port)].len() as u16).max(1)
    }

    /// The payload id of `port`'s `variant`.
    #[inline]
    pub fn id(&self, port: u16, variant: u16) -> u16 {
        self.by_port[usize::from(port)]
            .get(usize::from(variant))
            .copied()
            .unwrap_or(0)
    }

    pub fn payload(&self, id: u16) -> &Payload {
        &self.payloads[usize::from(id)]
    }

    fn of_port(&self, port: u16) -> impl Iterator<Item = &Payload> {
        let ids = &self.by_port[usize::from(port)];
        let empty = ids.is_empty().then(|| &self.payloads[0]);
        ids.iter()
            .map(|&i| &self.payloads[usize::from(i)])
            .chain(empty)
    }

    /// Ports whose server answers from another port (TFTP).
    fn answering_elsewhere(&self) -> Vec<u16> {
        (0..=u16::MAX)
            .filter(|&p| self.of_port(p).any(|x| x.answers_from_other_port))
            .collect()
    }
}

/// The UDP scan module.
#[derive(Clone, Debug)]
pub struct UdpScan {
    table: PayloadTable,
    elsewhere: Vec<u16>,
}

/// Its cookies; the source-port choice has a tag of its own.
const KIND: ProbeKind = ProbeKind(16);
const PORT_KIND: ProbeKind = ProbeKind(17);

/// The UDP template: a frame per payload, for one family.
pub struct UdpTemplate {
    frames: Vec<FrameTemplate>,
}

/// The ones'-complement sum of `bytes` placed at `offset` (odd offsets
/// swap the bytes of the folded sum: the sum is order-free, only the byte
/// lanes matter).
fn sum_at(offset: usize, bytes: &[u8]) -> u32 {
    let mut s = sum_bytes(bytes);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    if offset % 2 == 1 {
        u32::from((s as u16).swap_bytes())
    } else {
        s
    }
}

/// The bytes the cookie puts into a payload's identifier field.
fn fill(cookie: u64, len: usize, how: Fill, out: &mut [u8]) {
    match how {
        Fill::Bytes => {
            let b = cookie.to_be_bytes();
            for (i, o) in out[..len].iter_mut().enumerate() {
                *o = b[i % 8] ^ (i / 8) as u8;
            }
        }
        Fill::SnmpId => {
            let v = 0x4000_0000 | (cookie as u32) & 0x3fff_ffff;
            out[..4].copy_from_slice(&v.to_be_bytes());
        }
        Fill::Hex => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            for (i, o) in out[..len].iter_mut().enumerate() {
                *o = HEX[((cookie >> (60 - 4 * (i % 16))) & 0xf) as usize];
            }
        }
    }
}

impl UdpScan {
    pub fn new(table: PayloadTable) -> UdpScan {
        UdpScan {
            elsewhere: table.answering_elsewhere(),
            table,
        }
    }

    pub fn table(&self) -> &PayloadTable {
        &self.table
    }

    /// The source port the cookie picks for a probe to `target:port`.
    #[inline]
    fn port_for(key: &CookieKey, ports: SourcePorts, us: IpAddr, target: IpAddr, port: u16) -> u16 {
        let h = key.cookie(
            PORT_KIND,
            &crate::cookie::Flow {
                src: us,
                dst: target,
                src_port: 0,
                dst_port: port,
            },
        );
        ports.first + (h % ports.count()) as u16
    }

    /// Does `answer` (a UDP payload) echo what our probe of `port` to it
    /// carried? Any of the port's payloads may have drawn it.
    fn echoes(&self, port: u16, cookie: u64, answer: &[u8]) -> bool {
        self.table.of_port(port).any(|p| {
            // What the probe's identifier field held.
            let mut sent = [0u8; 64];
            if let Some((_, len, how)) = p.field {
                fill(cookie, len, how, &mut sent);
            }
            match p.echo {
                Echo::None => true,
                Echo::Same { at, len } => answer.get(at..at + len) == Some(&sent[..len]),
                Echo::Moved { answer_at, len, .. } => {
                    answer.get(answer_at..answer_at + len) == Some(&sent[..len])
                }
                Echo::SnmpRequestId { .. } => {
                    snmp_request_id(answer)
                        == Some(u32::from_be_bytes(sent[..4].try_into().unwrap()))
                }
                Echo::Text { len, .. } => answer.windows(len).any(|w| w == &sent[..len]),
            }
        })
    }
}

/// The request-id of an SNMP message, a non-negative INTEGER in any BER
/// length up to 5 bytes: SEQUENCE { INTEGER version, OCTET STRING
/// community, PDU { INTEGER request-id ... } }.
fn snmp_request_id(m: &[u8]) -> Option<u32> {
    /// (tag, content) of the BER element at the start of `b`, and the rest.
    fn element(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let tag = *b.first()?;
        let (len, head) = match *b.get(1)? {
            n if n < 0x80 => (usize::from(n), 2),
            0x81 => (usize::from(*b.get(2)?), 3),
            0x82 => (usize::from(u16::from_be_bytes([*b.get(2)?, *b.get(3)?])), 4),
            _ => return None,
        };
        let content = b.get(head..head + len)?;
        Some((tag, content, &b[head + len..]))
    }
    let (0x30, msg, _) = element(m)? else {
        return None;
    };
    let (0x02, _, rest) = element(msg)? else {
        return None;
    };
    let (0x04, _, rest) = element(rest)? else {
        return None;
    };
    let (0xa2, pdu, _) = element(rest)? else {
        return None;
    };
    let (0x02, id, _) = element(pdu)? else {
        return None;
    };
    if id.is_empty() || id.len() > 5 || id[0] & 0x80 != 0 {
        return None;
    }
    let value = id.iter().fold(0u64, |v, &b| v << 8 | u64::from(b));
    u32::try_from(value).ok()
}

impl ProbeModule for UdpScan {
    type Template = UdpTemplate;

    #[inline(always)]
    fn kind(&self, _: Protocol) -> ProbeKind {
        KIND
    }

    fn scans(&self) -> Vec<(&'static str, Protocol)> {
        vec![("udp", Protocol::Udp)]
    }

    fn max_frame_len(&self) -> usize {
        let longest = self
            .table
            .payloads
            .iter()
            .map(|p| p.bytes.len())
            .max()
            .unwrap_or(0);
        ETH_LEN + IPV6_LEN + UDP_HEADER + longest
    }

    fn template(&self, params: &FrameParams) -> UdpTemplate {
        UdpTemplate {
            frames: self
                .table
                .payloads
                .iter()
                .map(|p| {
                    let len = (UDP_HEADER + p.bytes.len()) as u16;
                    let mut dgram = vec![0u8; UDP_HEADER];
                    dgram[4..6].copy_from_slice(&len.to_be_bytes());
                    dgram.extend_from_slice(&p.bytes);
                    // The identifier field is written per probe and its sum
                    // added then: the template's sum must not hold it too.
                    if let Some((at, len, _)) = p.field {
                        dgram[UDP_HEADER + at..UDP_HEADER + at + len].fill(0);
                    }
                    FrameTemplate::new(params, IPPROTO_UDP, &dgram)
                })
                .collect(),
        }
    }

    #[inline]
    fn source_port(
        &self,
        key: &CookieKey,
        ports: SourcePorts,
        _index: u64,
        us: IpAddr,
        target: IpAddr,
        _proto: Protocol,
        port: u16,
    ) -> u16 {
        Self::port_for(key, ports, us, target, port)
    }

    #[inline]
    fn write(&self, t: &UdpTemplate, buf: &mut [u8], p: &ProbeFields) -> usize {
        let id = self.table.id(p.dst_port, p.variant);
        let frame = &t.frames[usize::from(id)];
        let mut sum = frame.stamp(buf, p.src, p.dst, (p.cookie >> 32) as u32);
        let l4 = frame.l4_offset();
        buf[l4..l4 + 2].copy_from_slice(&p.src_port.to_be_bytes());
        buf[l4 + 2..l4 + 4].copy_from_slice(&p.dst_port.to_be_bytes());
        sum += u32::from(p.src_port) + u32::from(p.dst_port);
        if let Some((at, len, how)) = self.table.payload(id).field {
            let start = l4 + UDP_HEADER + at;
            fill(p.cookie, len, how, &mut buf[start..start + len]);
            sum += sum_at(UDP_HEADER + at, &buf[start..start + len]);
        }
        // A sum of zero is sent as all ones: zero means "no checksum".
        let checksum = match finish(sum) {
            0 => 0xffff,
            c => c,
        };
        buf[l4 + 6..l4 + 8].copy_from_slice(&checksum.to_be_bytes());
        frame.len()
    }

    fn classify(&self, reply: &Reply<'_>, v: &Validator) -> Option<Verdict> {
        match reply.transport {
            Transport::Udp(u) => {
                if !v.our_port(u.dst_port) {
                    return None;
                }
                let chose = |port| {
                    Self::port_for(v.key(), v.ports(), reply.dst, reply.src, port) == u.dst_port
                };
                // TFTP answers a read request from a port of its own with
                // DATA, ERROR or OACK (RFC 1350, RFC 2347): such an answer
                // to the port we chose for 69 is TFTP's, whatever port it
                // comes from (which may by chance be one the cookie would
                // have chosen this port for too). The port we chose is then
                // all that ties it to our probe.
                let tftp = matches!(u.payload, [0, 3 | 5 | 6, ..]);
                let elsewhere = self.elsewhere.iter().copied().find(|&p| tftp && chose(p));
                // Else the port it came from, and the identifier it echoes.
                let probed = match elsewhere {
                    Some(port) => port,
                    None if chose(u.src_port) => {
                        let cookie = v.cookie(KIND, reply.dst, u.dst_port, reply.src, u.src_port);
                        if !self.echoes(u.src_port, cookie, u.payload) {
                            return None;
                        }
                        u.src_port
                    }
                    None => return None,
                };
                Some(Verdict::new(
                    reply.src,
                    Protocol::Udp,
                    probed,
                    State::Open,
                    Reason::UdpResponse,
                    reply.ttl,
                ))
            }
            Transport::Unreachable { code, quoted } => self.unreachable(reply, code, &quoted, v),
            _ => None,
        }
    }

    fn silence(&self, _: Protocol) -> (State, Reason) {
        SILENCE
    }

    fn capture(&self) -> Capture {
        Capture {
            tcp: false,
            udp: true,
            icmp: true,
            arp: false,
        }
    }
}

impl UdpScan {
    /// An ICMP error quoting one of our datagrams: its source port must be
    /// the one the cookie picks and its IP ID (flow label) the cookie's.
    fn unreachable(
        &self,
        reply: &Reply<'_>,
        code: u8,
        q: &Quoted<'_>,
        v: &Validator,
    ) -> Option<Verdict> {
        let family = Family::of(&reply.src);
        let reason = filtering_code(family, code)?;
        if q.protocol != IPPROTO_UDP || q.src != reply.dst || !v.our_port(q.src_port()) {
            return None;
        }
        if Self::port_for(v.key(), v.ports(), q.src, q.dst, q.dst_port()) != q.src_port() {
            return None;
        }
        let cookie = v.cookie(KIND, q.src, q.src_port(), q.dst, q.dst_port());
        let mark = match family {
            Family::V4 => u32::from((cookie >> 32) as u16),
            Family::V6 => ((cookie >> 32) as u32) & 0x000f_ffff,
        };
        if q.ip_mark != mark {
            return None;
        }
        let port_unreachable = matches!((family, code), (Family::V4, 3) | (Family::V6, 4));
        // nmap: a port unreachable from the target itself is `closed`; from
        // a router (or an IPv6 gateway answering for it), `filtered`.
        let state = if port_unreachable && reply.src == q.dst {
            State::Closed
        } else {
            State::Filtered
        };
        Some(Verdict::new(
            q.dst,
            Protocol::Udp,
            q.dst_port(),
            state,
            reason,
            reply.ttl,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookie::CookieKey;
    use crate::probe::payloads::builtin;
    use crate::probe::tcp::tests::{params, validator};
    use crate::wire::reply::parse_frame;
    use crate::wire::reply::tests::{TARGET4, TARGET6, US4, US6, ip, unreachable_frame};
    use etherparse::{PacketBuilder, SlicedPacket, TransportSlice};

    fn scan() -> UdpScan {
        UdpScan::new(PayloadTable::new(builtin()))
    }

    /// The probe of (`port`, `variant`) from `us` to `them`.
    fn probe(m: &UdpScan, v: &Validator, us: &str, them: &str, port: u16, variant: u16) -> Vec<u8> {
        let sport = UdpScan::port_for(v.key(), v.ports(), ip(us), ip(them), port);
        let cookie = v.cookie(KIND, ip(us), sport, ip(them), port);
        let mut buf = vec![0; m.max_frame_len()];
        let n = m.write(
            &m.template(&params(us)),
            &mut buf,
            &ProbeFields {
                src: ip(us),
                dst: ip(them),
                proto: Protocol::Udp,
                variant,
                src_port: sport,
                dst_port: port,
                cookie,
                tsval: 0,
            },
        );
        buf.truncate(n);
        buf
    }

    /// A UDP datagram from the probe's target back to its sender.
    fn answer(probe: &[u8], from_port: Option<u16>, payload: &[u8]) -> Vec<u8> {
        let p = SlicedPacket::from_ethernet(probe).unwrap();
        let Some(TransportSlice::Udp(u)) = p.transport else {
            panic!("a UDP probe")
        };
        let r = parse_frame(probe).unwrap();
        let b = PacketBuilder::ethernet2([2; 6], [4; 6]);
        let b = match (r.dst, r.src) {
            (IpAddr::V4(f), IpAddr::V4(t)) => b.ipv4(f.octets(), t.octets(), 61),
            (IpAddr::V6(f), IpAddr::V6(t)) => b.ipv6(f.octets(), t.octets(), 61),
            _ => unreachable!(),
        };
        let mut out = Vec::new();
        b.udp(from_port.unwrap_or(u.destination_port()), u.source_port())
            .write(&mut out, payload)
            .unwrap();
        out
    }

    fn payload_of(frame: &[u8]) -> Vec<u8> {
        match SlicedPacket::from_ethernet(frame).unwrap().transport {
            Some(TransportSlice::Udp(u)) => u.payload().to_vec(),
            _ => panic!("UDP"),
        }
    }

    #[test]
    fn a_port_named_twice_for_one_payload_gets_it_once() {
        let p = || Payload {
            name: "x",
            bytes: b"x".to_vec(),
            field: None,
            echo: Echo::None,
            answers_from_other_port: false,
        };
        let t = PayloadTable::new(vec![(vec![53, 55, 53], p()), (vec![55], p())]);
        assert_eq!((t.variants(53), t.variants(55), t.variants(54)), (1, 1, 1));
        assert_eq!(t.payload(t.id(53, 0)).bytes, b"x");
    }

    #[test]
    fn every_payloads_probe_has_a_valid_checksum_and_a_fresh_identifier() {
        let m = scan();
        let v = validator(CookieKey::random());
        let table = PayloadTable::new(builtin());
        let ports: Vec<u16> = (0..=u16::MAX)
            .filter(|&p| !table.by_port[p as usize].is_empty())
            .collect();
        assert!(ports.len() >= 12, "{ports:?}");
        for port in ports.iter().copied().chain([9999]) {
            for variant in 0..table.variants(port) {
                for (us, them) in [(US4, TARGET4), (US6, TARGET6)] {
                    let f = probe(&m, &v, us, them, port, variant);
                    let p = SlicedPacket::from_ethernet(&f).unwrap();
                    let Some(TransportSlice::Udp(u)) = &p.transport else {
                        panic!()
                    };
                    let want = match (ip(us), ip(them)) {
                        (IpAddr::V4(s), IpAddr::V4(d)) => u
                            .to_header()
                            .calc_checksum_ipv4_raw(s.octets(), d.octets(), u.payload())
                            .unwrap(),
                        (IpAddr::V6(s), IpAddr::V6(d)) => u
                            .to_header()
                            .calc_checksum_ipv6_raw(s.octets(), d.octets(), u.payload())
                            .unwrap(),
                        _ => unreachable!(),
                    };
                    let name = table.payload(table.id(port, variant)).name;
                    assert_eq!(u.checksum(), want, "{name} ({port}) {us}");
                    assert_eq!(usize::from(u.length()), 8 + u.payload().len());
                    assert!(v.our_port(u.source_port()));
                    // The identifier differs from another run's.
                    if table.payload(table.id(port, variant)).field.is_some() {
                        let other = validator(CookieKey::random());
                        let g = probe(&m, &other, us, them, port, variant);
                        assert_ne!(payload_of(&f), payload_of(&g), "{name}");
                    }
                }
            }
        }
    }

    #[test]
    fn answers_count_only_with_our_identifier_port_and_address() {
        let m = scan();
        let v = validator(CookieKey::random());
        for (us, them) in [(US4, TARGET4), (US6, TARGET6)] {
            // DNS: an answer echoes the query's id (and all of it).
            let f = probe(&m, &v, us, them, 53, 0);
            let query = payload_of(&f);
            let mut reply = query.clone();
            reply[2] |= 0x80;
            let good = answer(&f, None, &reply);
            let r = parse_frame(&good).unwrap();
            let got = m.classify(&r, &v).expect("a DNS answer with our id");
            assert_eq!(
                (got.addr, got.proto, got.port, got.state, got.reason),
                (
                    ip(them),
                    Protocol::Udp,
                    53,
                    State::Open,
                    Reason::UdpResponse
                )
            );
            // The wrong id; the wrong port of ours; another address.
            let mut wrong = reply.clone();
            wrong[1] ^= 1;
            assert!(
                m.classify(&parse_frame(&answer(&f, None, &wrong)).unwrap(), &v)
                    .is_none()
            );
            let mut to_other_port = good.clone();
            let sport_at = to_other_port.len() - reply.len() - 6;
            to_other_port[sport_at] ^= 1;
            assert!(
                m.classify(&parse_frame(&to_other_port).unwrap(), &v)
                    .is_none()
            );
            let mut r = parse_frame(&good).unwrap();
            r.src = ip(if us == US4 {
                "198.18.9.9"
            } else {
                "2001:2:0:300::9"
            });
            assert!(m.classify(&r, &v).is_none());
            // TFTP answers from a port of its own: an ERROR or DATA does,
            // anything else from there does not.
            let f = probe(&m, &v, us, them, 69, 0);
            let error = answer(&f, Some(40000), b"\x00\x05\x00\x01no\x00");
            let got = m.classify(&parse_frame(&error).unwrap(), &v);
            assert_eq!(got.map(|v| (v.port, v.state)), Some((69, State::Open)));
            let echo = answer(&f, Some(40000), &payload_of(&f));
            assert!(m.classify(&parse_frame(&echo).unwrap(), &v).is_none());
            // Also from a port the cookie would have chosen the same port
            // of ours for (1 in 256 of the server's ports).
            let ours = UdpScan::port_for(v.key(), v.ports(), ip(us), ip(them), 69);
            let twin = (1024..=u16::MAX)
                .find(|&p| UdpScan::port_for(v.key(), v.ports(), ip(us), ip(them), p) == ours)
                .unwrap();
            let error = answer(&f, Some(twin), b"\x00\x05\x00\x01no\x00");
            let got = m.classify(&parse_frame(&error).unwrap(), &v);
            assert_eq!(got.map(|v| v.port), Some(69), "from {twin}");
            // A port without an identifier: any answer to our port counts.
            let f = probe(&m, &v, us, them, 9999, 0);
            let hi = answer(&f, None, b"hi");
            let r = parse_frame(&hi).unwrap();
            assert_eq!(m.classify(&r, &v).map(|v| v.port), Some(9999));
        }
    }

    #[test]
    fn snmp_answers_match_our_request_id_in_any_encoding() {
        let m = scan();
        let v = validator(CookieKey::random());
        for variant in 0..2 {
            let f = probe(&m, &v, US4, TARGET4, 161, variant);
            let get = payload_of(&f);
            let Echo::SnmpRequestId { at } = m.table.payload(m.table.id(161, variant)).echo else {
                panic!("SNMP echoes its request-id")
            };
            // Four bytes whose shortest form is four bytes.
            assert_eq!(&get[at - 2..at], &[0x02, 0x04]);
            assert!((0x40..=0x7f).contains(&get[at]), "{:x}", get[at]);
            // The agent's GetResponse: the same message with the PDU tag
            // 0xa2.
            let pdu = get.iter().position(|&b| b == 0xa0).unwrap();
            let mut response = get.clone();
            response[pdu] = 0xa2;
            let r = answer(&f, None, &response);
            assert!(m.classify(&parse_frame(&r).unwrap(), &v).is_some());
            response[at + 3] ^= 1;
            let r = answer(&f, None, &response);
            assert!(m.classify(&parse_frame(&r).unwrap(), &v).is_none());
        }
        // An id re-encoded in fewer bytes reads as the same value.
        let msg = |id: &[u8]| {
            let mut pdu = vec![0x02, id.len() as u8];
            pdu.extend_from_slice(id);
            pdu.extend_from_slice(&[0x02, 1, 0, 0x02, 1, 0, 0x30, 0]);
            let mut body = vec![0x02, 1, 1, 0x04, 6];
            body.extend_from_slice(b"public");
            body.extend_from_slice(&[0xa2, pdu.len() as u8]);
            body.extend(pdu);
            let mut m = vec![0x30, body.len() as u8];
            m.extend(body);
            m
        };
        assert_eq!(snmp_request_id(&msg(&[0x12, 0x34, 0x56])), Some(0x123456));
        assert_eq!(
            snmp_request_id(&msg(&[0, 0x12, 0x34, 0x56])),
            Some(0x123456)
        );
        assert_eq!(snmp_request_id(&msg(&[0x81, 0, 0, 0])), None, "negative");
    }

    #[test]
    fn port_unreachable_quoting_our_datagram_is_closed_and_forgeries_are_not() {
        let m = scan();
        let v = validator(CookieKey::random());
        for (us, them, code) in [(US4, TARGET4, 3), (US6, TARGET6, 4)] {
            let f = probe(&m, &v, us, them, 161, 0);
            let quote = if us == US4 { 28 } else { 48 };
            let r = unreachable_frame(ip(them), code, &f, quote);
            let got = m.classify(&parse_frame(&r).unwrap(), &v).expect("ours");
            assert_eq!(
                (got.addr, got.port, got.state, got.reason),
                (ip(them), 161, State::Closed, Reason::PortUnreach)
            );
            // From a router: filtered.
            let router = ip(if us == US4 {
                "198.18.0.1"
            } else {
                "2001:2:0:300::1"
            });
            let r = unreachable_frame(router, code, &f, quote);
            assert_eq!(
                m.classify(&parse_frame(&r).unwrap(), &v).map(|v| v.state),
                Some(State::Filtered)
            );
            // The quote with another source port, or another IP ID or flow label.
            let mut other_port = f.clone();
            let l4 = if us == US4 { 34 } else { 54 };
            other_port[l4 + 1] ^= 1;
            let r = unreachable_frame(ip(them), code, &other_port, quote);
            assert!(m.classify(&parse_frame(&r).unwrap(), &v).is_none());
            let mut other_mark = f.clone();
            other_mark[if us == US4 { 19 } else { 17 }] ^= 1;
            let r = unreachable_frame(ip(them), code, &other_mark, quote);
            assert!(m.classify(&parse_frame(&r).unwrap(), &v).is_none());
        }
        assert_eq!(
            m.silence(Protocol::Udp),
            (State::OpenFiltered, Reason::NoResponse)
        );
    }
}
