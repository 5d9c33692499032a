//! IANA special-purpose IPv4 blocks (RFC 6890 and the IANA registry).
//!
//! A target loses these blocks unless the user named a target that lies
//! inside the block: `0.0.0.0/0` skips them all, `10.0.0.0/8` named outright
//! is scanned. That keeps an internet-wide sweep from spraying private and
//! multicast space while still letting a lab or LAN be scanned on purpose.

use super::ranges::{Ipv4Range, Ipv4Set};

/// (block, why it is reserved). Ordered by address.
pub const RESERVED_BLOCKS: &[(&str, u32, u8)] = &[
    ("this network", 0x0000_0000, 8),               // 0.0.0.0/8
    ("private", 0x0a00_0000, 8),                    // 10.0.0.0/8
    ("shared CGN space", 0x6440_0000, 10),          // 100.64.0.0/10
    ("loopback", 0x7f00_0000, 8),                   // 127.0.0.0/8
    ("link-local", 0xa9fe_0000, 16),                // 169.254.0.0/16
    ("private", 0xac10_0000, 12),                   // 172.16.0.0/12
    ("IETF protocol assignments", 0xc000_0000, 24), // 192.0.0.0/24
    ("documentation TEST-NET-1", 0xc000_0200, 24),  // 192.0.2.0/24
    ("6to4 relay anycast", 0xc058_6300, 24),        // 192.88.99.0/24
    ("private", 0xc0a8_0000, 16),                   // 192.168.0.0/16
    ("benchmarking", 0xc612_0000, 15),              // 198.18.0.0/15
    ("documentation TEST-NET-2", 0xc633_6400, 24),  // 198.51.100.0/24
    ("documentation TEST-NET-3", 0xcb00_7100, 24),  // 203.0.113.0/24
    ("multicast", 0xe000_0000, 4),                  // 224.0.0.0/4
    ("reserved", 0xf000_0000, 4),                   // 240.0.0.0/4
    ("limited broadcast", 0xffff_ffff, 32),         // 255.255.255.255/32
];

pub fn reserved_ranges() -> impl Iterator<Item = Ipv4Range> {
    RESERVED_BLOCKS
        .iter()
        .map(|&(_, addr, prefix)| Ipv4Range::cidr(addr, prefix))
}

/// `target` minus every reserved block that does not contain it.
pub fn strip_reserved(target: Ipv4Range) -> Ipv4Set {
    let cut: Vec<Ipv4Range> = reserved_ranges()
        .filter(|block| !block.contains_range(&target))
        .collect();
    Ipv4Set::from_ranges(vec![target]).subtract(&Ipv4Set::from_ranges(cut))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(s: &str) -> u32 {
        u32::from(s.parse::<Ipv4Addr>().unwrap())
    }

    #[test]
    fn table_entries_are_real_cidr_blocks() {
        for &(why, addr, prefix) in RESERVED_BLOCKS {
            let r = Ipv4Range::cidr(addr, prefix);
            assert_eq!(r.first, addr, "{why}: host bits set in table");
        }
    }

    #[test]
    fn whole_internet_loses_every_reserved_block() {
        let s = strip_reserved(Ipv4Range::cidr(0, 0));
        for r in reserved_ranges() {
            assert!(!s.contains(r.first) && !s.contains(r.last), "{r}");
        }
        assert!(s.contains(ip("8.8.8.8")));
        assert!(s.contains(ip("198.17.255.255")));
        assert!(s.contains(ip("198.20.0.0")));
        // 2^32 minus the union of the blocks (multicast + reserved = 2^29).
        let reserved = Ipv4Set::from_ranges(reserved_ranges().collect()).count();
        assert_eq!(s.count(), (1u64 << 32) - reserved);
    }

    #[test]
    fn a_target_inside_a_block_is_kept() {
        let lab = Ipv4Range::cidr(ip("198.18.0.0"), 16);
        assert_eq!(strip_reserved(lab).count(), 65536);
        let ten = Ipv4Range::cidr(ip("10.0.0.0"), 8);
        assert_eq!(strip_reserved(ten).count(), 1 << 24);
        let one = Ipv4Range::new(ip("127.0.0.1"), ip("127.0.0.1"));
        assert_eq!(strip_reserved(one).count(), 1);
    }

    #[test]
    fn a_target_straddling_a_block_loses_the_block() {
        // 198.0.0.0/8 contains the benchmarking /15 but is not inside it.
        let s = strip_reserved(Ipv4Range::cidr(ip("198.0.0.0"), 8));
        assert_eq!(s.count(), (1 << 24) - (1 << 17) - 256);
        assert!(!s.contains(ip("198.18.4.7")));
        // 240.0.0.0/4 named outright keeps the /4 but not the broadcast /32.
        let s = strip_reserved(Ipv4Range::cidr(ip("240.0.0.0"), 4));
        assert_eq!(s.count(), (1 << 28) - 1);
    }
}
