//! Replies as they come off the wire, either family: a TCP segment, a UDP
//! datagram, an ICMP/ICMPv6 destination unreachable that quotes the probe
//! it answers, an echo or timestamp reply, or a neighbour's answer (an ARP
//! reply, an ICMPv6 neighbour advertisement).
//!
//! Parsing only extracts fields and checks lengths; whether a reply is
//! ours is decided by the probe module from the cookie it carries.
//! Checksums are not verified: on veth and on NICs with receive offload,
//! captured frames often carry partial checksums, and the cookie already
//! rejects anything that was not sent in answer to us. Every length is
//! checked before it is used, so no frame, however cut or forged, panics.

use super::{MacAddr, nd};
use etherparse::{
    ArpOperation, ArpPacket, EtherType, Ethernet2HeaderSlice, Icmpv4Slice, Icmpv6Slice, IpNumber,
    Ipv4HeaderSlice, Ipv6HeaderSlice, TcpHeaderSlice, UdpHeaderSlice,
};
use std::net::IpAddr;

/// TCP header flag bits.
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
}

/// ICMPv4 type 3, destination unreachable.
pub const ICMP_DEST_UNREACHABLE: u8 = 3;
/// ICMPv6 type 1, destination unreachable.
pub const ICMPV6_DEST_UNREACHABLE: u8 = 1;
pub const ICMP_ECHO_REPLY: u8 = 0;
pub const ICMP_ECHO_REQUEST: u8 = 8;
pub const ICMP_TIMESTAMP: u8 = 13;
pub const ICMP_TIMESTAMP_REPLY: u8 = 14;
pub const ICMPV6_ECHO_REQUEST: u8 = 128;
pub const ICMPV6_ECHO_REPLY: u8 = 129;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    /// TSecr of a timestamp option: our TSval echoed back.
    pub ts_echo: Option<u32>,
    /// TSval of a timestamp option: what banner sessions echo.
    pub ts_val: Option<u32>,
    /// The options as they came, unparsed: read only by whoever needs
    /// their layout (`--os-hints`), so the common path pays nothing.
    pub options: &'a [u8],
    /// The segment's data (banner sessions read it; probes ignore it).
    pub payload: &'a [u8],
}

/// A UDP datagram and its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpDatagram<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: &'a [u8],
}

/// The probe an ICMP error quotes: its IP addresses and protocol, and the
/// start of its transport header (at least the 8 bytes RFC 792 promises).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quoted<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: u8,
    /// The quoted IPv4 identification, or the IPv6 flow label.
    pub ip_mark: u32,
    pub transport: &'a [u8],
}

