//! The receive path: `parse_frame`, `parse_ip` and `engine::rx::judge` on
//! any frame, of either family.
//!
//! Every input is one Ethernet frame (the seeds are frames captured in lab 7
//! by scripts/fuzz.sh). For each probe module it is judged three ways:
//!
//! 1. as it is;
//! 2. answered "as a TCP stack would": when it is a TCP segment to one of
//!    our addresses, its acknowledgment number is set to the sequence
//!    number of the probe the module itself writes for that flow, plus one
//!    and plus nothing (RFC 9293 and the stacks that echo);
//! 3. quoted "as a router would": when it is an ICMP/ICMPv6 unreachable,
//!    the quote is overwritten by the probe the module writes for the
//!    quoted flow.
//!
//! A fuzzer cannot guess a SipHash cookie, so 2 and 3 are what carry mutated
//! frames past the cookie check into the classification. Every verdict, of
//! any of the three, must satisfy `check_verdict`'s invariants, read from the
//! frame's bytes independently of the parser; a module may add an oracle
//! of what it must answer to the fixed-up frames (the SYN scan does).
//!
//! With SYNSWEEP_FUZZ_VERDICTS=1 in the environment, every verdict is
//! printed to standard error ("verdict WAY STATE REASON"), to see which
//! inputs reach the classification (e.g. with `-runs=0` over a corpus).

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;
use synsweep::cookie::CookieKey;
use synsweep::domain::{Family, Reason, State};
use synsweep::engine::rx::judge;
use synsweep::probe::tcp::SynScan;
use synsweep::probe::{ProbeFields, ProbeModule, SourcePorts, Validator, Verdict};
use synsweep::wire::reply::{NotAReply, Reply, Transport, parse_frame, parse_ip, tcp_flags};
use synsweep::wire::template::FrameParams;

/// Our side in lab 7 (`scripts/lab.sh info --id 7`), where the seeds were
/// captured, and the scanner's default source ports.
const US4: Ipv4Addr = Ipv4Addr::new(198, 19, 255, 29);
const US6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0xff07, 0, 0, 0, 1);
const PORTS: SourcePorts = SourcePorts {
    first: 61000,
    last: 61255,
};

static VALIDATOR: LazyLock<Validator> = LazyLock::new(|| {
    Validator::new(
        CookieKey::from_keys(0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210),
        [Some(IpAddr::V4(US4)), Some(IpAddr::V6(US6))],
        PORTS,
    )
});

fuzz_target!(|frame: &[u8]| {
    parsing(frame);
    // One line per probe module: `check(&Module::default(), frame, None);`,
    // or `Some(oracle)` for a module that has one.
    check(&SynScan::default(), frame, Some(syn_oracle));
});

const ETH: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;

/// Where an IP packet's fields sit, read from the bytes alone (what the
/// invariants compare the parser's answers to).
#[derive(Clone, Copy, Debug)]
struct Layout {
    family: Family,
    /// Offset of the transport header (or ICMP header) in the frame.
    l4: usize,
}

impl Layout {
    /// The layout of `frame`'s IP packet, by its Ethertype; `None` for
    /// frames that are not IP (or too short to have an Ethertype). The
    /// offsets mean something only for a frame long enough to hold them.
    fn of(frame: &[u8]) -> Option<Layout> {
        match u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]) {
            ETHERTYPE_IPV4 => Some(Layout {
                family: Family::V4,
                l4: ETH + usize::from(frame.get(ETH).map_or(0, |b| b & 0x0f)) * 4,
            }),
            ETHERTYPE_IPV6 => Some(Layout {
                family: Family::V6,
                l4: ETH + 40,
            }),
            _ => None,
        }
    }

    fn src(&self, frame: &[u8]) -> IpAddr {
        addr_at(frame, self.family, self.addr_offsets().0)
    }

    fn dst(&self, frame: &[u8]) -> IpAddr {
        addr_at(frame, self.family, self.addr_offsets().1)
    }

    fn addr_offsets(&self) -> (usize, usize) {
        match self.family {
            Family::V4 => (ETH + 12, ETH + 16),
            Family::V6 => (ETH + 8, ETH + 24),
        }
    }

    /// TTL or hop limit.
    fn ttl(&self, frame: &[u8]) -> u8 {
        match self.family {
            Family::V4 => frame[ETH + 8],
            Family::V6 => frame[ETH + 7],
        }
    }

    /// The IP protocol / next header.
    fn protocol(&self, frame: &[u8]) -> u8 {
        match self.family {
            Family::V4 => frame[ETH + 9],
            Family::V6 => frame[ETH + 6],
        }
    }
}

