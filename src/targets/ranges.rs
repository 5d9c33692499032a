//! Sets of addresses of one family: every target and exclusion ends up in
//! one of these, so overlaps merge and each address appears exactly once.
//!
//! A set keeps two sorted lists: inclusive ranges (CIDR blocks, `a-b`
//! ranges) with a running count for O(log n) "n-th address", and single
//! addresses, which is what a hit list of millions of IPv6 addresses is.
//! A single address costs its own width (4 or 16 bytes) and nothing more:
//! its position among the singles is its rank. No single lies inside a
//! range, so every address has exactly one position.

use crate::net::AddrBits;
use std::fmt;

/// One inclusive range of addresses, `first..=last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Range<A> {
    pub first: A,
    pub last: A,
}

impl<A: AddrBits> Range<A> {
    pub fn new(first: A, last: A) -> Self {
        debug_assert!(first <= last);
        Range { first, last }
    }

    pub fn single(a: A) -> Self {
        Range { first: a, last: a }
    }

    /// The block `addr/prefix`; host bits in `addr` are ignored.
    pub fn cidr(addr: A, prefix: u8) -> Self {
        debug_assert!(u32::from(prefix) <= A::BITS);
        let host = A::host_mask(prefix);
        let a = addr.widen();
        Range::new(A::narrow(a & !host), A::narrow(a | host))
    }

    /// Addresses in the range, saturating at `u128::MAX` (all of IPv6).
    pub fn count(&self) -> u128 {
        (self.last.widen() - self.first.widen()).saturating_add(1)
    }

    pub fn is_single(&self) -> bool {
        self.first == self.last
    }

    pub fn contains(&self, a: A) -> bool {
        self.first <= a && a <= self.last
    }

    pub fn contains_range(&self, other: &Range<A>) -> bool {
        self.first <= other.first && other.last <= self.last
    }

    /// The shortest spelling: an address, `a/n` when the range is a CIDR
    /// block, else `first-last`. Parses back to the same range.
    pub fn canonical(&self) -> String {
        if self.is_single() {
            return self.first.to_ip().to_string();
        }
        let span = self.last.widen() - self.first.widen();
        // A block: span + 1 is a power of two and `first` is aligned to it.
        let is_block = span.checked_add(1).map_or(self.first.widen() == 0, |n| {
            n.is_power_of_two() && self.first.widen().is_multiple_of(n)
        });
        if is_block {
            let host_bits = 128 - span.leading_zeros();
            format!("{}/{}", self.first.to_ip(), A::BITS - host_bits)
        } else {
            self.to_string()
        }
    }
}

impl<A: AddrBits> fmt::Display for Range<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_single() {
            write!(f, "{}", self.first.to_ip())
        } else {
            write!(f, "{}-{}", self.first.to_ip(), self.last.to_ip())
        }
    }
}

/// Sorts and merges overlapping or touching ranges, in place.
fn merge<A: AddrBits>(ranges: &mut Vec<Range<A>>) {
    ranges.sort_unstable();
    let mut out = 0;
    for i in 0..ranges.len() {
        let r = ranges[i];
        if out > 0 {
            let prev = &mut ranges[out - 1];
            // Touching ranges merge too; `succ` is None at the very top.
            if prev.last.succ().is_none_or(|next| r.first <= next) {
                prev.last = prev.last.max(r.last);
                continue;
            }
        }
        ranges[out] = r;
        out += 1;
    }
    ranges.truncate(out);
}

/// `ranges - cut`, both sorted and merged.
fn subtract_ranges<A: AddrBits>(ranges: &[Range<A>], cut: &[Range<A>]) -> Vec<Range<A>> {
    let mut out = Vec::with_capacity(ranges.len());
    let mut j = 0;
    for r in ranges {
        let mut first = r.first;
        let mut alive = true;
        while j < cut.len() && cut[j].last < first {
            j += 1;
        }
        let mut k = j;
        while alive && k < cut.len() && cut[k].first <= r.last {
            let c = cut[k];
            if c.first > first {
                // c.first > first >= 0, so it has a predecessor.
                out.push(Range::new(first, c.first.pred().expect("above first")));
            }
            match c.last.succ() {
                Some(next) if c.last < r.last => {
                    first = first.max(next);
                    k += 1;
                }
                _ => alive = false,
            }
        }
        if alive {
            out.push(Range::new(first, r.last));
        }
    }
    out
}

/// Collects ranges and single addresses in any order, then sorts them into
/// a `RangeSet`.
#[derive(Clone, Debug, Default)]
pub struct RangeSetBuilder<A> {
    ranges: Vec<Range<A>>,
    singles: Vec<A>,
}

impl<A: AddrBits> RangeSetBuilder<A> {
    pub fn new() -> Self {
        RangeSetBuilder {
            ranges: Vec::new(),
            singles: Vec::new(),
        }
    }

