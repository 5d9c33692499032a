//! IPv6 Neighbor Discovery (RFC 4861): the solicitation we send to learn
//! the next hop's MAC address, and the advertisement that answers it; and
//! the other way round, a solicitation for a source address the machine
//! does not own, and our advertisement for it. The IPv6 counterpart of
//! `arp.rs`.

use super::MacAddr;
use super::checksum::{finish, sum_bytes};
use std::net::Ipv6Addr;

const ICMPV6: u8 = 58;
const SOLICITATION: u8 = 135;
pub const ADVERTISEMENT: u8 = 136;
const OPT_SOURCE_LL: u8 = 1;
const OPT_TARGET_LL: u8 = 2;
/// ND messages must arrive with hop limit 255: proof they were not routed.
pub const HOP_LIMIT: u8 = 255;

/// Ethernet (14) + IPv6 (40) + solicitation (24) + source link-layer option (8).
pub const NS_FRAME_LEN: usize = 86;

/// The solicited-node multicast address of `target` (ff02::1:ffXX:XXXX).
pub fn solicited_node(target: Ipv6Addr) -> Ipv6Addr {
    let t = target.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(t[13]),
        u16::from_be_bytes([t[14], t[15]]),
    )
}

/// ICMPv6 checksum over the pseudo-header and `message`.
fn icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, message: &[u8]) -> u16 {
    let sum = sum_bytes(&src.octets())
        + sum_bytes(&dst.octets())
        + message.len() as u32
        + u32::from(ICMPV6)
        + sum_bytes(message);
    finish(sum)
}

/// "Who has `target`? Tell `our_ip` at `our_mac`", to its solicited-node group.
pub fn solicitation(our_mac: MacAddr, our_ip: Ipv6Addr, target: Ipv6Addr) -> [u8; NS_FRAME_LEN] {
    let group = solicited_node(target);
    let g = group.octets();
    let mac = [0x33, 0x33, g[12], g[13], g[14], g[15]];
    let message = Message {
        kind: SOLICITATION,
        flags: 0,
        target,
        option: OPT_SOURCE_LL,
    };
    frame(mac, our_mac, our_ip, group, message)
}

/// The ICMPv6 message of an NS or NA frame: its type, flags, the target
/// address, and which link-layer option carries our MAC.
struct Message {
    kind: u8,
    flags: u8,
    target: Ipv6Addr,
    option: u8,
}

/// An NS or NA frame (both are 86 bytes: Ethernet, IPv6, a 24-byte message
/// and one link-layer option of 8), checksummed.
fn frame(
    dst_mac: MacAddr,
    our_mac: MacAddr,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    m: Message,
) -> [u8; NS_FRAME_LEN] {
    let mut f = [0u8; NS_FRAME_LEN];
    f[0..6].copy_from_slice(&dst_mac);
    f[6..12].copy_from_slice(&our_mac);
    f[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
    let ip = &mut f[14..54];
    ip[0] = 0x60;
    ip[4..6].copy_from_slice(&32u16.to_be_bytes());
    ip[6] = ICMPV6;
    ip[7] = HOP_LIMIT;
    ip[8..24].copy_from_slice(&src.octets());
    ip[24..40].copy_from_slice(&dst.octets());
    let msg = &mut f[54..86];
    msg[0] = m.kind;
    msg[4] = m.flags;
    msg[8..24].copy_from_slice(&m.target.octets());
    msg[24] = m.option;
    msg[25] = 1; // length in units of 8 bytes
    msg[26..32].copy_from_slice(&our_mac);
    let sum = icmpv6_checksum(src, dst, &f[54..86]);
    f[56..58].copy_from_slice(&sum.to_be_bytes());
    f
}

/// If `frame` is a neighbour advertisement for `target` sent to `our_ip`
/// (or to all nodes), the MAC it gives: its target link-layer option, or
/// else the frame's Ethernet source.
pub fn advertisement_mac(frame: &[u8], our_ip: Ipv6Addr, target: Ipv6Addr) -> Option<MacAddr> {
    if frame.get(12..14)? != [0x86, 0xdd] {
        return None;
    }
    let ip = frame.get(14..54)?;
    let payload_len = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    if ip[0] >> 4 != 6 || ip[6] != ICMPV6 || ip[7] != HOP_LIMIT {
        return None;
    }
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[24..40]).ok()?);
    if dst != our_ip && dst != Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1) {
        return None;
    }
    let msg = frame.get(54..54 + payload_len)?;
    if msg.len() < 24 || msg[0] != ADVERTISEMENT || msg[1] != 0 || msg[8..24] != target.octets() {
        return None;
    }
    match target_ll(&msg[24..]) {
        Ok(Some(mac)) => Some(mac),
        Ok(None) => <MacAddr>::try_from(&frame[6..12]).ok(),
        Err(Malformed) => None,
    }
}

/// An option with a length of 0 or past the end of the message.
pub struct Malformed;

/// The MAC of the target link-layer address option among an
/// advertisement's `opts` (RFC 4861 4.6.1), if it has one.
pub fn target_ll(opts: &[u8]) -> Result<Option<MacAddr>, Malformed> {
    option(opts, OPT_TARGET_LL)
}

