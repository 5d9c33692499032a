//! The frames banner sessions send: ACKs, hellos, FINs and RSTs, built like
//! the probes from a constant header per family (Ethernet, IP, and a TCP
//! header with the timestamp option) patched per segment. Unlike a probe,
//! a segment's length varies with its data, so both checksums are summed
//! whole; a segment is at most `MAX_DATA` bytes of data, so that is cheap.

use crate::domain::Family;
use crate::probe::tcp::field;
use crate::wire::checksum::{add_u32, finish, sum_bytes};
use crate::wire::template::{ETH_LEN, FrameParams, IPV4_LEN, IPV6_LEN};
use std::net::IpAddr;

/// The most data one of our segments carries: it fits the IPv6 minimum MTU
/// (1280) with both headers, so no path needs to fragment it.
pub const MAX_DATA: usize = 1200;
/// TCP header with NOP, NOP and the timestamp option.
const TCP_TS_LEN: usize = 32;
const TCP_LEN: usize = 20;
/// The longest frame a session sends.
pub const MAX_FRAME: usize = ETH_LEN + IPV6_LEN + TCP_TS_LEN + MAX_DATA;
/// The receive window we advertise: our reads are bounded by
/// `--banner-bytes`, and a window this size never makes a server wait.
const WINDOW: u16 = 64240;

/// One segment's changing fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment<'a> {
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    /// `Some((tsval, tsecr))` when the connection uses timestamps.
    pub timestamps: Option<(u32, u32)>,
    pub data: &'a [u8],
}

/// The constant part of session frames, per family.
#[derive(Clone, Debug)]
pub struct SegmentWriter {
    heads: [Option<Head>; 2],
}

#[derive(Clone, Debug)]
struct Head {
    /// Ethernet and IP header, length and addresses of the target zero.
    bytes: Vec<u8>,
    src: IpAddr,
}

impl SegmentWriter {
    /// From the link's frame parameters of each family the scan has.
    pub fn new(params: [Option<FrameParams>; 2]) -> SegmentWriter {
        SegmentWriter {
            heads: params.map(|p| p.map(|p| Head::new(&p))),
        }
    }

    /// Writes `s` into `buf` (at least `MAX_FRAME` bytes); returns the
    /// frame's length, or 0 when the scan has no source in `s.dst`'s family.
    pub fn write(&self, buf: &mut [u8], s: &Segment<'_>) -> usize {
        let Some(head) = &self.heads[Family::of(&s.dst) as usize] else {
            return 0;
        };
        let data = &s.data[..s.data.len().min(MAX_DATA)];
        let tcp_len = if s.timestamps.is_some() {
            TCP_TS_LEN
        } else {
            TCP_LEN
        };
        let l4 = head.bytes.len();
        let seg_len = tcp_len + data.len();
        buf[..l4].copy_from_slice(&head.bytes);
        // The pseudo-header: addresses, protocol and TCP length.
        let mut sum = 6 + seg_len as u32;
        match (head.src, s.dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                let ip = &mut buf[ETH_LEN..ETH_LEN + IPV4_LEN];
                ip[2..4].copy_from_slice(&((IPV4_LEN + seg_len) as u16).to_be_bytes());
                // Any identification serves a don't-fragment packet; the
                // sequence number's high half differs between segments.
                ip[4..6].copy_from_slice(&((s.seq >> 16) as u16).to_be_bytes());
                ip[16..20].copy_from_slice(&dst.octets());
                let ip_sum = finish(sum_bytes(ip));
                ip[10..12].copy_from_slice(&ip_sum.to_be_bytes());
                sum = add_u32(add_u32(sum, u32::from(src)), u32::from(dst));
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                let ip = &mut buf[ETH_LEN..ETH_LEN + IPV6_LEN];
                ip[4..6].copy_from_slice(&(seg_len as u16).to_be_bytes());
                ip[24..40].copy_from_slice(&dst.octets());
                sum += sum_bytes(&src.octets()) + sum_bytes(&dst.octets());
            }
            _ => return 0,
        }
        let tcp = &mut buf[l4..l4 + tcp_len];
        tcp.fill(0);
        tcp[field::SRC_PORT..field::SRC_PORT + 2].copy_from_slice(&s.src_port.to_be_bytes());
        tcp[field::DST_PORT..field::DST_PORT + 2].copy_from_slice(&s.dst_port.to_be_bytes());
        tcp[field::SEQ..field::SEQ + 4].copy_from_slice(&s.seq.to_be_bytes());
        tcp[field::ACK..field::ACK + 4].copy_from_slice(&s.ack.to_be_bytes());
        tcp[field::DATA_OFFSET] = ((tcp_len / 4) as u8) << 4;
        tcp[field::FLAGS] = s.flags;
        tcp[field::WINDOW..field::WINDOW + 2].copy_from_slice(&WINDOW.to_be_bytes());
        if let Some((val, echo)) = s.timestamps {
            let o = field::OPTIONS;
            tcp[o..o + 4].copy_from_slice(&[1, 1, 8, 10]);
            tcp[o + 4..o + 8].copy_from_slice(&val.to_be_bytes());
            tcp[o + 8..o + 12].copy_from_slice(&echo.to_be_bytes());
        }
        buf[l4 + tcp_len..l4 + seg_len].copy_from_slice(data);
        sum += sum_bytes(&buf[l4..l4 + tcp_len]);
        sum += sum_bytes(data);
        let check = finish(sum);
        buf[l4 + field::CHECKSUM..l4 + field::CHECKSUM + 2].copy_from_slice(&check.to_be_bytes());
        l4 + seg_len
    }
}

