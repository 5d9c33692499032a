//! The SYN template: one Ethernet + IPv4 + TCP frame built once with
//! etherparse, then copied and patched for every probe.
//!
//! Only the destination address, ports, sequence number, IP ID and TCP
//! timestamp change between probes. Both checksums start from partial sums
//! of everything else, taken once here, so a probe costs a 70-byte copy,
//! six stores and a dozen additions: no header is re-read or re-summed.

use super::MacAddr;
use super::checksum::{add_u32, finish, sum_bytes};
use super::offsets::*;
use etherparse::{PacketBuilder, TcpOptionElement};

/// MSS (4) + NOP NOP + timestamps (10): the target echoes our TSval in its
/// SYN-ACK, which times the round trip without remembering the probe.
const TCP_OPTIONS_LEN: usize = 16;
const TCP_LEN: usize = 20 + TCP_OPTIONS_LEN;
/// Offset of the TSval field inside the frame.
pub const TCP_TSVAL: usize = TCP_OPTIONS + 4 + 2 + 2;
pub const SYN_FRAME_LEN: usize = ETH_LEN + IP_LEN + TCP_LEN;

/// What stays the same for every probe of a run.
#[derive(Clone, Debug)]
pub struct TemplateParams {
    pub src_mac: MacAddr,
    pub dst_mac: MacAddr,
    pub src_ip: u32,
    pub ttl: u8,
    pub window: u16,
    pub mss: u16,
}

/// What changes per probe.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProbeFields {
    pub dst_ip: u32,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ip_id: u16,
    /// TCP timestamp value: microseconds on the scanner's clock.
    pub tsval: u32,
}

#[derive(Clone, Debug)]
pub struct SynTemplate {
    frame: [u8; SYN_FRAME_LEN],
    /// Sum of the IPv4 header with ID, checksum and destination zeroed.
    ip_partial: u32,
    /// Sum of pseudo-header and TCP header with every per-probe field zeroed.
    tcp_partial: u32,
}

impl SynTemplate {
    pub fn new(p: &TemplateParams) -> SynTemplate {
        let mut bytes = Vec::with_capacity(SYN_FRAME_LEN);
        PacketBuilder::ethernet2(p.src_mac, p.dst_mac)
            .ipv4(p.src_ip.to_be_bytes(), [0; 4], p.ttl)
            .tcp(0, 0, 0, p.window)
            .syn()
            .options(&[
                TcpOptionElement::MaximumSegmentSize(p.mss),
                TcpOptionElement::Noop,
                TcpOptionElement::Noop,
                TcpOptionElement::Timestamp(0, 0),
            ])
            .expect("16 bytes of options fit a TCP header")
            .write(&mut bytes, &[])
            .expect("writing to a Vec cannot fail");
        let mut frame = [0u8; SYN_FRAME_LEN];
        frame.copy_from_slice(&bytes);
        // Don't-fragment, as every modern stack sets on a SYN.
        frame[IP + 6] = 0x40;
        frame[IP_CHECKSUM..IP_CHECKSUM + 2].fill(0);
        frame[TCP_CHECKSUM..TCP_CHECKSUM + 2].fill(0);
        let ip_partial = sum_bytes(&frame[IP..IP + IP_LEN]);
        let pseudo = add_u32(0, p.src_ip) + 6 + TCP_LEN as u32;
        let tcp_partial = pseudo + sum_bytes(&frame[TCP..TCP + TCP_LEN]);
        SynTemplate {
            frame,
            ip_partial,
            tcp_partial,
        }
    }

