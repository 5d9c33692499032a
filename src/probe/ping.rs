//! Host discovery (`--ping`, nmap's `-sn`): ICMP echo (`-PE`) and
//! timestamp (`-PP`) requests, TCP SYN (`-PS`) and ACK (`-PA`) pings, and
//! ICMPv6 echo. A host that answers any of them is `up`, reported once
//! with the reason of the first answer; silence says nothing, as nmap
//! leaves hosts that did not answer out of its host list.
//!
//! The probe space is every host times the list of discovery probes: the
//! probe's "port" is its place in that list (so the cookie of each differs),
//! and every answer is reported as port 0, which makes dedup one per host.
//! Where each cookie rides: an echo's identifier and sequence number (32
//! bits, echoed by RFC 792 and RFC 4443); a timestamp request's identifier,
//! sequence number and originate timestamp (64 bits); a TCP ping's sequence
//! and acknowledgement numbers, as the flag scans carry theirs. ICMPv6 has
//! no timestamp message: an IPv6 host gets an echo request in its place.
//! ICMP errors about a ping prove nothing about the host (a router may send
//! them) and are not counted as answers.

use super::tcp_flags::{FlagScan, Reading};
use super::{Capture, ProbeFields, ProbeModule, SourcePorts, Validator, Verdict};
use crate::cookie::{CookieKey, ProbeKind};
use crate::domain::{Family, Protocol, Reason, State};
use crate::wire::checksum::{add_u32, finish};
use crate::wire::reply::{
    ICMP_ECHO_REQUEST, ICMP_TIMESTAMP, ICMPV6_ECHO_REQUEST, Reply, Transport, tcp_flags,
};
use crate::wire::template::{ETH_LEN, FrameParams, FrameTemplate, IPV6_LEN};
use std::fmt;
use std::net::IpAddr;

const IPPROTO_ICMP: u8 = 1;
const IPPROTO_ICMPV6: u8 = 58;
/// An echo request's header: type, code, checksum, identifier, sequence.
const ECHO_LEN: usize = 8;
/// A timestamp request: the header and three timestamps.
const TIMESTAMP_LEN: usize = 20;
const KIND: ProbeKind = ProbeKind(24);

/// One kind of discovery probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PingProbe {
    /// ICMP echo (`-PE`); ICMPv6 echo for IPv6 hosts.
    Echo,
    /// ICMP timestamp (`-PP`); IPv4 only.
    Timestamp,
    /// TCP SYN to a port (`-PS`): SYN-ACK or RST means up.
    Syn(u16),
    /// TCP ACK to a port (`-PA`): RST means up.
    Ack(u16),
}

impl PingProbe {
    /// nmap's default discovery for a privileged user: `-PE -PS443 -PA80
    /// -PP`.
    pub const DEFAULT: [PingProbe; 4] = [
        PingProbe::Echo,
        PingProbe::Syn(443),
        PingProbe::Ack(80),
        PingProbe::Timestamp,
    ];
    pub const FORMS: &'static str =
        "echo (-PE), timestamp (-PP), syn:PORTS (-PS), ack:PORTS (-PA), arp (-PR)";

    /// `echo`, `timestamp`, `syn:PORTS` or `ack:PORTS` (ports as -p, no
    /// protocol prefix; nmap's default 80 when none are given). `arp` is
    /// not a probe of this module: the caller takes it out first.
    pub fn parse(word: &str) -> Result<Vec<PingProbe>, String> {
        let (name, ports) = word.split_once(':').unwrap_or((word, ""));
        let tcp = |make: fn(u16) -> PingProbe| -> Result<Vec<PingProbe>, String> {
            if ports.is_empty() {
                return Ok(vec![make(80)]);
            }
            let mut out = Vec::new();
            for part in ports.split(',') {
                let (a, b) = part.split_once('-').unwrap_or((part, part));
                let (a, b) = match (a.trim().parse::<u16>(), b.trim().parse::<u16>()) {
                    (Ok(a), Ok(b)) if a <= b => (a, b),
                    _ => {
                        return Err(format!("{word:?}: {part:?} is not a port or range 0-65535"));
                    }
                };
                out.extend((a..=b).map(make));
            }
            Ok(out)
        };
        match name {
            "echo" | "PE" if ports.is_empty() => Ok(vec![PingProbe::Echo]),
            "timestamp" | "PP" if ports.is_empty() => Ok(vec![PingProbe::Timestamp]),
            "syn" | "PS" => tcp(PingProbe::Syn),
            "ack" | "PA" => tcp(PingProbe::Ack),
            _ => Err(format!(
                "{word:?} is not a discovery probe: give {}",
                Self::FORMS
            )),
        }
    }
}