fn addr_at(b: &[u8], family: Family, at: usize) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(<[u8; 4]>::try_from(&b[at..at + 4]).unwrap().into()),
        Family::V6 => IpAddr::V6(<[u8; 16]>::try_from(&b[at..at + 16]).unwrap().into()),
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

/// `parse_frame` and `parse_ip` agree with each other and with the bytes.
fn parsing(frame: &[u8]) {
    let parsed = parse_frame(frame);
    if frame.len() < ETH {
        assert_eq!(parsed, Err(NotAReply::Malformed));
        return;
    }
    let packet = &frame[ETH..];
    let bare = parse_ip(packet);
    let Some(layout) = Layout::of(frame) else {
        assert_eq!(parsed, Err(NotAReply::NotIp));
        return;
    };
    let version_matches = packet.first().map(|b| b >> 4)
        == Some(match layout.family {
            Family::V4 => 4,
            Family::V6 => 6,
        });
    if version_matches {
        // The same packet, found by its Ethertype or by its version.
        assert_eq!(bare, parsed, "parse_ip disagrees with parse_frame");
    } else {
        assert!(
            parsed.is_err(),
            "a version {packet:02x?} parsed as {layout:?}"
        );
    }
    let Ok(reply) = parsed else { return };
    // Addresses, TTL and transport fields are the frame's own bytes.
    assert_eq!(Family::of(&reply.src), layout.family);
    assert_eq!(reply.src, layout.src(frame));
    assert_eq!(reply.dst, layout.dst(frame));
    assert_eq!(reply.ttl, layout.ttl(frame));
    let l4 = layout.l4;
    match reply.transport {
        Transport::Tcp(t) => {
            assert_eq!(layout.protocol(frame), 6);
            assert_eq!(t.src_port, u16_at(frame, l4));
            assert_eq!(t.dst_port, u16_at(frame, l4 + 2));
            assert_eq!(t.seq, u32_at(frame, l4 + 4));
            assert_eq!(t.ack, u32_at(frame, l4 + 8));
            assert_eq!(t.flags, frame[l4 + 13]);
            assert_eq!(t.window, u16_at(frame, l4 + 14));
            // The options lie inside the header the data offset declares.
            let data_offset = usize::from(frame[l4 + 12] >> 4) * 4;
            assert!(data_offset >= 20 && l4 + data_offset <= frame.len());
            if t.ts_echo.is_some() {
                assert!(data_offset >= 20 + 10, "a timestamp without room for it");
            }
        }
        Transport::Unreachable { code, quoted } => {
            let (icmp, unreachable) = match layout.family {
                Family::V4 => (1, 3),
                Family::V6 => (58, 1),
            };
            assert_eq!(layout.protocol(frame), icmp);
            assert_eq!(frame[l4], unreachable);
            assert_eq!(frame[l4 + 1], code);
            let q = Layout {
                family: layout.family,
                l4: 0,
            };
            // The quote starts after the 8-byte ICMP header and is of the
            // outer packet's family; the transport follows its header.
            let quote = &frame[l4 + 8..];
            assert_eq!(Family::of(&quoted.src), layout.family);
            assert_eq!(Family::of(&quoted.dst), layout.family);
            let (s, d) = q.addr_offsets();
            assert_eq!(quoted.src, addr_at(quote, q.family, s - ETH));
            assert_eq!(quoted.dst, addr_at(quote, q.family, d - ETH));
            let header = match q.family {
                Family::V4 => usize::from(quote[0] & 0x0f) * 4,
                Family::V6 => 40,
            };
            assert!(quoted.transport.len() >= 8);
            assert_eq!(quoted.transport[..8], quote[header..header + 8]);
        }
    }
}

/// Which of the three ways a frame was judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Way {
    AsIs,
    /// TCP, acknowledging our probe's sequence number + 1.
    AckNext,
    /// TCP, echoing our probe's sequence number.
    AckSame,
    /// ICMP error quoting our probe.
    Quoting,
}

/// What an oracle sees: the frame judged, its parse and the verdict.
struct Judged<'a> {
    way: Way,
    frame: &'a [u8],
    reply: Reply<'a>,
    verdict: Option<Verdict>,
    /// For `Quoting`: the quote holds all of our probe's IP header and the
    /// 8 bytes after it (else some of it is still the fuzzer's).
    complete: bool,
}

static SHOW_VERDICTS: LazyLock<bool> =
    LazyLock::new(|| std::env::var_os("SYNSWEEP_FUZZ_VERDICTS").is_some_and(|v| v == "1"));

fn show(way: Way, verdict: Option<Verdict>) {
    if let Some(v) = verdict
        && *SHOW_VERDICTS
    {
        eprintln!("verdict {way:?} {} {}", v.state, v.reason);
    }
}

