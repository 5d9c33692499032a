//! Discovery on the local link (`-PR`, and first of all for a scan of
//! targets with no gateway): an ARP request to each IPv4 target and an
//! ICMPv6 Neighbor Solicitation to each IPv6 one. Every host that answers
//! is `up` (`arp-response`, `nd-response`) with its MAC address, which a
//! port scan of the link then sends to.
//!
//! Neither ARP nor Neighbor Discovery carries anything of the request back
//! (RFC 826; an advertisement answers a solicitation by its target alone),
//! so there is no cookie: an answer counts when it is addressed to us, comes
//! from (ARP) or speaks for (ND, hop limit 255) an address this scan probes,
//! as nmap's ARP ping reads it. The scope is one link, where anyone who can
//! forge an answer can also simply answer.

use super::{Capture, ProbeFields, ProbeModule, Validator, Verdict};
use crate::cookie::ProbeKind;
use crate::domain::{Family, Protocol, Reason, State};
use crate::targets::ProbeSpace;
use crate::wire::reply::{Reply, Transport};
use crate::wire::template::FrameParams;
use crate::wire::{MacAddr, arp, nd};
use std::net::IpAddr;
use std::sync::Arc;

const KIND: ProbeKind = ProbeKind(25);

/// The sweep of a space's hosts (its ports: one entry, `icmp` 0).
#[derive(Clone, Debug)]
pub struct NeighborSweep {
    space: Arc<ProbeSpace>,
}

/// Our MAC and address in one family.
pub struct NeighborTemplate {
    mac: MacAddr,
    src: IpAddr,
}

impl NeighborSweep {
    pub fn new(space: Arc<ProbeSpace>) -> NeighborSweep {
        NeighborSweep { space }
    }

    fn probed(&self, addr: IpAddr) -> bool {
        self.space.index_of(addr, Protocol::Icmp, 0).is_some()
    }
}

impl ProbeModule for NeighborSweep {
    type Template = NeighborTemplate;

    fn kind(&self, _: Protocol) -> ProbeKind {
        KIND
    }

    fn scans(&self) -> Vec<(&'static str, Protocol)> {
        Vec::new()
    }

    fn max_frame_len(&self) -> usize {
        arp::ARP_FRAME_LEN.max(nd::NS_FRAME_LEN)
    }

    fn template(&self, params: &FrameParams) -> NeighborTemplate {
        NeighborTemplate {
            mac: params.src_mac,
            src: params.src,
        }
    }

    fn write(&self, t: &NeighborTemplate, buf: &mut [u8], p: &ProbeFields) -> usize {
        match (t.src, p.dst) {
            (IpAddr::V4(us), IpAddr::V4(target)) => {
                buf[..arp::ARP_FRAME_LEN].copy_from_slice(&arp::request(
                    t.mac,
                    u32::from(us),
                    u32::from(target),
                ));
                arp::ARP_FRAME_LEN
            }
            (IpAddr::V6(us), IpAddr::V6(target)) => {
                buf[..nd::NS_FRAME_LEN].copy_from_slice(&nd::solicitation(t.mac, us, target));
                nd::NS_FRAME_LEN
            }
            _ => unreachable!("templates are per family"),
        }
    }

    fn classify(&self, reply: &Reply<'_>, _v: &Validator) -> Option<Verdict> {
        let Transport::Neighbor { mac } = reply.transport else {
            return None;
        };
        if !self.probed(reply.src) {
            return None;
        }
        let reason = match Family::of(&reply.src) {
            Family::V4 => Reason::ArpResponse,
            Family::V6 => Reason::NdResponse,
        };
        Some(Verdict {
            mac: Some(mac),
            ..Verdict::new(reply.src, Protocol::Icmp, 0, State::Up, reason, reply.ttl)
        })
    }

    /// Never reported (see `ping.rs`).
    fn silence(&self, _: Protocol) -> (State, Reason) {
        (State::Filtered, Reason::NoResponse)
    }