impl Head {
    fn new(p: &FrameParams) -> Head {
        let mut bytes = Vec::with_capacity(ETH_LEN + IPV6_LEN);
        bytes.extend_from_slice(&p.dst_mac);
        bytes.extend_from_slice(&p.src_mac);
        match p.src {
            IpAddr::V4(src) => {
                bytes.extend_from_slice(&0x0800u16.to_be_bytes());
                // Version 4, 5 words; DF; protocol TCP; lengths, ID,
                // checksum and destination are filled per segment.
                let mut ip = [0u8; IPV4_LEN];
                ip[0] = 0x45;
                ip[6] = 0x40;
                ip[8] = p.ttl;
                ip[9] = 6;
                ip[12..16].copy_from_slice(&src.octets());
                bytes.extend_from_slice(&ip);
            }
            IpAddr::V6(src) => {
                bytes.extend_from_slice(&0x86ddu16.to_be_bytes());
                let mut ip = [0u8; IPV6_LEN];
                ip[0] = 0x60;
                ip[6] = 6;
                ip[7] = p.ttl;
                ip[8..24].copy_from_slice(&src.octets());
                bytes.extend_from_slice(&ip);
            }
        }
        Head { bytes, src: p.src }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::reply::{Transport, parse_frame, tcp_flags};
    use etherparse::{SlicedPacket, TransportSlice};

    fn writer() -> SegmentWriter {
        let p = |src: &str| FrameParams {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src: src.parse().unwrap(),
            ttl: 64,
        };
        SegmentWriter::new([Some(p("198.19.255.1")), Some(p("2001:2:0:ff00::1"))])
    }

    #[test]
    fn segments_of_both_families_parse_back_with_valid_checksums() {
        let w = writer();
        for (dst, ts) in [
            ("198.18.0.7", None),
            ("198.18.0.7", Some((7, 9))),
            ("2001:2::1007", Some((1 << 31, 3))),
            ("2001:2::1007", None),
        ] {
            for data in [&b""[..], b"GET / HTTP/1.1\r\n\r\n", &[0xffu8; 1300][..]] {
                let seg = Segment {
                    dst: dst.parse().unwrap(),
                    src_port: 61000,
                    dst_port: 80,
                    seq: 0xdead_beef,
                    ack: 0x0102_0304,
                    flags: tcp_flags::ACK | tcp_flags::PSH,
                    timestamps: ts,
                    data,
                };
                let mut buf = vec![0u8; MAX_FRAME];
                let n = w.write(&mut buf, &seg);
                let sent = data.len().min(MAX_DATA);
                let p = SlicedPacket::from_ethernet(&buf[..n]).unwrap();
                let Some(TransportSlice::Tcp(tcp)) = &p.transport else {
                    panic!("not TCP")
                };
                let (src, dstb) = match p.net.as_ref().unwrap() {
                    etherparse::NetSlice::Ipv4(ip) => {
                        let h = ip.header();
                        assert!(h.dont_fragment());
                        assert_eq!(h.to_header().calc_header_checksum(), h.header_checksum());
                        (h.source().to_vec(), h.destination().to_vec())
                    }
                    etherparse::NetSlice::Ipv6(ip) => (
                        ip.header().source().to_vec(),
                        ip.header().destination().to_vec(),
                    ),
                    _ => panic!(),
                };
                let want = match (src.len(), dstb.len()) {
                    (4, 4) => tcp
                        .to_header()
                        .calc_checksum_ipv4_raw(
                            src.try_into().unwrap(),
                            dstb.try_into().unwrap(),
                            tcp.payload(),
                        )
                        .unwrap(),
                    _ => tcp
                        .to_header()
                        .calc_checksum_ipv6_raw(
                            src.try_into().unwrap(),
                            dstb.try_into().unwrap(),
                            tcp.payload(),
                        )
                        .unwrap(),
                };
                assert_eq!(tcp.checksum(), want, "{dst} {ts:?} {}", data.len());
                assert_eq!(tcp.payload(), &data[..sent]);
                let r = parse_frame(&buf[..n]).unwrap();
                let Transport::Tcp(t) = r.transport else {
                    panic!()
                };
                assert_eq!((t.seq, t.ack, t.flags), (seg.seq, seg.ack, seg.flags));
                assert_eq!((t.src_port, t.dst_port), (61000, 80));
                assert_eq!(t.ts_val.zip(t.ts_echo), ts);
                assert_eq!(r.ttl, 64);
            }
        }
    }
}