/// Ethernet (14) + IPv6 (40) + advertisement (24) + target link-layer option (8).
pub const NA_FRAME_LEN: usize = 86;
/// Advertisement flags (RFC 4861 4.4): an answer to a solicitation, and
/// one that replaces what the asker had cached.
const SOLICITED: u8 = 0x40;
const OVERRIDE: u8 = 0x20;

/// What a Neighbor Solicitation asks: who has `target`, from `src` (the
/// unspecified address for duplicate address detection) at `src_mac` (its
/// source link-layer option, else its Ethernet source).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Solicitation {
    pub src: Ipv6Addr,
    pub src_mac: MacAddr,
    pub target: Ipv6Addr,
}

/// If `frame` is a Neighbor Solicitation (no extension headers, hop limit
/// 255, code 0), what it asks.
pub fn parse_solicitation(frame: &[u8]) -> Option<Solicitation> {
    if frame.get(12..14)? != [0x86, 0xdd] {
        return None;
    }
    let ip = frame.get(14..54)?;
    if ip[0] >> 4 != 6 || ip[6] != ICMPV6 || ip[7] != HOP_LIMIT {
        return None;
    }
    let payload_len = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    let msg = frame.get(54..54 + payload_len)?;
    if msg.len() < 24 || msg[0] != SOLICITATION || msg[1] != 0 {
        return None;
    }
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[8..24]).ok()?);
    let target = Ipv6Addr::from(<[u8; 16]>::try_from(&msg[8..24]).ok()?);
    let src_mac = match option(&msg[24..], OPT_SOURCE_LL) {
        Ok(Some(mac)) => mac,
        Ok(None) => frame[6..12].try_into().ok()?,
        Err(Malformed) => return None,
    };
    Some(Solicitation {
        src,
        src_mac,
        target,
    })
}

/// "`ns.target` is at `our_mac`": to the asker, solicited; to all nodes
/// when the asker has no address yet (RFC 4861 7.2.4).
pub fn advertisement(our_mac: MacAddr, ns: &Solicitation) -> [u8; NA_FRAME_LEN] {
    let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    let (dst, dst_mac, flags) = if ns.src.is_unspecified() {
        (all_nodes, [0x33, 0x33, 0, 0, 0, 1], OVERRIDE)
    } else {
        (ns.src, ns.src_mac, SOLICITED | OVERRIDE)
    };
    let message = Message {
        kind: ADVERTISEMENT,
        flags,
        target: ns.target,
        option: OPT_TARGET_LL,
    };
    frame(dst_mac, our_mac, ns.target, dst, message)
}

