//! Replies as they come off the wire: a TCP segment, or an ICMP destination
//! unreachable that quotes the probe it answers.
//!
//! Parsing only extracts fields; whether a reply is ours is decided by the
//! cookie in `rx.rs`. Checksums are not verified: on veth and on NICs with
//! receive offload, captured frames often carry partial checksums, and the
//! cookie already rejects anything that was not sent in answer to us.

use etherparse::{
    EtherType, Ethernet2HeaderSlice, Icmpv4Slice, IpNumber, Ipv4HeaderSlice, TcpHeaderSlice,
    TcpOptionElement,
};

/// TCP header flag bits.
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const ACK: u8 = 0x10;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpReply {
    pub src_ip: u32,
    pub dst_ip: u32,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub ttl: u8,
    /// TSecr of a timestamp option: our TSval echoed back.
    pub ts_echo: Option<u32>,
}

/// The probe an ICMP error quotes: its IPv4 header and first 8 TCP bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotedSyn {
    pub src_ip: u32,
    pub dst_ip: u32,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnreachableReply {
    /// Who sent the ICMP error (the target or a router on the way).
    pub from_ip: u32,
    pub dst_ip: u32,
    pub code: u8,
    pub ttl: u8,
    pub quoted: QuotedSyn,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    Tcp(TcpReply),
    Unreachable(UnreachableReply),
}

/// Why a frame is not a reply we could use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotAReply {
    /// Not IPv4 (ARP, IPv6, LLDP ...).
    NotIpv4,
    /// Too short or inconsistent lengths.
    Malformed,
    /// A later fragment, or a protocol other than TCP and ICMP.
    OtherTraffic,
    /// ICMP, but not a destination unreachable quoting a TCP segment.
    OtherIcmp,
}

/// ICMP type 3, destination unreachable.
pub const ICMP_DEST_UNREACHABLE: u8 = 3;

pub fn parse_frame(frame: &[u8]) -> Result<Reply, NotAReply> {
    let eth = Ethernet2HeaderSlice::from_slice(frame).map_err(|_| NotAReply::Malformed)?;
    if eth.ether_type() != EtherType::IPV4 {
        return Err(NotAReply::NotIpv4);
    }
    parse_ipv4(&frame[eth.slice().len()..])
}

/// An IPv4 packet with its header first.
pub fn parse_ipv4(packet: &[u8]) -> Result<Reply, NotAReply> {
    let ip = Ipv4HeaderSlice::from_slice(packet).map_err(|_| NotAReply::Malformed)?;
    let header_len = ip.slice().len();
    let total = usize::from(ip.total_len());
    // Frames may carry Ethernet padding past total_len, never less.
    if total < header_len || total > packet.len() {
        return Err(NotAReply::Malformed);
    }
    if ip.fragments_offset().value() != 0 {
        return Err(NotAReply::OtherTraffic);
    }
    let payload = &packet[header_len..total];
    let src_ip = u32::from_be_bytes(ip.source());
    let dst_ip = u32::from_be_bytes(ip.destination());
    let ttl = ip.ttl();
    match ip.protocol() {
        IpNumber::TCP => {
            let tcp = TcpHeaderSlice::from_slice(payload).map_err(|_| NotAReply::Malformed)?;
            let ts_echo = tcp.options_iterator().find_map(|o| match o {
                Ok(TcpOptionElement::Timestamp(_, echo)) => Some(echo),
                _ => None,
            });
            // Flags live in byte 13 of the header.
            let flags = tcp.slice()[13];
            Ok(Reply::Tcp(TcpReply {
                src_ip,
                dst_ip,
                src_port: tcp.source_port(),
                dst_port: tcp.destination_port(),
                seq: tcp.sequence_number(),
                ack: tcp.acknowledgment_number(),
                flags,
                ttl,
                ts_echo,
            }))
        }
        IpNumber::ICMP => {
            let icmp = Icmpv4Slice::from_slice(payload).map_err(|_| NotAReply::Malformed)?;
            if icmp.type_u8() != ICMP_DEST_UNREACHABLE {
                return Err(NotAReply::OtherIcmp);
            }
            let quoted = parse_quoted(icmp.payload()).ok_or(NotAReply::OtherIcmp)?;
            Ok(Reply::Unreachable(UnreachableReply {
                from_ip: src_ip,
                dst_ip,
                code: icmp.code_u8(),
                ttl,
                quoted,
            }))
        }
        _ => Err(NotAReply::OtherTraffic),
    }
}

