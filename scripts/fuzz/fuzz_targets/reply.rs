//! The receive path: `parse_frame`, `parse_ip` and `engine::rx::judge` on
//! any frame, of either family, with every probe module.
//!
//! Every input is one Ethernet frame (the seeds are frames captured in lab 7
//! by scripts/fuzz.sh, and the frames scripts/fuzz/make_reply_seeds.py
//! builds of the kinds a SYN scan does not draw). `parsing` checks the parse
//! against the frame's own bytes. Then each probe module (`MODULES`, set up
//! as src/scan.rs sets them up) judges the frame as it is, and in forms
//! "fixed up" to answer a probe the module itself writes for that flow (the
//! engine's `source_port`, cookie and `write`): a fuzzer cannot guess a
//! SipHash cookie, so these are what carry mutated frames into the
//! classification.
//!
//! - TCP: the ports of our probe, our sequence number acknowledged (plus 0,
//!   1 and the probe's length in sequence space) with the fuzzer's flags;
//!   then RFC 9293's two answers, a SYN-ACK and a RST, flags and all;
//! - UDP: to the source port the cookie chose, with the payload's
//!   identifier carried back where the protocol echoes it;
//! - echo and timestamp replies: our request's identifier, sequence number
//!   (and originate timestamp);
//! - ICMP/ICMPv6 unreachables: quoting our probe, as a router would and as
//!   the probed host would;
//! - ARP replies and neighbour advertisements: for an address the sweep
//!   probes.
//!
//! Every verdict, of any of these, must (`check_verdict`): be for a frame
//! addressed to us; name the address and port the frame names, in its
//! family, with its TTL, a protocol the module scans, not its silence;
//! carry our cookie, i.e. the frame holds back what a probe the module
//! writes for that flow carried (compared as bytes of that probe, not
//! recomputed the module's way; the neighbour sweep has no cookie: the
//! address must be one it probes); mean what nmap reads such an answer to
//! that probe as (`Subject::meaning`); and render, in every output format,
//! as one line that the format's own reader takes for a record and that
//! reads back to the same values. Where a fix-up writes every field the
//! module checks (the "textbook" answers), the verdict must be exactly
//! nmap's reading: that catches a module refusing real answers, which the
//! invariants alone would not.
//!
//! With SYNSWEEP_FUZZ_VERDICTS=1 in the environment every verdict is
//! printed to standard error ("verdict MODULE WAY STATE REASON PORT/PROTO"),
//! to see which inputs reach the classification (e.g. with `-runs=0` over a
//! corpus).

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, LazyLock, Mutex};
use synsweep::cookie::CookieKey;
use synsweep::domain::{Family, Protocol, Reason, Record, State};
use synsweep::engine::rx::judge;
use synsweep::output::{EndInfo, FormatKind, RunInfo};
use synsweep::probe::both::Both;
use synsweep::probe::neighbor::NeighborSweep;
use synsweep::probe::payloads::{self, Echo};
use synsweep::probe::ping::{PingProbe, PingScan};
use synsweep::probe::tcp::SynScan;
use synsweep::probe::tcp_flags::{FlagScan, Reading};
use synsweep::probe::udp::{PayloadTable, UdpScan};
use synsweep::probe::{ProbeFields, ProbeModule, SourcePorts, Validator, Verdict};
use synsweep::targets::{PortEntry, ProbeSpace};
use synsweep::wire::reply::tcp_flags::{ACK, FIN, RST, SYN};
use synsweep::wire::reply::{NotAReply, Reply, Transport, parse_frame, parse_ip};
use synsweep::wire::template::FrameParams;
use synsweep::wire::{MacAddr, format_mac};

/// Our side in lab 7 (`scripts/lab.sh info --id 7`), where the seeds were
/// captured, and the scanner's default source ports.
const US4: Ipv4Addr = Ipv4Addr::new(198, 19, 255, 29);
const US6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0xff07, 0, 0, 0, 1);
const PORTS: SourcePorts = SourcePorts {
    first: 61000,
    last: 61255,
};
/// Lab 7's gateways, whose ARP and ND answers are in the seeds.
const GATEWAY4: &str = "198.19.255.30";
const GATEWAY6: &str = "2001:2:0:ff07::2";
/// What the neighbour sweep probes: lab 7's blocks, its LAN and its
/// gateways.
const SWEPT: [(&str, u8); 6] = [
    ("198.18.112.0", 20),
    ("198.19.247.0", 24),
    (GATEWAY4, 32),
    ("2001:2:0:700::1000", 116),
    ("2001:2:0:ff07::100", 120),
    (GATEWAY6, 128),
];
/// Our TSval in every probe (only the SYN carries one).
const TSVAL: u32 = 0x7173_7700;

static VALIDATOR: LazyLock<Validator> = LazyLock::new(|| {
    Validator::new(
        CookieKey::from_keys(0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210),
        [Some(IpAddr::V4(US4)), Some(IpAddr::V6(US6))],
        PORTS,
    )
});

/// Every probe module, as a scan builds it (src/scan.rs).
struct Modules {
    syn: Fuzzed<SynScan>,
    /// nmap's flag scans with their own flags, then `--scanflags` read as
    /// SYN: SYN+FIN (two in sequence space) and SYN+ACK (a probe with ACK
    /// that can draw a SYN-ACK).
    flags: Vec<Fuzzed<FlagScan>>,
    udp: Fuzzed<UdpScan>,
    /// nmap's default discovery (`-PE -PS443 -PA80 -PP`).
    ping: Fuzzed<PingScan>,
    neighbor: Fuzzed<NeighborSweep>,
    /// `-sS -sU`, and a flag scan with UDP (`-sW -sU`).
    syn_udp: Fuzzed<Both<SynScan, UdpScan>>,
    flags_udp: Fuzzed<Both<FlagScan, UdpScan>>,
}

static MODULES: LazyLock<Modules> = LazyLock::new(|| {
    let udp = || UdpScan::new(PayloadTable::new(payloads::builtin()));
    let flags = [
        ("ack", Reading::Ack, None),
        ("fin", Reading::Fin, None),
        ("null", Reading::Null, None),
        ("xmas", Reading::Xmas, None),
        ("maimon", Reading::Maimon, None),
        ("window", Reading::Window, None),
        ("synfin", Reading::Syn, Some(SYN | FIN)),
        ("synack", Reading::Syn, Some(SYN | ACK)),
    ];
    Modules {
        syn: Fuzzed::new("syn", SynScan::default()),
        flags: flags
            .into_iter()
            .map(|(name, r, f)| Fuzzed::new(name, FlagScan::new(r, f)))
            .collect(),
        udp: Fuzzed::new("udp", udp()),
        ping: Fuzzed::new("ping", PingScan::new(PingProbe::DEFAULT.to_vec())),
        neighbor: Fuzzed::new("neighbor", NeighborSweep::new(Arc::new(swept_space()))),
        syn_udp: Fuzzed::new(
            "syn+udp",
            Both {
                tcp: SynScan::default(),
                udp: udp(),
            },
        ),
        flags_udp: Fuzzed::new(
            "window+udp",
            Both {
                tcp: FlagScan::new(Reading::Window, None),
                udp: udp(),
            },
        ),
    }
});

/// The UDP ports whose server answers from another port (TFTP): such an
/// answer is ours by the port it comes back to alone.
static ELSEWHERE: LazyLock<Vec<u16>> = LazyLock::new(|| {
    payloads::builtin()
        .into_iter()
        .filter(|(_, p)| p.answers_from_other_port)
        .flat_map(|(ports, _)| ports)
        .collect()
});

