//! TCP SYN scan (`-sS`): half-open probes whose sequence number is the
//! cookie.
//!
//! A target answering a SYN acknowledges `seq + 1`: a SYN-ACK means open, a
//! RST closed. An ICMP unreachable quotes our SYN, sequence number
//! included, and means filtered. Silence means filtered too (nmap's
//! `no-response`). The SYN carries MSS and a timestamp whose echo times
//! the round trip without remembering the probe.

use super::{Capture, ProbeFields, ProbeModule, Validator, Verdict, os_hint};
use crate::cookie::ProbeKind;
use crate::domain::{Family, Protocol, Reason, State};
use crate::wire::checksum::{add_u32, finish};
use crate::wire::reply::{Quoted, Reply, Transport, tcp_flags};
use crate::wire::template::{ETH_LEN, FrameParams, FrameTemplate, IPV6_LEN};

/// Field offsets inside the TCP header.
pub(crate) mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const OPTIONS: usize = 20;
    /// MSS (4 bytes), NOP, NOP, then the timestamp's kind and length.
    pub const TSVAL: usize = OPTIONS + 4 + 2 + 2;
}

/// 20 bytes of header, MSS (4) + NOP NOP + timestamps (10).
pub const SYN_LEN: usize = 36;
pub(crate) const IPPROTO_TCP: u8 = 6;

/// The constant TCP SYN header: every per-probe field zero.
fn syn_header(window: u16, mss: u16) -> [u8; SYN_LEN] {
    let mut h = [0u8; SYN_LEN];
    h[field::DATA_OFFSET] = ((SYN_LEN / 4) as u8) << 4;
    h[field::FLAGS] = tcp_flags::SYN;
    h[field::WINDOW..field::WINDOW + 2].copy_from_slice(&window.to_be_bytes());
    let o = field::OPTIONS;
    h[o..o + 4].copy_from_slice(&[2, 4, (mss >> 8) as u8, mss as u8]);
    h[o + 4..o + 8].copy_from_slice(&[1, 1, 8, 10]);
    h
}

/// What silence means to a SYN probe (nmap's reading).
pub const SILENCE: (State, Reason) = (State::Filtered, Reason::NoResponse);

/// The SYN scan module.
#[derive(Clone, Copy, Debug)]
pub struct SynScan {
    pub window: u16,
    pub mss: u16,
    /// `--os-hints`: each SYN-ACK's verdict carries a passive OS guess.
    pub os_hints: bool,
}

impl Default for SynScan {
    fn default() -> Self {
        SynScan {
            window: 64240,
            mss: 1460,
            os_hints: false,
        }
    }
}

/// The unreachable codes nmap reads for a port (TCP or UDP), with their
/// reason; others (fragmentation needed, source route failed...) say
/// nothing of the port.
pub(crate) fn filtering_code(family: Family, code: u8) -> Option<Reason> {
    match family {
        Family::V4 if !matches!(code, 1 | 2 | 3 | 9 | 10 | 13) => None,
        _ => Reason::from_unreachable(family, code),
    }
}

/// A TCP probe of `kind` quoted in an ICMP or ICMPv6 unreachable with a
/// filtering code: filtered, if the quote carries our address, one of our
/// ports, and the sequence number (the cookie's low 32 bits) we sent. Every
/// TCP module puts its cookie there, because it is in the 8 bytes of the
/// transport header an ICMP error is sure to quote.
pub(crate) fn filtered_by_icmp(
    kind: ProbeKind,
    reply: &Reply<'_>,
    code: u8,
    quoted: &Quoted<'_>,
    v: &Validator,
) -> Option<Verdict> {
    let reason = filtering_code(Family::of(&reply.src), code)?;
    if quoted.protocol != IPPROTO_TCP || quoted.src != reply.dst || !v.our_port(quoted.src_port()) {
        return None;
    }
    let cookie = v.cookie(
        kind,
        quoted.src,
        quoted.src_port(),
        quoted.dst,
        quoted.dst_port(),
    );
    if quoted.word1() != cookie as u32 {
        return None;
    }
    Some(Verdict::new(
        quoted.dst,
        Protocol::Tcp,
        quoted.dst_port(),
        State::Filtered,
        reason,
        reply.ttl,
    ))
}