/// RFC 792 guarantees the quoted IP header plus 8 bytes of its payload:
/// exactly the TCP ports and sequence number.
fn parse_quoted(quote: &[u8]) -> Option<QuotedSyn> {
    let ip = Ipv4HeaderSlice::from_slice(quote).ok()?;
    if ip.protocol() != IpNumber::TCP {
        return None;
    }
    let tcp = quote.get(ip.slice().len()..ip.slice().len() + 8)?;
    Some(QuotedSyn {
        src_ip: u32::from_be_bytes(ip.source()),
        dst_ip: u32::from_be_bytes(ip.destination()),
        src_port: u16::from_be_bytes([tcp[0], tcp[1]]),
        dst_port: u16::from_be_bytes([tcp[2], tcp[3]]),
        seq: u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::wire::template::{ProbeFields, SYN_FRAME_LEN, SynTemplate, TemplateParams};
    use etherparse::{Icmpv4Type, PacketBuilder, icmpv4::DestUnreachableHeader};

    pub const US: [u8; 4] = [198, 19, 255, 1];
    pub const TARGET: [u8; 4] = [198, 18, 4, 7];
    const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 2];

    /// A target's TCP answer to our probe, as a kernel would build it.
    pub fn tcp_answer(
        sport: u16,
        dport: u16,
        seq: u32,
        ack: u32,
        syn: bool,
        rst: bool,
        echo: Option<u32>,
    ) -> Vec<u8> {
        let mut b = PacketBuilder::ethernet2(MAC_B, MAC_A)
            .ipv4(TARGET, US, 61)
            .tcp(sport, dport, seq, 65160)
            .ack(ack);
        if syn {
            b = b.syn();
        }
        if rst {
            b = b.rst();
        }
        if let Some(e) = echo {
            b = b.options(&[TcpOptionElement::Timestamp(12345, e)]).unwrap();
        }
        let mut out = Vec::new();
        b.write(&mut out, &[]).unwrap();
        out
    }

    /// An ICMP unreachable quoting `probe` (the frame we sent), cut to
    /// `quote_len` bytes of its IP packet as a router might.
    pub fn icmp_answer(code: u8, probe: &[u8], quote_len: usize) -> Vec<u8> {
        let quoted = &probe[14..14 + quote_len];
        let icmp_type = Icmpv4Type::DestinationUnreachable(
            DestUnreachableHeader::from_values(code, 0).unwrap(),
        );
        let mut out = Vec::new();
        PacketBuilder::ethernet2(MAC_B, MAC_A)
            .ipv4(TARGET, US, 63)
            .icmpv4(icmp_type)
            .write(&mut out, quoted)
            .unwrap();
        out
    }

    pub fn probe_frame(fields: &ProbeFields) -> Vec<u8> {
        let t = SynTemplate::new(&TemplateParams {
            src_mac: MAC_A,
            dst_mac: MAC_B,
            src_ip: u32::from_be_bytes(US),
            ttl: 64,
            window: 1024,
            mss: 1460,
        });
        let mut buf = vec![0; SYN_FRAME_LEN];
        t.write(&mut buf, fields);
        buf
    }

    #[test]
    fn parses_syn_ack_with_timestamp_echo() {
        let f = tcp_answer(80, 61000, 777, 1001, true, false, Some(4242));
        match parse_frame(&f).unwrap() {
            Reply::Tcp(t) => {
                assert_eq!(
                    (t.src_port, t.dst_port, t.seq, t.ack, t.ttl),
                    (80, 61000, 777, 1001, 61)
                );
                assert_eq!(
                    t.flags & (tcp_flags::SYN | tcp_flags::ACK),
                    tcp_flags::SYN | tcp_flags::ACK
                );
                assert_eq!(t.src_ip, u32::from_be_bytes(TARGET));
                assert_eq!(t.dst_ip, u32::from_be_bytes(US));
                assert_eq!(t.ts_echo, Some(4242));
            }
            other => panic!("{other:?}"),
        }
        let rst = tcp_answer(81, 61000, 0, 1001, false, true, None);
        match parse_frame(&rst).unwrap() {
            Reply::Tcp(t) => {
                assert_eq!(t.flags & tcp_flags::RST, tcp_flags::RST);
                assert_eq!(t.ts_echo, None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn padded_frames_parse_and_truncated_ones_do_not() {
        let mut f = tcp_answer(80, 61000, 1, 2, false, true, None);
        f.resize(60, 0); // Ethernet minimum, padding after the IP packet
        assert!(parse_frame(&f).is_ok());
        let f = tcp_answer(80, 61000, 1, 2, false, true, None);
        for cut in [0, 13, 14, 20, 33, f.len() - 1] {
            assert_eq!(
                parse_frame(&f[..cut]),
                Err(NotAReply::Malformed),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn parses_the_probe_quoted_in_an_icmp_error() {
        let fields = ProbeFields {
            dst_ip: u32::from_be_bytes(TARGET),
            src_port: 61007,
            dst_port: 25,
            seq: 0xdead_beef,
            ip_id: 9,
            tsval: 1,
        };
        let probe = probe_frame(&fields);
        // Full quote (Linux) and the RFC 792 minimum of header + 8 bytes.
        for quote_len in [SYN_FRAME_LEN - 14, 28] {
            let f = icmp_answer(13, &probe, quote_len);
            match parse_frame(&f).unwrap() {
                Reply::Unreachable(u) => {
                    assert_eq!(u.code, 13);
                    assert_eq!(u.ttl, 63);
                    assert_eq!(u.from_ip, u32::from_be_bytes(TARGET));
                    assert_eq!(
                        u.quoted,
                        QuotedSyn {
                            src_ip: u32::from_be_bytes(US),
                            dst_ip: fields.dst_ip,
                            src_port: 61007,
                            dst_port: 25,
                            seq: 0xdead_beef
                        }
                    );
                }
                other => panic!("{other:?}"),
            }
        }
        // Less than 8 bytes of TCP quoted: unusable.
        let f = icmp_answer(13, &probe, 27);
        assert_eq!(parse_frame(&f), Err(NotAReply::OtherIcmp));
    }

    #[test]
    fn other_traffic_is_classified_not_parsed() {
        let mut arp = vec![0xff; 6];
        arp.extend_from_slice(&MAC_B);
        arp.extend_from_slice(&[0x08, 0x06]);
        arp.extend_from_slice(&[0; 28]);
        assert_eq!(parse_frame(&arp), Err(NotAReply::NotIpv4));
        let mut echo = Vec::new();
        PacketBuilder::ethernet2(MAC_B, MAC_A)
            .ipv4(TARGET, US, 64)
            .icmpv4_echo_request(1, 1)
            .write(&mut echo, &[])
            .unwrap();
        assert_eq!(parse_frame(&echo), Err(NotAReply::OtherIcmp));
        let mut udp = Vec::new();
        PacketBuilder::ethernet2(MAC_B, MAC_A)
            .ipv4(TARGET, US, 64)
            .udp(53, 61000)
            .write(&mut udp, &[1, 2, 3])
            .unwrap();
        assert_eq!(parse_frame(&udp), Err(NotAReply::OtherTraffic));
    }
}
