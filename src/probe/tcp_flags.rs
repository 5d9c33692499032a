//! nmap's TCP flag scans: ACK (`-sA`), FIN (`-sF`), NULL (`-sN`), Xmas
//! (`-sX`), Maimon (`-sM`), Window (`-sW`), and custom flags
//! (`--scanflags`) read as one of them.
//!
//! None of these probes opens a connection, so the only TCP answer is a
//! RST, and where its cookie sits follows RFC 9293's rule for resets: to a
//! segment that carries ACK the RST takes its sequence number from our
//! acknowledgement number; to one without, it acknowledges our sequence
//! number plus the segment's length (one for a FIN, one for a SYN). So the
//! cookie's low 32 bits go in our sequence number (which ICMP errors quote
//! too) and its high 32 bits in our acknowledgement number.

use super::tcp::{IPPROTO_TCP, field, filtered_by_icmp};
use super::{Capture, ProbeFields, ProbeModule, Validator, Verdict};
use crate::cookie::ProbeKind;
use crate::domain::{Protocol, Reason, State};
use crate::wire::checksum::{add_u32, finish};
use crate::wire::reply::{Reply, Transport, tcp_flags};
use crate::wire::template::{ETH_LEN, FrameParams, FrameTemplate, IPV6_LEN};

/// A bare TCP header: no options (stacks only expect them on a SYN).
const HEADER_LEN: usize = 20;

/// How replies are read: nmap's scan types other than SYN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    /// RST: the port is reachable (`unfiltered`); silence: `filtered`.
    Ack,
    /// RST: `closed`; silence: `open|filtered` (RFC 9293 stacks stay
    /// silent on an open port).
    Fin,
    Null,
    Xmas,
    /// FIN/ACK (Uriel Maimon's): RST `closed`, silence `open|filtered`.
    Maimon,
    /// ACK probes read by the RST's window: non-zero `open`, zero `closed`.
    Window,
    /// Custom flags read as a SYN scan reads its replies.
    Syn,
}

impl Reading {
    /// The flags nmap sends for the type.
    pub fn default_flags(self) -> u8 {
        use tcp_flags::*;
        match self {
            Reading::Ack | Reading::Window => ACK,
            Reading::Fin => FIN,
            Reading::Null => 0,
            Reading::Xmas => FIN | PSH | URG,
            Reading::Maimon => FIN | ACK,
            Reading::Syn => SYN,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Reading::Ack => "ack",
            Reading::Fin => "fin",
            Reading::Null => "null",
            Reading::Xmas => "xmas",
            Reading::Maimon => "maimon",
            Reading::Window => "window",
            Reading::Syn => "syn",
        }
    }

    /// What silence means to the type's probes (nmap's reading).
    pub fn silence(self) -> (State, Reason) {
        match self {
            Reading::Ack | Reading::Window | Reading::Syn => (State::Filtered, Reason::NoResponse),
            _ => (State::OpenFiltered, Reason::NoResponse),
        }
    }

    /// Its own cookie tag: a reply drawn by one type never validates as
    /// another's.
    fn kind(self) -> ProbeKind {
        ProbeKind(match self {
            Reading::Ack => 2,
            Reading::Fin => 3,
            Reading::Null => 4,
            Reading::Xmas => 5,
            Reading::Maimon => 6,
            Reading::Window => 7,
            Reading::Syn => 8,
        })
    }
}

/// A flag scan: which flags go out, and how replies are read.
#[derive(Clone, Copy, Debug)]
pub struct FlagScan {
    pub reading: Reading,
    pub flags: u8,
    pub window: u16,
}

impl FlagScan {
    /// nmap's probe for `reading`, or `flags` read that way (`--scanflags`).
    pub fn new(reading: Reading, flags: Option<u8>) -> FlagScan {
        FlagScan {
            reading,
            flags: flags.unwrap_or(reading.default_flags()),
            // nmap's raw probes advertise 1024.
            window: 1024,
        }
    }

    fn acks(&self) -> bool {
        self.flags & tcp_flags::ACK != 0
    }

    /// How far a RST to our segment (without ACK) acknowledges past our
    /// sequence number: SYN and FIN each count one.
    fn length(&self) -> u32 {
        u32::from(self.flags & tcp_flags::SYN != 0) + u32::from(self.flags & tcp_flags::FIN != 0)
    }
}

impl ProbeModule for FlagScan {
    type Template = FrameTemplate;

    #[inline(always)]
    fn kind(&self, _: Protocol) -> ProbeKind {
        self.reading.kind()
    }

    fn scans(&self) -> Vec<(&'static str, Protocol)> {
        vec![(self.reading.name(), Protocol::Tcp)]
    }