/// `SWEPT` as the sweep's probe space: every host, "port" icmp 0.
fn swept_space() -> ProbeSpace {
    let text: Vec<String> = SWEPT.iter().map(|(a, p)| format!("{a}/{p}")).collect();
    let space = ProbeSpace::parse(&text.join(","), "", "1").expect("lab 7's addresses parse");
    let space = space.with_ports(vec![PortEntry {
        proto: Protocol::Icmp,
        port: 0,
        variant: 0,
    }]);
    // No default exclusion took any of them (the sweep would not probe it).
    for (a, _) in SWEPT {
        let first = a.parse().unwrap();
        assert!(space.index_of(first, Protocol::Icmp, 0).is_some(), "{a}");
    }
    space
}

/// Is `addr` in `SWEPT`? Read from the prefixes, not asked of the space.
fn swept(addr: IpAddr) -> bool {
    SWEPT.iter().any(|&(first, prefix)| {
        let first: IpAddr = first.parse().unwrap();
        let bits = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        Family::of(&first) == Family::of(&addr)
            && (wide(first) ^ wide(addr))
                .checked_shr(bits - u32::from(prefix))
                .unwrap_or(0)
                == 0
    })
}

fn wide(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fuzz_target!(|frame: &[u8]| {
    parsing(frame);
    let m = &*MODULES;
    check(&m.syn, frame);
    for f in &m.flags {
        check(f, frame);
    }
    check(&m.udp, frame);
    check(&m.ping, frame);
    check(&m.neighbor, frame);
    check(&m.syn_udp, frame);
    check(&m.flags_udp, frame);
});

// --- the frame's own bytes ---------------------------------------------------

const ETH: usize = 14;
const ETHERTYPE_ARP: u16 = 0x0806;
/// ARP (RFC 826, Ethernet and IPv4): sender MAC and IP, target IP.
const ARP_SENDER_MAC: usize = ETH + 8;
const ARP_SENDER_IP: usize = ETH + 14;
const ARP_TARGET_IP: usize = ETH + 24;

/// Where an IP packet's fields sit, read from the bytes alone (what the
/// parser's answers are compared to).
#[derive(Clone, Copy, Debug)]
struct Layout {
    family: Family,
    /// Offset of the transport (or ICMP) header in the frame.
    l4: usize,
}

impl Layout {
    /// By the Ethertype; `None` for frames that are not IP. The offsets
    /// mean something only for a frame long enough to hold them.
    fn of(frame: &[u8]) -> Option<Layout> {
        match ethertype(frame)? {
            0x0800 => Some(Layout {
                family: Family::V4,
                l4: ETH + usize::from(frame.get(ETH).map_or(0, |b| b & 0x0f)) * 4,
            }),
            0x86dd => Some(Layout {
                family: Family::V6,
                l4: ETH + 40,
            }),
            _ => None,
        }
    }

    fn addr_offsets(&self) -> (usize, usize) {
        match self.family {
            Family::V4 => (ETH + 12, ETH + 16),
            Family::V6 => (ETH + 8, ETH + 24),
        }
    }

    fn src(&self, frame: &[u8]) -> IpAddr {
        addr_at(frame, self.family, self.addr_offsets().0)
    }

    fn dst(&self, frame: &[u8]) -> IpAddr {
        addr_at(frame, self.family, self.addr_offsets().1)
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

    /// Where the IP packet ends by its length field (Ethernet padding may
    /// follow).
    fn end(&self, frame: &[u8]) -> usize {
        match self.family {
            Family::V4 => ETH + usize::from(u16_at(frame, ETH + 2)),
            Family::V6 => ETH + 40 + usize::from(u16_at(frame, ETH + 4)),
        }
    }
}

fn ethertype(frame: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]))
}

fn addr_at(b: &[u8], family: Family, at: usize) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(<[u8; 4]>::try_from(&b[at..at + 4]).unwrap().into()),
        Family::V6 => IpAddr::V6(<[u8; 16]>::try_from(&b[at..at + 16]).unwrap().into()),
    }
}

fn put_addr(b: &mut [u8], at: usize, addr: IpAddr) {
    match addr {
        IpAddr::V4(a) => b[at..at + 4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => b[at..at + 16].copy_from_slice(&a.octets()),
    }
}

fn mac_at(b: &[u8], at: usize) -> MacAddr {
    b[at..at + 6].try_into().unwrap()
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

fn put_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The target link-layer address option of a neighbour advertisement
/// (`msg`: the ICMPv6 message; RFC 4861 4.4, 4.6.1); `Err` for options
/// whose lengths do not add up.
fn na_option_mac(msg: &[u8]) -> Result<Option<MacAddr>, ()> {
    let mut at = 24;
    while msg.len() - at >= 8 {
        let len = usize::from(msg[at + 1]) * 8;
        if len == 0 || len > msg.len() - at {
            return Err(());
        }
        if msg[at] == 2 {
            return Ok(Some(mac_at(msg, at + 2)));
        }
        at += len;
    }
    Ok(None)
}

// --- the parser ------------------------------------------------------------

/// `parse_frame` and `parse_ip` agree with each other and with the bytes.
fn parsing(frame: &[u8]) {
    let parsed = parse_frame(frame);
    if frame.len() < ETH {
        assert_eq!(parsed, Err(NotAReply::Malformed));
        return;
    }
    if ethertype(frame) == Some(ETHERTYPE_ARP) {
        arp_parsing(frame, parsed);
        return;
    }
    let packet = &frame[ETH..];
    let bare = parse_ip(packet);
    let Some(layout) = Layout::of(frame) else {
        assert_eq!(parsed, Err(NotAReply::NotIp));
        return;
    };
    let version = match layout.family {
        Family::V4 => 4,
        Family::V6 => 6,
    };
    if packet.first().map(|b| b >> 4) != Some(version) {
        assert!(
            parsed.is_err(),
            "a version {packet:02x?} parsed as {layout:?}"
        );
        return;
    }
    // The same packet, found by its Ethertype or by its version; except an
    // advertisement without a link-layer option, whose MAC is the frame's
    // Ethernet source, which an IP packet alone does not have.
    let eth_mac_only = matches!(
        parsed,
        Ok(Reply {
            transport: Transport::Neighbor { .. },
            ..
        })
    ) && na_option_mac(&frame[layout.l4..layout.end(frame)]) == Ok(None);
    if eth_mac_only {
        assert_eq!(bare, Err(NotAReply::OtherIcmp));
    } else {
        assert_eq!(bare, parsed, "parse_ip disagrees with parse_frame");
    }
    let Ok(reply) = parsed else { return };
    // Addresses, TTL and transport fields are the frame's own bytes.
    assert_eq!(Family::of(&reply.src), layout.family);
    assert_eq!(reply.dst, layout.dst(frame));
    assert_eq!(reply.ttl, layout.ttl(frame));
    let (l4, end) = (layout.l4, layout.end(frame));
    assert!(l4 <= end && end <= frame.len(), "{reply:?} past the frame");
    let (icmp, unreachable, echo_reply) = match layout.family {
        Family::V4 => (1, 3, 0),
        Family::V6 => (58, 1, 129),
    };
    if !matches!(reply.transport, Transport::Neighbor { .. }) {
        assert_eq!(reply.src, layout.src(frame));
    }
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
            assert!(data_offset >= 20 && l4 + data_offset <= end);
            if t.ts_echo.is_some() {
                assert!(data_offset >= 20 + 10, "a timestamp without room for it");
            }
        }
        Transport::Udp(u) => {
            assert_eq!(layout.protocol(frame), 17);
            assert_eq!(u.src_port, u16_at(frame, l4));
            assert_eq!(u.dst_port, u16_at(frame, l4 + 2));
            // The payload is exactly what the UDP length claims, inside
            // the IP packet.
            let len = usize::from(u16_at(frame, l4 + 4));
            assert!(len >= 8 && l4 + len <= end, "UDP length {len}");
            assert_eq!(u.payload.as_ptr(), frame[l4 + 8..].as_ptr());
            assert_eq!(u.payload.len(), len - 8);
        }
        Transport::Unreachable { code, quoted } => {
            assert_eq!(layout.protocol(frame), icmp);
            assert_eq!((frame[l4], frame[l4 + 1]), (unreachable, code));
            // The quote follows the 8-byte ICMP header and is of the outer
            // packet's family; the transport follows its IP header.
            let quote = &frame[l4 + 8..end];
            let (header, protocol, mark) = match layout.family {
                Family::V4 => (
                    usize::from(quote[0] & 0x0f) * 4,
                    quote[9],
                    u32::from(u16_at(quote, 4)),
                ),
                Family::V6 => (40, quote[6], u32_at(quote, 0) & 0x000f_ffff),
            };
            let (s, d) = layout.addr_offsets();
            assert_eq!(quoted.src, addr_at(quote, layout.family, s - ETH));
            assert_eq!(quoted.dst, addr_at(quote, layout.family, d - ETH));
            assert_eq!((quoted.protocol, quoted.ip_mark), (protocol, mark));
            assert!(quoted.transport.len() >= 8);
            assert_eq!(quoted.transport[..8], quote[header..header + 8]);
        }
        Transport::Echo { ident, seq } => {
            assert_eq!((layout.protocol(frame), frame[l4]), (icmp, echo_reply));
            assert!(l4 + 8 <= end);
            assert_eq!((ident, seq), (u16_at(frame, l4 + 4), u16_at(frame, l4 + 6)));
        }
        Transport::Timestamp {
            ident,
            seq,
            originate,
        } => {
            // RFC 792: type 14, identifier, sequence number, then the
            // three timestamps. IPv4 only: ICMPv6 has none.
            assert_eq!(layout.family, Family::V4);
            assert_eq!((layout.protocol(frame), frame[l4]), (1, 14));
            assert!(l4 + 20 <= end);
            assert_eq!((ident, seq), (u16_at(frame, l4 + 4), u16_at(frame, l4 + 6)));
            assert_eq!(originate, u32_at(frame, l4 + 8));
        }
        Transport::Neighbor { mac } => {
            // An ICMPv6 neighbour advertisement (ARP is above): not routed
            // (hop limit 255, RFC 4861 7.1.2), code 0; the reply's source is
            // the address it speaks for, the MAC its option's, else the
            // frame's.
            assert_eq!((layout.family, layout.protocol(frame)), (Family::V6, 58));
            assert_eq!((frame[l4], frame[l4 + 1], reply.ttl), (136, 0, 255));
            assert!(end - l4 >= 24);
            assert_eq!(reply.src, addr_at(frame, Family::V6, l4 + 8));
            let option = na_option_mac(&frame[l4..end]).expect("options that add up");
            assert_eq!(mac, option.unwrap_or(mac_at(frame, 6)));
        }
    }
}

