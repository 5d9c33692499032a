//! A set of IPv4 addresses kept as sorted, disjoint, non-adjacent inclusive
//! ranges. Every target and exclusion is turned into one of these, so that
//! overlaps merge and each address appears exactly once.

use std::net::Ipv4Addr;

/// One inclusive range of IPv4 addresses, `first..=last`, as host-order u32.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv4Range {
    pub first: u32,
    pub last: u32,
}

impl Ipv4Range {
    pub fn new(first: u32, last: u32) -> Self {
        debug_assert!(first <= last);
        Ipv4Range { first, last }
    }

    /// The block `addr/prefix`; host bits in `addr` are ignored.
    pub fn cidr(addr: u32, prefix: u8) -> Self {
        debug_assert!(prefix <= 32);
        // A /32 has no host bits; `>> 32` would overflow.
        let host_mask = u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
        Ipv4Range::new(addr & !host_mask, addr | host_mask)
    }

    /// Addresses in the range; never zero.
    pub fn count(&self) -> u64 {
        u64::from(self.last - self.first) + 1
    }

    pub fn contains_range(&self, other: &Ipv4Range) -> bool {
        self.first <= other.first && other.last <= self.last
    }
}

impl Ipv4Range {
    /// The shortest spelling: `a.b.c.d`, `a.b.c.0/n` when the range is a
    /// CIDR block, else `first-last`. Parses back to the same range.
    pub fn canonical(&self) -> String {
        let count = self.count();
        let is_block = count.is_power_of_two() && u64::from(self.first) % count == 0;
        if self.first == self.last {
            Ipv4Addr::from(self.first).to_string()
        } else if is_block {
            format!(
                "{}/{}",
                Ipv4Addr::from(self.first),
                32 - count.trailing_zeros()
            )
        } else {
            self.to_string()
        }
    }
}

impl std::fmt::Display for Ipv4Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.first == self.last {
            write!(f, "{}", Ipv4Addr::from(self.first))
        } else {
            write!(
                f,
                "{}-{}",
                Ipv4Addr::from(self.first),
                Ipv4Addr::from(self.last)
            )
        }
    }
}

/// Sorted, merged ranges plus a prefix count for O(log n) "n-th address".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ipv4Set {
    ranges: Vec<Ipv4Range>,
    /// `before[i]` = number of addresses in `ranges[..i]`.
    before: Vec<u64>,
}

impl Ipv4Set {
    pub fn from_ranges(mut ranges: Vec<Ipv4Range>) -> Self {
        ranges.sort_unstable();
        let mut merged: Vec<Ipv4Range> = Vec::with_capacity(ranges.len());
        for r in ranges {
            match merged.last_mut() {
                // Overlapping or touching ranges merge; `saturating_add` keeps
                // 255.255.255.255 from wrapping to 0.
                Some(prev) if r.first <= prev.last.saturating_add(1) => {
                    prev.last = prev.last.max(r.last);
                }
                _ => merged.push(r),
            }
        }
        let mut before = Vec::with_capacity(merged.len());
        let mut total = 0u64;
        for r in &merged {
            before.push(total);
            total += r.count();
        }
        Ipv4Set {
            ranges: merged,
            before,
        }
    }

