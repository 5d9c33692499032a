//! IANA special-purpose address blocks, for both families.
//!
//! A target loses these blocks unless it lies inside the block: `0.0.0.0/0`
//! or `::/0` skips them all, while `10.0.0.0/8` or `2001:2::/48` named
//! outright is scanned. That keeps an internet-wide sweep from spraying
//! private, documentation and multicast space while still letting a lab or
//! LAN be scanned on purpose. A single address always lies inside every
//! block that holds it, so it is never stripped.

use super::ranges::{Range, RangeSet};
use crate::net::AddrBits;

/// (why it is reserved, block as text): RFC 6890 and the IANA IPv4
/// Special-Purpose Address Registry, plus multicast and class E.
pub const RESERVED_V4: &[(&str, &str)] = &[
    ("this network", "0.0.0.0/8"),
    ("private", "10.0.0.0/8"),
    ("shared CGN space", "100.64.0.0/10"),
    ("loopback", "127.0.0.0/8"),
    ("link-local", "169.254.0.0/16"),
    ("private", "172.16.0.0/12"),
    ("IETF protocol assignments", "192.0.0.0/24"),
    ("documentation TEST-NET-1", "192.0.2.0/24"),
    ("6to4 relay anycast", "192.88.99.0/24"),
    ("private", "192.168.0.0/16"),
    ("benchmarking", "198.18.0.0/15"),
    ("documentation TEST-NET-2", "198.51.100.0/24"),
    ("documentation TEST-NET-3", "203.0.113.0/24"),
    ("multicast", "224.0.0.0/4"),
    ("reserved", "240.0.0.0/4"),
    ("limited broadcast", "255.255.255.255/32"),
];

/// The IANA IPv6 Special-Purpose Address Registry, plus multicast.
pub const RESERVED_V6: &[(&str, &str)] = &[
    ("unspecified", "::/128"),
    ("loopback", "::1/128"),
    ("IPv4-mapped", "::ffff:0:0/96"),
    ("IPv4-IPv6 translation", "64:ff9b::/96"),
    ("local-use IPv4/IPv6 translation", "64:ff9b:1::/48"),
    ("discard-only", "100::/64"),
    ("dummy prefix", "100:0:0:1::/64"),
    ("IETF protocol assignments", "2001::/23"),
    ("TEREDO", "2001::/32"),
    ("port control protocol anycast", "2001:1::1/128"),
    ("TURN anycast", "2001:1::2/128"),
    ("DNS-SD SRP anycast", "2001:1::3/128"),
    ("benchmarking", "2001:2::/48"),
    ("AMT", "2001:3::/32"),
    ("AS112-v6", "2001:4:112::/48"),
    ("ORCHID (deprecated)", "2001:10::/28"),
    ("ORCHIDv2", "2001:20::/28"),
    ("drone remote ID", "2001:30::/28"),
    ("documentation", "2001:db8::/32"),
    ("6to4", "2002::/16"),
    ("direct delegation AS112", "2620:4f:8000::/48"),
    ("documentation", "3fff::/20"),
    ("segment routing SIDs", "5f00::/16"),
    ("unique-local", "fc00::/7"),
    ("link-local unicast", "fe80::/10"),
    ("multicast", "ff00::/8"),
];

/// The table of `A`'s family, parsed.
pub fn reserved_blocks<A: AddrBits>() -> Vec<Range<A>> {
    let table = match A::FAMILY {
        crate::domain::Family::V4 => RESERVED_V4,
        crate::domain::Family::V6 => RESERVED_V6,
    };
    table
        .iter()
        .map(|(why, text)| {
            let (addr, prefix) = text.split_once('/').expect("table entries are CIDR");
            let addr = A::parse(addr).unwrap_or_else(|| panic!("{why}: {text}"));
            Range::cidr(addr, prefix.parse().expect("table prefix"))
        })
        .collect()
}