/// An ARP frame parses only as a reply of Ethernet and IPv4 addresses: who
/// answered (sender), to whom (target), with its MAC; TTL 0.
fn arp_parsing(frame: &[u8], parsed: Result<Reply<'_>, NotAReply>) {
    let reply = match parsed {
        Ok(r) => r,
        Err(e) => {
            assert!(
                matches!(e, NotAReply::Malformed | NotAReply::OtherTraffic),
                "ARP as {e:?}"
            );
            return;
        }
    };
    // Hardware Ethernet, protocol IPv4, lengths 6 and 4, operation reply.
    assert_eq!(frame[ETH..ETH + 8], [0, 1, 8, 0, 6, 4, 0, 2]);
    assert_eq!(reply.src, addr_at(frame, Family::V4, ARP_SENDER_IP));
    assert_eq!(reply.dst, addr_at(frame, Family::V4, ARP_TARGET_IP));
    assert_eq!(reply.ttl, 0);
    let mac = mac_at(frame, ARP_SENDER_MAC);
    assert_eq!(reply.transport, Transport::Neighbor { mac });
}

// --- the modules and what nmap says their answers mean ------------------------

/// A module with its templates, built once per family as the engine
/// builds them.
struct Fuzzed<M: ProbeModule> {
    name: &'static str,
    module: M,
    templates: [M::Template; 2],
}

/// A probe of the space: (protocol, port, variant); for discovery, the
/// port is the probe's place in its list.
#[derive(Clone, Copy, Debug)]
struct Asked {
    proto: Protocol,
    port: u16,
    variant: u16,
}

impl Asked {
    fn tcp(port: u16) -> Asked {
        Asked {
            proto: Protocol::Tcp,
            port,
            variant: 0,
        }
    }

    fn udp(port: u16, variant: u16) -> Asked {
        Asked {
            proto: Protocol::Udp,
            port,
            variant,
        }
    }

    fn host(i: usize) -> Asked {
        Asked {
            proto: Protocol::Icmp,
            port: i as u16,
            variant: 0,
        }
    }

    /// The port its result is reported with: discovery reports hosts.
    fn reported(&self) -> u16 {
        match self.proto {
            Protocol::Icmp => 0,
            _ => self.port,
        }
    }
}

/// A probe frame the module wrote.
struct Probe {
    bytes: Vec<u8>,
    at: Layout,
}

impl Probe {
    fn protocol(&self) -> u8 {
        self.at.protocol(&self.bytes)
    }
    fn target(&self) -> IpAddr {
        self.at.dst(&self.bytes)
    }
    /// From the transport (or ICMP) header on.
    fn transport(&self) -> &[u8] {
        &self.bytes[self.at.l4..]
    }
    fn src_port(&self) -> u16 {
        u16_at(&self.bytes, self.at.l4)
    }
    fn dst_port(&self) -> u16 {
        u16_at(&self.bytes, self.at.l4 + 2)
    }
    /// The transport header's 32-bit word `n`: TCP 1 the sequence and 2
    /// the acknowledgment number; ICMP 1 the identifier and sequence
    /// number, 2 a timestamp request's originate timestamp.
    fn word(&self, n: usize) -> u32 {
        u32_at(&self.bytes, self.at.l4 + 4 * n)
    }
    fn tcp_flags(&self) -> u8 {
        self.bytes[self.at.l4 + 13]
    }
    /// Its length in sequence space: SYN and FIN count one each.
    fn seq_len(&self) -> u32 {
        let f = self.tcp_flags();
        u32::from(f & SYN != 0) + u32::from(f & FIN != 0)
    }
    /// The IPv4 identification or IPv6 flow label (which an ICMP error
    /// quotes of a UDP probe's cookie).
    fn ip_mark(&self) -> u32 {
        match self.at.family {
            Family::V4 => u32::from(u16_at(&self.bytes, ETH + 4)),
            Family::V6 => u32_at(&self.bytes, ETH) & 0x000f_ffff,
        }
    }
}

/// What a reply is, as nmap reads replies.
#[derive(Clone, Copy, Debug)]
enum Answer {
    /// TCP SYN+ACK without RST.
    SynAck,
    /// TCP with RST (whatever else it has).
    Reset {
        window: u16,
    },
    /// TCP with neither.
    OtherTcp,
    Udp,
    Unreachable {
        family: Family,
        code: u8,
        /// The IP protocol of the packet it quotes.
        quoting: u8,
        /// Sent by the address the quote went to.
        from_target: bool,
    },
    Echo(Family),
    Timestamp,
    Neighbor(Family),
}