    fn max_frame_len(&self) -> usize {
        ETH_LEN + IPV6_LEN + HEADER_LEN
    }

    fn template(&self, params: &FrameParams) -> FrameTemplate {
        let mut h = [0u8; HEADER_LEN];
        h[field::DATA_OFFSET] = ((HEADER_LEN / 4) as u8) << 4;
        h[field::FLAGS] = self.flags;
        h[field::WINDOW..field::WINDOW + 2].copy_from_slice(&self.window.to_be_bytes());
        FrameTemplate::new(params, IPPROTO_TCP, &h)
    }

    #[inline(always)]
    fn write(&self, t: &FrameTemplate, buf: &mut [u8], p: &ProbeFields) -> usize {
        let (seq, high) = (p.cookie as u32, (p.cookie >> 32) as u32);
        let mut sum = t.stamp(buf, p.src, p.dst, high);
        let l4 = t.l4_offset();
        let tcp: &mut [u8; HEADER_LEN] = (&mut buf[l4..l4 + HEADER_LEN])
            .try_into()
            .expect("the template holds a TCP header");
        tcp[field::SRC_PORT..field::SRC_PORT + 2].copy_from_slice(&p.src_port.to_be_bytes());
        tcp[field::DST_PORT..field::DST_PORT + 2].copy_from_slice(&p.dst_port.to_be_bytes());
        tcp[field::SEQ..field::SEQ + 4].copy_from_slice(&seq.to_be_bytes());
        sum += u32::from(p.src_port) + u32::from(p.dst_port);
        sum = add_u32(sum, seq);
        if self.acks() {
            tcp[field::ACK..field::ACK + 4].copy_from_slice(&high.to_be_bytes());
            sum = add_u32(sum, high);
        }
        tcp[field::CHECKSUM..field::CHECKSUM + 2].copy_from_slice(&finish(sum).to_be_bytes());
        t.len()
    }

    fn classify(&self, reply: &Reply<'_>, v: &Validator) -> Option<Verdict> {
        let t = match reply.transport {
            Transport::Tcp(t) => t,
            Transport::Unreachable { code, quoted } => {
                return filtered_by_icmp(self.reading.kind(), reply, code, &quoted, v);
            }
            _ => return None,
        };
        if !v.our_port(t.dst_port) {
            return None;
        }
        let cookie = v.cookie(
            self.reading.kind(),
            reply.dst,
            t.dst_port,
            reply.src,
            t.src_port,
        );
        let (seq, high) = (cookie as u32, (cookie >> 32) as u32);
        let syn_ack = tcp_flags::SYN | tcp_flags::ACK;
        let (state, reason) = if t.flags & tcp_flags::RST != 0 {
            let ours = if self.acks() {
                t.seq == high
            } else {
                t.flags & tcp_flags::ACK != 0
                    && t.ack == seq.wrapping_add(self.length()).wrapping_add(v.tcp_data())
            };
            if !ours {
                return None;
            }
            match self.reading {
                Reading::Ack => (State::Unfiltered, Reason::Reset),
                Reading::Window if t.window != 0 => (State::Open, Reason::Reset),
                _ => (State::Closed, Reason::Reset),
            }
        } else if t.flags & syn_ack == syn_ack && self.flags & tcp_flags::SYN != 0 {
            // Custom flags with SYN: a SYN-ACK answers it as it would a SYN.
            if t.ack != seq.wrapping_add(self.length()) {
                return None;
            }
            (State::Open, Reason::SynAck)
        } else {
            return None;
        };
        Some(Verdict::new(
            reply.src,
            Protocol::Tcp,
            t.src_port,
            state,
            reason,
            reply.ttl,
        ))
    }

