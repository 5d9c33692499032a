//! Report each (address, port) once, in bounded memory.
//!
//! Retries and retransmitted SYN-ACKs make the same answer arrive several
//! times. When the probe space is small enough (up to 2^26 probes, an 8 MiB
//! bitmap) every probe gets a bit and the answer is exact. Beyond that a
//! fixed set-associative table (2^17 buckets x 8 recent keys, 8 MiB)
//! remembers recent results: a copy is reported again only if 8 newer
//! results landed in its bucket first. With `n` results in between, that
//! happens with probability P[Poisson(n / 2^17) >= 8]: about 1e-7 for
//! n = 65,536 and 1e-5 for n = 131,072. Retries trail their originals by
//! about a second, so at 100,000 results a second a repeat is ~1 in 10^6.

use crate::targets::ProbeSpace;
use std::sync::Arc;

/// Largest probe space given an exact bitmap.
const EXACT_MAX_PROBES: u64 = 1 << 26;
const RECENT_BUCKET_BITS: u32 = 17;
const RECENT_WAYS: usize = 8;

pub enum Dedup {
    Exact {
        space: Arc<ProbeSpace>,
        port_index: Box<[u16]>,
        seen: Vec<u64>,
    },
    Recent {
        buckets: Vec<[u64; RECENT_WAYS]>,
    },
}

impl Dedup {
    pub fn for_space(space: Arc<ProbeSpace>) -> Dedup {
        if space.size() <= EXACT_MAX_PROBES {
            // port -> index among the scanned ports, for O(1) lookup.
            let mut port_index = vec![u16::MAX; 65536].into_boxed_slice();
            for (i, &p) in space.ports().iter().enumerate() {
                port_index[usize::from(p)] = i as u16;
            }
            let words = space.size().div_ceil(64) as usize;
            Dedup::Exact {
                space,
                port_index,
                seen: vec![0; words],
            }
        } else {
            Dedup::recent()
        }
    }

    pub fn recent() -> Dedup {
        Dedup::Recent {
            buckets: vec![[0; RECENT_WAYS]; 1 << RECENT_BUCKET_BITS],
        }
    }

    /// True the first time (ip, port) is seen.
    #[inline]
    pub fn first_time(&mut self, ip: u32, port: u16) -> bool {
        match self {
            Dedup::Exact {
                space,
                port_index,
                seen,
            } => {
                let p = port_index[usize::from(port)];
                let Some(host) = space.hosts().rank(ip) else {
                    // Validated replies come from scanned hosts; if not, let
                    // it through rather than hide a result.
                    return true;
                };
                if p == u16::MAX {
                    return true;
                }
                let index = u64::from(p) * space.host_count() + host;
                let (word, bit) = ((index / 64) as usize, index % 64);
                let fresh = seen[word] & (1 << bit) == 0;
                seen[word] |= 1 << bit;
                fresh
            }
            Dedup::Recent { buckets } => {
                // +1 so that 0 means an empty slot.
                let key = ((u64::from(ip) << 16) | u64::from(port)) + 1;
                // A full avalanche: keys differ in structured high bits
                // (consecutive addresses), which a single multiply clusters.
                let mut h = key;
                h = (h ^ (h >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
                h = (h ^ (h >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
                let h = ((h ^ (h >> 33)) >> (64 - RECENT_BUCKET_BITS)) as usize;
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
    use crate::targets::TargetSpec;
    use crate::targets::grammar::{Origin, parse_ports, parse_target_list};

    fn space(t: &str, p: &str) -> Arc<ProbeSpace> {
        Arc::new(
            ProbeSpace::build(&TargetSpec {
                includes: parse_target_list(t, &Origin::Arg("t")).unwrap(),
                excludes: vec![],
                ports: parse_ports(p, &Origin::Arg("p")).unwrap(),
                default_excludes: false,
            })
            .unwrap(),
        )
    }

    #[test]
    fn exact_reports_every_probe_once() {
        let s = space("198.18.0.0/20,198.18.32.5", "22,80,443,8000-8010");
        let mut d = Dedup::for_space(s.clone());
        assert!(matches!(d, Dedup::Exact { .. }));
        for round in 0..3 {
            for i in 0..s.size() {
                let p = s.probe(i);
                assert_eq!(
                    d.first_time(p.ip, p.port),
                    round == 0,
                    "{p:?} round {round}"
                );
            }
        }
    }

    #[test]
    fn recent_forgets_only_after_many_other_results() {
        let mut d = Dedup::recent();
        // 65,536 keys: the Poisson tail predicts ~0.01 evictions in total.
        let n = 65_536u32;
        for i in 0..n {
            assert!(d.first_time(0xc612_0000 + i, 80));
            assert!(!d.first_time(0xc612_0000 + i, 80), "immediate repeat");
        }
        let repeated = (0..n)
            .filter(|&i| d.first_time(0xc612_0000 + i, 80))
            .count();
        assert_eq!(repeated, 0);
        // Four times the slots: old keys must eventually fall out.
        for i in 0..(4 << 20) {
            d.first_time(i, 443);
        }
        let forgotten = (0..n)
            .filter(|&i| d.first_time(0xc612_0000 + i, 80))
            .count();
        assert!(forgotten > 60_000, "bounded memory forgets: {forgotten}");
    }

    #[test]
    fn big_spaces_use_the_bounded_table() {
        let s = space("0.0.0.0/0", "80,443");
        assert!(matches!(Dedup::for_space(s), Dedup::Recent { .. }));
    }
}