impl Answer {
    fn of(reply: &Reply<'_>) -> Answer {
        match reply.transport {
            Transport::Tcp(t) if t.flags & RST != 0 => Answer::Reset { window: t.window },
            Transport::Tcp(t) if t.flags & (SYN | ACK) == SYN | ACK => Answer::SynAck,
            Transport::Tcp(_) => Answer::OtherTcp,
            Transport::Udp(_) => Answer::Udp,
            Transport::Unreachable { code, quoted } => Answer::Unreachable {
                family: Family::of(&reply.src),
                code,
                quoting: quoted.protocol,
                from_target: reply.src == quoted.dst,
            },
            Transport::Echo { .. } => Answer::Echo(Family::of(&reply.src)),
            Transport::Timestamp { .. } => Answer::Timestamp,
            Transport::Neighbor { .. } => Answer::Neighbor(Family::of(&reply.src)),
        }
    }
}

/// The port a reply is from or about: what decides which probe it answers.
fn port_of(reply: &Reply<'_>) -> u16 {
    match reply.transport {
        Transport::Tcp(t) => t.src_port,
        Transport::Udp(u) => u.src_port,
        Transport::Unreachable { quoted, .. } => quoted.dst_port(),
        _ => 0,
    }
}

/// The reason nmap gives an unreachable about a TCP or UDP probe; none for
/// the codes that say nothing of the port (IPv4 net unreachable,
/// fragmentation needed, source route failed...).
fn filtering(family: Family, code: u8) -> Option<Reason> {
    match family {
        Family::V4 if !matches!(code, 1 | 2 | 3 | 9 | 10 | 13) => None,
        _ => Reason::from_unreachable(family, code),
    }
}

/// What the target knows of a module beyond `ProbeModule`.
trait Subject: ProbeModule {
    /// The probes a reply that is `answer`, from or about the target's
    /// `port`, may answer (fix-ups make it answer each).
    fn asked(&self, answer: Answer, port: u16) -> Vec<Asked>;
    /// nmap's reading of `answer` to probe `a`, if it reads one.
    fn meaning(&self, a: Asked, answer: Answer) -> Option<(State, Reason)>;
    /// Its UDP scan, whose payloads say where answers echo identifiers.
    fn udp(&self) -> Option<&UdpScan> {
        None
    }
    /// Does an open verdict carry the SYN-ACK's timestamp echo (for the
    /// round-trip time)?
    fn times_syn_ack(&self) -> bool {
        false
    }
}

/// A TCP module's one probe of the port a segment or a quote names.
fn tcp_asked(answer: Answer, port: u16) -> Vec<Asked> {
    match answer {
        Answer::SynAck | Answer::Reset { .. } | Answer::OtherTcp | Answer::Unreachable { .. } => {
            vec![Asked::tcp(port)]
        }
        _ => Vec::new(),
    }
}

/// nmap's reading of an unreachable quoting a TCP probe: filtered.
fn tcp_unreachable(answer: Answer) -> Option<(State, Reason)> {
    match answer {
        Answer::Unreachable {
            family,
            code,
            quoting: 6,
            ..
        } => filtering(family, code).map(|r| (State::Filtered, r)),
        _ => None,
    }
}

impl Subject for SynScan {
    fn asked(&self, answer: Answer, port: u16) -> Vec<Asked> {
        tcp_asked(answer, port)
    }

    /// `-sS`: a SYN-ACK open, a RST closed.
    fn meaning(&self, _: Asked, answer: Answer) -> Option<(State, Reason)> {
        match answer {
            Answer::SynAck => Some((State::Open, Reason::SynAck)),
            Answer::Reset { .. } => Some((State::Closed, Reason::Reset)),
            _ => tcp_unreachable(answer),
        }
    }

    fn times_syn_ack(&self) -> bool {
        true
    }
}

impl Subject for FlagScan {
    fn asked(&self, answer: Answer, port: u16) -> Vec<Asked> {
        tcp_asked(answer, port)
    }

    /// A RST: ACK scan unfiltered, Window scan open when its window is not
    /// zero, the others closed; a SYN-ACK, to custom flags with SYN, open.
    fn meaning(&self, _: Asked, answer: Answer) -> Option<(State, Reason)> {
        match answer {
            Answer::Reset { window } => Some((
                match self.reading {
                    Reading::Ack => State::Unfiltered,
                    Reading::Window if window != 0 => State::Open,
                    _ => State::Closed,
                },
                Reason::Reset,
            )),
            Answer::SynAck if self.flags & SYN != 0 => Some((State::Open, Reason::SynAck)),
            _ => tcp_unreachable(answer),
        }
    }
}

impl Subject for UdpScan {
    /// A datagram: each payload of its port may have drawn it, and a probe
    /// of a server that answers from elsewhere.
    fn asked(&self, answer: Answer, port: u16) -> Vec<Asked> {
        match answer {
            Answer::Udp => (0..self.table().variants(port))
                .map(|v| Asked::udp(port, v))
                .chain(
                    ELSEWHERE
                        .iter()
                        .filter(|&&p| p != port)
                        .map(|&p| Asked::udp(p, 0)),
                )
                .collect(),
            Answer::Unreachable { .. } => vec![Asked::udp(port, 0)],
            _ => Vec::new(),
        }
    }

    /// Any answer open; a port unreachable from the target itself closed;
    /// any other unreachable nmap names filtered.
    fn meaning(&self, _: Asked, answer: Answer) -> Option<(State, Reason)> {
        match answer {
            Answer::Udp => Some((State::Open, Reason::UdpResponse)),
            Answer::Unreachable {
                family,
                code,
                quoting: 17,
                from_target,
            } => {
                let port_unreachable = matches!((family, code), (Family::V4, 3) | (Family::V6, 4));
                let state = if port_unreachable && from_target {
                    State::Closed
                } else {
                    State::Filtered
                };
                filtering(family, code).map(|r| (state, r))
            }
            _ => None,
        }
    }

    fn udp(&self) -> Option<&UdpScan> {
        Some(self)
    }
}

impl Subject for PingScan {
    fn asked(&self, answer: Answer, _: u16) -> Vec<Asked> {
        let drew = |p: PingProbe| match answer {
            Answer::SynAck | Answer::Reset { .. } | Answer::OtherTcp => {
                matches!(p, PingProbe::Syn(_) | PingProbe::Ack(_))
            }
            // ICMPv6 has no timestamp: an IPv6 host gets an echo for it.
            Answer::Echo(family) => {
                p == PingProbe::Echo || (p == PingProbe::Timestamp && family == Family::V6)
            }
            Answer::Timestamp => p == PingProbe::Timestamp,
            // An error about any ping: it must still prove nothing.
            Answer::Unreachable { .. } => true,
            Answer::Udp | Answer::Neighbor(_) => false,
        };
        let probes = self.probes().iter().enumerate();
        probes
            .filter(|(_, p)| drew(**p))
            .map(|(i, _)| Asked::host(i))
            .collect()
    }

