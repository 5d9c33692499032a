//! Frame templates: Ethernet + IPv4 or IPv6 + a transport header, built
//! once per address family, then copied and patched for every probe.
//!
//! The template owns what is the same for every probe of a run (MACs, TTL,
//! the transport header a probe module built) and the partial checksums of
//! all of it. `stamp` copies it into a frame buffer, writes both addresses
//! (a scan may spread its probes over several source addresses) and the
//! IP ID (IPv4) or flow label (IPv6), fixes the IPv4 header checksum, and
//! returns the transport checksum's running sum with the pseudo-header
//! complete; the probe module adds its own changing fields (ports,
//! sequence numbers...) to that sum and writes the result. No header is
//! re-read or re-summed per probe: the addresses are added to the partial
//! sums as words.

use super::MacAddr;
use super::checksum::{add_u32, finish, sum_bytes};
use crate::domain::Family;
use etherparse::{IpNumber, Ipv4Header, Ipv6FlowLabel, Ipv6Header};
use std::net::IpAddr;

pub const ETH_LEN: usize = 14;
pub const IPV4_LEN: usize = 20;
pub const IPV6_LEN: usize = 40;
/// The largest frame: a 1500-byte MTU and the Ethernet header.
pub const FRAME_MAX: usize = ETH_LEN + 1500;
/// Templates up to these lengths are copied in one fixed-size move (an
/// IPv4 SYN is 70 bytes, an IPv6 one 90).
const SHORTER: usize = 80;
const SHORT: usize = 128;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;

/// What is the same for every frame of one family in a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameParams {
    pub src_mac: MacAddr,
    pub dst_mac: MacAddr,
    /// Our (first) address; its family is the template's. Each probe
    /// names its own source to `stamp`.
    pub src: IpAddr,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
}

#[derive(Clone, Debug)]
pub struct FrameTemplate {
    /// At least `SHORT` bytes, zero past `len`, for the fixed-size copy.
    bytes: Box<[u8]>,
    len: usize,
    family: Family,
    /// Offset of the transport header.
    l4: usize,
    /// IPv4: sum of the header with ID, checksum and both addresses zeroed.
    ip_partial: u32,
    /// Pseudo-header without the addresses, plus the transport bytes as
    /// the module built them (its changing fields zero).
    l4_partial: u32,
}

