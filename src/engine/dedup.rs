//! Report each (address, protocol, port) once, in bounded memory, keyed by
//! the index of its (first) probe, which the receiver has already found.
//!
//! Retries and retransmitted answers make the same result arrive several
//! times. When the probe space is small enough (up to 2^26 probes, an 8 MiB
//! bitmap), or the scan reports silence (which needs the exact record of
//! answered probes, `answered.rs`, up to its limit), every probe index gets
//! a bit and the answer is exact. Beyond
//! that a fixed set-associative table (2^17 buckets x 8 recent keys, 8 MiB)
//! remembers recent results: a copy is reported again only if 8 newer
//! results landed in its bucket first. With `n` results in between, that
//! happens with probability P[Poisson(n / 2^17) >= 8]: about 1e-7 for
//! n = 65,536 and 1e-5 for n = 131,072. Retries trail their originals by
//! about a second, so at 100,000 results a second a repeat is ~1 in 10^6.

use super::answered::Answered;
use crate::targets::ProbeSpace;

/// Largest probe space given an exact bitmap.
const EXACT_MAX_PROBES: u64 = 1 << 26;
const RECENT_BUCKET_BITS: u32 = 17;
const RECENT_WAYS: usize = 8;

pub enum Dedup {
    Exact { seen: Answered },
    Recent { buckets: Vec<[u64; RECENT_WAYS]> },
}

/// murmur3's fmix64: a full avalanche, so structured keys (consecutive
/// indices) spread over the buckets.
#[inline]
fn mix(mut h: u64) -> u64 {
    h = (h ^ (h >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    h = (h ^ (h >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

impl Dedup {
    /// Exact over `answered` when there is one (a scan that reports
    /// silence), else exact in memory for small spaces, else recent.
    pub fn for_space(space: &ProbeSpace, answered: Option<Answered>) -> Dedup {
        match answered {
            Some(seen) => Dedup::Exact { seen },
            None if space.size() <= EXACT_MAX_PROBES => Dedup::Exact {
                seen: Answered::in_memory(space.size()).expect("a map of at most 8 MiB"),
            },
            None => Dedup::recent(),
        }
    }

    /// The exact record, for the silence report.
    pub fn into_answered(self) -> Option<Answered> {
        match self {
            Dedup::Exact { seen, .. } => Some(seen),
            Dedup::Recent { .. } => None,
        }
    }

    pub fn recent() -> Dedup {
        Dedup::Recent {
            buckets: vec![[0; RECENT_WAYS]; 1 << RECENT_BUCKET_BITS],
        }
    }

    /// True the first time the result of probe `index` (the first probe
    /// of its address, protocol and port: `ProbeSpace::index_of`) is seen.
    #[inline]
    pub fn first_time(&mut self, index: u64) -> bool {
        match self {
            Dedup::Exact { seen } => seen.set(index),
            Dedup::Recent { buckets } => {
                // Indices are below 2^64 - 1, so the key is never 0, which
                // marks an empty slot.
                let key = index + 1;
                let h = (mix(index) >> (64 - RECENT_BUCKET_BITS)) as usize;
                let bucket = &mut buckets[h];
                if bucket.contains(&key) {
                    return false;
                }
                // Oldest entry falls off the end.
                bucket.copy_within(0..RECENT_WAYS - 1, 1);
                bucket[0] = key;
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Protocol;
    use std::net::{IpAddr, Ipv4Addr};

    fn v4(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(n))
    }

    #[test]
    fn exact_reports_every_probe_once() {
        let s = ProbeSpace::parse(
            "198.18.0.0/20,198.18.32.5,2001:2::1000/120",
            "",
            "22,80,443,8000-8010",
        )
        .unwrap();
        let mut d = Dedup::for_space(&s, None);
        assert!(matches!(d, Dedup::Exact { .. }));
        for round in 0..3 {
            for i in 0..s.size() {
                let p = s.probe(i);
                let index = s.index_of(p.addr, p.proto, p.port).unwrap();
                assert_eq!(d.first_time(index), round == 0, "{p:?} round {round}");
            }
        }
    }

    #[test]
    fn every_port_including_65535_is_its_own_result() {
        // 65535 once marked "port not scanned": with every port scanned it
        // collided with the real port 65535, which then never deduplicated.
        let s = ProbeSpace::parse("198.18.0.0/30", "", "0-65535").unwrap();
        let mut d = Dedup::for_space(&s, None);
        for host in 0..4 {
            let a = v4(0xc612_0000 + host);
            for port in [0, 1, 65534, 65535] {
                let index = s.index_of(a, Protocol::Tcp, port).unwrap();
                assert!(d.first_time(index), "{a} {port}");
                for _ in 0..2 {
                    assert!(!d.first_time(index), "{a} {port} again");
                }
            }
        }
    }

    #[test]
    fn recent_forgets_only_after_many_other_results() {
        let mut d = Dedup::recent();
        let n = 65_536u64;
        // Consecutive indices, as consecutive hosts of one port have.
        let base = 7 << 32;
        for i in 0..n {
            assert!(d.first_time(base + i));
            assert!(!d.first_time(base + i));
        }
        let repeated = (0..n).filter(|&i| d.first_time(base + i)).count();
        assert_eq!(repeated, 0);
        assert!(d.first_time(0), "index 0 is a result like any other");
        assert!(!d.first_time(0));
        for i in 0..(4 << 20) {
            d.first_time(i + 1);
        }
        let forgotten = (0..n).filter(|&i| d.first_time(base + i)).count();
        assert!(forgotten > 60_000, "bounded memory forgets: {forgotten}");
    }

    #[test]
    fn big_spaces_use_the_bounded_table() {
        let s = ProbeSpace::parse("8.0.0.0/8", "", "80,443,8080,8443,22").unwrap();
        assert!(matches!(Dedup::for_space(&s, None), Dedup::Recent { .. }));
        // A scan that reports silence keeps the exact record whatever its size.
        let record = Answered::in_memory(s.size()).unwrap();
        assert!(matches!(
            Dedup::for_space(&s, Some(record)),
            Dedup::Exact { .. }
        ));
    }
}