impl fmt::Display for PingProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PingProbe::Echo => f.write_str("echo"),
            PingProbe::Timestamp => f.write_str("timestamp"),
            PingProbe::Syn(p) => write!(f, "syn:{p}"),
            PingProbe::Ack(p) => write!(f, "ack:{p}"),
        }
    }
}

/// The discovery module: its probes, in the order of the space's ports.
#[derive(Clone, Debug)]
pub struct PingScan {
    probes: Vec<PingProbe>,
    syn: FlagScan,
    ack: FlagScan,
}

/// A frame per probe of the list, for one family.
pub struct PingTemplate {
    frames: Vec<FrameTemplate>,
}

/// Where a cookie's bits go in an ICMP message.
#[inline(always)]
fn ident_seq(cookie: u64) -> (u16, u16) {
    ((cookie >> 16) as u16, cookie as u16)
}

impl PingScan {
    /// At most 65,536 probes: a probe's place in the list is its port.
    pub fn new(probes: Vec<PingProbe>) -> PingScan {
        assert!(!probes.is_empty() && probes.len() <= 1 << 16);
        PingScan {
            probes,
            syn: FlagScan::new(Reading::Syn, Some(tcp_flags::SYN)),
            ack: FlagScan::new(Reading::Ack, None),
        }
    }

    pub fn probes(&self) -> &[PingProbe] {
        &self.probes
    }

    fn up(reply: &Reply<'_>, reason: Reason) -> Verdict {
        Verdict::new(reply.src, Protocol::Icmp, 0, State::Up, reason, reply.ttl)
    }

    /// The cookie of probe `i` from `us:our_port` to `target`.
    fn cookie(v: &Validator, us: IpAddr, our_port: u16, target: IpAddr, i: usize) -> u64 {
        v.cookie(KIND, us, our_port, target, i as u16)
    }

    /// Is `probe` an echo request for a host of `family`?
    fn echoes(probe: PingProbe, family: Family) -> bool {
        probe == PingProbe::Echo || (probe == PingProbe::Timestamp && family == Family::V6)
    }

    fn tcp_answer(
        &self,
        reply: &Reply<'_>,
        t: &crate::wire::reply::TcpSegment<'_>,
        v: &Validator,
    ) -> Option<Verdict> {
        if !v.our_port(t.dst_port) {
            return None;
        }
        let syn_ack = tcp_flags::SYN | tcp_flags::ACK;
        let rst = t.flags & tcp_flags::RST != 0;
        // Only the probes to the port it came from: a cookie each.
        let to_port =
            |p: &PingProbe| matches!(*p, PingProbe::Syn(q) | PingProbe::Ack(q) if q == t.src_port);
        let mut candidates = self.probes.iter().enumerate().filter(|(_, p)| to_port(p));
        candidates.find_map(|(i, probe)| {
            let c = Self::cookie(v, reply.dst, t.dst_port, reply.src, i);
            let (seq, high) = (c as u32, (c >> 32) as u32);
            match *probe {
                PingProbe::Syn(_) => {
                    if t.flags & (syn_ack | tcp_flags::RST) == syn_ack
                        && t.ack == seq.wrapping_add(1)
                    {
                        Some(Self::up(reply, Reason::SynAck))
                    } else if rst
                        && t.flags & tcp_flags::ACK != 0
                        && (t.ack == seq.wrapping_add(1).wrapping_add(v.tcp_data()) || t.ack == seq)
                    {
                        // As the SYN scan reads it (tcp.rs): RFC 9293
                        // acknowledges seq + 1, some stacks echo seq.
                        Some(Self::up(reply, Reason::Reset))
                    } else {
                        None
                    }
                }
                // A RST to a segment with ACK takes its sequence number
                // from our acknowledgement number.
                PingProbe::Ack(_) if rst && t.seq == high => Some(Self::up(reply, Reason::Reset)),
                _ => None,
            }
        })
    }
}

