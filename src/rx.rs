//! Receive: validate each reply by its cookie, classify it, report it once.
//!
//! Nothing about the probes is remembered. A reply is ours exactly when the
//! cookie recomputed from its own addresses and ports matches what it
//! carries: the acknowledgement of a SYN-ACK or RST, or the sequence number
//! of the SYN quoted inside an ICMP error.

use crate::cookie::{CookieKey, Flow};
use crate::wire::reply::{Reply, TcpReply, UnreachableReply, tcp_flags};
use std::fmt;
use std::net::Ipv4Addr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PortState {
    Open,
    Closed,
    Filtered,
}

impl PortState {
    pub const ALL: [PortState; 3] = [PortState::Open, PortState::Closed, PortState::Filtered];

    pub fn as_str(&self) -> &'static str {
        match self {
            PortState::Open => "open",
            PortState::Closed => "closed",
            PortState::Filtered => "filtered",
        }
    }

    pub fn from_name(s: &str) -> Option<PortState> {
        PortState::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl fmt::Display for PortState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a port is in its state, in nmap's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    SynAck,
    Reset,
    HostUnreach,
    ProtoUnreach,
    PortUnreach,
    NetProhibited,
    HostProhibited,
    AdminProhibited,
}

impl Reason {
    pub fn as_str(&self) -> &'static str {
        match self {
            Reason::SynAck => "syn-ack",
            Reason::Reset => "reset",
            Reason::HostUnreach => "host-unreach",
            Reason::ProtoUnreach => "proto-unreach",
            Reason::PortUnreach => "port-unreach",
            Reason::NetProhibited => "net-prohibited",
            Reason::HostProhibited => "host-prohibited",
            Reason::AdminProhibited => "admin-prohibited",
        }
    }

    /// The ICMP destination-unreachable codes nmap reads as `filtered` for a
    /// SYN probe; other codes are not a statement about the port.
    pub fn from_unreachable_code(code: u8) -> Option<Reason> {
        Some(match code {
            1 => Reason::HostUnreach,
            2 => Reason::ProtoUnreach,
            3 => Reason::PortUnreach,
            9 => Reason::NetProhibited,
            10 => Reason::HostProhibited,
            13 => Reason::AdminProhibited,
            _ => return None,
        })
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One result line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finding {
    pub ip: Ipv4Addr,
    pub port: u16,
    pub state: PortState,
    pub reason: Reason,
    /// TTL of the reply as it arrived.
    pub ttl: u8,
    /// Unix time of arrival, seconds.
    pub ts: u64,
}

/// The scanner's side of every flow: our address and source-port range.
#[derive(Clone, Debug)]
pub struct Validator {
    key: CookieKey,
    src_ip: u32,
    src_port_first: u16,
    src_port_last: u16,
}

/// A reply that passed validation, before it is stamped with a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub ip: u32,
    pub port: u16,
    pub state: PortState,
    pub reason: Reason,
    pub ttl: u8,
    /// Our TSval echoed in a SYN-ACK, for the round-trip time.
    pub ts_echo: Option<u32>,
}

impl Verdict {
    /// The result line for this reply, stamped with its arrival time.
    pub fn finding(&self, ts: u64) -> Finding {
        Finding {
            ip: Ipv4Addr::from(self.ip),
            port: self.port,
            state: self.state,
            reason: self.reason,
            ttl: self.ttl,
            ts,
        }
    }
}

impl Validator {
    pub fn new(key: CookieKey, src_ip: u32, src_port_first: u16, src_port_last: u16) -> Self {
        Validator {
            key,
            src_ip,
            src_port_first,
            src_port_last,
        }
    }

    fn our_port(&self, port: u16) -> bool {
        (self.src_port_first..=self.src_port_last).contains(&port)
    }

    /// `Some` only for a reply to one of our probes.
    #[inline]
    pub fn judge(&self, reply: &Reply) -> Option<Verdict> {
        match reply {
            Reply::Tcp(t) => self.judge_tcp(t),
            Reply::Unreachable(u) => self.judge_unreachable(u),
        }
    }

    fn judge_tcp(&self, t: &TcpReply) -> Option<Verdict> {
        if t.dst_ip != self.src_ip || !self.our_port(t.dst_port) {
            return None;
        }
        let flow = Flow {
            src_ip: self.src_ip,
            dst_ip: t.src_ip,
            src_port: t.dst_port,
            dst_port: t.src_port,
        };
        let seq = self.key.cookie(&flow).seq;
        let syn_ack = tcp_flags::SYN | tcp_flags::ACK;
        let (state, reason) = if t.flags & (syn_ack | tcp_flags::RST) == syn_ack {
            if t.ack != seq.wrapping_add(1) {
                return None;
            }
            (PortState::Open, Reason::SynAck)
        } else if t.flags & tcp_flags::RST != 0 {
            // RFC 793 answers a SYN with ack = seq + 1; some stacks echo seq.
            if t.flags & tcp_flags::ACK == 0 || (t.ack != seq.wrapping_add(1) && t.ack != seq) {
                return None;
            }
            (PortState::Closed, Reason::Reset)
        } else {
            return None;
        };
        Some(Verdict {
            ip: t.src_ip,
            port: t.src_port,
            state,
            reason,
            ttl: t.ttl,
            ts_echo: if state == PortState::Open {
                t.ts_echo
            } else {
                None
            },
        })
    }

