//! Packet shaping after a probe module wrote its frame: nmap's
//! `--data-length` (bytes after the transport header), `--badsum` (a
//! transport checksum that is wrong on purpose) and `-f`/`--mtu` (IPv4
//! fragments).
//!
//! Modules know nothing of this: they write the probe they always write,
//! and `Shaping` works on the finished frame, reading only the headers a
//! template puts there (Ethernet, IPv4 without options or IPv6 without
//! extension headers, then TCP or UDP). Frames of any other kind (ARP,
//! ICMP's payloads, Neighbor Discovery) leave as they were, except that
//! any IPv4 frame is fragmented when asked, as nmap fragments its pings.
//!
//! Only IPv4 is fragmented: an IPv6 first fragment must hold the whole
//! transport header (RFC 8200 section 4.5, RFC 7112) and Linux drops one
//! that does not, so nmap's 8-byte fragments cannot exist there; the
//! configuration refuses IPv6 targets with `-f`/`--mtu`.

use super::checksum::{add_u32, finish, sum_bytes};
use super::template::{ETH_LEN, IPV4_LEN, IPV6_LEN};

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const UDP_LEN: usize = 8;

/// IPv4 header fields (offsets inside the header).
mod ipv4 {
    pub const TOTAL_LEN: usize = 2;
    pub const FLAGS_OFFSET: usize = 6;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    /// More fragments, in the flags and offset word.
    pub const MORE_FRAGMENTS: u16 = 0x2000;
}

/// IPv6 header fields.
mod ipv6 {
    pub const PAYLOAD_LEN: usize = 4;
    pub const NEXT_HEADER: usize = 6;
    pub const SRC: usize = 8;
}

/// The most bytes `--data-length` appends: a TCP probe with them still
/// fits a 1500-byte IPv6 packet.
pub const MAX_DATA_LENGTH: usize = 1400;
/// The largest `--mtu`: an IPv4 packet's whole data in one fragment.
pub const MAX_FRAGMENT_DATA: u16 = 1480;

/// How the frames of a run are reshaped. The default changes nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shaping {
    /// Appended after the TCP header of every TCP probe, and after the
    /// header of every UDP probe with no payload of its own: random bytes
    /// drawn once per run.
    pub data: Vec<u8>,
    /// TCP and UDP checksums wrong on purpose.
    pub badsum: bool,
    /// IPv4 fragments carrying this many bytes of the IP payload each (a
    /// multiple of 8; the last carries the rest).
    pub fragment: Option<u16>,
}

/// Where a frame's IP and transport headers are.
#[derive(Clone, Copy, Debug)]
struct Layout {
    v6: bool,
    /// Offset of the transport header.
    l4: usize,
    protocol: u8,
}

impl Layout {
    fn of(frame: &[u8], len: usize) -> Option<Layout> {
        if len < ETH_LEN + IPV4_LEN || frame.len() < len {
            return None;
        }
        match u16::from_be_bytes([frame[12], frame[13]]) {
            ETHERTYPE_IPV4 => {
                let l4 = ETH_LEN + usize::from(frame[ETH_LEN] & 0x0f) * 4;
                let protocol = frame[ETH_LEN + ipv4::PROTOCOL];
                (l4 <= len).then_some(Layout {
                    v6: false,
                    l4,
                    protocol,
                })
            }
            ETHERTYPE_IPV6 if len >= ETH_LEN + IPV6_LEN => Some(Layout {
                v6: true,
                l4: ETH_LEN + IPV6_LEN,
                protocol: frame[ETH_LEN + ipv6::NEXT_HEADER],
            }),
            _ => None,
        }
    }

    /// The transport checksum's offset, for TCP and UDP.
    fn checksum_at(&self) -> Option<usize> {
        match self.protocol {
            IPPROTO_TCP => Some(self.l4 + 16),
            IPPROTO_UDP => Some(self.l4 + 6),
            _ => None,
        }
    }
}

impl Shaping {
    /// Changes the frames a module writes (`reshape` has work to do).
    #[inline]
    pub fn reshapes(&self) -> bool {
        !self.data.is_empty() || self.badsum
    }

    /// Bytes a frame may grow by in `reshape`.
    pub fn growth(&self) -> usize {
        self.data.len()
    }

