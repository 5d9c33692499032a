//! Our source addresses: one per family by default, or a small set per
//! family (`--source-ip` takes addresses, ranges `a-b`, CIDR blocks and
//! comma lists of them) that the probes of that family are spread over.
//!
//! A probe's source is picked from its index in the probe space, so a
//! retry, a second pass or a resumed run sends it from the same address
//! (and a stateful middlebox sees one flow). Replies are ours when they
//! are addressed to any of the set: the validator asks `contains`, the
//! capture filter compares against the merged ranges.

use crate::domain::Family;
use crate::net::AddrBits;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The most source addresses per family. Each unowned one sits in the
/// targets' (or the gateway's) neighbour table while we answer for it,
/// and Linux caps that table at 1024 entries by default (gc_thresh3):
/// a quarter of it is already far more spread than rate limits per
/// source call for, and it keeps the capture filter well inside the
/// kernel's 4096 instructions even when no two addresses are adjacent.
pub const MAX_PER_FAMILY: usize = 256;

/// The addresses of one family.
#[derive(Clone, PartialEq, Eq)]
pub struct AddrSet<A: AddrBits> {
    /// Sorted, distinct: a probe's source is picked from here.
    addrs: Vec<A>,
    /// The same addresses as merged inclusive ranges, ascending.
    ranges: Vec<(A, A)>,
}

impl<A: AddrBits> Default for AddrSet<A> {
    fn default() -> Self {
        AddrSet {
            addrs: Vec::new(),
            ranges: Vec::new(),
        }
    }
}

impl<A: AddrBits> fmt::Debug for AddrSet<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.words()).finish()
    }
}

impl<A: AddrBits> AddrSet<A> {
    pub fn len(&self) -> usize {
        self.addrs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty()
    }

    /// The merged ranges, ascending.
    pub fn ranges(&self) -> &[(A, A)] {
        &self.ranges
    }

    pub fn addrs(&self) -> &[A] {
        &self.addrs
    }

    #[inline]
    pub fn contains(&self, a: A) -> bool {
        self.ranges.iter().any(|&(lo, hi)| lo <= a && a <= hi)
    }

    /// The source of the probe at `index`: a multiplicative hash of the
    /// index scaled onto the set (no division), so neighbouring indexes,
    /// whose source ports run in step, do not also run in step here.
    #[inline(always)]
    pub fn pick(&self, index: u64) -> A {
        if self.addrs.len() == 1 {
            return self.addrs[0];
        }
        let mixed = index.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
        self.addrs[((mixed * self.addrs.len() as u64) >> 32) as usize]
    }

    /// The set of `addrs` (any order, repeats allowed).
    fn of_addrs(mut addrs: Vec<A>) -> Self {
        addrs.sort_unstable();
        addrs.dedup();
        let mut ranges: Vec<(A, A)> = Vec::new();
        for &a in &addrs {
            match ranges.last_mut() {
                Some((_, hi)) if hi.succ() == Some(a) => *hi = a,
                _ => ranges.push((a, a)),
            }
        }
        AddrSet { addrs, ranges }
    }

    /// `lo..=hi` added; `Err(count)` when the set would pass the limit.
    fn add(&mut self, lo: A, hi: A) -> Result<(), u128> {
        let mut all: Vec<(A, A)> = self.ranges.clone();
        all.push((lo, hi));
        all.sort();
        let mut merged: Vec<(A, A)> = Vec::with_capacity(all.len());
        for (lo, hi) in all {
            match merged.last_mut() {
                Some((_, last)) if last.succ().is_none_or(|next| next >= lo) => {
                    *last = (*last).max(hi)
                }
                _ => merged.push((lo, hi)),
            }
        }
        let count: u128 = merged
            .iter()
            .map(|(lo, hi)| hi.widen() - lo.widen() + 1)
            .fold(0u128, u128::saturating_add);
        if count > MAX_PER_FAMILY as u128 {
            return Err(count);
        }
        self.addrs = merged
            .iter()
            .flat_map(|&(lo, hi)| (0..=(hi.widen() - lo.widen()) as u64).map(move |n| lo.add(n)))
            .collect();
        self.ranges = merged;
        Ok(())
    }