    fn silence(&self, _: Protocol) -> (State, Reason) {
        self.reading.silence()
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

/// nmap's `--scanflags`: a number (`9`, `0x29`) or flag names run together
/// in any order (`URGACKPSHRSTSYNFIN`, `synfin`).
pub fn parse_scanflags(s: &str) -> Result<u8, String> {
    let t = s.trim();
    let number = t
        .strip_prefix("0x")
        .map_or_else(|| t.parse::<u16>(), |h| u16::from_str_radix(h, 16));
    if let Ok(n) = number {
        return u8::try_from(n).map_err(|_| format!("{s:?} is above 255: TCP has eight flag bits"));
    }
    const NAMES: [(&str, u8); 8] = [
        ("URG", tcp_flags::URG),
        ("ACK", tcp_flags::ACK),
        ("PSH", tcp_flags::PSH),
        ("RST", tcp_flags::RST),
        ("SYN", tcp_flags::SYN),
        ("FIN", tcp_flags::FIN),
        ("ECE", 0x40),
        ("CWR", 0x80),
    ];
    let upper = t.to_ascii_uppercase();
    let mut rest = upper.as_str();
    let mut flags = 0u8;
    while !rest.is_empty() {
        let (name, bit) = NAMES
            .iter()
            .find(|(name, _)| rest.starts_with(name))
            .ok_or_else(|| format!("{s:?} is not a set of TCP flags: give a number or names like SYNFIN, URGPSHFIN (URG ACK PSH RST SYN FIN ECE CWR)"))?;
        flags |= bit;
        rest = &rest[name.len()..];
    }
    Ok(flags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookie::CookieKey;
    use crate::probe::tcp::tests::{params, validator};
    use crate::wire::reply::parse_frame;
    use crate::wire::reply::tests::{
        TARGET4, TARGET6, TcpAnswer, US4, US6, ip, tcp_frame, unreachable_frame,
    };
    use etherparse::{SlicedPacket, TransportSlice};
    use std::net::IpAddr;

    const ALL: [Reading; 7] = [
        Reading::Ack,
        Reading::Fin,
        Reading::Null,
        Reading::Xmas,
        Reading::Maimon,
        Reading::Window,
        Reading::Syn,
    ];

    fn probe(
        m: &FlagScan,
        key: &CookieKey,
        us: &str,
        them: &str,
        sport: u16,
        dport: u16,
    ) -> Vec<u8> {
        let v = validator(key.clone());
        let t = m.template(&params(us));
        let cookie = v.cookie(m.kind(Protocol::Tcp), ip(us), sport, ip(them), dport);
        let mut buf = vec![0; m.max_frame_len()];
        let n = m.write(
            &t,
            &mut buf,
            &ProbeFields {
                src: ip(us),
                dst: ip(them),
                proto: Protocol::Tcp,
                variant: 0,
                src_port: sport,
                dst_port: dport,
                cookie,
                tsval: 0,
            },
        );
        buf.truncate(n);
        buf
    }

    #[test]
    fn probes_carry_nmaps_flags_and_the_cookie_with_valid_checksums() {
        let key = CookieKey::random();
        let v = validator(key.clone());
        for reading in ALL {
            let m = FlagScan::new(reading, None);
            for (us, them) in [(US4, TARGET4), (US6, TARGET6)] {
                let f = probe(&m, &key, us, them, 61003, 8080);
                let p = SlicedPacket::from_ethernet(&f).unwrap();
                let Some(TransportSlice::Tcp(tcp)) = p.transport else {
                    panic!()
                };
                let cookie = v.cookie(m.kind(Protocol::Tcp), ip(us), 61003, ip(them), 8080);
                assert_eq!(tcp.slice()[13], reading.default_flags(), "{reading:?}");
                assert_eq!(tcp.sequence_number(), cookie as u32);
                let ack = if reading.default_flags() & tcp_flags::ACK != 0 {
                    (cookie >> 32) as u32
                } else {
                    0
                };
                assert_eq!(tcp.acknowledgment_number(), ack);
                assert_eq!(tcp.slice().len(), 20, "no options");
                let want = match (ip(us), ip(them)) {
                    (IpAddr::V4(s), IpAddr::V4(d)) => tcp
                        .to_header()
                        .calc_checksum_ipv4_raw(s.octets(), d.octets(), &[])
                        .unwrap(),
                    (IpAddr::V6(s), IpAddr::V6(d)) => tcp
                        .to_header()
                        .calc_checksum_ipv6_raw(s.octets(), d.octets(), &[])
                        .unwrap(),
                    _ => unreachable!(),
                };
                assert_eq!(tcp.checksum(), want, "{reading:?} {us}");
            }
        }
    }

    /// The RST a RFC 9293 stack sends back to `m`'s probe.
    fn rst(m: &FlagScan, v: &Validator, us: &str, them: &str, window: u16) -> TcpAnswer {
        let cookie = v.cookie(m.kind(Protocol::Tcp), ip(us), 61003, ip(them), 8080);
        let mut a = if m.acks() {
            let mut a = TcpAnswer::new(8080, 61003, 0, tcp_flags::RST);
            a.seq = (cookie >> 32) as u32;
            a
        } else {
            TcpAnswer::new(
                8080,
                61003,
                (cookie as u32).wrapping_add(m.length()),
                tcp_flags::RST | tcp_flags::ACK,
            )
        };
        a.window = window;
        a
    }

    #[test]
    fn resets_read_as_nmap_reads_them_and_silence_too() {
        let key = CookieKey::random();
        let v = validator(key);
        let want = [
            (Reading::Ack, State::Unfiltered, State::Filtered),
            (Reading::Fin, State::Closed, State::OpenFiltered),
            (Reading::Null, State::Closed, State::OpenFiltered),
            (Reading::Xmas, State::Closed, State::OpenFiltered),
            (Reading::Maimon, State::Closed, State::OpenFiltered),
            (Reading::Syn, State::Closed, State::Filtered),
        ];
        for (reading, on_rst, silent) in want {
            let m = FlagScan::new(reading, None);
            assert_eq!(m.silence(Protocol::Tcp), (silent, Reason::NoResponse));
            for (us, them) in [(US4, TARGET4), (US6, TARGET6)] {
                let f = tcp_frame(ip(them), ip(us), rst(&m, &v, us, them, 0));
                let got = m.classify(&parse_frame(&f).unwrap(), &v).unwrap();
                assert_eq!(
                    (got.state, got.reason),
                    (on_rst, Reason::Reset),
                    "{reading:?}"
                );
                assert_eq!((got.addr, got.port), (ip(them), 8080));
            }
        }
        let w = FlagScan::new(Reading::Window, None);
        for (window, state) in [(0, State::Closed), (1, State::Open), (65535, State::Open)] {
            let f = tcp_frame(ip(TARGET4), ip(US4), rst(&w, &v, US4, TARGET4, window));
            let got = w.classify(&parse_frame(&f).unwrap(), &v).unwrap();
            assert_eq!(got.state, state, "window {window}");
        }
    }

    #[test]
    fn forged_resets_and_other_types_replies_are_refused() {
        let key = CookieKey::random();
        let v = validator(key);
        for reading in ALL {
            let m = FlagScan::new(reading, None);
            let good = rst(&m, &v, US4, TARGET4, 0);
            let mut forged = vec![
                TcpAnswer {
                    seq: good.seq ^ 1,
                    ack: good.ack ^ 1,
                    ..good
                },
                TcpAnswer {
                    sport: 8081,
                    ..good
                },
                TcpAnswer {
                    dport: 61004,
                    ..good
                },
                TcpAnswer {
                    dport: 60000,
                    ..good
                },
            ];
            // Another scan type's genuine reset to the same flow.
            for other in ALL.into_iter().filter(|o| *o != reading) {
                let o = FlagScan::new(other, None);
                let r = rst(&o, &v, US4, TARGET4, 0);
                if (r.seq, r.ack) != (good.seq, good.ack) {
                    forged.push(r);
                }
            }
            for f in forged {
                let frame = tcp_frame(ip(TARGET4), ip(US4), f);
                assert_eq!(
                    m.classify(&parse_frame(&frame).unwrap(), &v),
                    None,
                    "{reading:?} {f:?}"
                );
            }
        }
    }

    #[test]
    fn icmp_errors_quoting_the_probe_are_filtered() {
        let key = CookieKey::random();
        let v = validator(key.clone());
        for reading in ALL {
            let m = FlagScan::new(reading, None);
            for (us, them, code) in [(US4, TARGET4, 13), (US6, TARGET6, 1)] {
                let p = probe(&m, &key, us, them, 61003, 8080);
                let e = unreachable_frame(ip(them), code, &p, p.len() - 14);
                let got = m.classify(&parse_frame(&e).unwrap(), &v).unwrap();
                assert_eq!(
                    (got.state, got.reason),
                    (State::Filtered, Reason::AdminProhibited)
                );
                let mut bad = p.clone();
                let seq_last = p.len() - 20 + 7;
                bad[seq_last] ^= 1;
                let e = unreachable_frame(ip(them), code, &bad, bad.len() - 14);
                assert_eq!(m.classify(&parse_frame(&e).unwrap(), &v), None);
            }
        }
    }

    #[test]
    fn scanflags_take_numbers_and_names() {
        assert_eq!(
            parse_scanflags("SYNFIN"),
            Ok(tcp_flags::SYN | tcp_flags::FIN)
        );
        assert_eq!(
            parse_scanflags("urgpshfin"),
            Ok(tcp_flags::URG | tcp_flags::PSH | tcp_flags::FIN)
        );
        assert_eq!(parse_scanflags("9"), Ok(9));
        assert_eq!(parse_scanflags("0x29"), Ok(0x29));
        assert_eq!(parse_scanflags("ECECWR"), Ok(0xc0));
        assert!(parse_scanflags("256").unwrap_err().contains("above 255"));
        assert!(
            parse_scanflags("SYNFOO")
                .unwrap_err()
                .contains("not a set of TCP flags")
        );
        // Custom flags keep the reading: SYN|FIN read as a SYN scan.
        let m = FlagScan::new(Reading::Syn, Some(tcp_flags::SYN | tcp_flags::FIN));
        assert_eq!(m.length(), 2);
        assert!(!m.acks());
    }
}