    /// Appends the data and breaks the checksum, as configured, in the
    /// frame of `len` bytes at the start of `frame` (room for `growth()`
    /// more); returns the new length.
    pub fn reshape(&self, frame: &mut [u8], len: usize) -> usize {
        let Some(at) = Layout::of(frame, len) else {
            return len;
        };
        let Some(checksum_at) = at.checksum_at() else {
            return len;
        };
        if len < checksum_at + 2 {
            return len;
        }
        let bare = match at.protocol {
            IPPROTO_TCP => len == at.l4 + usize::from(frame[at.l4 + 12] >> 4) * 4,
            _ => len == at.l4 + UDP_LEN,
        };
        let mut len = len;
        if bare && !self.data.is_empty() {
            let end = len + self.data.len();
            frame[len..end].copy_from_slice(&self.data);
            len = end;
            let l4_len = (len - at.l4) as u16;
            if at.protocol == IPPROTO_UDP {
                frame[at.l4 + 4..at.l4 + 6].copy_from_slice(&l4_len.to_be_bytes());
            }
            let ip = &mut frame[ETH_LEN..at.l4];
            if at.v6 {
                ip[ipv6::PAYLOAD_LEN..ipv6::PAYLOAD_LEN + 2].copy_from_slice(&l4_len.to_be_bytes());
            } else {
                let total = (len - ETH_LEN) as u16;
                ip[ipv4::TOTAL_LEN..ipv4::TOTAL_LEN + 2].copy_from_slice(&total.to_be_bytes());
                write_ipv4_checksum(ip);
            }
            let sum = transport_checksum(frame, len, at);
            let sum = if at.protocol == IPPROTO_UDP && sum == 0 {
                // Zero means "no checksum" in UDP.
                0xffff
            } else {
                sum
            };
            frame[checksum_at..checksum_at + 2].copy_from_slice(&sum.to_be_bytes());
        }
        if self.badsum {
            let good = u16::from_be_bytes([frame[checksum_at], frame[checksum_at + 1]]);
            frame[checksum_at..checksum_at + 2]
                .copy_from_slice(&wrong_checksum(good).to_be_bytes());
        }
        len
    }

    /// The frames the frame of `len` bytes leaves as: 1 unless it is an
    /// IPv4 packet with more data than a fragment carries.
    #[inline]
    pub fn fragment_count(&self, frame: &[u8], len: usize) -> usize {
        let Some(size) = self.fragment else {
            return 1;
        };
        match Layout::of(frame, len) {
            Some(at) if !at.v6 => (len - at.l4).div_ceil(usize::from(size)).max(1),
            _ => 1,
        }
    }

    /// The most frames a frame of up to `len` bytes leaves as.
    pub fn most_fragments(&self, len: usize) -> usize {
        match self.fragment {
            Some(size) => len
                .saturating_sub(ETH_LEN + IPV4_LEN)
                .div_ceil(usize::from(size))
                .max(1),
            None => 1,
        }
    }

    /// Writes frame `i` of `fragment_count` into `out`; returns its length.
    /// Each fragment has the packet's headers with its own length, offset,
    /// more-fragments flag (don't-fragment cleared) and header checksum;
    /// all share the packet's IP ID.
    pub fn write_fragment(&self, frame: &[u8], len: usize, i: usize, out: &mut [u8]) -> usize {
        let count = self.fragment_count(frame, len);
        let (Some(size), Some(at), true) = (self.fragment, Layout::of(frame, len), count > 1)
        else {
            out[..len].copy_from_slice(&frame[..len]);
            return len;
        };
        let data = len - at.l4;
        let start = i * usize::from(size);
        let end = (start + usize::from(size)).min(data);
        let out_len = at.l4 + end - start;
        out[..at.l4].copy_from_slice(&frame[..at.l4]);
        out[at.l4..out_len].copy_from_slice(&frame[at.l4 + start..at.l4 + end]);
        let ip = &mut out[ETH_LEN..at.l4];
        let total = (out_len - ETH_LEN) as u16;
        ip[ipv4::TOTAL_LEN..ipv4::TOTAL_LEN + 2].copy_from_slice(&total.to_be_bytes());
        let more = if end < data { ipv4::MORE_FRAGMENTS } else { 0 };
        let word = more | (start / 8) as u16;
        ip[ipv4::FLAGS_OFFSET..ipv4::FLAGS_OFFSET + 2].copy_from_slice(&word.to_be_bytes());
        write_ipv4_checksum(ip);
        out_len
    }
}

