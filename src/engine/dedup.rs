//! Report each (address, protocol, port) once, in bounded memory.
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
use crate::domain::Protocol;
use crate::targets::ProbeSpace;
use std::net::IpAddr;
use std::sync::Arc;

/// Largest probe space given an exact bitmap.
const EXACT_MAX_PROBES: u64 = 1 << 26;
const RECENT_BUCKET_BITS: u32 = 17;
const RECENT_WAYS: usize = 8;

pub enum Dedup {
    Exact {
        space: Arc<ProbeSpace>,
        seen: Answered,
    },
    Recent {
        buckets: Vec<[u64; RECENT_WAYS]>,
    },
}

/// murmur3's fmix64: a full avalanche, so structured keys (consecutive
/// addresses) spread over the buckets.
#[inline]
fn mix(mut h: u64) -> u64 {
    h = (h ^ (h >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    h = (h ^ (h >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

impl Dedup {
    /// Exact over `answered` when there is one (a scan that reports
    /// silence), else exact in memory for small spaces, else recent.
    pub fn for_space(space: Arc<ProbeSpace>, answered: Option<Answered>) -> Dedup {
        match answered {
            Some(seen) => Dedup::Exact { space, seen },
            None if space.size() <= EXACT_MAX_PROBES => Dedup::Exact {
                seen: Answered::in_memory(space.size()).expect("a map of at most 8 MiB"),
                space,
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

    /// True the first time (addr, proto, port) is seen.
    #[inline]
    pub fn first_time(&mut self, addr: IpAddr, proto: Protocol, port: u16) -> bool {
        match self {
            Dedup::Exact { space, seen } => {
                // The receiver passes only replies to scanned probes.
                let Some(index) = space.index_of(addr, proto, port) else {
                    return false;
                };
                seen.set(index)
            }
            Dedup::Recent { buckets } => {
                let (wide, family) = match addr {
                    IpAddr::V4(a) => (u128::from(u32::from(a)), 4u64),
                    IpAddr::V6(a) => (u128::from(a), 6),
                };
                let tail = u64::from(port) << 16 | (proto as u64) << 8 | family;
                // 64 bits of key, each part mixed before the next joins it,
                // so no structure in one part (consecutive addresses) can
                // cancel another's: two different results share a key with
                // probability 2^-64 per pair. 0 marks an empty slot.
                let key = mix(mix(mix(tail) ^ (wide >> 64) as u64) ^ wide as u64).max(1);
                let h = (mix(key) >> (64 - RECENT_BUCKET_BITS)) as usize;
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
    use std::net::Ipv4Addr;

    fn v4(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(n))
    }

    #[test]
    fn exact_reports_every_probe_once() {
        let s = Arc::new(
            ProbeSpace::parse(
                "198.18.0.0/20,198.18.32.5,2001:2::1000/120",
                "",
                "22,80,443,8000-8010",
            )
            .unwrap(),
        );
        let mut d = Dedup::for_space(s.clone(), None);
        assert!(matches!(d, Dedup::Exact { .. }));
        for round in 0..3 {
            for i in 0..s.size() {
                let p = s.probe(i);
                assert_eq!(
                    d.first_time(p.addr, p.proto, p.port),
                    round == 0,
                    "{p:?} round {round}"
                );
            }
        }
    }

    #[test]
    fn every_port_including_65535_is_its_own_result() {
        // 65535 once marked "port not scanned": with every port scanned it
        // collided with the real port 65535, which then never deduplicated.
        let s = Arc::new(ProbeSpace::parse("198.18.0.0/30", "", "0-65535").unwrap());
        let mut d = Dedup::for_space(s.clone(), None);
        for host in 0..4 {
            let a = v4(0xc612_0000 + host);
            for port in [0, 1, 65534, 65535] {
                assert!(d.first_time(a, Protocol::Tcp, port), "{a} {port}");
                for _ in 0..2 {
                    assert!(!d.first_time(a, Protocol::Tcp, port), "{a} {port} again");
                }
            }
        }
    }

    #[test]
    fn recent_forgets_only_after_many_other_results() {
        let mut d = Dedup::recent();
        let n = 65_536u32;
        for i in 0..n {
            assert!(d.first_time(v4(0xc612_0000 + i), Protocol::Tcp, 80));
            assert!(!d.first_time(v4(0xc612_0000 + i), Protocol::Tcp, 80));
        }
        let repeated = (0..n)
            .filter(|&i| d.first_time(v4(0xc612_0000 + i), Protocol::Tcp, 80))
            .count();
        assert_eq!(repeated, 0);
        // The same address and port over another protocol or family is new.
        assert!(d.first_time(v4(0xc612_0000), Protocol::Udp, 80));
        assert!(d.first_time("::ffff:198.18.0.0".parse().unwrap(), Protocol::Tcp, 80));
        for i in 0..(4 << 20) {
            d.first_time(v4(i), Protocol::Tcp, 443);
        }
        let forgotten = (0..n)
            .filter(|&i| d.first_time(v4(0xc612_0000 + i), Protocol::Tcp, 80))
            .count();
        assert!(forgotten > 60_000, "bounded memory forgets: {forgotten}");
    }

    #[test]
    fn big_spaces_use_the_bounded_table() {
        let s = ProbeSpace::parse("8.0.0.0/8", "", "80,443,8080,8443,22").unwrap();
        assert!(matches!(
            Dedup::for_space(Arc::new(s.clone()), None),
            Dedup::Recent { .. }
        ));
        // A scan that reports silence keeps the exact record whatever its size.
        let record = Answered::in_memory(s.size()).unwrap();
        assert!(matches!(
            Dedup::for_space(Arc::new(s), Some(record)),
            Dedup::Exact { .. }
        ));
    }
}
