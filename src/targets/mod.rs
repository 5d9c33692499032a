//! Targets: what the user asked to scan, turned into a probe space.
//!
//! The probe space is the index range `[0, hosts x ports)`; index `i` is host
//! `i % hosts` and port `i / hosts`. Overlapping targets are merged and
//! exclusions removed first, so every (address, port) has exactly one index.

pub mod grammar;
pub mod ranges;
pub mod reserved;

use grammar::GrammarError;
use ranges::{Ipv4Range, Ipv4Set};
use std::fmt;
use std::net::Ipv4Addr;

/// The unvalidated pieces, as parsed from arguments and files.
#[derive(Clone, Debug, Default)]
pub struct TargetSpec {
    pub includes: Vec<Ipv4Range>,
    pub excludes: Vec<Ipv4Range>,
    pub ports: Vec<(u16, u16)>,
    /// Strip the IANA special-purpose blocks from targets not inside them.
    pub default_excludes: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum TargetError {
    Grammar(GrammarError),
    NoTargets,
    NoPorts,
    AllExcluded,
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetError::Grammar(e) => e.fmt(f),
            TargetError::NoTargets => write!(
                f,
                "no targets given: name addresses, CIDR blocks or ranges, or a file with -iL FILE ({})",
                grammar::TARGET_FORMS
            ),
            TargetError::NoPorts => {
                write!(f, "no ports given: use -p/--ports, e.g. -p 22,80,8000-8100")
            }
            TargetError::AllExcluded => write!(
                f,
                "nothing left to scan: every target is excluded by --exclude/--excludefile or by the reserved blocks (name a target inside a reserved block, or pass --no-default-excludes)"
            ),
        }
    }
}

impl std::error::Error for TargetError {}

impl From<GrammarError> for TargetError {
    fn from(e: GrammarError) -> Self {
        TargetError::Grammar(e)
    }
}

/// One (address, port) to probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Probe {
    pub ip: u32,
    pub port: u16,
}

impl Probe {
    pub fn addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.ip)
    }
}

/// The validated set of hosts x ports and the index <-> probe mapping.
#[derive(Clone, Debug)]
pub struct ProbeSpace {
    hosts: Ipv4Set,
    host_count: u64,
    ports: Box<[u16]>,
}

impl ProbeSpace {
    pub fn build(spec: &TargetSpec) -> Result<ProbeSpace, TargetError> {
        if spec.includes.is_empty() {
            return Err(TargetError::NoTargets);
        }
        if spec.ports.is_empty() {
            return Err(TargetError::NoPorts);
        }
        let mut hosts = Vec::new();
        for &target in &spec.includes {
            if spec.default_excludes {
                hosts.extend_from_slice(reserved::strip_reserved(target).ranges());
            } else {
                hosts.push(target);
            }
        }
        let hosts =
            Ipv4Set::from_ranges(hosts).subtract(&Ipv4Set::from_ranges(spec.excludes.clone()));
        if hosts.is_empty() {
            return Err(TargetError::AllExcluded);
        }
        let mut ports: Vec<u16> = spec.ports.iter().flat_map(|&(lo, hi)| lo..=hi).collect();
        ports.sort_unstable();
        ports.dedup();
        Ok(ProbeSpace {
            host_count: hosts.count(),
            hosts,
            ports: ports.into_boxed_slice(),
        })
    }

    pub fn hosts(&self) -> &Ipv4Set {
        &self.hosts
    }

    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    pub fn host_count(&self) -> u64 {
        self.host_count
    }

    /// hosts x ports; at most 2^32 * 2^16 = 2^48.
    pub fn size(&self) -> u64 {
        self.host_count * self.ports.len() as u64
    }

    #[inline]
    pub fn probe(&self, index: u64) -> Probe {
        debug_assert!(index < self.size());
        let host = index % self.host_count;
        let port = (index / self.host_count) as usize;
        Probe {
            ip: self.hosts.nth(host),
            port: self.ports[port],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::grammar::{Origin, parse_ports, parse_target_list};
    use super::*;
    use std::collections::BTreeSet;

    fn spec(includes: &str, excludes: &str, ports: &str, default_excludes: bool) -> TargetSpec {
        TargetSpec {
            includes: parse_target_list(includes, &Origin::Arg("target")).unwrap(),
            excludes: if excludes.is_empty() {
                vec![]
            } else {
                parse_target_list(excludes, &Origin::Arg("--exclude")).unwrap()
            },
            ports: parse_ports(ports, &Origin::Arg("--ports")).unwrap(),
            default_excludes,
        }
    }

    fn all_probes(space: &ProbeSpace) -> Vec<Probe> {
        (0..space.size()).map(|i| space.probe(i)).collect()
    }

    #[test]
    fn overlaps_are_probed_once_and_exclusions_removed() {
        let s = spec(
            "198.18.4.0/30,198.18.4.2-198.18.4.5,198.18.4.5",
            "198.18.4.1",
            "80,22,80,20-22",
            true,
        );
        let space = ProbeSpace::build(&s).unwrap();
        assert_eq!(space.host_count(), 5); // .0 .2 .3 .4 .5
        assert_eq!(space.ports(), &[20, 21, 22, 80]);
        let probes = all_probes(&space);
        let unique: BTreeSet<_> = probes.iter().collect();
        assert_eq!(unique.len(), probes.len());
        assert_eq!(probes.len(), 20);
        assert!(
            !probes
                .iter()
                .any(|p| p.addr() == Ipv4Addr::new(198, 18, 4, 1))
        );
    }

    #[test]
    fn reserved_blocks_follow_the_named_target() {
        // Named inside the benchmarking block: scanned.
        let space = ProbeSpace::build(&spec("198.18.0.0/16", "", "80", true)).unwrap();
        assert_eq!(space.size(), 65536);
        // A wider target that merely contains it: the block is skipped.
        let space = ProbeSpace::build(&spec("198.0.0.0/8", "", "80", true)).unwrap();
        assert!(
            !space
                .hosts()
                .contains(u32::from(Ipv4Addr::new(198, 18, 1, 1)))
        );
        // Opt-out keeps everything.
        let space = ProbeSpace::build(&spec("198.0.0.0/8", "", "80", false)).unwrap();
        assert_eq!(space.size(), 1 << 24);
    }

    #[test]
    fn empty_results_are_errors() {
        let mut s = spec("198.18.0.0/24", "198.18.0.0/23", "80", true);
        assert_eq!(ProbeSpace::build(&s).unwrap_err(), TargetError::AllExcluded);
        s.includes.clear();
        assert_eq!(ProbeSpace::build(&s).unwrap_err(), TargetError::NoTargets);
        let mut s = spec("198.18.0.0/24", "", "80", true);
        s.ports.clear();
        assert_eq!(ProbeSpace::build(&s).unwrap_err(), TargetError::NoPorts);
        // Only reserved space, through a wider target.
        let s = spec("224.0.0.0/3", "", "80", true);
        assert_eq!(ProbeSpace::build(&s).unwrap_err(), TargetError::AllExcluded);
    }

    #[test]
    fn internet_scale_space_indexes_without_overflow() {
        let space = ProbeSpace::build(&spec("0.0.0.0/0", "", "0-65535", false)).unwrap();
        assert_eq!(space.size(), 1 << 48);
        let last = space.probe((1 << 48) - 1);
        assert_eq!((last.ip, last.port), (u32::MAX, 65535));
        assert_eq!(space.probe(1 << 32), Probe { ip: 0, port: 1 });
    }
}