    fn judge_unreachable(&self, u: &UnreachableReply) -> Option<Verdict> {
        let reason = Reason::from_unreachable_code(u.code)?;
        let q = &u.quoted;
        if u.dst_ip != self.src_ip || q.src_ip != self.src_ip || !self.our_port(q.src_port) {
            return None;
        }
        let flow = Flow {
            src_ip: self.src_ip,
            dst_ip: q.dst_ip,
            src_port: q.src_port,
            dst_port: q.dst_port,
        };
        if q.seq != self.key.cookie(&flow).seq {
            return None;
        }
        Some(Verdict {
            ip: q.dst_ip,
            port: q.dst_port,
            state: PortState::Filtered,
            reason,
            ttl: u.ttl,
            ts_echo: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::reply::parse_frame;
    use crate::wire::reply::tests::{TARGET, US, icmp_answer, probe_frame, tcp_answer};
    use crate::wire::template::{ProbeFields, SYN_FRAME_LEN};

    fn setup() -> (CookieKey, Validator) {
        let key = CookieKey::random();
        let v = Validator::new(key.clone(), u32::from_be_bytes(US), 61000, 61255);
        (key, v)
    }

    fn flow(sport: u16, dport: u16) -> Flow {
        Flow {
            src_ip: u32::from_be_bytes(US),
            dst_ip: u32::from_be_bytes(TARGET),
            src_port: sport,
            dst_port: dport,
        }
    }

    fn judge(v: &Validator, frame: &[u8]) -> Option<Verdict> {
        v.judge(&parse_frame(frame).unwrap())
    }

    #[test]
    fn syn_ack_with_the_cookie_is_open() {
        let (key, v) = setup();
        let seq = key.cookie(&flow(61005, 443)).seq;
        let f = tcp_answer(443, 61005, 99, seq.wrapping_add(1), true, false, Some(777));
        let got = judge(&v, &f).unwrap();
        assert_eq!(
            got,
            Verdict {
                ip: u32::from_be_bytes(TARGET),
                port: 443,
                state: PortState::Open,
                reason: Reason::SynAck,
                ttl: 61,
                ts_echo: Some(777)
            }
        );
        // Wrong ack, wrong port, not our port range, not our address.
        assert_eq!(
            judge(&v, &tcp_answer(443, 61005, 99, seq, true, false, None)),
            None
        );
        assert_eq!(
            judge(
                &v,
                &tcp_answer(444, 61005, 99, seq.wrapping_add(1), true, false, None)
            ),
            None
        );
        assert_eq!(
            judge(
                &v,
                &tcp_answer(443, 60999, 99, seq.wrapping_add(1), true, false, None)
            ),
            None
        );
        let other = Validator::new(key, u32::from_be_bytes(US) + 1, 61000, 61255);
        assert_eq!(judge(&other, &f), None);
    }

    #[test]
    fn rst_acking_cookie_plus_one_or_cookie_is_closed() {
        let (key, v) = setup();
        let seq = key.cookie(&flow(61000, 23)).seq;
        for ack in [seq.wrapping_add(1), seq] {
            let got = judge(&v, &tcp_answer(23, 61000, 0, ack, false, true, None)).unwrap();
            assert_eq!((got.state, got.reason), (PortState::Closed, Reason::Reset));
        }
        assert_eq!(
            judge(
                &v,
                &tcp_answer(23, 61000, 0, seq.wrapping_add(2), false, true, None)
            ),
            None
        );
        // A bare ACK (no SYN, no RST) is not an answer to a SYN.
        assert_eq!(
            judge(
                &v,
                &tcp_answer(23, 61000, 0, seq.wrapping_add(1), false, false, None)
            ),
            None
        );
    }

    #[test]
    fn icmp_quoting_our_probe_is_filtered_with_nmaps_reason() {
        let (key, v) = setup();
        let f = flow(61042, 25);
        let c = key.cookie(&f);
        let fields = ProbeFields {
            dst_ip: f.dst_ip,
            src_port: f.src_port,
            dst_port: f.dst_port,
            seq: c.seq,
            ip_id: c.ip_id,
            tsval: 5,
        };
        let probe = probe_frame(&fields);
        let want = [
            (1, "host-unreach"),
            (2, "proto-unreach"),
            (3, "port-unreach"),
            (9, "net-prohibited"),
            (10, "host-prohibited"),
            (13, "admin-prohibited"),
        ];
        for (code, reason) in want {
            let got = judge(&v, &icmp_answer(code, &probe, SYN_FRAME_LEN - 14)).unwrap();
            assert_eq!(
                (got.ip, got.port, got.state),
                (f.dst_ip, 25, PortState::Filtered)
            );
            assert_eq!(got.reason.as_str(), reason);
            assert_eq!(got.ttl, 63);
        }
        // Codes that say nothing about the port: net unreachable, frag needed...
        for code in [0, 4, 5, 6, 7, 8, 11, 12, 14, 15] {
            assert_eq!(
                judge(&v, &icmp_answer(code, &probe, 28)),
                None,
                "code {code}"
            );
        }
    }

    #[test]
    fn icmp_quoting_a_forged_probe_is_dropped() {
        let (key, v) = setup();
        let f = flow(61042, 25);
        let good = key.cookie(&f).seq;
        for (seq, sport) in [(good ^ 1, 61042), (good, 61043), (good, 1234)] {
            let fields = ProbeFields {
                dst_ip: f.dst_ip,
                src_port: sport,
                dst_port: 25,
                seq,
                ip_id: 0,
                tsval: 0,
            };
            let probe = probe_frame(&fields);
            assert_eq!(
                judge(&v, &icmp_answer(13, &probe, 28)),
                None,
                "{seq} {sport}"
            );
        }
    }
}