    /// Each range as `a` or `a-b`.
    fn words(&self) -> Vec<String> {
        self.ranges
            .iter()
            .map(|&(lo, hi)| {
                if lo == hi {
                    lo.to_ip().to_string()
                } else {
                    format!("{}-{}", lo.to_ip(), hi.to_ip())
                }
            })
            .collect()
    }
}

/// Our source addresses in both families; empty where the route decides.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sources {
    pub v4: AddrSet<u32>,
    pub v6: AddrSet<u128>,
}

/// What `--source-ip` accepts, for its errors.
pub const FORMS: &str = "an address, a range a-b, a CIDR block or a comma list of them (e.g. 198.19.255.1, 198.19.255.1-198.19.255.4, 2001:2:0:ff00::/126)";

impl Sources {
    /// One address per family, as a plan that picked them has them.
    pub fn of(each: [Option<IpAddr>; 2]) -> Sources {
        each.into_iter().flatten().collect()
    }

    /// Adds a comma list of addresses, ranges and CIDR blocks, in either
    /// family; the error names the bad item.
    pub fn add_list(&mut self, list: &str) -> Result<(), String> {
        for item in list.split(',').map(str::trim) {
            let (lo, hi) = parse_item(item)
                .ok_or_else(|| format!("{item:?} is not a source address: give {FORMS}"))?;
            if lo > hi {
                return Err(format!(
                    "{item:?} runs backwards: give the lower address first"
                ));
            }
            self.add(lo, hi).map_err(|count| {
                format!(
                    "{item:?} makes {count} {} source addresses: give at most {MAX_PER_FAMILY} per family",
                    Family::of(&lo)
                )
            })?;
        }
        Ok(())
    }

    fn add(&mut self, lo: IpAddr, hi: IpAddr) -> Result<(), u128> {
        match (lo, hi) {
            (IpAddr::V4(lo), IpAddr::V4(hi)) => self.v4.add(lo.into(), hi.into()),
            (IpAddr::V6(lo), IpAddr::V6(hi)) => self.v6.add(lo.into(), hi.into()),
            _ => unreachable!("parse_item keeps a range in one family"),
        }
    }

    pub fn len(&self, family: Family) -> usize {
        match family {
            Family::V4 => self.v4.len(),
            Family::V6 => self.v6.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// More than one address in some family.
    pub fn is_several(&self) -> bool {
        self.v4.len() > 1 || self.v6.len() > 1
    }

    /// The lowest address of `family`: the one that speaks for the scan
    /// where one address must (ARP for the gateway, the neighbour sweep).
    pub fn first(&self, family: Family) -> Option<IpAddr> {
        match family {
            Family::V4 => self.v4.addrs.first().map(|a| a.to_ip()),
            Family::V6 => self.v6.addrs.first().map(|a| a.to_ip()),
        }
    }

    /// The first address of each family (`Family as usize`).
    pub fn firsts(&self) -> [Option<IpAddr>; 2] {
        Family::ALL.map(|f| self.first(f))
    }

    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => self.v4.contains(a.into()),
            IpAddr::V6(a) => self.v6.contains(a.into()),
        }
    }

    #[inline(always)]
    pub fn pick_v4(&self, index: u64) -> Ipv4Addr {
        Ipv4Addr::from(self.v4.pick(index))
    }

    #[inline(always)]
    pub fn pick_v6(&self, index: u64) -> Ipv6Addr {
        Ipv6Addr::from(self.v6.pick(index))
    }

    /// Every address, IPv4 first.
    pub fn iter(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let v4 = self.v4.addrs.iter().map(|a| a.to_ip());
        v4.chain(self.v6.addrs.iter().map(|a| a.to_ip()))
    }