impl SynScan {
    pub const KIND: ProbeKind = ProbeKind(1);
}

impl ProbeModule for SynScan {
    type Template = FrameTemplate;

    #[inline(always)]
    fn kind(&self, _: Protocol) -> ProbeKind {
        Self::KIND
    }

    fn scans(&self) -> Vec<(&'static str, Protocol)> {
        vec![("syn", Protocol::Tcp)]
    }

    fn max_frame_len(&self) -> usize {
        ETH_LEN + IPV6_LEN + SYN_LEN
    }

    fn template(&self, params: &FrameParams) -> FrameTemplate {
        FrameTemplate::new(params, IPPROTO_TCP, &syn_header(self.window, self.mss))
    }

    #[inline(always)]
    fn write(&self, t: &FrameTemplate, buf: &mut [u8], p: &ProbeFields) -> usize {
        let seq = p.cookie as u32;
        let mut sum = t.stamp(buf, p.src, p.dst, (p.cookie >> 32) as u32);
        let l4 = t.l4_offset();
        let tcp: &mut [u8; SYN_LEN] = (&mut buf[l4..l4 + SYN_LEN])
            .try_into()
            .expect("the template holds a SYN header");
        tcp[field::SRC_PORT..field::SRC_PORT + 2].copy_from_slice(&p.src_port.to_be_bytes());
        tcp[field::DST_PORT..field::DST_PORT + 2].copy_from_slice(&p.dst_port.to_be_bytes());
        tcp[field::SEQ..field::SEQ + 4].copy_from_slice(&seq.to_be_bytes());
        tcp[field::TSVAL..field::TSVAL + 4].copy_from_slice(&p.tsval.to_be_bytes());
        sum += u32::from(p.src_port) + u32::from(p.dst_port);
        sum = add_u32(add_u32(sum, seq), p.tsval);
        tcp[field::CHECKSUM..field::CHECKSUM + 2].copy_from_slice(&finish(sum).to_be_bytes());
        t.len()
    }

    fn classify(&self, reply: &Reply<'_>, v: &Validator) -> Option<Verdict> {
        match reply.transport {
            Transport::Tcp(t) => {
                if !v.our_port(t.dst_port) {
                    return None;
                }
                let seq = v.cookie(Self::KIND, reply.dst, t.dst_port, reply.src, t.src_port) as u32;
                let syn_ack = tcp_flags::SYN | tcp_flags::ACK;
                let (state, reason) = if t.flags & (syn_ack | tcp_flags::RST) == syn_ack {
                    if t.ack != seq.wrapping_add(1) {
                        return None;
                    }
                    (State::Open, Reason::SynAck)
                } else if t.flags & tcp_flags::RST != 0 {
                    // RFC 9293 acknowledges seq + 1 (+ any data we sent);
                    // some stacks echo seq.
                    let acked =
                        t.ack == seq.wrapping_add(1).wrapping_add(v.tcp_data()) || t.ack == seq;
                    if t.flags & tcp_flags::ACK == 0 || !acked {
                        return None;
                    }
                    (State::Closed, Reason::Reset)
                } else {
                    return None;
                };
                let open = state == State::Open;
                Some(Verdict {
                    ts_echo: t.ts_echo.filter(|_| open),
                    os: (open && self.os_hints).then(|| os_hint::hint(reply, &t)),
                    ..Verdict::new(
                        reply.src,
                        Protocol::Tcp,
                        t.src_port,
                        state,
                        reason,
                        reply.ttl,
                    )
                })
            }
            Transport::Unreachable { code, quoted } => {
                filtered_by_icmp(Self::KIND, reply, code, &quoted, v)
            }
            _ => None,
        }
    }

