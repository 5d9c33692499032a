//! Address families behind one small trait: an address as the unsigned
//! integer of its bits (`u32` for IPv4, `u128` for IPv6), so that ranges,
//! sets and the reserved-block tables are written once for both.

use crate::domain::Family;
use std::fmt::Debug;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub trait AddrBits: Copy + Ord + Eq + Hash + Debug + Send + Sync + 'static {
    const FAMILY: Family;
    /// Address width in bits.
    const BITS: u32;
    const ZERO: Self;
    const MAX: Self;

    fn to_ip(self) -> IpAddr;
    /// The address as a `u128` (IPv4 in the low 32 bits).
    fn widen(self) -> u128;
    /// The low `BITS` bits of `v`.
    fn narrow(v: u128) -> Self;
    fn parse(s: &str) -> Option<Self>;

    /// `self + 1`, `None` past the top of the space.
    #[inline]
    fn succ(self) -> Option<Self> {
        (self != Self::MAX).then(|| Self::narrow(self.widen() + 1))
    }

    /// `self + n`, within the range the caller knows holds it.
    fn add(self, n: u64) -> Self;

    /// `self - 1`, `None` below zero.
    #[inline]
    fn pred(self) -> Option<Self> {
        (self != Self::ZERO).then(|| Self::narrow(self.widen() - 1))
    }

    /// The mask of the host bits of a `/prefix` block.
    fn host_mask(prefix: u8) -> u128 {
        let bits = Self::BITS - u32::from(prefix);
        if bits == 0 {
            0
        } else {
            u128::MAX >> (128 - bits)
        }
    }
}

impl AddrBits for u32 {
    const FAMILY: Family = Family::V4;
    const BITS: u32 = 32;
    const ZERO: u32 = 0;
    const MAX: u32 = u32::MAX;

    #[inline]
    fn to_ip(self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(self))
    }
    #[inline]
    fn widen(self) -> u128 {
        u128::from(self)
    }
    #[inline]
    fn narrow(v: u128) -> u32 {
        v as u32
    }
    #[inline(always)]
    fn add(self, n: u64) -> u32 {
        self.wrapping_add(n as u32)
    }
    fn parse(s: &str) -> Option<u32> {
        s.parse::<Ipv4Addr>().ok().map(u32::from)
    }
}

impl AddrBits for u128 {
    const FAMILY: Family = Family::V6;
    const BITS: u32 = 128;
    const ZERO: u128 = 0;
    const MAX: u128 = u128::MAX;

    #[inline]
    fn to_ip(self) -> IpAddr {
        IpAddr::V6(Ipv6Addr::from(self))
    }
    #[inline]
    fn widen(self) -> u128 {
        self
    }
    #[inline]
    fn narrow(v: u128) -> u128 {
        v
    }
    #[inline(always)]
    fn add(self, n: u64) -> u128 {
        self.wrapping_add(u128::from(n))
    }
    fn parse(s: &str) -> Option<u128> {
        s.parse::<Ipv6Addr>().ok().map(u128::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_families_round_trip() {
        assert_eq!(u32::parse("198.18.0.1"), Some(0xc612_0001));
        assert_eq!(u32::parse("2001:2::1"), None);
        let v6 = u128::parse("2001:2::1").unwrap();
        assert_eq!(v6.to_ip().to_string(), "2001:2::1");
        assert_eq!(u128::parse("198.18.0.1"), None);
        assert_eq!(u32::MAX.succ(), None);
        assert_eq!(0u128.pred(), None);
        assert_eq!(5u32.succ(), Some(6));
        assert_eq!(<u32 as AddrBits>::host_mask(24), 0xff);
        assert_eq!(<u32 as AddrBits>::host_mask(32), 0);
        assert_eq!(<u32 as AddrBits>::host_mask(0), 0xffff_ffff);
        assert_eq!(<u128 as AddrBits>::host_mask(0), u128::MAX);
        assert_eq!(<u128 as AddrBits>::host_mask(64), u128::from(u64::MAX));
    }
}
