//! ARP request and reply frames, for resolving the next hop's MAC address
//! ourselves instead of trusting (or waiting for) the kernel's cache, and
//! for answering requests for source addresses the machine does not own.

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

/// What an ARP request asks: who has `target_ip`, tell `sender_ip` at
/// `sender_mac`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    pub sender_mac: MacAddr,
    pub sender_ip: u32,
    pub target_ip: u32,
}

/// If `frame` is an Ethernet/IPv4 ARP request, what it asks.
pub fn parse_request(frame: &[u8]) -> Option<Request> {
    let eth = Ethernet2HeaderSlice::from_slice(frame).ok()?;
    if eth.ether_type() != EtherType::ARP {
        return None;
    }
    let arp = ArpPacket::from_slice(&frame[eth.slice().len()..]).ok()?;
    let arp = arp.try_eth_ipv4().ok()?;
    (arp.operation == ArpOperation::REQUEST).then_some(Request {
        sender_mac: arp.sender_mac,
        sender_ip: u32::from_be_bytes(arp.sender_ipv4),
        target_ip: u32::from_be_bytes(arp.target_ipv4),
    })
}

/// "`req.target_ip` is at `our_mac`", straight back to the asker.
pub fn reply(our_mac: MacAddr, req: &Request) -> [u8; ARP_FRAME_LEN] {
    let mut frame = [0u8; ARP_FRAME_LEN];
    frame[0..6].copy_from_slice(&req.sender_mac);
    frame[6..12].copy_from_slice(&our_mac);
    frame[12..14].copy_from_slice(&EtherType::ARP.0.to_be_bytes());
    let arp = ArpEthIpv4Packet {
        operation: ArpOperation::REPLY,
        sender_mac: our_mac,
        sender_ipv4: req.target_ip.to_be_bytes(),
        target_mac: req.sender_mac,
        target_ipv4: req.sender_ip.to_be_bytes(),
    };
    frame[14..14 + ArpEthIpv4Packet::LEN].copy_from_slice(&arp.to_bytes());
    frame
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

    #[test]
    fn a_request_parsed_and_answered_field_by_field() {
        // Who has US? Tell GW (the way the namespace asks for our source).
        let req = request(GW_MAC, GW, US);
        let asked = parse_request(&req).unwrap();
        assert_eq!(
            asked,
            Request {
                sender_mac: GW_MAC,
                sender_ip: GW,
                target_ip: US
            }
        );
        let r = reply(OUR_MAC, &asked);
        let eth = Ethernet2HeaderSlice::from_slice(&r).unwrap();
        assert_eq!(eth.destination(), GW_MAC);
        assert_eq!(eth.source(), OUR_MAC);
        assert_eq!(eth.ether_type(), EtherType::ARP);
        let arp = ArpPacket::from_slice(&r[14..])
            .unwrap()
            .try_eth_ipv4()
            .unwrap();
        assert_eq!(arp.operation, ArpOperation::REPLY);
        assert_eq!(arp.sender_mac, OUR_MAC);
        assert_eq!(arp.sender_ipv4, US.to_be_bytes());
        assert_eq!(arp.target_mac, GW_MAC);
        assert_eq!(arp.target_ipv4, GW.to_be_bytes());
        // Our answer is what the asker's own resolver accepts.
        assert_eq!(reply_mac(&r, GW, US), Some(OUR_MAC));
        // Replies, other protocols and short frames are not requests.
        assert_eq!(parse_request(&r), None);
        assert_eq!(parse_request(&answer(&req, ArpOperation::REPLY, GW)), None);
        for cut in [0, 13, 14, 41] {
            assert_eq!(parse_request(&req[..cut]), None, "cut {cut}");
        }
        let mut ipv4 = req;
        ipv4[12..14].copy_from_slice(&[0x08, 0x00]);
        assert_eq!(parse_request(&ipv4), None);
    }
}