impl ProbeModule for PingScan {
    type Template = PingTemplate;

    #[inline(always)]
    fn kind(&self, _: Protocol) -> ProbeKind {
        KIND
    }

    /// Discovery has no port scan to describe (nmap -sn writes no
    /// `scaninfo`).
    fn scans(&self) -> Vec<(&'static str, Protocol)> {
        Vec::new()
    }

    fn max_frame_len(&self) -> usize {
        ETH_LEN + IPV6_LEN + TIMESTAMP_LEN.max(self.syn.max_frame_len() - ETH_LEN - IPV6_LEN)
    }

    fn template(&self, params: &FrameParams) -> PingTemplate {
        let v6 = Family::of(&params.src) == Family::V6;
        let echo = |kind: u8, protocol: u8| {
            let mut h = [0u8; ECHO_LEN];
            h[0] = kind;
            FrameTemplate::new(params, protocol, &h)
        };
        let frames = self
            .probes
            .iter()
            .map(|probe| match *probe {
                _ if v6 && Self::echoes(*probe, Family::V6) => {
                    echo(ICMPV6_ECHO_REQUEST, IPPROTO_ICMPV6)
                }
                PingProbe::Echo => echo(ICMP_ECHO_REQUEST, IPPROTO_ICMP),
                PingProbe::Timestamp => {
                    let mut h = [0u8; TIMESTAMP_LEN];
                    h[0] = ICMP_TIMESTAMP;
                    FrameTemplate::new(params, IPPROTO_ICMP, &h)
                }
                PingProbe::Syn(_) => self.syn.template(params),
                PingProbe::Ack(_) => self.ack.template(params),
            })
            .collect();
        PingTemplate { frames }
    }

    /// TCP pings take a source port as the flag scans do; ICMP has none.
    #[inline(always)]
    fn source_port(
        &self,
        _key: &CookieKey,
        ports: SourcePorts,
        index: u64,
        _us: IpAddr,
        _target: IpAddr,
        _proto: Protocol,
        port: u16,
    ) -> u16 {
        match self.probes[usize::from(port)] {
            PingProbe::Syn(_) | PingProbe::Ack(_) => ports.for_index(index),
            _ => 0,
        }
    }

    #[inline(always)]
    fn write(&self, t: &PingTemplate, buf: &mut [u8], p: &ProbeFields) -> usize {
        let i = usize::from(p.dst_port);
        let frame = &t.frames[i];
        let family = Family::of(&p.dst);
        let probe = self.probes[i];
        match probe {
            PingProbe::Syn(port) | PingProbe::Ack(port) => {
                let fields = ProbeFields {
                    dst_port: port,
                    ..*p
                };
                let flags = if matches!(probe, PingProbe::Syn(_)) {
                    &self.syn
                } else {
                    &self.ack
                };
                return flags.write(frame, buf, &fields);
            }
            _ => {}
        }
        let (ident, seq) = ident_seq(p.cookie);
        let pseudo = frame.stamp(buf, p.src, p.dst, (p.cookie >> 48) as u32);
        // ICMPv4's checksum covers the message alone; ICMPv6's the
        // pseudo-header too, which the template's sum already holds.
        let mut sum = match family {
            Family::V4 => u32::from(u16::from_be_bytes([buf[frame.l4_offset()], 0])),
            Family::V6 => pseudo,
        };
        let l4 = frame.l4_offset();
        buf[l4 + 4..l4 + 6].copy_from_slice(&ident.to_be_bytes());
        buf[l4 + 6..l4 + 8].copy_from_slice(&seq.to_be_bytes());
        sum += u32::from(ident) + u32::from(seq);
        if probe == PingProbe::Timestamp && family == Family::V4 {
            let originate = (p.cookie >> 32) as u32;
            buf[l4 + 8..l4 + 12].copy_from_slice(&originate.to_be_bytes());
            sum = add_u32(sum, originate);
        }
        buf[l4 + 2..l4 + 4].copy_from_slice(&finish(sum).to_be_bytes());
        frame.len()
    }