impl Quoted<'_> {
    pub fn src_port(&self) -> u16 {
        u16::from_be_bytes([self.transport[0], self.transport[1]])
    }
    pub fn dst_port(&self) -> u16 {
        u16::from_be_bytes([self.transport[2], self.transport[3]])
    }
    /// Bytes 4..8 of the quoted transport header: a TCP sequence number.
    pub fn word1(&self) -> u32 {
        let t = self.transport;
        u32::from_be_bytes([t[4], t[5], t[6], t[7]])
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport<'a> {
    Tcp(TcpSegment<'a>),
    Udp(UdpDatagram<'a>),
    /// ICMPv4 type 3 or ICMPv6 type 1, with its code.
    Unreachable {
        code: u8,
        quoted: Quoted<'a>,
    },
    /// An ICMP or ICMPv6 echo reply.
    Echo {
        ident: u16,
        seq: u16,
    },
    /// An ICMP timestamp reply, with the originate timestamp it echoes.
    Timestamp {
        ident: u16,
        seq: u16,
        originate: u32,
    },
    /// "`src` is at `mac`": an ARP reply (then `ttl` is 0) or a neighbour
    /// advertisement whose target is `src`.
    Neighbor {
        mac: MacAddr,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// TTL or hop limit as it arrived.
    pub ttl: u8,
    /// IPv4's don't-fragment bit; always set for IPv6, which routers never
    /// fragment (and for ARP, which has no such thing to say).
    pub dont_fragment: bool,
    pub transport: Transport<'a>,
}

/// Why a frame is not a reply we could use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotAReply {
    /// Neither IPv4 nor IPv6 (ARP, LLDP ...).
    NotIp,
    /// Too short or inconsistent lengths.
    Malformed,
    /// A later fragment, an extension header, or another protocol.
    OtherTraffic,
    /// ICMP, but not a destination unreachable quoting a probe, nor an
    /// answer to one of our requests.
    OtherIcmp,
}

pub fn parse_frame(frame: &[u8]) -> Result<Reply<'_>, NotAReply> {
    let eth = Ethernet2HeaderSlice::from_slice(frame).map_err(|_| NotAReply::Malformed)?;
    let packet = &frame[eth.slice().len()..];
    match eth.ether_type() {
        EtherType::IPV4 => parse_ipv4(packet),
        EtherType::IPV6 => parse_ipv6_from(packet, Some(eth.source())),
        EtherType::ARP => parse_arp(packet),
        _ => Err(NotAReply::NotIp),
    }
}

/// An ARP reply (Ethernet, IPv4): who answered, to whom, and its MAC.
fn parse_arp(packet: &[u8]) -> Result<Reply<'_>, NotAReply> {
    let arp = ArpPacket::from_slice(packet).map_err(|_| NotAReply::Malformed)?;
    let arp = arp.try_eth_ipv4().map_err(|_| NotAReply::OtherTraffic)?;
    if arp.operation != ArpOperation::REPLY {
        return Err(NotAReply::OtherTraffic);
    }
    Ok(Reply {
        src: IpAddr::from(arp.sender_ipv4),
        dst: IpAddr::from(arp.target_ipv4),
        ttl: 0,
        dont_fragment: true,
        transport: Transport::Neighbor {
            mac: arp.sender_mac,
        },
    })
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

/// Identifier and sequence number: bytes 4..8 of an echo or timestamp
/// message (etherparse has checked the 8-byte header is there).
fn ident_seq(header: &[u8]) -> (u16, u16) {
    (be16(&header[4..6]), be16(&header[6..8]))
}

/// An IP packet of either version, told by its first nibble.
pub fn parse_ip(packet: &[u8]) -> Result<Reply<'_>, NotAReply> {
    match packet.first().map(|b| b >> 4) {
        Some(4) => parse_ipv4(packet),
        Some(6) => parse_ipv6(packet),
        Some(_) => Err(NotAReply::NotIp),
        None => Err(NotAReply::Malformed),
    }
}

/// A TCP header without options.
const TCP_HEADER_LEN: usize = 20;

fn parse_tcp(payload: &[u8]) -> Result<TcpSegment<'_>, NotAReply> {
    let tcp = TcpHeaderSlice::from_slice(payload).map_err(|_| NotAReply::Malformed)?;
    // TcpHeaderSlice has checked the data offset (at least 5 words)
    // against the slice.
    let options = &payload[TCP_HEADER_LEN..tcp.slice().len()];
    let timestamps = timestamps(options);
    Ok(TcpSegment {
        src_port: tcp.source_port(),
        dst_port: tcp.destination_port(),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        // Flags live in byte 13 of the header.
        flags: tcp.slice()[13],
        window: tcp.window_size(),
        ts_echo: timestamps.map(|t| t.1),
        ts_val: timestamps.map(|t| t.0),
        options,
        payload: &payload[tcp.slice().len()..],
    })
}