    /// The set as `--source-ip` words that give it back.
    pub fn words(&self) -> Vec<String> {
        let mut w = self.v4.words();
        w.extend(self.v6.words());
        w
    }
}

/// A set of addresses already chosen (a part of a parsed set, or the
/// interface's): the limit was checked where they came from.
impl FromIterator<IpAddr> for Sources {
    fn from_iter<I: IntoIterator<Item = IpAddr>>(addrs: I) -> Sources {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for ip in addrs {
            match ip {
                IpAddr::V4(a) => v4.push(u32::from(a)),
                IpAddr::V6(a) => v6.push(u128::from(a)),
            }
        }
        Sources {
            v4: AddrSet::of_addrs(v4),
            v6: AddrSet::of_addrs(v6),
        }
    }
}

/// `a`, `a-b` or `a/prefix`, as an inclusive range of one family.
fn parse_item(item: &str) -> Option<(IpAddr, IpAddr)> {
    if let Some((addr, prefix)) = item.split_once('/') {
        let addr: IpAddr = addr.parse().ok()?;
        if !prefix.bytes().all(|b| b.is_ascii_digit()) || prefix.is_empty() {
            return None;
        }
        let prefix: u8 = prefix.parse().ok()?;
        return match addr {
            IpAddr::V4(a) if prefix <= 32 => {
                let mask = <u32 as AddrBits>::host_mask(prefix) as u32;
                let lo = u32::from(a) & !mask;
                Some((lo.to_ip(), (lo | mask).to_ip()))
            }
            IpAddr::V6(a) if prefix <= 128 => {
                let mask = <u128 as AddrBits>::host_mask(prefix);
                let lo = u128::from(a) & !mask;
                Some((lo.to_ip(), (lo | mask).to_ip()))
            }
            _ => None,
        };
    }
    if let Some((lo, hi)) = item.split_once('-') {
        let (lo, hi): (IpAddr, IpAddr) = (lo.trim().parse().ok()?, hi.trim().parse().ok()?);
        return (Family::of(&lo) == Family::of(&hi)).then_some((lo, hi));
    }
    let ip: IpAddr = item.parse().ok()?;
    Some((ip, ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(lists: &[&str]) -> Result<Sources, String> {
        let mut s = Sources::default();
        for l in lists {
            s.add_list(l)?;
        }
        Ok(s)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_ranges_blocks_and_lists_in_both_families() {
        let s = parse(&[
            "198.19.255.118-198.19.255.119,198.19.255.116/31",
            "2001:2::1",
        ])
        .unwrap();
        assert_eq!(s.len(Family::V4), 4);
        assert_eq!(s.v4.ranges(), &[(0xc613_ff74, 0xc613_ff77)]);
        assert_eq!(s.words(), ["198.19.255.116-198.19.255.119", "2001:2::1"]);
        assert_eq!(s.first(Family::V4), Some(ip("198.19.255.116")));
        assert_eq!(s.first(Family::V6), Some(ip("2001:2::1")));
        assert!(s.is_several());
        // A block's host bits are ignored; overlaps and repeats merge.
        let s = parse(&[
            "198.19.255.5/30,198.19.255.6,198.19.255.10",
            "2001:2::ff/127",
        ])
        .unwrap();
        assert_eq!(
            s.words(),
            [
                "198.19.255.4-198.19.255.7",
                "198.19.255.10",
                "2001:2::fe-2001:2::ff"
            ]
        );
        assert_eq!(s.len(Family::V4), 5);
        // One address per family stays one, as before ranges existed.
        let s = parse(&["198.19.255.1", "2001:2::1"]).unwrap();
        assert!(!s.is_several());
        assert_eq!(
            s,
            Sources::of([Some(ip("198.19.255.1")), Some(ip("2001:2::1"))])
        );
        // Exactly the limit is fine, in both families.
        assert_eq!(parse(&["198.19.0.0/24"]).unwrap().len(Family::V4), 256);
        assert_eq!(parse(&["2001:2::/120"]).unwrap().len(Family::V6), 256);
    }

    #[test]
    fn a_chosen_subset_collects_into_the_same_ranges() {
        let s = parse(&["198.19.255.116/30,198.19.255.120", "2001:2::1-2001:2::3"]).unwrap();
        let again: Sources = s.iter().collect();
        assert_eq!(again, s);
        let unowned: Sources = s
            .iter()
            .filter(|ip| {
                !["198.19.255.116", "198.19.255.117", "2001:2::2"]
                    .contains(&ip.to_string().as_str())
            })
            .collect();
        assert_eq!(
            unowned.words(),
            ["198.19.255.118-198.19.255.120", "2001:2::1", "2001:2::3"]
        );
    }

    #[test]
    fn malformed_and_oversized_lists_name_the_item() {
        for (list, want) in [
            ("198.19.0.1-", r#""198.19.0.1-" is not a source address"#),
            ("198.19.0.1-2001:2::1", r#""198.19.0.1-2001:2::1" is not"#),
            ("198.19.0.0/33", r#""198.19.0.0/33" is not"#),
            ("198.19.0.0/+8", r#""198.19.0.0/+8" is not"#),
            ("198.19.0.1,,198.19.0.2", r#""" is not a source address"#),
            ("eth0", r#""eth0" is not"#),
            (
                "198.19.0.9-198.19.0.1",
                r#""198.19.0.9-198.19.0.1" runs backwards"#,
            ),
            (
                "198.19.0.0/23",
                r#""198.19.0.0/23" makes 512 IPv4 source addresses: give at most 256 per family"#,
            ),
            ("2001:2::/64", "makes 18446744073709551616 IPv6"),
            ("198.19.0.0/24,198.19.1.1", r#""198.19.1.1" makes 257 IPv4"#),
        ] {
            let e = parse(&[list]).unwrap_err();
            assert!(e.contains(want), "{list}: {e}");
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn membership_is_exactly_the_set() {
        let s = parse(&[
            "198.19.255.116-198.19.255.117,198.19.255.120",
            "2001:2::5-2001:2::6",
        ])
        .unwrap();
        for yes in [
            "198.19.255.116",
            "198.19.255.117",
            "198.19.255.120",
            "2001:2::5",
            "2001:2::6",
        ] {
            assert!(s.contains(ip(yes)), "{yes}");
        }
        for no in [
            "198.19.255.115",
            "198.19.255.118",
            "198.19.255.119",
            "198.19.255.121",
            "2001:2::4",
            "2001:2::7",
            "::ffff:198.19.255.116",
        ] {
            assert!(!s.contains(ip(no)), "{no}");
        }
        assert!(!Sources::default().contains(ip("0.0.0.0")));
    }

    #[test]
    fn a_probes_source_is_stable_and_all_are_used_evenly() {
        let s = parse(&["198.19.255.116-198.19.255.119", "2001:2::/126"]).unwrap();
        let mut counts = [0u32; 4];
        for index in 0..40_000u64 {
            let a = s.pick_v4(index);
            assert_eq!(a, s.pick_v4(index), "same index, same source");
            assert!(s.contains(IpAddr::V4(a)));
            assert!(s.contains(IpAddr::V6(s.pick_v6(index))));
            counts[(u32::from(a) - 0xc613_ff74) as usize] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
        // Consecutive indexes (whose ports run in step) do not cycle
        // through the sources in step with them.
        let run: Vec<Ipv4Addr> = (0..8).map(|i| s.pick_v4(i)).collect();
        let step: Vec<Ipv4Addr> = (0..8).map(|i| s.v4.addrs()[i % 4].into()).collect();
        assert_ne!(run, step);
        let one = Sources::of([Some(ip("198.19.255.1")), None]);
        assert!((0..100).all(|i| one.pick_v4(i) == Ipv4Addr::new(198, 19, 255, 1)));
    }
}
