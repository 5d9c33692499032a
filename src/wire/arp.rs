//! ARP request and reply frames, for resolving the next hop's MAC address
//! ourselves instead of trusting (or waiting for) the kernel's cache.

use super::MacAddr;
use etherparse::{ArpEthIpv4Packet, ArpOperation, ArpPacket, EtherType, Ethernet2HeaderSlice};

pub const BROADCAST: MacAddr = [0xff; 6];
/// 14 bytes of Ethernet, 28 of ARP, padded to the 60-byte minimum.
pub const ARP_FRAME_LEN: usize = 60;

/// "Who has `target_ip`? Tell `our_ip`", broadcast.
pub fn request(our_mac: MacAddr, our_ip: u32, target_ip: u32) -> [u8; ARP_FRAME_LEN] {
    let mut frame = [0u8; ARP_FRAME_LEN];
    frame[0..6].copy_from_slice(&BROADCAST);
    frame[6..12].copy_from_slice(&our_mac);
    frame[12..14].copy_from_slice(&EtherType::ARP.0.to_be_bytes());
    let arp = ArpEthIpv4Packet {
        operation: ArpOperation::REQUEST,
        sender_mac: our_mac,
        sender_ipv4: our_ip.to_be_bytes(),
        target_mac: [0; 6],
        target_ipv4: target_ip.to_be_bytes(),
    };
    frame[14..14 + ArpEthIpv4Packet::LEN].copy_from_slice(&arp.to_bytes());
    frame
}

/// If `frame` is an ARP reply from `target_ip` to `our_ip`, the MAC it gives.
pub fn reply_mac(frame: &[u8], our_ip: u32, target_ip: u32) -> Option<MacAddr> {
    let eth = Ethernet2HeaderSlice::from_slice(frame).ok()?;
    if eth.ether_type() != EtherType::ARP {
        return None;
    }
    let arp = ArpPacket::from_slice(&frame[eth.slice().len()..]).ok()?;
    let arp = arp.try_eth_ipv4().ok()?;
    let from_target = arp.sender_ipv4 == target_ip.to_be_bytes();
    let to_us = arp.target_ipv4 == our_ip.to_be_bytes();
    (arp.operation == ArpOperation::REPLY && from_target && to_us).then_some(arp.sender_mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: u32 = 0xc613_ff01;
    const GW: u32 = 0xc613_ff02;
    const OUR_MAC: MacAddr = [2, 0, 0, 0, 0, 1];
    const GW_MAC: MacAddr = [0x96, 0xef, 0x9b, 9, 2, 0x59];

    fn answer(req: &[u8], op: ArpOperation, from: u32) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&req[6..12]); // back to the asker
        f.extend_from_slice(&GW_MAC);
        f.extend_from_slice(&EtherType::ARP.0.to_be_bytes());
        let arp = ArpEthIpv4Packet {
            operation: op,
            sender_mac: GW_MAC,
            sender_ipv4: from.to_be_bytes(),
            target_mac: OUR_MAC,
            target_ipv4: US.to_be_bytes(),
        };
        f.extend_from_slice(&arp.to_bytes());
        f
    }

    #[test]
    fn request_fields() {
        let r = request(OUR_MAC, US, GW);
        let eth = Ethernet2HeaderSlice::from_slice(&r).unwrap();
        assert_eq!(eth.destination(), BROADCAST);
        assert_eq!(eth.source(), OUR_MAC);
        let arp = ArpPacket::from_slice(&r[14..])
            .unwrap()
            .try_eth_ipv4()
            .unwrap();
        assert_eq!(arp.operation, ArpOperation::REQUEST);
        assert_eq!(arp.sender_ipv4, US.to_be_bytes());
        assert_eq!(arp.target_ipv4, GW.to_be_bytes());
        assert_eq!(arp.sender_mac, OUR_MAC);
    }

    #[test]
    fn only_the_matching_reply_resolves() {
        let req = request(OUR_MAC, US, GW);
        assert_eq!(
            reply_mac(&answer(&req, ArpOperation::REPLY, GW), US, GW),
            Some(GW_MAC)
        );
        // Someone else's reply, a request, or our own request echoed back.
        assert_eq!(
            reply_mac(&answer(&req, ArpOperation::REPLY, GW + 1), US, GW),
            None
        );
        assert_eq!(
            reply_mac(&answer(&req, ArpOperation::REQUEST, GW), US, GW),
            None
        );
        assert_eq!(reply_mac(&req, US, GW), None);
        assert_eq!(reply_mac(&req[..20], US, GW), None);
    }
}