/// TSval and TSecr of the timestamp option among `options`, if there is
/// one before the end-of-list or a malformed option. Walked by hand: it
/// runs on every TCP segment, and etherparse's iterator, which decodes
/// every option it passes, cost a fifth of the receive path's judge.
fn timestamps(mut options: &[u8]) -> Option<(u32, u32)> {
    const END: u8 = 0;
    const NOP: u8 = 1;
    const TIMESTAMP: u8 = 8;
    loop {
        match *options {
            [] | [END, ..] => return None,
            [NOP, ref rest @ ..] => options = rest,
            [TIMESTAMP, 10, a, b, c, d, e, f, g, h, ..] => {
                return Some((
                    u32::from_be_bytes([a, b, c, d]),
                    u32::from_be_bytes([e, f, g, h]),
                ));
            }
            // A timestamp of another length, an option shorter than its
            // own two bytes or longer than what is left: malformed, and
            // nothing after it can be trusted.
            [TIMESTAMP, ..] | [_] => return None,
            [_, len, ..] if len < 2 || usize::from(len) > options.len() => return None,
            [_, len, ..] => options = &options[usize::from(len)..],
        }
    }
}

/// A UDP header and the payload its length field claims (never past the
/// packet: a datagram claiming more is malformed).
fn parse_udp(payload: &[u8]) -> Result<UdpDatagram<'_>, NotAReply> {
    let udp = UdpHeaderSlice::from_slice(payload).map_err(|_| NotAReply::Malformed)?;
    let len = usize::from(udp.length());
    if len < 8 || len > payload.len() {
        return Err(NotAReply::Malformed);
    }
    Ok(UdpDatagram {
        src_port: udp.source_port(),
        dst_port: udp.destination_port(),
        payload: &payload[8..len],
    })
}

/// An IPv4 packet with its header first.
pub fn parse_ipv4(packet: &[u8]) -> Result<Reply<'_>, NotAReply> {
    let ip = Ipv4HeaderSlice::from_slice(packet).map_err(|_| NotAReply::Malformed)?;
    let header_len = ip.slice().len();
    let total = usize::from(ip.total_len());
    // Frames may carry Ethernet padding past total_len, never less.
    if total < header_len || total > packet.len() {
        return Err(NotAReply::Malformed);
    }
    if ip.fragments_offset().value() != 0 || ip.more_fragments() {
        return Err(NotAReply::OtherTraffic);
    }
    let payload = &packet[header_len..total];
    let (src, dst) = (
        IpAddr::V4(ip.source_addr()),
        IpAddr::V4(ip.destination_addr()),
    );
    let transport = match ip.protocol() {
        IpNumber::TCP => Transport::Tcp(parse_tcp(payload)?),
        IpNumber::UDP => Transport::Udp(parse_udp(payload)?),
        IpNumber::ICMP => {
            let icmp = Icmpv4Slice::from_slice(payload).map_err(|_| NotAReply::Malformed)?;
            let (ident, seq) = ident_seq(icmp.slice());
            match icmp.type_u8() {
                ICMP_DEST_UNREACHABLE => Transport::Unreachable {
                    code: icmp.code_u8(),
                    quoted: quoted_ipv4(icmp.payload()).ok_or(NotAReply::OtherIcmp)?,
                },
                ICMP_ECHO_REPLY => Transport::Echo { ident, seq },
                ICMP_TIMESTAMP_REPLY => {
                    // Originate, receive, transmit: the 12 bytes after the
                    // first 8 (etherparse counts them as header).
                    let t = icmp.slice().get(8..20).ok_or(NotAReply::Malformed)?;
                    Transport::Timestamp {
                        ident,
                        seq,
                        originate: u32::from_be_bytes([t[0], t[1], t[2], t[3]]),
                    }
                }
                _ => return Err(NotAReply::OtherIcmp),
            }
        }
        _ => return Err(NotAReply::OtherTraffic),
    };
    Ok(Reply {
        src,
        dst,
        ttl: ip.ttl(),
        dont_fragment: ip.dont_fragment(),
        transport,
    })
}

/// An IPv6 packet with its fixed header first. Replies to our probes carry
/// no extension headers; anything that does is not one.
pub fn parse_ipv6(packet: &[u8]) -> Result<Reply<'_>, NotAReply> {
    parse_ipv6_from(packet, None)
}