    fn capture(&self) -> Capture {
        Capture {
            tcp: false,
            udp: false,
            // Advertisements are ICMPv6.
            icmp: true,
            arp: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookie::CookieKey;
    use crate::probe::tcp::tests::{params, validator};
    use crate::wire::reply::parse_frame;
    use crate::wire::reply::tests::{US4, US6, ip};

    const HOST_MAC: MacAddr = [2, 0x73, 0x73, 0x77, 0xa, 0x22];

    fn sweep() -> NeighborSweep {
        let space = ProbeSpace::parse("198.19.250.0/24,2001:2:0:ff03::100/120", "", "1").unwrap();
        let space = space.with_ports(vec![crate::targets::PortEntry {
            proto: Protocol::Icmp,
            port: 0,
            variant: 0,
        }]);
        NeighborSweep::new(Arc::new(space))
    }

    fn request(m: &NeighborSweep, us: &str, target: &str) -> Vec<u8> {
        let t = m.template(&params(us));
        let mut buf = vec![0; m.max_frame_len()];
        let n = m.write(
            &t,
            &mut buf,
            &ProbeFields {
                src: ip(us),
                dst: ip(target),
                proto: Protocol::Icmp,
                src_port: 0,
                dst_port: 0,
                variant: 0,
                cookie: 0,
                tsval: 0,
            },
        );
        buf.truncate(n);
        buf
    }

    /// An ARP reply from `from` to `to`.
    fn arp_reply(from: [u8; 4], to: [u8; 4]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 1];
        f.extend_from_slice(&HOST_MAC);
        f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 2]);
        f.extend_from_slice(&HOST_MAC);
        f.extend_from_slice(&from);
        f.extend_from_slice(&[2, 0, 0, 0, 0, 1]);
        f.extend_from_slice(&to);
        f.resize(60, 0);
        f
    }

    /// The advertisement a Linux host sends for `target` to `to`.
    fn advertisement(target: &str, to: &str, hop_limit: u8) -> Vec<u8> {
        let (target, to) = (ip(target), ip(to));
        let (IpAddr::V6(target), IpAddr::V6(to)) = (target, to) else {
            unreachable!()
        };
        let mut msg = vec![136, 0, 0, 0, 0x60, 0, 0, 0];
        msg.extend_from_slice(&target.octets());
        msg.extend_from_slice(&[2, 1]);
        msg.extend_from_slice(&HOST_MAC);
        let mut f = vec![2, 0, 0, 0, 0, 1];
        f.extend_from_slice(&HOST_MAC);
        f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
        f.extend_from_slice(&(msg.len() as u16).to_be_bytes());
        f.extend_from_slice(&[58, hop_limit]);
        f.extend_from_slice(&target.octets());
        f.extend_from_slice(&to.octets());
        f.extend_from_slice(&msg);
        f
    }

    #[test]
    fn requests_are_arp_and_neighbor_solicitations_for_the_target() {
        let m = sweep();
        let arp = request(&m, US4, "198.19.250.7");
        assert_eq!(
            (arp.len(), &arp[0..6], &arp[12..14]),
            (60, &[0xff; 6][..], &[8, 6][..])
        );
        assert_eq!(&arp[20..22], &[0, 1], "a request");
        assert_eq!(&arp[38..42], &[198, 19, 250, 7], "asks for the target");
        assert_eq!(&arp[28..32], &[198, 19, 255, 1], "tells us");
        let ns = request(&m, US6, "2001:2:0:ff03::107");
        // To the target's solicited-node group, asking for the target.
        assert_eq!(&ns[0..6], &[0x33, 0x33, 0xff, 0, 0x01, 0x07]);
        assert_eq!(ns[54], 135);
        assert_eq!(
            ip("2001:2:0:ff03::107"),
            IpAddr::from(<[u8; 16]>::try_from(&ns[62..78]).unwrap())
        );
    }

    #[test]
    fn answers_from_probed_hosts_are_up_with_their_mac() {
        let m = sweep();
        let v = validator(CookieKey::from_keys(1, 2));
        let up = |f: &[u8]| {
            m.classify(&parse_frame(f).unwrap(), &v)
                .map(|x| (x.addr, x.state, x.reason, x.mac))
        };
        assert_eq!(
            up(&arp_reply([198, 19, 250, 7], [198, 19, 255, 1])),
            Some((
                ip("198.19.250.7"),
                State::Up,
                Reason::ArpResponse,
                Some(HOST_MAC)
            ))
        );
        assert_eq!(
            up(&advertisement("2001:2:0:ff03::107", US6, 255)),
            Some((
                ip("2001:2:0:ff03::107"),
                State::Up,
                Reason::NdResponse,
                Some(HOST_MAC)
            ))
        );
        // Not a probed address: nobody asked.
        assert_eq!(up(&arp_reply([198, 19, 251, 7], [198, 19, 255, 1])), None);
        assert_eq!(up(&advertisement("2001:2:0:ff03::207", US6, 255)), None);
        // Routed (hop limit below 255): not a neighbour's answer.
        assert!(parse_frame(&advertisement("2001:2:0:ff03::107", US6, 254)).is_err());
    }
}