    pub fn push(&mut self, r: Range<A>) {
        if r.is_single() {
            self.singles.push(r.first);
        } else {
            self.ranges.push(r);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty() && self.singles.is_empty()
    }

    pub fn build(self) -> RangeSet<A> {
        let RangeSetBuilder {
            mut ranges,
            mut singles,
        } = self;
        merge(&mut ranges);
        singles.sort_unstable();
        singles.dedup();
        // Drop singles a range already holds: a two-pointer walk.
        let mut j = 0;
        singles.retain(|&s| {
            while j < ranges.len() && ranges[j].last < s {
                j += 1;
            }
            !(j < ranges.len() && ranges[j].first <= s)
        });
        singles.shrink_to_fit();
        RangeSet::from_parts(ranges, singles)
    }
}

/// A set of addresses of one family; see the module comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeSet<A> {
    ranges: Vec<Range<A>>,
    /// `before[i]` = addresses in `ranges[..i]`, saturating at `u64::MAX`:
    /// positions are only ever asked of sets that fit a probe space.
    before: Vec<u64>,
    /// Addresses in all ranges (saturating).
    range_total: u128,
    /// The same, saturating at `u64::MAX`, for `nth`'s one comparison.
    range_total_u64: u64,
    /// Sorted, unique, none inside a range.
    singles: Vec<A>,
}

impl<A: AddrBits> Default for RangeSet<A> {
    fn default() -> Self {
        RangeSet::from_parts(Vec::new(), Vec::new())
    }
}

impl<A: AddrBits> RangeSet<A> {
    fn from_parts(ranges: Vec<Range<A>>, singles: Vec<A>) -> Self {
        let mut before = Vec::with_capacity(ranges.len());
        let mut total = 0u128;
        for r in &ranges {
            before.push(u64::try_from(total).unwrap_or(u64::MAX));
            total = total.saturating_add(r.count());
        }
        RangeSet {
            ranges,
            before,
            range_total: total,
            range_total_u64: u64::try_from(total).unwrap_or(u64::MAX),
            singles,
        }
    }

    /// A set of ranges (merged here).
    pub fn from_ranges(ranges: Vec<Range<A>>) -> Self {
        let mut b = RangeSetBuilder::new();
        for r in ranges {
            b.push(r);
        }
        b.build()
    }

    pub fn ranges(&self) -> &[Range<A>] {
        &self.ranges
    }

    pub fn singles(&self) -> &[A] {
        &self.singles
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty() && self.singles.is_empty()
    }

    /// Number of addresses, saturating at `u128::MAX`.
    pub fn count(&self) -> u128 {
        self.range_total.saturating_add(self.singles.len() as u128)
    }

    /// The `n`-th address: ranges in ascending order, then the singles.
    /// `n` must be below `count()`.
    #[inline(always)]
    pub fn nth(&self, n: u64) -> A {
        // (A set of over 2^64 addresses holds every u64 position in ranges.)
        if n < self.range_total_u64 || self.range_total > u128::from(u64::MAX) {
            // The last range whose first index is <= n holds it.
            let i = self.before.partition_point(|&b| b <= n) - 1;
            self.ranges[i].first.add(n - self.before[i])
        } else {
            self.singles[(n - self.range_total_u64) as usize]
        }
    }

    /// The position of `a` (the inverse of `nth`), if it is in the set.
    #[inline]
    pub fn rank(&self, a: A) -> Option<u64> {
        let i = self.ranges.partition_point(|r| r.last < a);
        if let Some(r) = self.ranges.get(i)
            && r.first <= a
        {
            return u64::try_from(u128::from(self.before[i]) + (a.widen() - r.first.widen())).ok();
        }
        let j = self.singles.binary_search(&a).ok()?;
        u64::try_from(self.range_total + j as u128).ok()
    }

    pub fn contains(&self, a: A) -> bool {
        let i = self.ranges.partition_point(|r| r.last < a);
        self.ranges.get(i).is_some_and(|r| r.first <= a) || self.singles.binary_search(&a).is_ok()
    }

    /// Every address of the set as ranges, ascending (singles included).
    pub fn to_ranges(&self) -> Vec<Range<A>> {
        let mut all = self.ranges.clone();
        all.extend(self.singles.iter().map(|&s| Range::single(s)));
        merge(&mut all);
        all
    }

    /// Addresses in `self` but not in `other`.
    pub fn subtract(&self, other: &RangeSet<A>) -> RangeSet<A> {
        if other.is_empty() {
            return self.clone();
        }
        let ranges = subtract_ranges(&self.ranges, &other.to_ranges());
        let singles = self
            .singles
            .iter()
            .copied()
            .filter(|&s| !other.contains(s))
            .collect();
        RangeSet::from_parts(ranges, singles)
    }

