//! The probe cookie: a SipHash-2-4 of the flow, so a reply can be checked
//! without remembering the probe.
//!
//! The hash covers a tag (the probe kind and the address family), both full
//! addresses and both ports, so a reply can only validate against the very
//! probe it answers: never another family's, never another kind of probe's
//! (a SYN-ACK cannot pass for the RST an ACK probe draws). Each probe
//! module decides where the 64 bits go (a TCP sequence number, an IP ID,
//! an ICMP identifier...) and checks what the reply echoes. The 128-bit
//! key is drawn from the OS for every run and never derived from `--seed`,
//! so knowing the scan order does not let anyone forge replies.
//!
//! An IPv4 flow hashes 13 bytes, which SipHash takes in one block plus the
//! final one, as cheap as the old 12-byte input; an IPv6 flow hashes 37.

use siphasher::sip::SipHasher24;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Which kind of probe a cookie belongs to; each probe module has its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProbeKind(pub u8);

/// The flow a probe belongs to, from the scanner's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flow {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
}

#[derive(Clone)]
pub struct CookieKey {
    hasher: SipHasher24,
}

impl std::fmt::Debug for CookieKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieKey(..)") // never print the secret
    }
}

impl CookieKey {
    /// A fresh key from the operating system's random source.
    pub fn random() -> Self {
        CookieKey::from_keys(rand::random(), rand::random())
    }

    pub fn from_keys(k0: u64, k1: u64) -> Self {
        CookieKey {
            hasher: SipHasher24::new_with_keys(k0, k1),
        }
    }

    /// The 64-bit cookie of `flow` for probes of `kind`. Addresses of
    /// different families never meet in one flow; if they do, it is a
    /// forgery, and it hashes to something no probe carries.
    #[inline]
    pub fn cookie(&self, kind: ProbeKind, flow: &Flow) -> u64 {
        let (sp, dp) = (flow.src_port, flow.dst_port);
        match (flow.src, flow.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => self.cookie_v4(kind, s, d, sp, dp),
            (s, d) => {
                let wide = |a: IpAddr| match a {
                    IpAddr::V4(a) => a.to_ipv6_mapped(),
                    IpAddr::V6(a) => a,
                };
                self.cookie_v6(kind, wide(s), wide(d), sp, dp)
            }
        }
    }

    /// `cookie` of an IPv4 flow, for the transmit path that already knows
    /// the family.
    #[inline(always)]
    pub fn cookie_v4(
        &self,
        kind: ProbeKind,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        sp: u16,
        dp: u16,
    ) -> u64 {
        let mut input = [0u8; 13];
        input[0] = kind.0 << 1;
        input[1..5].copy_from_slice(&src.octets());
        input[5..9].copy_from_slice(&dst.octets());
        input[9..11].copy_from_slice(&sp.to_be_bytes());
        input[11..13].copy_from_slice(&dp.to_be_bytes());
        self.hasher.hash(&input)
    }

    /// `cookie` of an IPv6 flow.
    #[inline(always)]
    pub fn cookie_v6(
        &self,
        kind: ProbeKind,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        sp: u16,
        dp: u16,
    ) -> u64 {
        let mut input = [0u8; 37];
        input[0] = kind.0 << 1 | 1;
        input[1..17].copy_from_slice(&src.octets());
        input[17..33].copy_from_slice(&dst.octets());
        input[33..35].copy_from_slice(&sp.to_be_bytes());
        input[35..37].copy_from_slice(&dp.to_be_bytes());
        self.hasher.hash(&input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::Hasher;

    const SYN: ProbeKind = ProbeKind(1);
    const ACK: ProbeKind = ProbeKind(2);

    fn flow4(n: u32) -> Flow {
        Flow {
            src: IpAddr::V4(Ipv4Addr::new(198, 19, 255, 1)),
            dst: IpAddr::V4(Ipv4Addr::from(0xc612_0000 + n)),
            src_port: 61000 + (n % 256) as u16,
            dst_port: (n % 65536) as u16,
        }
    }

    fn flow6(n: u32) -> Flow {
        Flow {
            src: IpAddr::V6("2001:2:0:ff03::1".parse().unwrap()),
            dst: IpAddr::V6(Ipv6Addr::from(
                0x2001_0002_0000_0300_0000_0000_0000_1000 + u128::from(n),
            )),
            src_port: 61000 + (n % 256) as u16,
            dst_port: (n % 65536) as u16,
        }
    }

    #[test]
    fn matches_reference_siphash24_over_the_documented_layout() {
        let k0 = u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]);
        let k1 = u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]);
        let key = CookieKey::from_keys(k0, k1);
        let f = flow4(7);
        let mut h = SipHasher24::new_with_keys(k0, k1);
        h.write(&[SYN.0 << 1]);
        h.write(&[198, 19, 255, 1]);
        h.write(&[198, 18, 0, 7]);
        h.write(&f.src_port.to_be_bytes());
        h.write(&f.dst_port.to_be_bytes());
        assert_eq!(key.cookie(SYN, &f), h.finish());
        let f = flow6(9);
        let mut h = SipHasher24::new_with_keys(k0, k1);
        h.write(&[SYN.0 << 1 | 1]);
        let (IpAddr::V6(s), IpAddr::V6(d)) = (f.src, f.dst) else {
            unreachable!()
        };
        h.write(&s.octets());
        h.write(&d.octets());
        h.write(&f.src_port.to_be_bytes());
        h.write(&f.dst_port.to_be_bytes());
        assert_eq!(key.cookie(SYN, &f), h.finish());
        // The SipHash-2-4 paper's test vector for the empty message.
        assert_eq!(
            SipHasher24::new_with_keys(k0, k1).hash(&[]),
            0x726f_db47_dd0e_0e31
        );
    }

    #[test]
    fn every_field_family_and_kind_changes_the_cookie() {
        let key = CookieKey::random();
        let other = CookieKey::random();
        let mut collisions = 0;
        for n in 0..10_000 {
            for f in [flow4(n), flow6(n)] {
                let c = key.cookie(SYN, &f);
                assert_eq!(c, key.cookie(SYN, &f), "deterministic");
                let mut variants = vec![];
                let mut g = f;
                g.dst_port ^= 1;
                variants.push((SYN, g));
                let mut g = f;
                g.src_port ^= 1;
                variants.push((SYN, g));
                let mut g = f;
                g.dst = match g.dst {
                    IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) ^ 1)),
                    IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) ^ (1 << 100))),
                };
                variants.push((SYN, g));
                variants.push((ACK, f));
                for (kind, g) in variants {
                    // 32 bits is what most replies echo: compare those.
                    collisions += u32::from(key.cookie(kind, &g) as u32 == c as u32);
                }
                collisions += u32::from(other.cookie(SYN, &f) as u32 == c as u32);
            }
        }
        // 100,000 comparisons at 2^-32 each: any hit means a broken input.
        assert_eq!(collisions, 0);
    }

    #[test]
    fn a_v4_flow_never_hashes_like_its_mapped_v6_twin() {
        let key = CookieKey::random();
        let f = flow4(3);
        let map = |a: IpAddr| match a {
            IpAddr::V4(a) => IpAddr::V6(a.to_ipv6_mapped()),
            other => other,
        };
        let twin = Flow {
            src: map(f.src),
            dst: map(f.dst),
            ..f
        };
        assert_ne!(key.cookie(SYN, &f), key.cookie(SYN, &twin));
    }
}