    /// Any answer is the host, up: to an echo (or, IPv6, a timestamp)
    /// request an echo reply; to a timestamp request a timestamp reply; to
    /// a SYN a SYN-ACK or RST; to an ACK a RST. ICMP errors prove nothing.
    fn meaning(&self, a: Asked, answer: Answer) -> Option<(State, Reason)> {
        let reason = match (self.probes()[usize::from(a.port)], answer) {
            (PingProbe::Syn(_), Answer::SynAck) => Reason::SynAck,
            (PingProbe::Syn(_) | PingProbe::Ack(_), Answer::Reset { .. }) => Reason::Reset,
            (PingProbe::Echo, Answer::Echo(_)) => Reason::EchoReply,
            (PingProbe::Timestamp, Answer::Echo(Family::V6)) => Reason::EchoReply,
            (PingProbe::Timestamp, Answer::Timestamp) => Reason::TimestampReply,
            _ => return None,
        };
        Some((State::Up, reason))
    }
}

impl Subject for NeighborSweep {
    /// No cookie: the one "probe" is the host's ARP request or solicitation.
    fn asked(&self, answer: Answer, _: u16) -> Vec<Asked> {
        match answer {
            Answer::Neighbor(_) => vec![Asked::host(0)],
            _ => Vec::new(),
        }
    }

    fn meaning(&self, _: Asked, answer: Answer) -> Option<(State, Reason)> {
        match answer {
            Answer::Neighbor(Family::V4) => Some((State::Up, Reason::ArpResponse)),
            Answer::Neighbor(Family::V6) => Some((State::Up, Reason::NdResponse)),
            _ => None,
        }
    }
}

/// Each probe to its protocol's module, each reading to the module of the
/// probe it answers.
impl<T: Subject, U: Subject> Subject for Both<T, U> {
    fn asked(&self, answer: Answer, port: u16) -> Vec<Asked> {
        let mut v = self.tcp.asked(answer, port);
        v.extend(self.udp.asked(answer, port));
        v
    }

    fn meaning(&self, a: Asked, answer: Answer) -> Option<(State, Reason)> {
        match a.proto {
            Protocol::Udp => self.udp.meaning(a, answer),
            _ => self.tcp.meaning(a, answer),
        }
    }

    fn udp(&self) -> Option<&UdpScan> {
        self.udp.udp()
    }

    fn times_syn_ack(&self) -> bool {
        self.tcp.times_syn_ack()
    }
}

impl<M: Subject> Fuzzed<M> {
    fn new(name: &'static str, module: M) -> Self {
        let params = |src: IpAddr| FrameParams {
            src_mac: [2, 0x73, 0x73, 0x77, 7, 1],
            dst_mac: [2, 0x73, 0x73, 0x77, 7, 2],
            src,
            ttl: 64,
        };
        let templates = [
            module.template(&params(IpAddr::V4(US4))),
            module.template(&params(IpAddr::V6(US6))),
        ];
        Fuzzed {
            name,
            module,
            templates,
        }
    }

    /// The frame the engine sends for `a` from `us` to `target`, as
    /// `engine::tx` makes it: the module's `source_port`, the cookie of
    /// that flow, `write`. Where the probe's index picks the source port,
    /// it is the index that picks `our_port` (or, out of our range, some
    /// port of ours).
    fn probe(&self, us: IpAddr, target: IpAddr, a: Asked, our_port: u16) -> Probe {
        let family = Family::of(&target);
        assert_eq!(VALIDATOR.source(family), Some(us));
        let index = u64::from(our_port.wrapping_sub(PORTS.first));
        let key = VALIDATOR.key();
        let m = &self.module;
        let sp = m.source_port(key, PORTS, index, us, target, a.proto, a.port);
        let cookie = VALIDATOR.cookie(m.kind(a.proto), us, sp, target, a.port);
        let mut bytes = vec![0u8; m.max_frame_len()];
        let fields = ProbeFields {
            src: us,
            dst: target,
            proto: a.proto,
            src_port: sp,
            dst_port: a.port,
            variant: a.variant,
            cookie,
            tsval: TSVAL,
        };
        let n = m.write(&self.templates[family as usize], &mut bytes, &fields);
        assert!(
            n <= bytes.len() && n >= ETH + 20,
            "{}: write returned {n}",
            self.name
        );
        bytes.truncate(n);
        // From us to the target, of its family, from the port chosen.
        let at = Layout::of(&bytes).expect("an IP probe");
        assert_eq!(at.family, family);
        assert_eq!((at.src(&bytes), at.dst(&bytes)), (us, target));
        let p = Probe { bytes, at };
        if matches!(p.protocol(), 6 | 17) {
            assert_eq!(p.src_port(), sp);
        }
        p
    }

    /// Does `reply` (to us) carry back what probe `a` carried, where an
    /// answer to it carries it? This is the cookie check, made on the
    /// bytes of our own probe rather than the module's way; necessary for
    /// a verdict, not sufficient.
    fn answers(&self, reply: &Reply<'_>, a: Asked) -> bool {
        let us = reply.dst;
        match reply.transport {
            // RFC 9293: a SYN-ACK acknowledges our SYN (its sequence number
            // plus its length); a RST to a segment with ACK takes its
            // sequence number from our acknowledgment number, to one
            // without acknowledges our sequence number plus the segment's
            // length (some stacks: plus nothing, or one).
            Transport::Tcp(t) => {
                let p = self.probe(us, reply.src, a, t.dst_port);
                let (seq, len) = (p.word(1), p.seq_len());
                let acked = t.ack.wrapping_sub(seq);
                let numbers = match Answer::of(reply) {
                    Answer::SynAck => acked == len,
                    Answer::Reset { .. } => {
                        acked == len
                            || acked <= 1
                            || (p.tcp_flags() & ACK != 0 && t.seq == p.word(2))
                    }
                    _ => false,
                };
                p.protocol() == 6
                    && (t.src_port, t.dst_port) == (p.dst_port(), p.src_port())
                    && numbers
            }
            // Back to the source port the cookie chose; from the probed
            // port with the payload's identifier, or from another port of
            // a server that answers so.
            Transport::Udp(u) => {
                let p = self.probe(us, reply.src, a, u.dst_port);
                let echoed = if u.src_port == p.dst_port() {
                    let udp = self.module.udp().expect("a UDP probe has its UDP scan");
                    carries_identifier(udp, a, &p, u.payload)
                } else {
                    ELSEWHERE.contains(&a.port)
                };
                p.protocol() == 17 && u.dst_port == p.src_port() && echoed
            }
            // The quote is our probe: from us, its ports, and its cookie
            // (TCP: the sequence number; UDP: the IP ID or flow label).
            Transport::Unreachable { quoted, .. } => {
                let p = self.probe(us, quoted.dst, a, quoted.src_port());
                let (q, ours) = (quoted.transport, p.transport());
                let cookie = match p.protocol() {
                    6 => q[4..8] == ours[4..8],
                    17 => quoted.ip_mark == p.ip_mark(),
                    _ => false,
                };
                quoted.src == us && quoted.protocol == p.protocol() && q[..4] == ours[..4] && cookie
            }
            Transport::Echo { ident, seq } => {
                let p = self.probe(us, reply.src, a, 0);
                matches!(p.transport()[0], 8 | 128)
                    && p.word(1) == u32::from(ident) << 16 | u32::from(seq)
            }
            Transport::Timestamp {
                ident,
                seq,
                originate,
            } => {
                let p = self.probe(us, reply.src, a, 0);
                p.transport()[0] == 13
                    && p.word(1) == u32::from(ident) << 16 | u32::from(seq)
                    && p.word(2) == originate
            }
            Transport::Neighbor { .. } => swept(reply.src),
        }
    }
}