    /// Feeds a stable byte image of the set to `sink` (for digests).
    pub fn digest_into(&self, sink: &mut impl std::hash::Hasher) {
        sink.write_u8(A::BITS as u8);
        for r in &self.ranges {
            sink.write_u128(r.first.widen());
            sink.write_u128(r.last.widen());
        }
        sink.write_u8(0xff);
        for s in &self.singles {
            sink.write_u128(s.widen());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(rs: &[(u32, u32)]) -> RangeSet<u32> {
        RangeSet::from_ranges(rs.iter().map(|&(a, b)| Range::new(a, b)).collect())
    }

    fn addrs<A: AddrBits>(s: &RangeSet<A>) -> Vec<A> {
        (0..s.count() as u64).map(|n| s.nth(n)).collect()
    }

    #[test]
    fn merges_overlapping_and_adjacent_ranges() {
        let s = set(&[(10, 20), (15, 30), (31, 31), (40, 50), (0, 2)]);
        assert_eq!(
            s.ranges(),
            &[Range::new(0, 2), Range::new(10, 30), Range::new(40, 50)]
        );
        // 31 is a single address touching 10-30: kept as a single.
        assert_eq!(s.singles(), &[31]);
        assert_eq!(s.count(), 3 + 22 + 11);
        assert_eq!(
            s.to_ranges(),
            [Range::new(0, 2), Range::new(10, 31), Range::new(40, 50)]
        );
    }

    #[test]
    fn singles_inside_ranges_are_dropped_and_duplicates_merged() {
        let s = set(&[(7, 7), (5, 9), (100, 100), (100, 100), (3, 3)]);
        assert_eq!(s.ranges(), &[Range::new(5, 9)]);
        assert_eq!(s.singles(), &[3, 100]);
        assert_eq!(addrs(&s), vec![5, 6, 7, 8, 9, 3, 100]);
        for n in 0..s.count() as u64 {
            assert_eq!(s.rank(s.nth(n)), Some(n));
        }
        assert_eq!(s.rank(4), None);
        assert!(s.contains(3) && s.contains(9) && !s.contains(10));
    }

    #[test]
    fn top_of_address_space_does_not_wrap() {
        let s = set(&[(u32::MAX - 1, u32::MAX), (u32::MAX, u32::MAX), (0, 0)]);
        assert_eq!(s.count(), 3);
        let all = set(&[(0, u32::MAX)]);
        assert_eq!(all.count(), 1 << 32);
        assert_eq!(all.nth((1 << 32) - 1), u32::MAX);
        let v6 = RangeSet::from_ranges(vec![Range::cidr(0u128, 0)]);
        assert_eq!(v6.count(), u128::MAX);
        assert_eq!(v6.nth(u64::MAX), u128::from(u64::MAX));
        let top = RangeSet::from_ranges(vec![Range::new(u128::MAX - 1, u128::MAX)]);
        assert_eq!(addrs(&top), vec![u128::MAX - 1, u128::MAX]);
    }

    #[test]
    fn subtract_matches_a_brute_force_model() {
        let mut seed = 0x1234_5678_u64;
        let mut next = |m: u32| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % u64::from(m)) as u32
        };
        for _ in 0..2000 {
            let mut mk = || {
                let n = next(5);
                let v: Vec<(u32, u32)> = (0..n)
                    .map(|_| {
                        let a = next(64);
                        (a, a + next(10) * next(2))
                    })
                    .collect();
                set(&v)
            };
            let a = mk();
            let b = mk();
            let mut got = addrs(&a.subtract(&b));
            got.sort_unstable();
            let mut want: Vec<u32> = addrs(&a).into_iter().filter(|x| !b.contains(*x)).collect();
            want.sort_unstable();
            assert_eq!(got, want, "{a:?} - {b:?}");
        }
    }

    #[test]
    fn canonical_spelling_round_trips() {
        let cases = [
            (Range::cidr(0xc612_0409u32, 30), "198.18.4.8/30"),
            (Range::cidr(0u32, 0), "0.0.0.0/0"),
            (Range::new(5u32, 5), "0.0.0.5"),
            (Range::new(4u32, 6), "0.0.0.4-0.0.0.6"),
            (Range::new(2u32, 3), "0.0.0.2/31"),
            (Range::new(1u32, 2), "0.0.0.1-0.0.0.2"),
        ];
        for (r, want) in cases {
            assert_eq!(r.canonical(), want);
        }
        let v6 = |s: &str| u128::parse(s).unwrap();
        assert_eq!(
            Range::cidr(v6("2001:2::1234"), 116).canonical(),
            "2001:2::1000/116"
        );
        assert_eq!(Range::cidr(0u128, 0).canonical(), "::/0");
        assert_eq!(Range::single(v6("2001:2::1")).canonical(), "2001:2::1");
        assert_eq!(
            Range::new(v6("2001:2::1"), v6("2001:2::3")).canonical(),
            "2001:2::1-2001:2::3"
        );
    }

    #[test]
    fn cidr_masks_host_bits() {
        let r = Range::cidr(0xc612_0407u32, 22);
        assert_eq!(r.to_string(), "198.18.4.0-198.18.7.255");
        assert_eq!(Range::cidr(0u32, 0).count(), 1 << 32);
        assert_eq!(Range::cidr(77u32, 32).count(), 1);
        assert_eq!(Range::cidr(77u128, 128).count(), 1);
        assert_eq!(Range::cidr(0u128, 64).count(), 1 << 64);
    }
}