/// `eth_src`: the frame's Ethernet source, for a neighbour advertisement
/// that leaves out its link-layer address.
fn parse_ipv6_from(packet: &[u8], eth_src: Option<MacAddr>) -> Result<Reply<'_>, NotAReply> {
    let ip = Ipv6HeaderSlice::from_slice(packet).map_err(|_| NotAReply::Malformed)?;
    let end = super::template::IPV6_LEN + usize::from(ip.payload_length());
    if end > packet.len() {
        return Err(NotAReply::Malformed);
    }
    let payload = &packet[super::template::IPV6_LEN..end];
    let (src, dst) = (
        IpAddr::V6(ip.source_addr()),
        IpAddr::V6(ip.destination_addr()),
    );
    let transport = match ip.next_header() {
        IpNumber::TCP => Transport::Tcp(parse_tcp(payload)?),
        IpNumber::UDP => Transport::Udp(parse_udp(payload)?),
        IpNumber::IPV6_ICMP => {
            let icmp = Icmpv6Slice::from_slice(payload).map_err(|_| NotAReply::Malformed)?;
            match icmp.type_u8() {
                ICMPV6_DEST_UNREACHABLE => Transport::Unreachable {
                    code: icmp.code_u8(),
                    quoted: quoted_ipv6(icmp.payload()).ok_or(NotAReply::OtherIcmp)?,
                },
                ICMPV6_ECHO_REPLY => {
                    let (ident, seq) = ident_seq(icmp.slice());
                    Transport::Echo { ident, seq }
                }
                nd::ADVERTISEMENT => {
                    return advertisement(&ip, icmp.slice(), eth_src);
                }
                _ => return Err(NotAReply::OtherIcmp),
            }
        }
        _ => return Err(NotAReply::OtherTraffic),
    };
    Ok(Reply {
        src,
        dst,
        ttl: ip.hop_limit(),
        dont_fragment: true,
        transport,
    })
}

/// A neighbour advertisement (RFC 4861 4.4): hop limit 255 (it was not
/// routed), the target it speaks for, and the MAC of its target link-layer
/// option, else of the frame. The target is the reply's source: the host
/// the advertisement says is there.
fn advertisement<'a>(
    ip: &Ipv6HeaderSlice<'_>,
    msg: &[u8],
    eth_src: Option<MacAddr>,
) -> Result<Reply<'a>, NotAReply> {
    if ip.hop_limit() != nd::HOP_LIMIT || msg.len() < 24 || msg[1] != 0 {
        return Err(NotAReply::OtherIcmp);
    }
    let target: [u8; 16] = msg[8..24].try_into().expect("16 bytes");
    let mac = nd::target_ll(&msg[24..])
        .map_err(|_| NotAReply::Malformed)?
        .or(eth_src);
    Ok(Reply {
        src: IpAddr::from(target),
        dst: IpAddr::V6(ip.destination_addr()),
        ttl: ip.hop_limit(),
        dont_fragment: true,
        transport: Transport::Neighbor {
            mac: mac.ok_or(NotAReply::OtherIcmp)?,
        },
    })
}

/// RFC 792 guarantees the quoted IPv4 header plus 8 bytes of its payload:
/// exactly the TCP ports and sequence number, or the whole UDP header.
fn quoted_ipv4(quote: &[u8]) -> Option<Quoted<'_>> {
    let ip = Ipv4HeaderSlice::from_slice(quote).ok()?;
    let start = ip.slice().len();
    let transport = quote.get(start..)?;
    (transport.len() >= 8).then_some(Quoted {
        src: IpAddr::V4(ip.source_addr()),
        dst: IpAddr::V4(ip.destination_addr()),
        protocol: ip.protocol().0,
        ip_mark: u32::from(ip.identification()),
        transport,
    })
}