/// The identifier field of payload `a` in probe `p`, and how an answer
/// echoes it.
fn identifier<'p>(udp: &UdpScan, a: Asked, p: &'p Probe) -> Option<(&'p [u8], Echo)> {
    let payload = udp.table().payload(udp.table().id(a.port, a.variant));
    let (at, len, _) = payload.field?;
    (payload.echo != Echo::None).then(|| (&p.transport()[8 + at..8 + at + len], payload.echo))
}

/// Does `answer` hold the identifier probe `p` sent (anywhere: where
/// exactly is the module's business)?
fn carries_identifier(udp: &UdpScan, a: Asked, p: &Probe, answer: &[u8]) -> bool {
    identifier(udp, a, p).is_none_or(|(sent, _)| answer.windows(sent.len()).any(|w| w == sent))
}

/// Writes the identifier probe `p` sent where an answer carries it back,
/// if `answer` has room there. True when the answer then echoes it for
/// certain; not for SNMP, whose request-id is where the response's BER
/// lengths put it (where the request had it, in a response of the same
/// shape).
fn carry_back(udp: &UdpScan, a: Asked, p: &Probe, answer: &mut [u8]) -> bool {
    let Some((sent, echo)) = identifier(udp, a, p) else {
        return true;
    };
    let len = sent.len();
    let (at, certain) = match echo {
        Echo::None => return true,
        Echo::Same { at, .. } => (at, true),
        Echo::Moved { answer_at, .. } => (answer_at, true),
        Echo::Text { at, .. } => (at.min(answer.len().saturating_sub(len)), true),
        Echo::SnmpRequestId { at } => (at, false),
    };
    if at + len > answer.len() {
        return false;
    }
    answer[at..at + len].copy_from_slice(sent);
    certain
}

// --- judging -------------------------------------------------------------------

/// Which way a frame was judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Way {
    AsIs,
    /// TCP with the fuzzer's flags, acknowledging our sequence number plus
    /// this (and, to a probe with ACK, our acknowledgment number as its
    /// sequence number).
    Acking(u32),
    /// RFC 9293's SYN-ACK from a listening port.
    SynAck,
    /// RFC 9293's RST from a closed port.
    Reset,
    /// UDP back to the chosen port, the identifier carried back.
    Answering,
    /// Echo or timestamp reply with our request's fields.
    Echoing,
    /// ICMP error quoting our probe.
    Quoting,
    /// The same, sent by the probed host itself.
    QuotingFromTarget,
    /// ARP or ND answer for a probed address.
    Probed,
}

static SHOW_VERDICTS: LazyLock<bool> =
    LazyLock::new(|| std::env::var_os("SYNSWEEP_FUZZ_VERDICTS").is_some_and(|v| v == "1"));

/// Judges `frame` as the receive path does; `textbook`: the probe it was
/// fixed up to answer in full, whose reading by nmap it must get exactly.
fn judged<M: Subject>(
    f: &Fuzzed<M>,
    way: Way,
    frame: &[u8],
    textbook: Option<Asked>,
) -> Option<Verdict> {
    if way != Way::AsIs {
        parsing(frame);
    }
    let verdict = judge(&f.module, &VALIDATOR, frame);
    if let Some(v) = verdict {
        if *SHOW_VERDICTS {
            eprintln!(
                "verdict {} {way:?} {} {} {}/{}",
                f.name, v.state, v.reason, v.port, v.proto
            );
        }
        check_verdict(f, way, frame, &v);
    }
    if let Some(a) = textbook {
        let reply = parse_frame(frame).expect("a fixed-up frame parses");
        let want = f.module.meaning(a, Answer::of(&reply));
        let want = want.map(|(state, reason)| (state, reason, a.reported()));
        let got = verdict.map(|v| (v.state, v.reason, v.port));
        assert_eq!(
            got,
            want,
            "{} {way:?}: nmap's reading of an answer to {a:?} is {want:?}: {reply:?} in {}",
            f.name,
            hex(frame)
        );
    }
    verdict
}

/// Judges `frame` as it is, then fixed up to answer each probe it may
/// answer.
fn check<M: Subject>(f: &Fuzzed<M>, frame: &[u8]) {
    let verdict = judged(f, Way::AsIs, frame, None);
    let Ok(reply) = parse_frame(frame) else {
        assert_eq!(verdict, None);
        return;
    };
    if !VALIDATOR.is_ours(reply.dst) {
        // Only what is addressed to us is ever classified.
        assert_eq!(verdict, None);
        return;
    }
    assert_eq!(verdict, f.module.classify(&reply, &VALIDATOR));
    let us = reply.dst;
    let l4 = Layout::of(frame).map_or(0, |l| l.l4);
    for a in f.module.asked(Answer::of(&reply), port_of(&reply)) {
        let mut fixed = frame.to_vec();
        match reply.transport {
            Transport::Tcp(t) => {
                let p = f.probe(us, reply.src, a, t.dst_port);
                if p.protocol() != 6 {
                    continue; // not a TCP probe: nothing a TCP stack answers
                }
                // From the port we probed, to the port we sent from.
                put_u16(&mut fixed, l4, p.dst_port());
                put_u16(&mut fixed, l4 + 2, p.src_port());
                let (seq, ack, len) = (p.word(1), p.word(2), p.seq_len());
                if p.tcp_flags() & ACK != 0 {
                    put_u32(&mut fixed, l4 + 4, ack);
                }
                for plus in [0, 1].into_iter().chain((len > 1).then_some(len)) {
                    put_u32(&mut fixed, l4 + 8, seq.wrapping_add(plus));
                    judged(f, Way::Acking(plus), &fixed, None);
                }
                fixed[l4 + 13] = SYN | ACK;
                put_u32(&mut fixed, l4 + 8, seq.wrapping_add(len));
                judged(f, Way::SynAck, &fixed, Some(a));
                if p.tcp_flags() & ACK != 0 {
                    fixed[l4 + 13] = RST; // its sequence number is our ack
                } else {
                    fixed[l4 + 13] = RST | ACK; // it acknowledges seq + len
                }
                judged(f, Way::Reset, &fixed, Some(a));
            }
            Transport::Udp(u) => {
                let p = f.probe(us, reply.src, a, u.dst_port);
                if p.protocol() != 17 {
                    continue;
                }
                put_u16(&mut fixed, l4 + 2, p.src_port());
                // The built-in payloads' only server that answers from
                // another port is TFTP, whose answer to a read request is
                // DATA, ERROR or OACK (RFC 1350, 2347). Such an answer to
                // the port of ours chosen for 69 is read as TFTP's, also
                // when it comes from a port that would have picked the same
                // port of ours (the module's rule: TFTP first).
                let tftp = matches!(u.payload, [0, 3 | 5 | 6, ..]);
                let textbook = if a.port == u.src_port {
                    let taken_by_tftp = tftp
                        && ELSEWHERE.iter().any(|&e| {
                            e != a.port
                                && f.probe(us, reply.src, Asked::udp(e, 0), 0).src_port()
                                    == p.src_port()
                        });
                    let udp = f.module.udp().expect("a UDP probe has its UDP scan");
                    let payload = &mut fixed[l4 + 8..l4 + 8 + u.payload.len()];
                    carry_back(udp, a, &p, payload) && !taken_by_tftp
                } else {
                    tftp
                };
                judged(f, Way::Answering, &fixed, textbook.then_some(a));
            }
            Transport::Unreachable { quoted, .. } => {
                let layout = Layout::of(frame).expect("ICMP is IP");
                let p = f.probe(us, quoted.dst, a, quoted.src_port());
                // As much of our probe's IP packet as the quote holds; all
                // of its header and 8 bytes after, and it is a textbook
                // error.
                let (start, end) = (l4 + 8, layout.end(frame));
                let n = (p.bytes.len() - ETH).min(fixed.len() - start);
                fixed[start..start + n].copy_from_slice(&p.bytes[ETH..ETH + n]);
                let whole = end >= start + (p.at.l4 - ETH) + 8;
                judged(f, Way::Quoting, &fixed, whole.then_some(a));
                if reply.src != p.target() {
                    put_addr(&mut fixed, layout.addr_offsets().0, p.target());
                    judged(f, Way::QuotingFromTarget, &fixed, whole.then_some(a));
                }
            }
            Transport::Echo { .. } | Transport::Timestamp { .. } => {
                let p = f.probe(us, reply.src, a, 0);
                put_u32(&mut fixed, l4 + 4, p.word(1));
                if matches!(reply.transport, Transport::Timestamp { .. }) {
                    put_u32(&mut fixed, l4 + 8, p.word(2));
                }
                judged(f, Way::Echoing, &fixed, Some(a));
            }
            Transport::Neighbor { .. } => {
                // Speaking for a gateway (which the sweep probes).
                let (at, host) = match ethertype(frame) {
                    Some(ETHERTYPE_ARP) => (ARP_SENDER_IP, GATEWAY4),
                    _ => (l4 + 8, GATEWAY6),
                };
                put_addr(&mut fixed, at, host.parse().unwrap());
                judged(f, Way::Probed, &fixed, Some(a));
            }
        }
    }
}