fn check<M: ProbeModule>(module: &M, frame: &[u8], oracle: Option<fn(&Judged)>) {
    let v = &*VALIDATOR;
    let verdict = judge(module, v, frame);
    show(Way::AsIs, verdict);
    check_verdict(module, frame, verdict);
    let Ok(reply) = parse_frame(frame) else {
        return;
    };
    if v.is_ours(reply.dst) {
        assert_eq!(verdict, module.classify(&reply, v));
    } else {
        // Only what is addressed to us is ever classified.
        assert_eq!(verdict, None);
        return;
    }
    let layout = Layout::of(frame).expect("it parsed");
    let run = |way: Way, fixed: &[u8], complete: bool| {
        let verdict = judge(module, v, fixed);
        show(way, verdict);
        check_verdict(module, fixed, verdict);
        if let (Some(oracle), Ok(reply)) = (oracle, parse_frame(fixed)) {
            oracle(&Judged {
                way,
                frame: fixed,
                reply,
                verdict,
                complete,
            });
        }
    };
    if let Some(o) = oracle {
        o(&Judged {
            way: Way::AsIs,
            frame,
            reply,
            verdict,
            complete: true,
        });
    }
    match reply.transport {
        Transport::Tcp(t) => {
            // Our probe of this flow: from us, to the segment's sender.
            let Some(probe) = probe_of(module, reply.dst, t.dst_port, reply.src, t.src_port, t.ack)
            else {
                return;
            };
            let (pl, pfamily) = (Layout::of(&probe).unwrap(), Family::of(&reply.dst));
            assert_eq!(
                pl.family, pfamily,
                "the module wrote another family's frame"
            );
            if pl.protocol(&probe) != 6 || probe.len() < pl.l4 + 12 {
                return; // not a TCP probe: nothing a TCP stack would answer
            }
            let seq = u32_at(&probe, pl.l4 + 4);
            let mut fixed = frame.to_vec();
            let at = layout.l4 + 8;
            fixed[at..at + 4].copy_from_slice(&seq.wrapping_add(1).to_be_bytes());
            run(Way::AckNext, &fixed, true);
            fixed[at..at + 4].copy_from_slice(&seq.to_be_bytes());
            run(Way::AckSame, &fixed, true);
        }
        Transport::Unreachable { quoted, .. } => {
            let Some(ours) = v.source(Family::of(&quoted.dst)) else {
                return;
            };
            let word = quoted.word1();
            let Some(probe) = probe_of(
                module,
                ours,
                quoted.src_port(),
                quoted.dst,
                quoted.dst_port(),
                word,
            ) else {
                return;
            };
            let mut fixed = frame.to_vec();
            let start = layout.l4 + 8;
            let n = (probe.len() - ETH).min(fixed.len() - start);
            fixed[start..start + n].copy_from_slice(&probe[ETH..ETH + n]);
            let pl = Layout::of(&probe).unwrap();
            run(Way::Quoting, &fixed, n >= pl.l4 - ETH + 8);
        }
    }
}

/// The frame `module` sends from `ours:our_port` to `target:port`, or
/// `None` where we have no address of `target`'s family.
fn probe_of<M: ProbeModule>(
    module: &M,
    ours: IpAddr,
    our_port: u16,
    target: IpAddr,
    port: u16,
    tsval: u32,
) -> Option<Vec<u8>> {
    let v = &*VALIDATOR;
    if Family::of(&ours) != Family::of(&target) || v.source(Family::of(&ours)) != Some(ours) {
        return None;
    }
    let template = module.template(&FrameParams {
        src_mac: [2, 0x73, 0x73, 0x77, 7, 1],
        dst_mac: [2, 0x73, 0x73, 0x77, 7, 2],
        src: ours,
        ttl: 64,
    });
    let mut buf = vec![0u8; module.max_frame_len()];
    let n = module.write(
        &template,
        &mut buf,
        &ProbeFields {
            dst: target,
            src_port: our_port,
            dst_port: port,
            cookie: v.cookie(M::KIND, ours, our_port, target, port),
            tsval,
        },
    );
    assert!(n <= buf.len() && n >= ETH + 20, "write returned {n}");
    buf.truncate(n);
    // Our own probe parses, from us, to the target.
    let r = parse_frame(&buf).expect("the module's probe parses");
    assert_eq!((r.src, r.dst), (ours, target));
    Some(buf)
}