    fn classify(&self, reply: &Reply<'_>, v: &Validator) -> Option<Verdict> {
        let family = Family::of(&reply.src);
        match reply.transport {
            Transport::Echo { ident, seq } => {
                self.probes.iter().enumerate().find_map(|(i, probe)| {
                    let ok = Self::echoes(*probe, family)
                        && ident_seq(Self::cookie(v, reply.dst, 0, reply.src, i)) == (ident, seq);
                    ok.then(|| Self::up(reply, Reason::EchoReply))
                })
            }
            Transport::Timestamp {
                ident,
                seq,
                originate,
            } => {
                let i = self
                    .probes
                    .iter()
                    .position(|p| *p == PingProbe::Timestamp)?;
                let c = Self::cookie(v, reply.dst, 0, reply.src, i);
                let ok = ident_seq(c) == (ident, seq) && originate == (c >> 32) as u32;
                ok.then(|| Self::up(reply, Reason::TimestampReply))
            }
            Transport::Tcp(t) => self.tcp_answer(reply, &t, v),
            _ => None,
        }
    }

    /// Never reported: a host that did not answer is left out, as nmap
    /// leaves it (the configuration asks no silence of discovery).
    fn silence(&self, _: Protocol) -> (State, Reason) {
        (State::Filtered, Reason::NoResponse)
    }

    fn capture(&self) -> Capture {
        Capture {
            tcp: self
                .probes
                .iter()
                .any(|p| matches!(p, PingProbe::Syn(_) | PingProbe::Ack(_))),
            udp: false,
            icmp: true,
            arp: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookie::CookieKey;
    use crate::probe::tcp::tests::{params, validator};
    use crate::wire::reply::parse_frame;
    use crate::wire::reply::tests::{TARGET4, TARGET6, US4, US6, ip};
    use etherparse::{
        Icmpv4Type, Icmpv6Type, NetSlice, PacketBuilder, SlicedPacket, TransportSlice,
        icmpv4::TimestampMessage,
    };

    const ALL: [PingProbe; 5] = [
        PingProbe::Echo,
        PingProbe::Timestamp,
        PingProbe::Syn(443),
        PingProbe::Ack(80),
        PingProbe::Syn(80),
    ];

    /// The source port the engine gives a probe: ICMP has none.
    fn sport(kind: PingProbe) -> u16 {
        match kind {
            PingProbe::Syn(_) | PingProbe::Ack(_) => 61007,
            _ => 0,
        }
    }

    /// The probe `i` of `m` from `us` to `target`, as the engine writes it.
    fn probe(m: &PingScan, v: &Validator, us: &str, target: &str, i: u16, sport: u16) -> Vec<u8> {
        let t = m.template(&params(us));
        let cookie = v.cookie(KIND, ip(us), sport, ip(target), i);
        let mut buf = vec![0u8; m.max_frame_len()];
        let n = m.write(
            &t,
            &mut buf,
            &ProbeFields {
                src: ip(us),
                dst: ip(target),
                proto: Protocol::Icmp,
                src_port: sport,
                dst_port: i,
                variant: 0,
                cookie,
                tsval: 0,
            },
        );
        buf.truncate(n);
        buf
    }

    /// What the target's kernel answers to `frame` (rst: for a TCP probe,
    /// a RST as a closed port gives, else a SYN-ACK where the probe is a
    /// SYN).
    fn answer(frame: &[u8], rst: bool) -> Vec<u8> {
        let p = SlicedPacket::from_ethernet(frame).unwrap();
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1]);
        let mut out = Vec::new();
        let b = match p.net.as_ref().unwrap() {
            NetSlice::Ipv4(h) => b.ipv4(h.header().destination(), h.header().source(), 64),
            NetSlice::Ipv6(h) => b.ipv6(h.header().destination(), h.header().source(), 64),
            _ => unreachable!(),
        };
        match p.transport.unwrap() {
            TransportSlice::Icmpv4(icmp) => match icmp.icmp_type() {
                Icmpv4Type::EchoRequest(e) => b
                    .icmpv4(Icmpv4Type::EchoReply(e))
                    .write(&mut out, icmp.payload())
                    .unwrap(),
                Icmpv4Type::TimestampRequest(t) => b
                    .icmpv4(Icmpv4Type::TimestampReply(TimestampMessage {
                        receive_timestamp: 7,
                        transmit_timestamp: 8,
                        ..t
                    }))
                    .write(&mut out, &[])
                    .unwrap(),
                other => panic!("{other:?}"),
            },
            TransportSlice::Icmpv6(icmp) => match icmp.icmp_type() {
                Icmpv6Type::EchoRequest(e) => b
                    .icmpv6(Icmpv6Type::EchoReply(e))
                    .write(&mut out, icmp.payload())
                    .unwrap(),
                other => panic!("{other:?}"),
            },
            TransportSlice::Tcp(t) => {
                // A RST to a segment with ACK takes our ack as its sequence.
                let seq = if t.ack() {
                    t.acknowledgment_number()
                } else {
                    0
                };
                let b = b.tcp(t.destination_port(), t.source_port(), seq, 0);
                let b = if t.ack() {
                    b.rst()
                } else if rst {
                    b.rst().ack(t.sequence_number().wrapping_add(1))
                } else {
                    b.syn().ack(t.sequence_number().wrapping_add(1))
                };
                b.write(&mut out, &[]).unwrap()
            }
            other => panic!("{other:?}"),
        }
        out
    }