    fn silence(&self, _: Protocol) -> (State, Reason) {
        SILENCE
    }

    fn capture(&self) -> Capture {
        Capture {
            tcp: true,
            udp: false,
            icmp: true,
            arp: false,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cookie::CookieKey;
    use crate::probe::SourcePorts;
    use crate::wire::reply::parse_frame;
    use crate::wire::reply::tests::{
        TARGET4, TARGET6, TcpAnswer, US4, US6, ip, tcp_frame, unreachable_frame,
    };
    use etherparse::{SlicedPacket, TcpOptionElement, TransportSlice};
    use std::net::IpAddr;

    pub fn params(src: &str) -> FrameParams {
        FrameParams {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [0x96, 0xef, 0x9b, 0x09, 0x02, 0x59],
            src: ip(src),
            ttl: 64,
        }
    }

    /// The SYN we would send from `us:sport` to `target:dport`.
    pub fn probe_frame(key: &CookieKey, us: &str, target: &str, sport: u16, dport: u16) -> Vec<u8> {
        let v = validator(key.clone());
        let m = SynScan::default();
        let t = m.template(&params(us));
        let cookie = v.cookie(SynScan::KIND, ip(us), sport, ip(target), dport);
        let mut buf = vec![0; m.max_frame_len()];
        let n = m.write(
            &t,
            &mut buf,
            &ProbeFields {
                src: ip(us),
                dst: ip(target),
                proto: Protocol::Tcp,
                variant: 0,
                src_port: sport,
                dst_port: dport,
                cookie,
                tsval: 5,
            },
        );
        buf.truncate(n);
        buf
    }

    pub fn validator(key: CookieKey) -> Validator {
        Validator::new(
            key,
            [Some(ip(US4)), Some(ip(US6))],
            SourcePorts {
                first: 61000,
                last: 61255,
            },
        )
    }

    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn every_frame_parses_back_with_correct_fields_and_checksums() {
        let m = SynScan::default();
        let mut state = 0x9e37_79b9_7f4a_7c15;
        for us in [US4, US6] {
            let t = m.template(&params(us));
            let mut buf = [0xffu8; 128];
            for i in 0..20_000 {
                let r = next(&mut state);
                let dst = match ip(us) {
                    IpAddr::V4(_) => IpAddr::V4((r as u32).into()),
                    IpAddr::V6(_) => IpAddr::V6((u128::from(r) << 64 | u128::from(!r)).into()),
                };
                let mut f = ProbeFields {
                    src: ip(us),
                    dst,
                    proto: Protocol::Tcp,
                    variant: 0,
                    src_port: (r >> 3) as u16,
                    dst_port: (r >> 19) as u16,
                    cookie: next(&mut state),
                    tsval: (r >> 7) as u32,
                };
                if i < 2 {
                    // Edge values that stress carry folding.
                    let v = [0u64, u64::MAX][i];
                    f.src_port = v as u16;
                    f.dst_port = v as u16;
                    f.cookie = v;
                    f.tsval = v as u32;
                }
                let len = m.write(&t, &mut buf, &f);
                assert_eq!(len, if us == US4 { 70 } else { 90 });
                let p = SlicedPacket::from_ethernet(&buf[..len]).expect("parses");
                let (src, dst) = match p.net.as_ref().unwrap() {
                    etherparse::NetSlice::Ipv4(ip4) => {
                        let h = ip4.header().to_header();
                        assert_eq!(h.identification, (f.cookie >> 32) as u16);
                        assert!(h.dont_fragment);
                        assert_eq!(h.time_to_live, 64);
                        assert_eq!(h.header_checksum, h.calc_header_checksum(), "probe {i}");
                        (
                            IpAddr::V4(h.source.into()),
                            IpAddr::V4(h.destination.into()),
                        )
                    }
                    etherparse::NetSlice::Ipv6(ip6) => {
                        let h = ip6.header().to_header();
                        assert_eq!(h.flow_label.value(), ((f.cookie >> 32) & 0xfffff) as u32);
                        assert_eq!(h.hop_limit, 64);
                        (
                            IpAddr::V6(h.source.into()),
                            IpAddr::V6(h.destination.into()),
                        )
                    }
                    other => panic!("{other:?}"),
                };
                assert_eq!((src, dst), (ip(us), f.dst));
                let Some(TransportSlice::Tcp(tcp)) = p.transport else {
                    panic!("not TCP")
                };
                assert_eq!(tcp.source_port(), f.src_port);
                assert_eq!(tcp.destination_port(), f.dst_port);
                assert_eq!(tcp.sequence_number(), f.cookie as u32);
                assert_eq!(tcp.acknowledgment_number(), 0);
                assert!(tcp.syn() && !tcp.ack() && !tcp.rst() && !tcp.fin() && !tcp.psh());
                assert_eq!(tcp.window_size(), 64240);
                let opts: Vec<_> = tcp.options_iterator().map(|o| o.unwrap()).collect();
                assert_eq!(
                    opts,
                    [
                        TcpOptionElement::MaximumSegmentSize(1460),
                        TcpOptionElement::Noop,
                        TcpOptionElement::Noop,
                        TcpOptionElement::Timestamp(f.tsval, 0),
                    ]
                );
                let want = match (src, dst) {
                    (IpAddr::V4(s), IpAddr::V4(d)) => tcp
                        .to_header()
                        .calc_checksum_ipv4_raw(s.octets(), d.octets(), tcp.payload())
                        .unwrap(),
                    (IpAddr::V6(s), IpAddr::V6(d)) => tcp
                        .to_header()
                        .calc_checksum_ipv6_raw(s.octets(), d.octets(), tcp.payload())
                        .unwrap(),
                    _ => unreachable!(),
                };
                assert_eq!(tcp.checksum(), want, "tcp checksum, probe {i}");
            }
        }
    }

    fn judge(v: &Validator, frame: &[u8]) -> Option<Verdict> {
        SynScan::default().classify(&parse_frame(frame).ok()?, v)
    }

    #[test]
    fn syn_ack_with_the_cookie_is_open_in_both_families() {
        let key = CookieKey::random();
        let v = validator(key.clone());
        for (us, them) in [(US4, TARGET4), (US6, TARGET6)] {
            let seq = v.cookie(SynScan::KIND, ip(us), 61005, ip(them), 443) as u32;
            let mut a = TcpAnswer::new(
                443,
                61005,
                seq.wrapping_add(1),
                tcp_flags::SYN | tcp_flags::ACK,
            );
            a.echo = Some(777);
            let got = judge(&v, &tcp_frame(ip(them), ip(us), a)).unwrap();
            assert_eq!(
                got,
                Verdict {
                    addr: ip(them),
                    proto: Protocol::Tcp,
                    port: 443,
                    state: State::Open,
                    reason: Reason::SynAck,
                    ttl: 61,
                    ts_echo: Some(777),
                    mac: None,
                    os: None,
                }
            );
            // Wrong ack, wrong port, not our port range, not our key.
            let forged = [
                TcpAnswer { ack: seq, ..a },
                TcpAnswer { sport: 444, ..a },
                TcpAnswer { dport: 60999, ..a },
                TcpAnswer { dport: 61006, ..a },
            ];
            for f in forged {
                assert_eq!(judge(&v, &tcp_frame(ip(them), ip(us), f)), None, "{f:?}");
            }
            let other = validator(CookieKey::random());
            assert_eq!(judge(&other, &tcp_frame(ip(them), ip(us), a)), None);
        }
    }

    #[test]
    fn rst_acking_cookie_plus_one_or_cookie_is_closed() {
        let key = CookieKey::random();
        let v = validator(key);
        for (us, them) in [(US4, TARGET4), (US6, TARGET6)] {
            let seq = v.cookie(SynScan::KIND, ip(us), 61000, ip(them), 23) as u32;
            for ack in [seq.wrapping_add(1), seq] {
                let a = TcpAnswer::new(23, 61000, ack, tcp_flags::RST | tcp_flags::ACK);
                let got = judge(&v, &tcp_frame(ip(them), ip(us), a)).unwrap();
                assert_eq!((got.state, got.reason), (State::Closed, Reason::Reset));
            }
            let bad = [
                TcpAnswer::new(
                    23,
                    61000,
                    seq.wrapping_add(2),
                    tcp_flags::RST | tcp_flags::ACK,
                ),
                // A bare ACK, or a RST without ACK, is not an answer to a SYN.
                TcpAnswer::new(23, 61000, seq.wrapping_add(1), tcp_flags::ACK),
                TcpAnswer::new(23, 61000, seq.wrapping_add(1), tcp_flags::RST),
            ];
            for a in bad {
                assert_eq!(judge(&v, &tcp_frame(ip(them), ip(us), a)), None, "{a:?}");
            }
        }
    }

    #[test]
    fn icmp_quoting_our_probe_is_filtered_with_nmaps_reason() {
        let key = CookieKey::random();
        let v = validator(key.clone());
        let router4 = ip("198.18.0.1");
        // (us, target, who sends the error, codes and reasons, codes ignored)
        type Case<'a> = (&'a str, &'a str, IpAddr, &'a [(u8, &'a str)], &'a [u8]);
        let cases: [Case; 2] = [
            (
                US4,
                TARGET4,
                router4,
                &[
                    (1, "host-unreach"),
                    (2, "proto-unreach"),
                    (3, "port-unreach"),
                    (9, "net-prohibited"),
                    (10, "host-prohibited"),
                    (13, "admin-prohibited"),
                ],
                &[0, 4, 5, 6, 7, 8, 11, 12, 14, 15],
            ),
            (
                US6,
                TARGET6,
                ip(TARGET6),
                &[
                    (0, "no-route"),
                    (1, "admin-prohibited"),
                    (2, "beyond-scope"),
                    (3, "host-unreach"),
                    (4, "port-unreach"),
                    (5, "admin-prohibited"),
                    (6, "reject-route"),
                ],
                &[7, 8, 200],
            ),
        ];
        for (us, them, from, good, ignored) in cases {
            let probe = probe_frame(&key, us, them, 61042, 25);
            let ip_len = probe.len() - 14;
            let min = if us == US4 { 28 } else { 48 };
            for &(code, reason) in good {
                for quote in [ip_len, min] {
                    let got = judge(&v, &unreachable_frame(from, code, &probe, quote)).unwrap();
                    assert_eq!(
                        (got.addr, got.port, got.state),
                        (ip(them), 25, State::Filtered)
                    );
                    assert_eq!(got.reason.as_str(), reason);
                    assert_eq!(got.ttl, 63);
                }
            }
            for &code in ignored {
                let f = unreachable_frame(from, code, &probe, ip_len);
                assert_eq!(judge(&v, &f), None, "code {code}");
            }
            // Less than 8 bytes of TCP quoted: unusable.
            let f = unreachable_frame(from, 1, &probe, min - 1);
            assert_eq!(judge(&v, &f), None);
        }
    }

    #[test]
    fn icmp_quoting_a_forged_probe_is_dropped() {
        let key = CookieKey::random();
        let v = validator(key.clone());
        for (us, them) in [(US4, TARGET4), (US6, TARGET6)] {
            let probe = probe_frame(&key, us, them, 61042, 25);
            let mut forged = Vec::new();
            // Sequence number off by one.
            let mut f = probe.clone();
            let seq_at = probe.len() - 36 + 7;
            f[seq_at] ^= 1;
            forged.push(f);
            // A probe of another run.
            forged.push(probe_frame(&CookieKey::random(), us, them, 61042, 25));
            // Our port range, but not the port the cookie was made for.
            let mut f = probe.clone();
            let sport_at = probe.len() - 36 + 1;
            f[sport_at] ^= 1;
            forged.push(f);
            // Not our source port range at all.
            forged.push(probe_frame(&key, us, them, 1234, 25));
            for (i, p) in forged.iter().enumerate() {
                let e = unreachable_frame(
                    ip(them),
                    13.min(if us == US4 { 13 } else { 1 }),
                    p,
                    p.len() - 14,
                );
                assert_eq!(judge(&v, &e), None, "forgery {i}");
            }
        }
    }

    #[test]
    fn a_reply_for_another_probe_kind_never_validates() {
        // The same flow's cookie under another kind: what an ACK scan's
        // RST would carry. A SYN scan must not take it.
        let key = CookieKey::random();
        let v = validator(key);
        let other = v.cookie(ProbeKind(2), ip(US4), 61000, ip(TARGET4), 80) as u32;
        let a = TcpAnswer::new(
            80,
            61000,
            other.wrapping_add(1),
            tcp_flags::SYN | tcp_flags::ACK,
        );
        assert_eq!(judge(&v, &tcp_frame(ip(TARGET4), ip(US4), a)), None);
    }

    #[test]
    fn os_hints_ride_on_open_verdicts_only_when_asked() {
        use crate::domain::OsFamily;
        use etherparse::PacketBuilder;
        let key = CookieKey::random();
        let v = validator(key);
        let hinting = SynScan {
            os_hints: true,
            ..SynScan::default()
        };
        for (us, them) in [(US4, TARGET4), (US6, TARGET6)] {
            let seq = v.cookie(SynScan::KIND, ip(us), 61005, ip(them), 443) as u32;
            // What the lab's Linux sends: 45 x 1448, M,N,N,T, DF.
            let b = PacketBuilder::ethernet2([2; 6], [4; 6]);
            let b = match (ip(them), ip(us)) {
                (IpAddr::V4(f), IpAddr::V4(t)) => b.ipv4(f.octets(), t.octets(), 63),
                (IpAddr::V6(f), IpAddr::V6(t)) => b.ipv6(f.octets(), t.octets(), 63),
                _ => unreachable!(),
            };
            let b = b
                .tcp(443, 61005, 7, 65160)
                .syn()
                .ack(seq.wrapping_add(1))
                .options(&[
                    TcpOptionElement::MaximumSegmentSize(1460),
                    TcpOptionElement::Noop,
                    TcpOptionElement::Noop,
                    TcpOptionElement::Timestamp(1, 2),
                ])
                .unwrap();
            let mut linux = Vec::new();
            b.write(&mut linux, &[]).unwrap();
            let reply = parse_frame(&linux).unwrap();
            let on = hinting.classify(&reply, &v).unwrap();
            assert_eq!((on.state, on.os), (State::Open, Some(OsFamily::Linux)));
            assert_eq!(on.record(1).os, Some(OsFamily::Linux));
            let off = SynScan::default().classify(&reply, &v).unwrap();
            assert_eq!(off, Verdict { os: None, ..on });
            // A timestamp alone, at TTL 61: no known shape.
            let mut a = TcpAnswer::new(
                443,
                61005,
                seq.wrapping_add(1),
                tcp_flags::SYN | tcp_flags::ACK,
            );
            a.echo = Some(1);
            let odd = hinting
                .classify(&parse_frame(&tcp_frame(ip(them), ip(us), a)).unwrap(), &v)
                .unwrap();
            assert_eq!(odd.os, Some(OsFamily::Unknown));
            // A closed port's RST carries no hint.
            let rst = TcpAnswer::new(
                443,
                61005,
                seq.wrapping_add(1),
                tcp_flags::RST | tcp_flags::ACK,
            );
            let closed = hinting
                .classify(&parse_frame(&tcp_frame(ip(them), ip(us), rst)).unwrap(), &v)
                .unwrap();
            assert_eq!((closed.state, closed.os), (State::Closed, None));
        }
    }
}