/// What holds of any verdict, of any module, read from the frame's bytes.
fn check_verdict<M: ProbeModule>(module: &M, frame: &[u8], verdict: Option<Verdict>) {
    let Some(verdict) = verdict else { return };
    let v = &*VALIDATOR;
    let reply = parse_frame(frame).expect("a verdict on a frame that does not parse");
    let layout = Layout::of(frame).expect("a verdict on a frame that is not IP");
    // The verdict's address is of the family the frame's IP header says.
    assert_eq!(Family::of(&verdict.addr), layout.family, "{verdict:?}");
    // Only replies to our own address are judged.
    assert!(v.is_ours(layout.dst(frame)), "{verdict:?} for another host");
    assert_eq!(verdict.ttl, layout.ttl(frame));
    assert_eq!(verdict.proto, module.protocol());
    assert_ne!(
        (verdict.state, verdict.reason),
        module.silence(),
        "a reply is not silence"
    );
    let l4 = layout.l4;
    match reply.transport {
        Transport::Tcp(t) => {
            // A direct answer: from the probed address and port, to one of
            // our source ports.
            assert_eq!(verdict.addr, layout.src(frame), "{verdict:?}");
            assert_eq!(verdict.port, u16_at(frame, l4), "{verdict:?}");
            assert!(v.our_port(u16_at(frame, l4 + 2)), "{verdict:?}");
            assert!(verdict.ts_echo.is_none() || verdict.ts_echo == t.ts_echo);
        }
        Transport::Unreachable { quoted, .. } => {
            // From whoever sent the error (the lab's IPv6 gateway, say);
            // about the address and port our quoted probe went to.
            let quote = &frame[l4 + 8..];
            let (header, dst_at) = match layout.family {
                Family::V4 => (usize::from(quote[0] & 0x0f) * 4, 16),
                Family::V6 => (40, 24),
            };
            assert_eq!(verdict.addr, addr_at(quote, layout.family, dst_at));
            assert_eq!(verdict.addr, quoted.dst);
            assert_eq!(verdict.port, u16_at(quote, header + 2), "{verdict:?}");
            assert!(v.our_port(u16_at(quote, header)), "{verdict:?}");
            assert_eq!(verdict.ts_echo, None);
        }
    }
}

/// The SYN scan's contract (src/probe/tcp.rs): a SYN-ACK acknowledging
/// our SYN is open, a RST+ACK acknowledging it (or echoing its sequence
/// number) closed, an unreachable quoting it with a code nmap names
/// filtered, anything else nothing.
fn syn_oracle(j: &Judged) {
    let v = &*VALIDATOR;
    let reply = &j.reply;
    if !v.is_ours(reply.dst) {
        assert_eq!(j.verdict, None);
        return;
    }
    let want: Option<(State, Reason)> = match (j.way, reply.transport) {
        (Way::AsIs, _) => {
            // Unfixed frames may or may not carry a valid cookie; whatever
            // they get must be what the fixed-up rules say for their kind.
            if let Some(verdict) = j.verdict {
                let ok = matches!(
                    (verdict.state, verdict.reason),
                    (State::Open, Reason::SynAck)
                        | (State::Closed, Reason::Reset)
                        | (State::Filtered, _)
                );
                assert!(ok, "{verdict:?}");
            }
            return;
        }
        (Way::AckNext | Way::AckSame, Transport::Tcp(t)) => {
            let f = t.flags;
            let syn_ack = tcp_flags::SYN | tcp_flags::ACK;
            if !v.our_port(t.dst_port) {
                None
            } else if f & (syn_ack | tcp_flags::RST) == syn_ack {
                (j.way == Way::AckNext).then_some((State::Open, Reason::SynAck))
            } else if f & tcp_flags::RST != 0 && f & tcp_flags::ACK != 0 {
                Some((State::Closed, Reason::Reset))
            } else {
                None
            }
        }
        (Way::Quoting, Transport::Unreachable { .. }) if !j.complete => return,
        (Way::Quoting, Transport::Unreachable { code, quoted }) => {
            let family = Family::of(&reply.src);
            let named = match family {
                Family::V4 => matches!(code, 1 | 2 | 3 | 9 | 10 | 13),
                Family::V6 => true,
            };
            let reason = if named {
                Reason::from_unreachable(family, code)
            } else {
                None
            };
            // The quote is our SYN from our address, unless the frame was
            // too short to hold all of it.
            let ours =
                quoted.protocol == 6 && quoted.src == reply.dst && v.our_port(quoted.src_port());
            reason.filter(|_| ours).map(|r| (State::Filtered, r))
        }
        (way, t) => panic!("{way:?} fixed up a {t:?}"),
    };
    let got = j.verdict.map(|v| (v.state, v.reason));
    assert_eq!(got, want, "{:?} of {:02x?}: {:?}", j.way, j.frame, j.reply);
    if let (Some(verdict), Transport::Tcp(t)) = (j.verdict, reply.transport) {
        let echo = if verdict.state == State::Open {
            t.ts_echo
        } else {
            None
        };
        assert_eq!(verdict.ts_echo, echo);
    }
}