    #[test]
    fn every_probe_is_well_formed_and_its_answer_means_up() {
        let m = PingScan::new(ALL.to_vec());
        let v = validator(CookieKey::from_keys(7, 77));
        for (us, target) in [(US4, TARGET4), (US6, TARGET6)] {
            for (i, kind) in ALL.iter().enumerate() {
                let f = probe(&m, &v, us, target, i as u16, sport(*kind));
                let p = SlicedPacket::from_ethernet(&f).unwrap();
                // Checksums as a receiver computes them.
                match (p.net.as_ref().unwrap(), p.transport.as_ref().unwrap()) {
                    (NetSlice::Ipv4(h), TransportSlice::Icmpv4(icmp)) => {
                        let want = icmp.icmp_type().calc_checksum(icmp.payload());
                        assert_eq!(icmp.checksum(), want, "{kind}");
                        assert_eq!(h.header().protocol(), etherparse::IpNumber::ICMP);
                    }
                    (NetSlice::Ipv6(h), TransportSlice::Icmpv6(icmp)) => {
                        let want = icmp
                            .icmp_type()
                            .calc_checksum(
                                h.header().source(),
                                h.header().destination(),
                                icmp.payload(),
                            )
                            .unwrap();
                        assert_eq!(icmp.checksum(), want, "{kind}");
                        // No timestamp in ICMPv6: an echo stands in.
                        assert!(matches!(icmp.icmp_type(), Icmpv6Type::EchoRequest(_)));
                    }
                    (NetSlice::Ipv4(h), TransportSlice::Tcp(t)) => {
                        let want = t
                            .calc_checksum_ipv4(h.header().source(), h.header().destination())
                            .unwrap();
                        assert_eq!(t.checksum(), want, "{kind}");
                    }
                    (NetSlice::Ipv6(h), TransportSlice::Tcp(t)) => {
                        let want = t
                            .calc_checksum_ipv6(h.header().source(), h.header().destination())
                            .unwrap();
                        assert_eq!(t.checksum(), want, "{kind}");
                    }
                    other => panic!("{kind}: {other:?}"),
                }
                if let TransportSlice::Tcp(t) = p.transport.as_ref().unwrap() {
                    let (port, syn) = match kind {
                        PingProbe::Syn(p) => (*p, true),
                        PingProbe::Ack(p) => (*p, false),
                        _ => unreachable!(),
                    };
                    assert_eq!((t.destination_port(), t.syn(), t.ack()), (port, syn, !syn));
                    assert_eq!(t.source_port(), 61007);
                }
                let want = match (kind, us) {
                    (PingProbe::Echo, _) | (PingProbe::Timestamp, US6) => Reason::EchoReply,
                    (PingProbe::Timestamp, _) => Reason::TimestampReply,
                    (PingProbe::Syn(_), _) => Reason::SynAck,
                    (PingProbe::Ack(_), _) => Reason::Reset,
                };
                for rst in [false, true] {
                    let a = answer(&f, rst);
                    let verdict = m.classify(&parse_frame(&a).unwrap(), &v);
                    let want = if rst && matches!(kind, PingProbe::Syn(_)) {
                        Reason::Reset
                    } else {
                        want
                    };
                    assert_eq!(
                        verdict.map(|x| (x.addr, x.proto, x.port, x.state, x.reason)),
                        Some((ip(target), Protocol::Icmp, 0, State::Up, want)),
                        "{kind} from {us}"
                    );
                }
            }
        }
    }