/// RFC 4443 quotes as much of the packet as fits in the minimum MTU.
fn quoted_ipv6(quote: &[u8]) -> Option<Quoted<'_>> {
    let ip = Ipv6HeaderSlice::from_slice(quote).ok()?;
    let transport = quote.get(super::template::IPV6_LEN..)?;
    (transport.len() >= 8).then_some(Quoted {
        src: IpAddr::V6(ip.source_addr()),
        dst: IpAddr::V6(ip.destination_addr()),
        protocol: ip.next_header().0,
        ip_mark: ip.flow_label().value(),
        transport,
    })
}

/// Frames for tests: target answers built the way a kernel builds them.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use etherparse::{
        Icmpv4Type, Icmpv6Type, PacketBuilder, TcpOptionElement, TcpOptionsIterator,
        icmpv4::DestUnreachableHeader,
    };

    /// The hand walk finds what etherparse's options iterator finds in
    /// every well-formed list, and reads nothing out of bounds in any.
    #[test]
    fn timestamps_are_found_as_etherparse_finds_them() {
        let ts = |v: u32, e: u32| {
            let mut o = vec![8, 10];
            o.extend_from_slice(&v.to_be_bytes());
            o.extend_from_slice(&e.to_be_bytes());
            o
        };
        type Stamps = Option<(u32, u32)>;
        let cases: Vec<(Vec<u8>, Stamps)> = vec![
            (vec![], None),
            (ts(7, 9), Some((7, 9))),
            (
                [&[2, 4, 5, 180, 1, 1][..], &ts(1, 2)].concat(),
                Some((1, 2)),
            ),
            (
                [&[2, 4, 5, 180, 4, 2][..], &ts(3, 4), &[1, 3, 3, 7]].concat(),
                Some((3, 4)),
            ),
            ([&[0][..], &ts(1, 2)].concat(), None),
            ([&[5, 1][..], &ts(1, 2)].concat(), None),
            ([&[5, 0][..], &ts(1, 2)].concat(), None),
            ([&[3, 30][..], &ts(1, 2)].concat(), None),
            (vec![8, 9, 0, 0, 0, 1, 0, 0, 0], None),
            (ts(1, 2)[..9].to_vec(), None),
            (vec![1, 1, 1], None),
            (vec![2], None),
        ];
        for (options, want) in &cases {
            assert_eq!(timestamps(options), *want, "{options:?}");
        }
        // Random lists: where etherparse finds a timestamp, so do we.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut found = 0;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 41) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|i| {
                    let b = (x >> (i % 8 * 8)) as u8;
                    // Bias towards option kinds and lengths that parse.
                    match b % 4 {
                        0 => 1,
                        1 => 8,
                        2 => 10,
                        _ => b,
                    }
                })
                .collect();
            let theirs = TcpOptionsIterator::from_slice(&bytes).find_map(|o| match o {
                Ok(TcpOptionElement::Timestamp(v, e)) => Some((v, e)),
                _ => None,
            });
            if theirs.is_some() {
                assert_eq!(timestamps(&bytes), theirs, "{bytes:?}");
                found += 1;
            }
        }
        assert!(found > 1000, "only {found} random lists held a timestamp");
    }

    pub const US4: &str = "198.19.255.1";
    pub const TARGET4: &str = "198.18.4.7";
    pub const US6: &str = "2001:2:0:ff03::1";
    pub const TARGET6: &str = "2001:2:0:300::1007";
    const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 2];

    pub fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// How a TCP answer to our probe is shaped.
    #[derive(Clone, Copy, Debug)]
    pub struct TcpAnswer {
        pub sport: u16,
        pub dport: u16,
        pub seq: u32,
        pub ack: u32,
        pub flags: u8,
        pub window: u16,
        pub echo: Option<u32>,
    }

    impl TcpAnswer {
        pub fn new(sport: u16, dport: u16, ack: u32, flags: u8) -> TcpAnswer {
            TcpAnswer {
                sport,
                dport,
                seq: 99,
                ack,
                flags,
                window: 65160,
                echo: None,
            }
        }
    }

    /// `from` answering `to` with TCP, as a kernel would build it.
    pub fn tcp_frame(from: IpAddr, to: IpAddr, a: TcpAnswer) -> Vec<u8> {
        let b = PacketBuilder::ethernet2(MAC_B, MAC_A);
        let b = match (from, to) {
            (IpAddr::V4(f), IpAddr::V4(t)) => b.ipv4(f.octets(), t.octets(), 61),
            (IpAddr::V6(f), IpAddr::V6(t)) => b.ipv6(f.octets(), t.octets(), 61),
            _ => panic!("mixed families"),
        };
        let mut b = b.tcp(a.sport, a.dport, a.seq, a.window);
        if a.flags & tcp_flags::ACK != 0 {
            b = b.ack(a.ack);
        }
        if a.flags & tcp_flags::SYN != 0 {
            b = b.syn();
        }
        if a.flags & tcp_flags::RST != 0 {
            b = b.rst();
        }
        if a.flags & tcp_flags::FIN != 0 {
            b = b.fin();
        }
        if let Some(e) = a.echo {
            b = b.options(&[TcpOptionElement::Timestamp(12345, e)]).unwrap();
        }
        let mut out = Vec::new();
        b.write(&mut out, &[]).unwrap();
        out
    }

    /// `from` sending an unreachable of `code` quoting `probe` (a frame we
    /// sent), cut to `quote_len` bytes of its IP packet as a router might.
    pub fn unreachable_frame(from: IpAddr, code: u8, probe: &[u8], quote_len: usize) -> Vec<u8> {
        let quoted = &probe[14..14 + quote_len];
        let to = match parse_frame(probe) {
            Ok(r) => r.src,
            Err(_) => panic!("the probe parses"),
        };
        let mut out = Vec::new();
        let b = PacketBuilder::ethernet2(MAC_B, MAC_A);
        match (from, to) {
            (IpAddr::V4(f), IpAddr::V4(t)) => b
                .ipv4(f.octets(), t.octets(), 63)
                .icmpv4(Icmpv4Type::DestinationUnreachable(
                    DestUnreachableHeader::from_values(code, 0).unwrap(),
                ))
                .write(&mut out, quoted)
                .unwrap(),
            (IpAddr::V6(f), IpAddr::V6(t)) => b
                .ipv6(f.octets(), t.octets(), 63)
                .icmpv6(Icmpv6Type::DestinationUnreachable(
                    etherparse::icmpv6::DestUnreachableCode::from_u8(code)
                        .unwrap_or(etherparse::icmpv6::DestUnreachableCode::NoRoute),
                ))
                .write(&mut out, quoted)
                .unwrap(),
            _ => panic!("mixed families"),
        }
        if from.is_ipv6() {
            // etherparse knows codes 0-6 only; write any other code raw.
            out[14 + 40 + 1] = code;
        }
        out
    }

    #[test]
    fn parses_tcp_answers_of_both_families() {
        for (us, them) in [(US4, TARGET4), (US6, TARGET6)] {
            let mut a = TcpAnswer::new(80, 61000, 1001, tcp_flags::SYN | tcp_flags::ACK);
            a.echo = Some(4242);
            let f = tcp_frame(ip(them), ip(us), a);
            let r = parse_frame(&f).unwrap();
            assert_eq!((r.src, r.dst, r.ttl), (ip(them), ip(us), 61));
            let Transport::Tcp(t) = r.transport else {
                panic!("{r:?}")
            };
            assert_eq!(
                (t.src_port, t.dst_port, t.seq, t.ack, t.window, t.ts_echo),
                (80, 61000, 99, 1001, 65160, Some(4242))
            );
            assert_eq!(t.flags, tcp_flags::SYN | tcp_flags::ACK);
            // The options as sent: a timestamp (10 bytes), padded to 12.
            let mut ts = vec![8, 10, 0, 0, 0x30, 0x39];
            ts.extend_from_slice(&4242u32.to_be_bytes());
            assert_eq!(&t.options[..10], &ts[..]);
            assert_eq!(t.options.len(), 12);
            // The IP packet alone parses the same.
            assert_eq!(parse_ip(&f[14..]), Ok(r));
        }
    }

    #[test]
    fn padded_frames_parse_and_truncated_ones_do_not() {
        for (us, them) in [(US4, TARGET4), (US6, TARGET6)] {
            let a = TcpAnswer::new(80, 61000, 2, tcp_flags::RST | tcp_flags::ACK);
            let mut f = tcp_frame(ip(them), ip(us), a);
            let len = f.len();
            f.resize(len + 20, 0); // padding after the IP packet
            assert!(parse_frame(&f).is_ok());
            f.truncate(len);
            if us == US4 {
                // The DF bit is read; IPv6 is never fragmented en route.
                assert!(parse_frame(&f).unwrap().dont_fragment);
                f[14 + 6] &= !0x40;
                assert!(!parse_frame(&f).unwrap().dont_fragment);
            } else {
                assert!(parse_frame(&f).unwrap().dont_fragment);
            }
            for cut in 0..len {
                assert_eq!(
                    parse_frame(&f[..cut]),
                    Err(NotAReply::Malformed),
                    "cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn other_traffic_is_classified_not_parsed() {
        let mut arp = vec![0xff; 6];
        arp.extend_from_slice(&MAC_B);
        arp.extend_from_slice(&[0x08, 0x06]);
        arp.extend_from_slice(&[0; 28]);
        assert_eq!(parse_frame(&arp), Err(NotAReply::OtherTraffic));
        arp[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]); // a request
        assert_eq!(parse_frame(&arp), Err(NotAReply::OtherTraffic));
        let mut lldp = arp.clone();
        lldp[12..14].copy_from_slice(&[0x88, 0xcc]);
        assert_eq!(parse_frame(&lldp), Err(NotAReply::NotIp));
        let mut echo = Vec::new();
        PacketBuilder::ethernet2(MAC_B, MAC_A)
            .ipv4([198, 18, 4, 7], [198, 19, 255, 1], 64)
            .icmpv4_echo_request(1, 1)
            .write(&mut echo, &[])
            .unwrap();
        assert_eq!(parse_frame(&echo), Err(NotAReply::OtherIcmp));
        let mut echo6 = Vec::new();
        PacketBuilder::ethernet2(MAC_B, MAC_A)
            .ipv6([1; 16], [2; 16], 64)
            .icmpv6_echo_request(1, 1)
            .write(&mut echo6, &[])
            .unwrap();
        assert_eq!(parse_frame(&echo6), Err(NotAReply::OtherIcmp));
        let mut udp = Vec::new();
        PacketBuilder::ethernet2(MAC_B, MAC_A)
            .ipv6([1; 16], [2; 16], 64)
            .udp(53, 61000)
            .write(&mut udp, &[1, 2, 3])
            .unwrap();
        let Ok(Reply {
            transport: Transport::Udp(d),
            ..
        }) = parse_frame(&udp)
        else {
            panic!("UDP parses")
        };
        assert_eq!(
            (d.src_port, d.dst_port, d.payload),
            (53, 61000, &[1u8, 2, 3][..])
        );
        // A length field claiming more than the packet holds.
        let mut long = udp.clone();
        long[14 + 40 + 5] = 99;
        assert_eq!(parse_frame(&long), Err(NotAReply::Malformed));
        let mut sctp = udp.clone();
        sctp[14 + 6] = 132;
        assert_eq!(parse_frame(&sctp), Err(NotAReply::OtherTraffic));
        // A later IPv4 fragment of a TCP segment.
        let a = TcpAnswer::new(80, 61000, 2, tcp_flags::RST);
        let mut frag = tcp_frame(ip(TARGET4), ip(US4), a);
        frag[20] = 0x00;
        frag[21] = 0x10;
        assert_eq!(parse_frame(&frag), Err(NotAReply::OtherTraffic));
    }
}