impl FrameTemplate {
    /// A frame carrying `transport` (header and any payload) over IP
    /// protocol `protocol`, with don't-fragment set on IPv4 as every modern
    /// stack does.
    pub fn new(p: &FrameParams, protocol: u8, transport: &[u8]) -> FrameTemplate {
        let family = Family::of(&p.src);
        let ip_len = match family {
            Family::V4 => IPV4_LEN,
            Family::V6 => IPV6_LEN,
        };
        let len = ETH_LEN + ip_len + transport.len();
        assert!(len <= FRAME_MAX, "template of {len} bytes");
        let mut bytes = vec![0u8; len.max(SHORT)].into_boxed_slice();
        bytes[0..6].copy_from_slice(&p.dst_mac);
        bytes[6..12].copy_from_slice(&p.src_mac);
        // A frame never shorter than the IP header it must hold.
        debug_assert!(len > ETH_LEN + ip_len);
        let l4_len = transport.len() as u32;
        let l4_partial = u32::from(protocol) + l4_len + sum_bytes(transport);
        let ip_partial;
        match p.src {
            IpAddr::V4(src) => {
                bytes[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
                let mut ip = Ipv4Header::new(
                    transport.len() as u16,
                    p.ttl,
                    IpNumber(protocol),
                    src.octets(),
                    [0; 4],
                )
                .expect("a probe fits an IPv4 packet");
                ip.dont_fragment = true;
                ip.header_checksum = 0;
                bytes[ETH_LEN..ETH_LEN + IPV4_LEN].copy_from_slice(&ip.to_bytes());
                // The sums leave the source out: `stamp` adds each probe's.
                let mut header = ip.to_bytes();
                header[12..16].fill(0);
                ip_partial = sum_bytes(&header);
            }
            IpAddr::V6(src) => {
                bytes[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
                let ip = Ipv6Header {
                    traffic_class: 0,
                    flow_label: Ipv6FlowLabel::ZERO,
                    payload_length: transport.len() as u16,
                    next_header: IpNumber(protocol),
                    hop_limit: p.ttl,
                    source: src.octets(),
                    destination: [0; 16],
                };
                bytes[ETH_LEN..ETH_LEN + IPV6_LEN].copy_from_slice(&ip.to_bytes());
                ip_partial = 0;
            }
        }
        let l4 = ETH_LEN + ip_len;
        bytes[l4..len].copy_from_slice(transport);
        FrameTemplate {
            bytes,
            len,
            family,
            l4,
            ip_partial,
            l4_partial,
        }
    }

    pub fn family(&self) -> Family {
        self.family
    }

    /// Frame length.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Offset of the transport header in the frame.
    pub fn l4_offset(&self) -> usize {
        self.l4
    }

    /// Copies the template into `buf` (at least `len()` bytes) from `src`
    /// to `dst` (both of the template's family), with `ip_id` as the IPv4
    /// identification or the low 20 bits of the IPv6 flow label. Returns
    /// the transport checksum sum so far.
    #[inline(always)]
    pub fn stamp(&self, buf: &mut [u8], src: IpAddr, dst: IpAddr, ip_id: u32) -> u32 {
        // A copy of a constant size compiles to a few vector moves; most
        // templates are short and most buffers roomy enough for it.
        if self.len <= SHORTER && buf.len() >= SHORTER {
            buf[..SHORTER].copy_from_slice(&self.bytes[..SHORTER]);
        } else if self.len <= SHORT && buf.len() >= SHORT {
            buf[..SHORT].copy_from_slice(&self.bytes[..SHORT]);
        } else {
            buf[..self.len].copy_from_slice(&self.bytes[..self.len]);
        }
        match (src, dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                debug_assert_eq!(self.family, Family::V4);
                let ip: &mut [u8; IPV4_LEN] = (&mut buf[ETH_LEN..ETH_LEN + IPV4_LEN])
                    .try_into()
                    .expect("20 bytes");
                let (src, dst) = (u32::from(src), u32::from(dst));
                let id = ip_id as u16;
                ip[4..6].copy_from_slice(&id.to_be_bytes());
                ip[12..16].copy_from_slice(&src.to_be_bytes());
                ip[16..20].copy_from_slice(&dst.to_be_bytes());
                let both = add_u32(add_u32(0, src), dst);
                let ip_sum = add_u32(self.ip_partial + u32::from(id), both);
                ip[10..12].copy_from_slice(&finish(ip_sum).to_be_bytes());
                add_u32(self.l4_partial, both)
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                debug_assert_eq!(self.family, Family::V6);
                let ip: &mut [u8; IPV6_LEN] = (&mut buf[ETH_LEN..ETH_LEN + IPV6_LEN])
                    .try_into()
                    .expect("40 bytes");
                let first_word = 0x6000_0000 | (ip_id & 0x000f_ffff);
                ip[0..4].copy_from_slice(&first_word.to_be_bytes());
                let (src, dst) = (u128::from(src), u128::from(dst));
                ip[8..24].copy_from_slice(&src.to_be_bytes());
                ip[24..40].copy_from_slice(&dst.to_be_bytes());
                let mut sum = self.l4_partial;
                for word in [src, dst] {
                    sum = add_u32(sum, (word >> 96) as u32);
                    sum = add_u32(sum, (word >> 64) as u32);
                    sum = add_u32(sum, (word >> 32) as u32);
                    sum = add_u32(sum, word as u32);
                }
                sum
            }
            _ => panic!("a probe's source and destination are of one family"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{PacketBuilder, SlicedPacket};

    fn params(src: &str) -> FrameParams {
        FrameParams {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src: src.parse().unwrap(),
            ttl: 61,
        }
    }

    /// A UDP header with a payload as the "transport" (ports and
    /// checksum zero), completed here the way a module would.
    fn finish_udp(
        t: &FrameTemplate,
        buf: &mut [u8],
        src: IpAddr,
        dst: IpAddr,
        sport: u16,
    ) -> usize {
        let mut sum = t.stamp(buf, src, dst, 0x12345);
        let l4 = t.l4_offset();
        buf[l4..l4 + 2].copy_from_slice(&sport.to_be_bytes());
        sum += u32::from(sport);
        buf[l4 + 6..l4 + 8].copy_from_slice(&finish(sum).to_be_bytes());
        t.len()
    }

    #[test]
    fn both_families_stamp_frames_that_match_a_reference_build() {
        let payload = b"hello";
        let mut udp = vec![0u8; 8];
        udp[2..4].copy_from_slice(&53u16.to_be_bytes());
        udp[4..6].copy_from_slice(&(8 + payload.len() as u16).to_be_bytes());
        udp.extend_from_slice(payload);
        // The template's own source, and others a probe may name instead
        // (the checksums must follow either way).
        for (template_src, src, dst) in [
            ("198.19.255.1", "198.19.255.1", "198.18.4.7"),
            ("198.19.255.1", "198.19.255.1", "255.255.255.255"),
            ("198.19.255.1", "198.19.255.119", "198.18.4.7"),
            ("198.19.255.1", "255.255.255.254", "255.255.255.255"),
            ("2001:2:0:ff03::1", "2001:2:0:ff03::1", "2001:2:0:300::1abc"),
            (
                "2001:2:0:ff03::1",
                "2001:2:0:ff03::1",
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            ),
            (
                "2001:2:0:ff03::1",
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe",
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            ),
        ] {
            let p = params(template_src);
            let t = FrameTemplate::new(&p, 17, &udp);
            let (src, dst): (IpAddr, IpAddr) = (src.parse().unwrap(), dst.parse().unwrap());
            let mut buf = [0xaau8; 200];
            let n = finish_udp(&t, &mut buf, src, dst, 40000);
            let mut want = Vec::new();
            let b = PacketBuilder::ethernet2(p.src_mac, p.dst_mac);
            match (src, dst) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    let mut ip =
                        Ipv4Header::new(0, 61, IpNumber::UDP, s.octets(), d.octets()).unwrap();
                    ip.dont_fragment = true;
                    ip.identification = 0x2345;
                    b.ip(etherparse::IpHeaders::Ipv4(ip, Default::default()))
                        .udp(40000, 53)
                        .write(&mut want, payload)
                        .unwrap();
                }
                (IpAddr::V6(s), IpAddr::V6(d)) => {
                    let ip = Ipv6Header {
                        flow_label: Ipv6FlowLabel::try_new(0x12345).unwrap(),
                        hop_limit: 61,
                        source: s.octets(),
                        destination: d.octets(),
                        ..Default::default()
                    };
                    b.ip(etherparse::IpHeaders::Ipv6(ip, Default::default()))
                        .udp(40000, 53)
                        .write(&mut want, payload)
                        .unwrap();
                }
                _ => unreachable!(),
            }
            assert_eq!(&buf[..n], &want[..], "{src} -> {dst}");
            let parsed = SlicedPacket::from_ethernet(&buf[..n]).unwrap();
            assert!(parsed.transport.is_some());
        }
    }

    #[test]
    fn short_buffer_is_refused_not_overrun() {
        let t = FrameTemplate::new(&params("198.19.255.1"), 6, &[0; 20]);
        let mut small = [0u8; 53];
        let r = std::panic::catch_unwind(move || {
            t.stamp(
                &mut small,
                "198.19.255.1".parse().unwrap(),
                "198.18.0.1".parse().unwrap(),
                0,
            );
        });
        assert!(r.is_err());
    }
}