    pub fn ranges(&self) -> &[Ipv4Range] {
        &self.ranges
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Number of addresses in the set (at most 2^32).
    pub fn count(&self) -> u64 {
        match (self.before.last(), self.ranges.last()) {
            (Some(b), Some(r)) => b + r.count(),
            _ => 0,
        }
    }

    /// The `n`-th address in ascending order. `n` must be below `count()`.
    #[inline]
    pub fn nth(&self, n: u64) -> u32 {
        debug_assert!(n < self.count());
        // The last range whose first index is <= n holds it.
        let i = self.before.partition_point(|&b| b <= n) - 1;
        self.ranges[i].first + (n - self.before[i]) as u32
    }

    /// The position of `addr` in ascending order (the inverse of `nth`).
    #[inline]
    pub fn rank(&self, addr: u32) -> Option<u64> {
        let i = self.ranges.partition_point(|r| r.last < addr);
        let r = self.ranges.get(i)?;
        (r.first <= addr).then(|| self.before[i] + u64::from(addr - r.first))
    }

    pub fn contains(&self, addr: u32) -> bool {
        let i = self.ranges.partition_point(|r| r.last < addr);
        self.ranges.get(i).is_some_and(|r| r.first <= addr)
    }

    /// Addresses in `self` but not in `other`.
    pub fn subtract(&self, other: &Ipv4Set) -> Ipv4Set {
        let mut out = Vec::with_capacity(self.ranges.len());
        let cut = &other.ranges;
        let mut j = 0;
        for r in &self.ranges {
            let mut first = r.first;
            let mut alive = true;
            // Skip exclusions wholly below this range.
            while j < cut.len() && cut[j].last < first {
                j += 1;
            }
            let mut k = j;
            while alive && k < cut.len() && cut[k].first <= r.last {
                let c = cut[k];
                if c.first > first {
                    out.push(Ipv4Range::new(first, c.first - 1));
                }
                if c.last >= r.last {
                    alive = false;
                } else {
                    first = first.max(c.last + 1);
                    k += 1;
                }
            }
            if alive {
                out.push(Ipv4Range::new(first, r.last));
            }
        }
        Ipv4Set::from_ranges(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(rs: &[(u32, u32)]) -> Ipv4Set {
        Ipv4Set::from_ranges(rs.iter().map(|&(a, b)| Ipv4Range::new(a, b)).collect())
    }

    fn addrs(s: &Ipv4Set) -> Vec<u32> {
        (0..s.count()).map(|n| s.nth(n)).collect()
    }

    #[test]
    fn merges_overlapping_and_adjacent_ranges() {
        let s = set(&[(10, 20), (15, 30), (31, 31), (40, 50), (0, 2)]);
        assert_eq!(
            s.ranges(),
            &[
                Ipv4Range::new(0, 2),
                Ipv4Range::new(10, 31),
                Ipv4Range::new(40, 50)
            ]
        );
        assert_eq!(s.count(), 3 + 22 + 11);
    }

    #[test]
    fn top_of_address_space_does_not_wrap() {
        let s = set(&[(u32::MAX - 1, u32::MAX), (u32::MAX, u32::MAX), (0, 0)]);
        assert_eq!(s.count(), 3);
        assert_eq!(addrs(&s), vec![0, u32::MAX - 1, u32::MAX]);
        let all = set(&[(0, u32::MAX)]);
        assert_eq!(all.count(), 1 << 32);
        assert_eq!(all.nth((1 << 32) - 1), u32::MAX);
    }

    #[test]
    fn nth_walks_every_address_in_order() {
        let s = set(&[(5, 7), (100, 100), (200, 203)]);
        assert_eq!(addrs(&s), vec![5, 6, 7, 100, 200, 201, 202, 203]);
        for n in 0..s.count() {
            assert_eq!(s.rank(s.nth(n)), Some(n));
        }
        assert_eq!(s.rank(8), None);
        for a in [5, 6, 7, 100, 200, 203] {
            assert!(s.contains(a));
        }
        for a in [0, 4, 8, 99, 101, 204, u32::MAX] {
            assert!(!s.contains(a));
        }
    }

    #[test]
    fn subtract_matches_a_brute_force_model() {
        // Small universe, every combination of a few ranges.
        let mut seed = 0x1234_5678_u64;
        let mut next = |m: u32| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % u64::from(m)) as u32
        };
        for _ in 0..2000 {
            let mut mk = || {
                let n = next(4);
                let v: Vec<(u32, u32)> = (0..n)
                    .map(|_| {
                        let a = next(64);
                        (a, a + next(10))
                    })
                    .collect();
                set(&v)
            };
            let a = mk();
            let b = mk();
            let got = addrs(&a.subtract(&b));
            let want: Vec<u32> = addrs(&a).into_iter().filter(|x| !b.contains(*x)).collect();
            assert_eq!(got, want, "{a:?} - {b:?}");
        }
    }

    #[test]
    fn canonical_spelling_round_trips() {
        let cases = [
            (
                Ipv4Range::cidr(u32::from(Ipv4Addr::new(198, 18, 4, 9)), 30),
                "198.18.4.8/30",
            ),
            (Ipv4Range::cidr(0, 0), "0.0.0.0/0"),
            (Ipv4Range::new(5, 5), "0.0.0.5"),
            (Ipv4Range::new(4, 6), "0.0.0.4-0.0.0.6"),
            (Ipv4Range::new(2, 3), "0.0.0.2/31"),
            (Ipv4Range::new(1, 2), "0.0.0.1-0.0.0.2"),
        ];
        for (r, want) in cases {
            assert_eq!(r.canonical(), want);
            assert_eq!(crate::targets::grammar::parse_target(want).unwrap(), r);
        }
    }

    #[test]
    fn cidr_masks_host_bits() {
        let r = Ipv4Range::cidr(u32::from(Ipv4Addr::new(198, 18, 4, 7)), 22);
        assert_eq!(r.to_string(), "198.18.4.0-198.18.7.255");
        assert_eq!(Ipv4Range::cidr(0, 0).count(), 1 << 32);
        assert_eq!(Ipv4Range::cidr(77, 32).count(), 1);
    }
}