/// What holds of any verdict of any module (the parse it rests on was
/// checked against the frame's bytes by `parsing`).
fn check_verdict<M: Subject>(f: &Fuzzed<M>, way: Way, frame: &[u8], verdict: &Verdict) {
    let reply = parse_frame(frame).expect("a verdict on a frame that does not parse");
    let m = &f.module;
    let what = || {
        format!(
            "{} {way:?}: {verdict:?} of {reply:?} in {}",
            f.name,
            hex(frame)
        )
    };
    // Addressed to us, of its family, with its TTL.
    assert!(VALIDATOR.is_ours(reply.dst), "{} for another host", what());
    assert_eq!(
        Family::of(&verdict.addr),
        Family::of(&reply.dst),
        "{}",
        what()
    );
    assert_eq!(verdict.ttl, reply.ttl, "{}", what());
    // A protocol the module scans (discovery: icmp, for hosts), and not
    // what its silence means.
    let scanned: Vec<Protocol> = m.scans().iter().map(|s| s.1).collect();
    if scanned.is_empty() {
        assert_eq!(verdict.proto, Protocol::Icmp, "{}", what());
    } else {
        assert!(scanned.contains(&verdict.proto), "{}", what());
    }
    let silence = m.silence(verdict.proto);
    assert_ne!(
        (verdict.state, verdict.reason),
        silence,
        "a reply is not silence: {}",
        what()
    );
    // The address and port the frame names: a TCP or UDP answer's sender
    // (UDP: or a port of a server that answers from another); an error's
    // quote; discovery reports hosts (port 0).
    let (addr, port) = match reply.transport {
        Transport::Unreachable { quoted, .. } => (quoted.dst, quoted.dst_port()),
        Transport::Udp(_) if ELSEWHERE.contains(&verdict.port) => (reply.src, verdict.port),
        _ => (reply.src, port_of(&reply)),
    };
    let port = if verdict.proto == Protocol::Icmp {
        0
    } else {
        port
    };
    assert_eq!((verdict.addr, verdict.port), (addr, port), "{}", what());
    // Our TSval comes back in a SYN-ACK only; a MAC from a neighbour only.
    let ts_echo = match reply.transport {
        Transport::Tcp(t) if m.times_syn_ack() && verdict.reason == Reason::SynAck => t.ts_echo,
        _ => None,
    };
    assert_eq!(verdict.ts_echo, ts_echo, "{}", what());
    let mac = match reply.transport {
        Transport::Neighbor { mac } => Some(mac),
        _ => None,
    };
    assert_eq!(verdict.mac, mac, "{}", what());
    // It answers a probe of ours, and means what nmap says it means.
    let answer = Answer::of(&reply);
    let ours: Vec<Asked> = m
        .asked(answer, port_of(&reply))
        .into_iter()
        .filter(|&a| f.answers(&reply, a))
        .collect();
    assert!(!ours.is_empty(), "accepted without our cookie: {}", what());
    let said = (verdict.state, verdict.reason);
    assert!(
        ours.iter().any(|&a| m.meaning(a, answer) == Some(said)),
        "not nmap's reading of {answer:?} to {ours:?}: {}",
        what()
    );
    // Any old arrival time: the frame's bytes folded.
    let ts = frame
        .iter()
        .fold(0u64, |h, &b| h.rotate_left(7) ^ u64::from(b));
    rendered(&verdict.record(ts));
}

// --- output --------------------------------------------------------------------

/// Every format writes the record as one line of text that its own reader
/// takes for a record (`is_record`: what `--append` and `--resume` keep),
/// which leaves the footer found where it starts (`footer_start`: where a
/// continued file is cut), and which reads back to the record's values.
///
/// What a record's text depends on, beyond the digits of its numbers, is
/// its shape: its words (state, reason, protocol), the form of its address
/// (family, and an IPv6 spelling with a dotted quad) and whether it has a
/// MAC. Each shape is rendered once per process: rendering every verdict
/// took three quarters of the target's time, for a few dozen shapes.
fn rendered(r: &Record) {
    type Shape = (State, Reason, Protocol, bool, bool, bool);
    static DONE: LazyLock<Mutex<HashSet<Shape>>> = LazyLock::new(Default::default);
    let shape = (
        r.state,
        r.reason,
        r.proto,
        r.ip.is_ipv6(),
        r.ip.to_string().contains('.'),
        r.mac.is_some(),
    );
    if !DONE.lock().unwrap().insert(shape) {
        return;
    }
    for kind in FormatKind::ALL {
        let mut fmt = kind.formatter();
        let (mut head, mut line, mut tail) = (Vec::new(), Vec::new(), Vec::new());
        fmt.begin(&mut head, &RunInfo::default());
        fmt.record(&mut line, r);
        fmt.end(&mut tail, &RunInfo::default(), &EndInfo::default());
        let text = std::str::from_utf8(&line).expect("UTF-8");
        let body = text.strip_suffix('\n').expect("a record ends its line");
        assert!(
            !body.chars().any(|c| c.is_control() && c != '\t'),
            "{kind:?}: {text:?}"
        );
        assert!(fmt.is_record(body.as_bytes()), "{kind:?}: {text:?}");
        let mut file = [head.as_slice(), &line].concat();
        assert_eq!(fmt.footer_start(&file), file.len(), "{kind:?}: {text:?}");
        let records_end = file.len();
        file.extend_from_slice(&tail);
        assert_eq!(fmt.footer_start(&file), records_end, "{kind:?}: {text:?}");
        let fields = read_back(kind, &head, body);
        check_fields(kind, r, &fields, body);
    }
}