/// A checksum a receiver never takes for right: the complement of the
/// right one, except where that is the same number in ones'-complement
/// (0 and 0xffff are both zero), and never 0, which UDP reads as "none".
pub fn wrong_checksum(good: u16) -> u16 {
    match good {
        0 | 0xffff => 0x5555,
        _ => !good,
    }
}

fn write_ipv4_checksum(ip: &mut [u8]) {
    ip[ipv4::CHECKSUM..ipv4::CHECKSUM + 2].fill(0);
    let sum = finish(sum_bytes(ip));
    ip[ipv4::CHECKSUM..ipv4::CHECKSUM + 2].copy_from_slice(&sum.to_be_bytes());
}

/// The TCP or UDP checksum of the frame's segment, over the pseudo-header
/// and the segment with its checksum field taken as zero.
fn transport_checksum(frame: &[u8], len: usize, at: Layout) -> u16 {
    let l4_len = (len - at.l4) as u32;
    let addrs = if at.v6 {
        let src = ETH_LEN + ipv6::SRC;
        &frame[src..src + 32]
    } else {
        let src = ETH_LEN + ipv4::SRC;
        &frame[src..src + 8]
    };
    let mut sum = add_u32(sum_bytes(addrs) + u32::from(at.protocol), l4_len);
    let checksum_at = at.checksum_at().expect("TCP or UDP");
    sum += sum_bytes(&frame[at.l4..checksum_at]);
    sum += sum_bytes(&frame[checksum_at + 2..len]);
    finish(sum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{
        IpNumber, Ipv4Header, Ipv6Header, NetSlice, PacketBuilder, SlicedPacket, TransportSlice,
    };

    const SRC4: [u8; 4] = [198, 19, 255, 1];
    const DST4: [u8; 4] = [198, 18, 4, 7];
    const SRC6: [u8; 16] = [0x20, 1, 0, 2, 0, 0, 0xff, 8, 0, 0, 0, 0, 0, 0, 0, 1];
    const DST6: [u8; 16] = [0x20, 1, 0, 2, 0, 0, 0x08, 0, 0, 0, 0, 0, 0, 0, 0x1a, 0xbc];

    fn ip4(id: u16) -> etherparse::IpHeaders {
        let mut ip = Ipv4Header::new(0, 64, IpNumber::TCP, SRC4, DST4).unwrap();
        ip.dont_fragment = true;
        ip.identification = id;
        etherparse::IpHeaders::Ipv4(ip, Default::default())
    }

    fn ip6() -> etherparse::IpHeaders {
        let ip = Ipv6Header {
            hop_limit: 64,
            source: SRC6,
            destination: DST6,
            ..Default::default()
        };
        etherparse::IpHeaders::Ipv6(ip, Default::default())
    }

    /// A SYN with options (36 bytes of header) over `ip`, padded with
    /// room to grow.
    fn syn(ip: etherparse::IpHeaders) -> (Vec<u8>, usize) {
        let mut v = Vec::new();
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ip(ip)
            .tcp(61000, 443, 0xdead_beef, 64240)
            .syn()
            .options(&[
                etherparse::TcpOptionElement::MaximumSegmentSize(1460),
                etherparse::TcpOptionElement::Noop,
                etherparse::TcpOptionElement::Noop,
                etherparse::TcpOptionElement::Timestamp(0x0102_0304, 0),
            ])
            .unwrap()
            .write(&mut v, &[])
            .unwrap();
        let len = v.len();
        v.resize(1514, 0xaa);
        (v, len)
    }

    fn udp(ip: etherparse::IpHeaders, payload: &[u8]) -> (Vec<u8>, usize) {
        let mut v = Vec::new();
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ip(ip)
            .udp(61000, 161)
            .write(&mut v, payload)
            .unwrap();
        let len = v.len();
        v.resize(1514, 0xaa);
        (v, len)
    }

    /// The transport checksum etherparse computes for the parsed frame.
    fn right_checksum(frame: &[u8]) -> (u16, u16) {
        let p = SlicedPacket::from_ethernet(frame).unwrap();
        let payload = match &p.transport {
            Some(TransportSlice::Tcp(t)) => t.payload(),
            Some(TransportSlice::Udp(u)) => u.payload(),
            other => panic!("{other:?}"),
        };
        let (sent, right) = match (&p.net, &p.transport) {
            (Some(NetSlice::Ipv4(ip)), Some(TransportSlice::Tcp(t))) => (
                t.checksum(),
                t.to_header()
                    .calc_checksum_ipv4(&ip.header().to_header(), payload)
                    .unwrap(),
            ),
            (Some(NetSlice::Ipv6(ip)), Some(TransportSlice::Tcp(t))) => (
                t.checksum(),
                t.to_header()
                    .calc_checksum_ipv6(&ip.header().to_header(), payload)
                    .unwrap(),
            ),
            (Some(NetSlice::Ipv4(ip)), Some(TransportSlice::Udp(u))) => (
                u.checksum(),
                u.to_header()
                    .calc_checksum_ipv4(&ip.header().to_header(), payload)
                    .unwrap(),
            ),
            (Some(NetSlice::Ipv6(ip)), Some(TransportSlice::Udp(u))) => (
                u.checksum(),
                u.to_header()
                    .calc_checksum_ipv6(&ip.header().to_header(), payload)
                    .unwrap(),
            ),
            other => panic!("{other:?}"),
        };
        (sent, right)
    }

    #[test]
    fn data_length_appends_after_bare_tcp_and_udp_and_keeps_checksums_right() {
        let data: Vec<u8> = (0..37u8).map(|i| i.wrapping_mul(73)).collect();
        let s = Shaping {
            data: data.clone(),
            ..Default::default()
        };
        for (mut frame, len) in [syn(ip4(7)), syn(ip6()), udp(ip4(7), &[]), udp(ip6(), &[])] {
            let grown = s.reshape(&mut frame, len);
            assert_eq!(grown, len + data.len());
            let p = SlicedPacket::from_ethernet(&frame[..grown]).unwrap();
            match &p.net {
                Some(NetSlice::Ipv4(ip)) => {
                    assert_eq!(usize::from(ip.header().total_len()), grown - ETH_LEN);
                    let h = ip.header().to_header();
                    assert_eq!(h.header_checksum, h.calc_header_checksum());
                }
                Some(NetSlice::Ipv6(ip)) => assert_eq!(
                    usize::from(ip.header().payload_length()),
                    grown - ETH_LEN - IPV6_LEN
                ),
                other => panic!("{other:?}"),
            }
            let payload = match &p.transport {
                Some(TransportSlice::Tcp(t)) => {
                    assert_eq!(t.header_len(), 36);
                    t.payload()
                }
                Some(TransportSlice::Udp(u)) => {
                    assert_eq!(usize::from(u.length()), 8 + data.len());
                    u.payload()
                }
                other => panic!("{other:?}"),
            };
            assert_eq!(payload, &data[..]);
            let (sent, right) = right_checksum(&frame[..grown]);
            assert_eq!(sent, right);
        }
    }

    #[test]
    fn data_length_leaves_a_udp_payload_alone() {
        let s = Shaping {
            data: vec![1, 2, 3],
            ..Default::default()
        };
        let (mut frame, len) = udp(ip4(1), b"\x30\x26public");
        let before = frame.clone();
        assert_eq!(s.reshape(&mut frame, len), len);
        assert_eq!(frame, before);
    }

    #[test]
    fn badsum_breaks_tcp_and_udp_checksums_in_both_families() {
        let s = Shaping {
            badsum: true,
            ..Default::default()
        };
        for (mut frame, len) in [syn(ip4(7)), syn(ip6()), udp(ip4(7), b"x"), udp(ip6(), b"x")] {
            let (sent, right) = right_checksum(&frame[..len]);
            assert_eq!(sent, right, "a right checksum to start from");
            assert_eq!(s.reshape(&mut frame, len), len);
            let (sent, right) = right_checksum(&frame[..len]);
            assert_ne!(sent, right);
            assert_ne!(sent, 0, "UDP's zero means no checksum");
            // Nor the ones'-complement twin of the right one.
            assert_ne!(u32::from(sent) % 0xffff, u32::from(right) % 0xffff);
        }
        // With data the checksum is recomputed, then broken.
        let s = Shaping {
            badsum: true,
            data: vec![9; 10],
            ..Default::default()
        };
        let (mut frame, len) = syn(ip4(7));
        let grown = s.reshape(&mut frame, len);
        let (sent, right) = right_checksum(&frame[..grown]);
        assert_eq!(sent, wrong_checksum(right));
    }

    #[test]
    fn wrong_checksums_are_never_right() {
        // A receiver accepts `c` when sum + c folds to 0xffff.
        for good in 0..=0xffffu16 {
            let bad = wrong_checksum(good);
            assert_ne!(bad, 0);
            assert_ne!(
                u32::from(bad) % 0xffff,
                u32::from(good) % 0xffff,
                "{good:#x}"
            );
        }
    }

    /// The fragments of `frame[..len]`, parsed back field by field, and
    /// the data they carry joined.
    fn check_fragments(s: &Shaping, frame: &[u8], len: usize, size: usize) -> Vec<u8> {
        let count = s.fragment_count(frame, len);
        let data_len = len - ETH_LEN - IPV4_LEN;
        assert_eq!(count, data_len.div_ceil(size));
        let whole = Ipv4Header::from_slice(&frame[ETH_LEN..]).unwrap().0;
        let mut joined = Vec::new();
        for i in 0..count {
            let mut out = [0u8; 1514];
            let n = s.write_fragment(frame, len, i, &mut out);
            assert_eq!(&out[..ETH_LEN], &frame[..ETH_LEN]);
            let (ip, rest) = Ipv4Header::from_slice(&out[ETH_LEN..n]).unwrap();
            assert_eq!(ip.identification, whole.identification);
            assert_eq!(
                (ip.source, ip.destination, ip.protocol, ip.time_to_live),
                (
                    whole.source,
                    whole.destination,
                    whole.protocol,
                    whole.time_to_live
                )
            );
            assert!(!ip.dont_fragment);
            assert_eq!(ip.more_fragments, i + 1 < count, "fragment {i}");
            assert_eq!(ip.fragment_offset.byte_offset() as usize, i * size);
            assert_eq!(ip.header_checksum, ip.calc_header_checksum());
            let carried = usize::from(ip.total_len) - IPV4_LEN;
            assert_eq!(rest.len(), carried);
            if i + 1 < count {
                assert_eq!(carried, size);
            }
            joined.extend_from_slice(rest);
        }
        assert_eq!(joined.len(), data_len);
        assert_eq!(&joined[..], &frame[ETH_LEN + IPV4_LEN..len]);
        joined
    }

    #[test]
    fn ipv4_fragments_carry_the_packet_in_8_or_16_byte_pieces() {
        for size in [8u16, 16, 24] {
            let s = Shaping {
                fragment: Some(size),
                ..Default::default()
            };
            let (frame, len) = syn(ip4(0x4242));
            assert_eq!(s.fragment_count(&frame, len), 36usize.div_ceil(size.into()));
            assert!(s.most_fragments(len) >= s.fragment_count(&frame, len));
            check_fragments(&s, &frame, len, size.into());
            let (frame, len) = udp(ip4(0x0101), &[0x55; 29]);
            check_fragments(&s, &frame, len, size.into());
        }
    }

    #[test]
    fn a_packet_within_one_fragment_and_ipv6_and_arp_leave_whole() {
        let s = Shaping {
            fragment: Some(64),
            ..Default::default()
        };
        let (frame, len) = syn(ip4(1));
        assert_eq!(s.fragment_count(&frame, len), 1);
        let mut out = [0u8; 1514];
        assert_eq!(s.write_fragment(&frame, len, 0, &mut out), len);
        assert_eq!(&out[..len], &frame[..len]);
        let s = Shaping {
            fragment: Some(8),
            ..Default::default()
        };
        let (frame, len) = syn(ip6());
        assert_eq!(s.fragment_count(&frame, len), 1);
        let arp = crate::wire::arp::request(
            [2, 0, 0, 0, 0, 1],
            u32::from_be_bytes(SRC4),
            u32::from_be_bytes(DST4),
        );
        assert_eq!(s.fragment_count(&arp, arp.len()), 1);
        assert_eq!(s.write_fragment(&arp, arp.len(), 0, &mut out), arp.len());
        assert_eq!(&out[..arp.len()], &arp[..]);
    }

    #[test]
    fn shaped_then_fragmented_reassembles_to_the_shaped_packet() {
        let s = Shaping {
            data: vec![0xc3; 21],
            badsum: false,
            fragment: Some(8),
        };
        let (mut frame, len) = syn(ip4(99));
        let grown = s.reshape(&mut frame, len);
        let joined = check_fragments(&s, &frame, grown, 8);
        assert_eq!(joined.len(), 36 + 21);
    }
}