    /// Writes one probe into `buf` (at least `SYN_FRAME_LEN` bytes) and
    /// returns the frame length.
    #[inline]
    pub fn write(&self, buf: &mut [u8], f: &ProbeFields) -> usize {
        let buf = &mut buf[..SYN_FRAME_LEN];
        buf.copy_from_slice(&self.frame);
        buf[IP_ID..IP_ID + 2].copy_from_slice(&f.ip_id.to_be_bytes());
        buf[IP_DST..IP_DST + 4].copy_from_slice(&f.dst_ip.to_be_bytes());
        buf[TCP_SRC_PORT..TCP_SRC_PORT + 2].copy_from_slice(&f.src_port.to_be_bytes());
        buf[TCP_DST_PORT..TCP_DST_PORT + 2].copy_from_slice(&f.dst_port.to_be_bytes());
        buf[TCP_SEQ..TCP_SEQ + 4].copy_from_slice(&f.seq.to_be_bytes());
        buf[TCP_TSVAL..TCP_TSVAL + 4].copy_from_slice(&f.tsval.to_be_bytes());

        let ip_sum = add_u32(self.ip_partial + u32::from(f.ip_id), f.dst_ip);
        buf[IP_CHECKSUM..IP_CHECKSUM + 2].copy_from_slice(&finish(ip_sum).to_be_bytes());

        let mut tcp_sum = add_u32(self.tcp_partial, f.dst_ip);
        tcp_sum += u32::from(f.src_port) + u32::from(f.dst_port);
        tcp_sum = add_u32(tcp_sum, f.seq);
        tcp_sum = add_u32(tcp_sum, f.tsval);
        buf[TCP_CHECKSUM..TCP_CHECKSUM + 2].copy_from_slice(&finish(tcp_sum).to_be_bytes());
        SYN_FRAME_LEN
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{EtherType, IpNumber, SlicedPacket, TransportSlice};

    fn params() -> TemplateParams {
        TemplateParams {
            src_mac: [0x02, 0, 0, 0, 0, 1],
            dst_mac: [0x96, 0xef, 0x9b, 0x09, 0x02, 0x59],
            src_ip: u32::from_be_bytes([198, 19, 255, 1]),
            ttl: 64,
            window: 64240,
            mss: 1460,
        }
    }

    /// xorshift: reproducible field values covering the whole range.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn every_frame_parses_back_with_correct_fields_and_checksums() {
        let t = SynTemplate::new(&params());
        let mut buf = [0xffu8; 128];
        let mut state = 0x9e37_79b9_7f4a_7c15;
        for i in 0..50_000 {
            let mut f = ProbeFields {
                dst_ip: next(&mut state) as u32,
                src_port: next(&mut state) as u16,
                dst_port: next(&mut state) as u16,
                seq: next(&mut state) as u32,
                ip_id: next(&mut state) as u16,
                tsval: next(&mut state) as u32,
            };
            // Edge values that stress carry folding.
            if i < 4 {
                let v = [0u32, u32::MAX, 0xffff, 0xffff_0000][i];
                f = ProbeFields {
                    dst_ip: v,
                    src_port: v as u16,
                    dst_port: (v >> 16) as u16,
                    seq: v,
                    ip_id: v as u16,
                    tsval: v,
                };
            }
            let len = t.write(&mut buf, &f);
            assert_eq!(len, SYN_FRAME_LEN);
            let frame = &buf[..len];
            let p = SlicedPacket::from_ethernet(frame).expect("parses");

            let eth = match p.link.as_ref().unwrap() {
                etherparse::LinkSlice::Ethernet2(e) => e.to_header(),
                other => panic!("{other:?}"),
            };
            assert_eq!(eth.source, params().src_mac);
            assert_eq!(eth.destination, params().dst_mac);
            assert_eq!(eth.ether_type, EtherType::IPV4);

            let ip = match p.net.as_ref().unwrap() {
                etherparse::NetSlice::Ipv4(ip) => ip.header().to_header(),
                other => panic!("{other:?}"),
            };
            assert_eq!(ip.source, params().src_ip.to_be_bytes());
            assert_eq!(ip.destination, f.dst_ip.to_be_bytes());
            assert_eq!(ip.identification, f.ip_id);
            assert_eq!(ip.time_to_live, 64);
            assert_eq!(ip.protocol, IpNumber::TCP);
            assert!(ip.dont_fragment);
            assert_eq!(usize::from(ip.total_len), len - ETH_LEN);
            assert_eq!(
                ip.header_checksum,
                ip.calc_header_checksum(),
                "ip checksum, probe {i}"
            );

            let tcp = match p.transport.as_ref().unwrap() {
                TransportSlice::Tcp(tcp) => tcp.clone(),
                other => panic!("{other:?}"),
            };
            assert_eq!(tcp.source_port(), f.src_port);
            assert_eq!(tcp.destination_port(), f.dst_port);
            assert_eq!(tcp.sequence_number(), f.seq);
            assert_eq!(tcp.acknowledgment_number(), 0);
            assert!(tcp.syn() && !tcp.ack() && !tcp.rst() && !tcp.fin() && !tcp.psh());
            assert_eq!(tcp.window_size(), 64240);
            let opts: Vec<_> = tcp.options_iterator().map(|o| o.unwrap()).collect();
            assert_eq!(
                opts,
                vec![
                    TcpOptionElement::MaximumSegmentSize(1460),
                    TcpOptionElement::Noop,
                    TcpOptionElement::Noop,
                    TcpOptionElement::Timestamp(f.tsval, 0),
                ]
            );
            let want = tcp
                .to_header()
                .calc_checksum_ipv4_raw(ip.source, ip.destination, tcp.payload())
                .unwrap();
            assert_eq!(tcp.checksum(), want, "tcp checksum, probe {i}");
        }
    }

    #[test]
    fn short_buffer_is_refused_not_overrun() {
        let t = SynTemplate::new(&params());
        let mut small = [0u8; SYN_FRAME_LEN - 1];
        let r = std::panic::catch_unwind(move || {
            t.write(&mut small, &ProbeFields::default());
        });
        assert!(r.is_err());
    }
}