/// The MAC of the link-layer address option of `kind` among `opts`.
fn option(mut opts: &[u8], kind: u8) -> Result<Option<MacAddr>, Malformed> {
    while opts.len() >= 8 {
        let len = usize::from(opts[1]) * 8;
        if len == 0 || len > opts.len() {
            return Err(Malformed);
        }
        if opts[0] == kind {
            return Ok(Some(opts[2..8].try_into().expect("6 bytes")));
        }
        opts = &opts[len..];
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{Icmpv6Type, SlicedPacket, TransportSlice};

    const OUR_MAC: MacAddr = [2, 0, 0, 0, 0, 1];
    const GW_MAC: MacAddr = [0x02, 0x73, 0x73, 0x77, 3, 2];

    fn us() -> Ipv6Addr {
        "2001:2:0:ff03::1".parse().unwrap()
    }
    fn gw() -> Ipv6Addr {
        "2001:2:0:ff03::2".parse().unwrap()
    }

    /// The advertisement a Linux neighbour sends back.
    fn answer(to: Ipv6Addr, target: Ipv6Addr, option: bool) -> Vec<u8> {
        let mut msg = vec![ADVERTISEMENT, 0, 0, 0, 0x60, 0, 0, 0];
        msg.extend_from_slice(&target.octets());
        if option {
            msg.extend_from_slice(&[OPT_TARGET_LL, 1]);
            msg.extend_from_slice(&GW_MAC);
        }
        let sum = icmpv6_checksum(gw(), to, &msg);
        msg[2..4].copy_from_slice(&sum.to_be_bytes());
        let mut f = Vec::new();
        f.extend_from_slice(&OUR_MAC);
        f.extend_from_slice(&GW_MAC);
        f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
        f.extend_from_slice(&(msg.len() as u16).to_be_bytes());
        f.extend_from_slice(&[ICMPV6, 255]);
        f.extend_from_slice(&gw().octets());
        f.extend_from_slice(&to.octets());
        f.extend_from_slice(&msg);
        f
    }

    #[test]
    fn solicitation_is_a_valid_ns_to_the_solicited_node_group() {
        let f = solicitation(OUR_MAC, us(), gw());
        assert_eq!(solicited_node(gw()).to_string(), "ff02::1:ff00:2");
        assert_eq!(&f[0..6], &[0x33, 0x33, 0xff, 0, 0, 2]);
        let p = SlicedPacket::from_ethernet(&f).unwrap();
        let Some(etherparse::NetSlice::Ipv6(ip)) = &p.net else {
            panic!()
        };
        assert_eq!(ip.header().hop_limit(), 255);
        assert_eq!(ip.header().destination_addr(), solicited_node(gw()));
        let Some(TransportSlice::Icmpv6(icmp)) = p.transport else {
            panic!("not ICMPv6")
        };
        assert!(matches!(icmp.icmp_type(), Icmpv6Type::NeighborSolicitation));
        assert!(icmp.is_checksum_valid(us().octets(), solicited_node(gw()).octets()));
        assert_eq!(&icmp.payload()[..16], &gw().octets());
        assert_eq!(&icmp.payload()[16..24], &[1, 1, 2, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn only_the_matching_advertisement_resolves() {
        assert_eq!(
            advertisement_mac(&answer(us(), gw(), true), us(), gw()),
            Some(GW_MAC)
        );
        // No option: the Ethernet source.
        assert_eq!(
            advertisement_mac(&answer(us(), gw(), false), us(), gw()),
            Some(GW_MAC)
        );
        // For another target, to someone else, our own solicitation, cut short.
        let other: Ipv6Addr = "2001:2:0:ff03::9".parse().unwrap();
        assert_eq!(
            advertisement_mac(&answer(us(), other, true), us(), gw()),
            None
        );
        assert_eq!(
            advertisement_mac(&answer(other, gw(), true), us(), gw()),
            None
        );
        assert_eq!(
            advertisement_mac(&solicitation(OUR_MAC, us(), gw()), us(), gw()),
            None
        );
        let f = answer(us(), gw(), true);
        for cut in 0..f.len() - 8 {
            assert_eq!(advertisement_mac(&f[..cut], us(), gw()), None, "cut {cut}");
        }
        // A routed (hop limit < 255) advertisement is not trusted.
        let mut routed = answer(us(), gw(), true);
        routed[21] = 254;
        assert_eq!(advertisement_mac(&routed, us(), gw()), None);
    }

    #[test]
    fn a_solicitation_parsed_and_advertised_field_by_field() {
        // The namespace asks for our (unowned) source `us()`.
        let ns_frame = solicitation(GW_MAC, gw(), us());
        let ns = parse_solicitation(&ns_frame).unwrap();
        assert_eq!(
            ns,
            Solicitation {
                src: gw(),
                src_mac: GW_MAC,
                target: us()
            }
        );
        let na = advertisement(OUR_MAC, &ns);
        let p = SlicedPacket::from_ethernet(&na).unwrap();
        let Some(etherparse::LinkSlice::Ethernet2(eth)) = &p.link else {
            panic!()
        };
        assert_eq!(eth.destination(), GW_MAC);
        assert_eq!(eth.source(), OUR_MAC);
        let Some(etherparse::NetSlice::Ipv6(ip)) = &p.net else {
            panic!()
        };
        assert_eq!(ip.header().hop_limit(), 255);
        assert_eq!(ip.header().source_addr(), us());
        assert_eq!(ip.header().destination_addr(), gw());
        let Some(TransportSlice::Icmpv6(icmp)) = p.transport else {
            panic!("not ICMPv6")
        };
        assert!(icmp.is_checksum_valid(us().octets(), gw().octets()));
        let Icmpv6Type::NeighborAdvertisement(h) = icmp.icmp_type() else {
            panic!("{:?}", icmp.icmp_type())
        };
        assert!(h.solicited && h.r#override && !h.router);
        assert_eq!(&icmp.payload()[..16], &us().octets());
        assert_eq!(&icmp.payload()[16..24], &[2, 1, 2, 0, 0, 0, 0, 1]);
        // Exactly what the asker's own resolver takes from a neighbour.
        assert_eq!(advertisement_mac(&na, gw(), us()), Some(OUR_MAC));
        // Duplicate address detection: from ::, answered to all nodes.
        let dad = Solicitation {
            src: Ipv6Addr::UNSPECIFIED,
            ..ns
        };
        let na = advertisement(OUR_MAC, &dad);
        assert_eq!(&na[0..6], &[0x33, 0x33, 0, 0, 0, 1]);
        assert_eq!(advertisement_mac(&na, gw(), us()), Some(OUR_MAC));
        assert_eq!(na[54 + 4], 0x20, "override, not solicited");
        // Advertisements, routed or cut short solicitations are not asked.
        assert_eq!(parse_solicitation(&answer(us(), gw(), true)), None);
        let mut routed = ns_frame;
        routed[21] = 64;
        assert_eq!(parse_solicitation(&routed), None);
        for cut in 0..ns_frame.len() - 8 {
            assert_eq!(parse_solicitation(&ns_frame[..cut]), None, "cut {cut}");
        }
        // No source link-layer option: the Ethernet source answers.
        let mut bare = ns_frame.to_vec();
        bare.truncate(78);
        bare[18..20].copy_from_slice(&24u16.to_be_bytes());
        assert_eq!(parse_solicitation(&bare).unwrap().src_mac, GW_MAC);
    }
}