    #[test]
    fn answers_to_other_probes_or_runs_never_count() {
        let m = PingScan::new(ALL.to_vec());
        let v = validator(CookieKey::from_keys(7, 77));
        let other_run = validator(CookieKey::from_keys(8, 88));
        for (us, target) in [(US4, TARGET4), (US6, TARGET6)] {
            for i in 0..ALL.len() as u16 {
                let sport = sport(ALL[usize::from(i)]);
                let a = answer(&probe(&m, &v, us, target, i, sport), false);
                let reply = parse_frame(&a).unwrap();
                assert!(m.classify(&reply, &other_run).is_none(), "{i}");
                // One bit off in the echoed identifier, sequence, originate
                // timestamp or acknowledgement.
                let l4 = if us == US4 { 34 } else { 54 };
                let fields: &[usize] = match (ALL[usize::from(i)], us) {
                    (PingProbe::Echo, _) | (PingProbe::Timestamp, US6) => &[5, 7],
                    (PingProbe::Timestamp, _) => &[5, 7, 11],
                    (PingProbe::Syn(_), _) => &[11],
                    (PingProbe::Ack(_), _) => &[7],
                };
                for at in fields.iter().map(|f| l4 + f) {
                    let mut bad = a.clone();
                    bad[at] ^= 1;
                    if let Ok(r) = parse_frame(&bad) {
                        let same = r == reply;
                        assert!(same || m.classify(&r, &v).is_none(), "{i} at {at}");
                    }
                }
                // The same answer claiming to come from another host.
                let mut moved = reply;
                moved.src = match moved.src {
                    IpAddr::V4(_) => ip("198.18.4.8"),
                    IpAddr::V6(_) => ip("2001:2:0:300::1008"),
                };
                assert!(m.classify(&moved, &v).is_none(), "{i}");
            }
        }
        // Only the list's own ports: a SYN-ACK from 22 to a -PS443 scan.
        let only_443 = PingScan::new(vec![PingProbe::Syn(443)]);
        let f = probe(&only_443, &v, US4, TARGET4, 0, 61007);
        let mut a = answer(&f, false);
        a[34..36].copy_from_slice(&22u16.to_be_bytes());
        assert!(only_443.classify(&parse_frame(&a).unwrap(), &v).is_none());
    }

    #[test]
    fn probe_words_parse_as_nmap_spells_them() {
        assert_eq!(PingProbe::parse("echo"), Ok(vec![PingProbe::Echo]));
        assert_eq!(PingProbe::parse("PP"), Ok(vec![PingProbe::Timestamp]));
        assert_eq!(PingProbe::parse("syn"), Ok(vec![PingProbe::Syn(80)]));
        assert_eq!(
            PingProbe::parse("PS22,443-444"),
            Err("\"PS22,443-444\" is not a discovery probe: give echo (-PE), timestamp (-PP), syn:PORTS (-PS), ack:PORTS (-PA), arp (-PR)".into())
        );
        assert_eq!(
            PingProbe::parse("syn:22,443-444"),
            Ok(vec![
                PingProbe::Syn(22),
                PingProbe::Syn(443),
                PingProbe::Syn(444)
            ])
        );
        assert_eq!(PingProbe::parse("ack:80"), Ok(vec![PingProbe::Ack(80)]));
        assert!(
            PingProbe::parse("ack:99999")
                .unwrap_err()
                .contains("\"99999\" is not a port")
        );
        assert!(PingProbe::parse("echo:3").is_err());
    }
}