/// The (name, value) pairs of a record line, read the way a reader of the
/// format reads it; panics where the line breaks the format.
fn read_back(kind: FormatKind, head: &[u8], body: &str) -> Vec<(String, String)> {
    let named = |names: &[&str], values: Vec<&str>| -> Vec<(String, String)> {
        assert_eq!(names.len(), values.len(), "{kind:?}: {body:?}");
        names
            .iter()
            .zip(values)
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    };
    match kind {
        // masscan -oL: STATE PROTO PORT IP TIMESTAMP.
        FormatKind::List => named(
            &["state", "proto", "port", "ip", "ts"],
            body.split(' ').collect(),
        ),
        // By its own header row; nothing quoted.
        FormatKind::Csv => {
            let header = std::str::from_utf8(head).unwrap().trim_end_matches('\n');
            assert!(!body.contains('"'), "{body:?}");
            named(
                &header.split(',').collect::<Vec<_>>(),
                body.split(',').collect(),
            )
        }
        FormatKind::Ndjson => json_object(body),
        FormatKind::Xml => {
            // <host> with <status>, <address>es, and for a port its
            // <port> and <state>: the attributes that name the record.
            let mut out = Vec::new();
            for (element, attrs) in xml_elements(body) {
                let get = |a: &str| attrs.iter().find(|(k, _)| k == a).map(|(_, v)| v.clone());
                let mut put = |name: &str, value: Option<String>| {
                    out.push((name.to_string(), value.expect(name)));
                };
                match element.as_str() {
                    "host" => put("ts", get("starttime")),
                    "address" if get("addrtype").as_deref() == Some("mac") => {
                        put("mac", get("addr"))
                    }
                    "address" => put("ip", get("addr")),
                    "port" => {
                        put("proto", get("protocol"));
                        put("port", get("portid"));
                    }
                    // The host's status, then a port's state.
                    "status" | "state" => {
                        put(&element, get("state"));
                        put("reason", get("reason"));
                        put("ttl", get("reason_ttl"));
                    }
                    "ports" => {}
                    other => panic!("<{other}> in {body:?}"),
                }
            }
            out
        }
        // nmap -oG: `Host: IP ()\tPorts: PORT/STATE/PROTO/////` or, for a
        // host, `Host: IP ()\tStatus: Up`.
        FormatKind::Grepable => {
            let rest = body.strip_prefix("Host: ").expect(body);
            let (ip, rest) = rest.split_once(" ()\t").expect(body);
            let mut out = vec![("ip".to_string(), ip.to_string())];
            if let Some(status) = rest.strip_prefix("Status: ") {
                out.push(("status".into(), status.into()));
            } else {
                let ports = rest.strip_prefix("Ports: ").expect(body);
                let f: Vec<&str> = ports.split('/').collect();
                assert_eq!(f.len(), 8, "nmap's seven port fields: {body:?}");
                assert!(f[3..].iter().all(|x| x.is_empty()), "{body:?}");
                out.extend(named(&["port", "state", "proto"], f[..3].to_vec()));
            }
            out
        }
    }
}

/// The fields read back are the record's, each as often as the format
/// writes it. (`status`: nmap's host status, always "up" here.)
fn check_fields(kind: FormatKind, r: &Record, fields: &[(String, String)], body: &str) {
    let host = r.state == State::Up;
    let mut want: Vec<&str> = match kind {
        FormatKind::List => vec!["state", "proto", "port", "ip", "ts"],
        FormatKind::Csv => vec!["ip", "port", "proto", "state", "reason", "ttl", "ts"],
        FormatKind::Ndjson => vec!["ip", "port", "proto", "state", "reason", "ttl", "ts", "mac"],
        FormatKind::Xml if host => vec!["ts", "status", "reason", "ttl", "ip", "mac"],
        FormatKind::Xml => vec![
            "ts", "status", "reason", "ttl", "ip", "mac", "proto", "port",
        ]
        .into_iter()
        .chain(["state", "reason", "ttl"])
        .collect(),
        FormatKind::Grepable if host => vec!["ip", "status"],
        FormatKind::Grepable => vec!["ip", "port", "state", "proto"],
    };
    want.retain(|n| *n != "mac" || r.mac.is_some());
    want.sort_unstable();
    let mut names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, want, "{kind:?}: {body:?}");
    for (name, value) in fields {
        let ok = match name.as_str() {
            "ip" => value.parse::<IpAddr>() == Ok(r.ip),
            "port" => value.parse::<u16>() == Ok(r.port),
            "proto" => value == r.proto.name(),
            "state" => State::from_name(value) == Some(r.state),
            "status" => value.eq_ignore_ascii_case("up"),
            "reason" => Reason::from_name(value) == Some(r.reason),
            "ttl" => value.parse::<u8>() == Ok(r.ttl),
            "ts" => value.parse::<u64>() == Ok(r.ts),
            "mac" => r
                .mac
                .is_some_and(|m| value.eq_ignore_ascii_case(&format_mac(&m))),
            _ => false,
        };
        assert!(ok, "{kind:?} {name} = {value:?} for {r:?}: {body:?}");
    }
}

/// A flat JSON object of strings and numbers, as ndjson writes it: its
/// (key, value) pairs. Strings need no escapes (the format promises it).
fn json_object(body: &str) -> Vec<(String, String)> {
    fn string(s: &str) -> (&str, &str) {
        let s = s.strip_prefix('"').expect("a JSON string");
        let end = s.find('"').expect("a closed JSON string");
        let v = &s[..end];
        assert!(
            !v.contains('\\') && !v.chars().any(char::is_control),
            "{v:?}"
        );
        (v, &s[end + 1..])
    }
    let mut rest = body
        .strip_prefix('{')
        .and_then(|b| b.strip_suffix('}'))
        .expect(body);
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (key, r) = string(rest);
        let r = r.strip_prefix(':').expect(body);
        let (value, r) = if r.starts_with('"') {
            string(r)
        } else {
            let end = r.find(',').unwrap_or(r.len());
            let n = &r[..end];
            assert!(
                !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()),
                "{n:?} in {body:?}"
            );
            (n, &r[end..])
        };
        out.push((key.to_string(), value.to_string()));
        rest = match r.strip_prefix(',') {
            Some(more) => {
                assert!(!more.is_empty(), "a trailing comma: {body:?}");
                more
            }
            None => {
                assert!(r.is_empty(), "{body:?}");
                r
            }
        };
    }
    out
}

/// The elements of a line of XML, in document order, with their
/// attributes; panics unless it is well-formed: tags nest, every attribute
/// is quoted, no text but white space between tags.
fn xml_elements(body: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut open: Vec<String> = Vec::new();
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let lt = rest.find('<').expect(body);
        assert!(
            rest[..lt].trim().is_empty(),
            "text {:?} in {body:?}",
            &rest[..lt]
        );
        rest = &rest[lt + 1..];
        if let Some(r) = rest.strip_prefix('/') {
            let gt = r.find('>').expect(body);
            assert_eq!(open.pop().as_deref(), Some(&r[..gt]), "{body:?}");
            rest = &r[gt + 1..];
            continue;
        }
        let name_end = rest.find([' ', '/', '>']).expect(body);
        let name = rest[..name_end].to_string();
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()),
            "{body:?}"
        );
        rest = &rest[name_end..];
        let mut attrs = Vec::new();
        loop {
            rest = rest.trim_start_matches(' ');
            if let Some(r) = rest.strip_prefix("/>") {
                rest = r;
                break;
            }
            if let Some(r) = rest.strip_prefix('>') {
                rest = r;
                open.push(name.clone());
                break;
            }
            let (key, r) = rest.split_once("=\"").expect(body);
            assert!(
                !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{body:?}"
            );
            // A record's values are words, numbers and addresses: nothing
            // to escape, so no `&` at all.
            let end = r.find('"').expect(body);
            let value = &r[..end];
            assert!(!value.contains(['<', '&']), "{body:?}");
            attrs.push((key.to_string(), value.to_string()));
            rest = &r[end + 1..];
        }
        out.push((name, attrs));
    }
    assert!(open.is_empty(), "unclosed {open:?} in {body:?}");
    out
}