/// `target` minus every reserved block of `blocks` that does not contain it.
pub fn strip_reserved<A: AddrBits>(target: Range<A>, blocks: &[Range<A>]) -> RangeSet<A> {
    let cut: Vec<Range<A>> = blocks
        .iter()
        .filter(|block| !block.contains_range(&target))
        .copied()
        .collect();
    RangeSet::from_ranges(vec![target]).subtract(&RangeSet::from_ranges(cut))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> u32 {
        u32::parse(s).unwrap()
    }
    fn v6(s: &str) -> u128 {
        u128::parse(s).unwrap()
    }

    #[test]
    fn table_entries_are_real_cidr_blocks() {
        for (why, text) in RESERVED_V4.iter().chain(RESERVED_V6) {
            let (addr, prefix) = text.split_once('/').unwrap();
            let prefix: u8 = prefix.parse().unwrap();
            let first = if addr.contains(':') {
                let r = Range::cidr(v6(addr), prefix);
                r.first == v6(addr)
            } else {
                Range::cidr(v4(addr), prefix).first == v4(addr)
            };
            assert!(first, "{why}: host bits set in {text}");
        }
        assert_eq!(reserved_blocks::<u32>().len(), RESERVED_V4.len());
        assert_eq!(reserved_blocks::<u128>().len(), RESERVED_V6.len());
    }

    #[test]
    fn whole_internet_loses_every_reserved_block() {
        let blocks = reserved_blocks::<u32>();
        let s = strip_reserved(Range::cidr(0u32, 0), &blocks);
        for r in &blocks {
            assert!(!s.contains(r.first) && !s.contains(r.last), "{r}");
        }
        assert!(s.contains(v4("8.8.8.8")));
        assert!(s.contains(v4("198.17.255.255")));
        assert!(s.contains(v4("198.20.0.0")));
        let reserved = RangeSet::from_ranges(blocks.clone()).count();
        assert_eq!(s.count(), (1u128 << 32) - reserved);

        let blocks6 = reserved_blocks::<u128>();
        let s = strip_reserved(Range::cidr(0u128, 0), &blocks6);
        for r in &blocks6 {
            assert!(!s.contains(r.first) && !s.contains(r.last), "{r}");
        }
        assert!(s.contains(v6("2a00:1450::1")));
        assert!(s.contains(v6("2001:200::1")));
        assert!(!s.contains(v6("2001:2::1")));
    }

    #[test]
    fn a_target_inside_a_block_is_kept() {
        let blocks = reserved_blocks::<u32>();
        let lab = Range::cidr(v4("198.18.0.0"), 16);
        assert_eq!(strip_reserved(lab, &blocks).count(), 65536);
        let ten = Range::cidr(v4("10.0.0.0"), 8);
        assert_eq!(strip_reserved(ten, &blocks).count(), 1 << 24);
        // The v6 lab block lies inside both 2001::/23 and 2001:2::/48.
        let blocks6 = reserved_blocks::<u128>();
        let lab6 = Range::cidr(v6("2001:2:0:300::1000"), 116);
        assert_eq!(strip_reserved(lab6, &blocks6).count(), 4096);
        let ula = Range::cidr(v6("fd00::"), 64);
        assert_eq!(strip_reserved(ula, &blocks6).count(), 1 << 64);
    }

    #[test]
    fn a_target_straddling_a_block_loses_the_block() {
        let blocks = reserved_blocks::<u32>();
        let s = strip_reserved(Range::cidr(v4("198.0.0.0"), 8), &blocks);
        assert_eq!(s.count(), (1 << 24) - (1 << 17) - 256);
        assert!(!s.contains(v4("198.18.4.7")));
        let s = strip_reserved(Range::cidr(v4("240.0.0.0"), 4), &blocks);
        assert_eq!(s.count(), (1 << 28) - 1);
        // 2001::/16 holds the IETF /23 but is not inside it.
        let blocks6 = reserved_blocks::<u128>();
        let s = strip_reserved(Range::cidr(v6("2001::"), 16), &blocks6);
        assert!(!s.contains(v6("2001:2::5")) && !s.contains(v6("2001:db8::1")));
        assert!(s.contains(v6("2001:4860::8888")));
    }
}
