//! Targets: what the user asked to scan, turned into a probe space.
//!
//! The probe space is the index range `[0, hosts x ports)`; index `i` is
//! host `i % hosts` and port entry `i / hosts`. Hosts are the IPv4 set
//! followed by the IPv6 set, so one scan may mix both families. Overlapping
//! targets are merged and exclusions removed first, so every (address,
//! port) has exactly one index.

pub mod grammar;
pub mod ranges;
pub mod reserved;

use crate::domain::{Family, Protocol};
use crate::net::AddrBits;
use grammar::{AnyRange, GrammarError, Origin, PortRange};
use ranges::{RangeSet, RangeSetBuilder};
use std::fmt;
use std::hash::Hasher;
use std::net::IpAddr;
use std::path::PathBuf;

/// The largest probe space an index can walk: positions are `u64`, and
/// shards and threads stride through them without overflowing.
pub const MAX_PROBES: u64 = 1 << 63;

/// Where targets come from: an argument's comma list, or a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetSource {
    /// A comma list as typed, and the option it came from.
    Arg {
        text: String,
        origin: &'static str,
    },
    File(PathBuf),
}

/// The unvalidated pieces, as given.
#[derive(Clone, Debug, Default)]
pub struct TargetSpec {
    pub includes: Vec<TargetSource>,
    pub excludes: Vec<TargetSource>,
    pub ports: Vec<PortRange>,
    /// Strip the IANA special-purpose blocks from targets not inside them.
    pub default_excludes: bool,
    /// UDP ports probed more than once (one probe per payload), and how
    /// many times.
    pub udp_variants: Vec<(u16, u16)>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum TargetError {
    Grammar(GrammarError),
    NoTargets,
    NoPorts,
    AllExcluded,
    TooLarge { hosts: u128, ports: usize },
}

/// `n` exactly when it is small, else as a power of two.
fn magnitude(n: u128) -> String {
    if n < 1 << 64 {
        n.to_string()
    } else {
        format!("2^{:.1}", (n as f64).log2())
    }
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
            TargetError::TooLarge { hosts, ports } => {
                let total = hosts.saturating_mul(*ports as u128);
                write!(
                    f,
                    "the probe space is too large: {} hosts x {ports} ports = {} probes, and at most 2^63 fit; narrow the targets (e.g. an IPv6 /64 holds 2^64 hosts) or the ports",
                    magnitude(*hosts),
                    magnitude(total)
                )
            }
        }
    }
}

impl std::error::Error for TargetError {}

impl From<GrammarError> for TargetError {
    fn from(e: GrammarError) -> Self {
        TargetError::Grammar(e)
    }
}

/// A probed port: its protocol and number, and which of the port's probes
/// (a UDP port gets one per payload; every other port, variant 0 only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortEntry {
    pub proto: Protocol,
    pub port: u16,
    pub variant: u16,
}

/// One (address, port) to probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Probe {
    pub addr: IpAddr,
    pub proto: Protocol,
    pub port: u16,
    pub variant: u16,
}

/// The validated set of hosts x ports and the index <-> probe mapping.
#[derive(Clone, Debug)]
pub struct ProbeSpace {
    v4: RangeSet<u32>,
    v6: RangeSet<u128>,
    /// Hosts of `v4`: host indexes below this are IPv4.
    v4_count: u64,
    host_count: u64,
    /// Sorted by protocol, then port.
    ports: Box<[PortEntry]>,
}

type Reserved = (Vec<ranges::Range<u32>>, Vec<ranges::Range<u128>>);

/// Both families' builders, fed one target at a time.
#[derive(Default)]
struct Collect {
    v4: RangeSetBuilder<u32>,
    v6: RangeSetBuilder<u128>,
    /// The reserved blocks of each family, when they are stripped.
    strip: Option<Reserved>,
    seen: bool,
}

impl Collect {
    fn add(&mut self, r: AnyRange) {
        self.seen = true;
        match (r, &self.strip) {
            (AnyRange::V4(r), Some((blocks, _))) if !r.is_single() => {
                let kept = reserved::strip_reserved(r, blocks);
                kept.ranges().iter().for_each(|p| self.v4.push(*p));
            }
            (AnyRange::V6(r), Some((_, blocks))) if !r.is_single() => {
                let kept = reserved::strip_reserved(r, blocks);
                kept.ranges().iter().for_each(|p| self.v6.push(*p));
            }
            (AnyRange::V4(r), _) => self.v4.push(r),
            (AnyRange::V6(r), _) => self.v6.push(r),
        }
    }

    fn read(&mut self, sources: &[TargetSource]) -> Result<(), GrammarError> {
        for s in sources {
            match s {
                TargetSource::Arg { text, origin } => {
                    grammar::parse_target_list(text, &Origin::Arg(origin), &mut |r| self.add(r))?
                }
                TargetSource::File(path) => grammar::read_target_file(path, &mut |r| self.add(r))?,
            }
        }
        Ok(())
    }
}

impl ProbeSpace {
    pub fn build(spec: &TargetSpec) -> Result<ProbeSpace, TargetError> {
        if spec.includes.is_empty() {
            return Err(TargetError::NoTargets);
        }
        if spec.ports.is_empty() {
            return Err(TargetError::NoPorts);
        }
        let mut include = Collect {
            strip: spec.default_excludes.then(|| {
                (
                    reserved::reserved_blocks::<u32>(),
                    reserved::reserved_blocks::<u128>(),
                )
            }),
            ..Collect::default()
        };
        include.read(&spec.includes)?;
        if !include.seen {
            return Err(TargetError::NoTargets);
        }
        let mut exclude = Collect::default();
        exclude.read(&spec.excludes)?;
        let v4 = include.v4.build().subtract(&exclude.v4.build());
        let v6 = include.v6.build().subtract(&exclude.v6.build());
        if v4.is_empty() && v6.is_empty() {
            return Err(TargetError::AllExcluded);
        }
        // A bit per (protocol, port) first: a list repeating 0-65535 a
        // thousand times costs 16 KiB, not a thousand copies (fuzzing).
        let mut wanted = vec![[0u64; 1024]; Protocol::ALL.len()];
        for r in &spec.ports {
            let bits = &mut wanted[r.proto as usize];
            for port in r.first..=r.last {
                bits[usize::from(port / 64)] |= 1 << (port % 64);
            }
        }
        let ports: Vec<PortEntry> = Protocol::ALL
            .iter()
            .flat_map(|&proto| {
                let bits = &wanted[proto as usize];
                (0..=u16::MAX)
                    .filter(move |p| bits[usize::from(p / 64)] & (1 << (p % 64)) != 0)
                    .map(move |port| (proto, port))
            })
            .flat_map(|(proto, port)| {
                let variants = match proto {
                    Protocol::Udp => spec
                        .udp_variants
                        .binary_search_by_key(&port, |(p, _)| *p)
                        .map_or(1, |i| spec.udp_variants[i].1.max(1)),
                    _ => 1,
                };
                (0..variants).map(move |variant| PortEntry {
                    proto,
                    port,
                    variant,
                })
            })
            .collect();
        let hosts = v4.count().saturating_add(v6.count());
        let fits = u64::try_from(hosts)
            .ok()
            .and_then(|h| h.checked_mul(ports.len() as u64))
            .is_some_and(|size| size <= MAX_PROBES);
        if !fits {
            return Err(TargetError::TooLarge {
                hosts,
                ports: ports.len(),
            });
        }
        Ok(ProbeSpace {
            v4_count: v4.count() as u64,
            host_count: hosts as u64,
            v4,
            v6,
            ports: ports.into_boxed_slice(),
        })
    }

    /// A space from target, exclusion and port text (tests, tools); ports
    /// are TCP unless `U:` names UDP.
    pub fn parse(targets: &str, excludes: &str, ports: &str) -> Result<ProbeSpace, TargetError> {
        let arg = |text: &str, origin| TargetSource::Arg {
            text: text.to_string(),
            origin,
        };
        ProbeSpace::build(&TargetSpec {
            includes: vec![arg(targets, "target")],
            excludes: if excludes.is_empty() {
                vec![]
            } else {
                vec![arg(excludes, "--exclude")]
            },
            ports: grammar::parse_port_specs(ports, &Origin::Arg("--ports"))?
                .iter()
                .flat_map(|s| s.resolve(&[s.proto.unwrap_or(Protocol::Tcp)]))
                .collect(),
            default_excludes: true,
            udp_variants: Vec::new(),
        })
    }

    pub fn v4(&self) -> &RangeSet<u32> {
        &self.v4
    }

    pub fn v6(&self) -> &RangeSet<u128> {
        &self.v6
    }

    pub fn ports(&self) -> &[PortEntry] {
        &self.ports
    }

    /// The port numbers of one protocol, ascending, each once (a port with
    /// several payloads has an entry per payload).
    pub fn port_numbers(&self, proto: Protocol) -> Vec<u16> {
        self.ports
            .iter()
            .filter(|e| e.proto == proto && e.variant == 0)
            .map(|e| e.port)
            .collect()
    }

    pub fn host_count(&self) -> u64 {
        self.host_count
    }

    /// hosts x ports; at most `MAX_PROBES`.
    pub fn size(&self) -> u64 {
        self.host_count * self.ports.len() as u64
    }

    /// The `n`-th host: IPv4 hosts first, then IPv6.
    #[inline(always)]
    pub fn host(&self, n: u64) -> IpAddr {
        if n < self.v4_count {
            self.v4.nth(n).to_ip()
        } else {
            self.v6.nth(n - self.v4_count).to_ip()
        }
    }

    /// The first host of each family, if the space has one (to route by).
    pub fn first_hosts(&self) -> (Option<IpAddr>, Option<IpAddr>) {
        let v4 = (self.v4_count > 0).then(|| self.host(0));
        let v6 = (self.host_count > self.v4_count).then(|| self.host(self.v4_count));
        (v4, v6)
    }

    #[inline(always)]
    pub fn probe(&self, index: u64) -> Probe {
        debug_assert!(index < self.size());
        let host = index % self.host_count;
        let entry = self.ports[(index / self.host_count) as usize];
        Probe {
            addr: self.host(host),
            proto: entry.proto,
            port: entry.port,
            variant: entry.variant,
        }
    }

    /// The index of (addr, proto, port)'s first probe, if it is in the
    /// space: every probe of a port answers for all of them.
    #[inline]
    pub fn index_of(&self, addr: IpAddr, proto: Protocol, port: u16) -> Option<u64> {
        let host = match addr {
            IpAddr::V4(a) => self.v4.rank(u32::from(a))?,
            IpAddr::V6(a) => self.v4_count + self.v6.rank(u128::from(a))?,
        };
        let variant = 0;
        let entry = self
            .ports
            .binary_search(&PortEntry {
                proto,
                port,
                variant,
            })
            .ok()?;
        Some(entry as u64 * self.host_count + host)
    }

    /// The same ports over other hosts: per family, `Some(hosts)` replaces
    /// that family's targets (discovery's survivors), `None` keeps them.
    /// `None` if no host is left.
    pub fn replace_hosts(
        &self,
        v4: Option<Vec<IpAddr>>,
        v6: Option<Vec<IpAddr>>,
    ) -> Option<ProbeSpace> {
        fn set<A: AddrBits>(hosts: Vec<IpAddr>, bits: fn(IpAddr) -> Option<A>) -> RangeSet<A> {
            let mut b = RangeSetBuilder::new();
            hosts
                .into_iter()
                .filter_map(bits)
                .for_each(|a| b.push(ranges::Range::single(a)));
            b.build()
        }
        let v4 = match v4 {
            Some(h) => set(h, |a| match a {
                IpAddr::V4(a) => Some(u32::from(a)),
                IpAddr::V6(_) => None,
            }),
            None => self.v4.clone(),
        };
        let v6 = match v6 {
            Some(h) => set(h, |a| match a {
                IpAddr::V6(a) => Some(u128::from(a)),
                IpAddr::V4(_) => None,
            }),
            None => self.v6.clone(),
        };
        Self::of_parts(v4, v6, self.ports.clone())
    }

    /// The same hosts, probed with `ports` instead.
    pub fn with_ports(&self, ports: Vec<PortEntry>) -> ProbeSpace {
        let mut ports = ports.into_boxed_slice();
        ports.sort_unstable();
        Self::of_parts(self.v4.clone(), self.v6.clone(), ports).expect("the same hosts")
    }

    /// The hosts of the given families only; `None` if they have none.
    pub fn of_families(&self, families: &[Family]) -> Option<ProbeSpace> {
        let v4 = if families.contains(&Family::V4) {
            self.v4.clone()
        } else {
            RangeSet::default()
        };
        let v6 = if families.contains(&Family::V6) {
            self.v6.clone()
        } else {
            RangeSet::default()
        };
        Self::of_parts(v4, v6, self.ports.clone())
    }

    /// Callers keep within the size of a space that was built (fewer hosts
    /// or as many, each at most as many ports).
    fn of_parts(
        v4: RangeSet<u32>,
        v6: RangeSet<u128>,
        ports: Box<[PortEntry]>,
    ) -> Option<ProbeSpace> {
        let (n4, n6) = (v4.count() as u64, v6.count() as u64);
        (n4 + n6 > 0 && !ports.is_empty()).then(|| ProbeSpace {
            v4,
            v6,
            v4_count: n4,
            host_count: n4 + n6,
            ports,
        })
    }

    /// A digest of exactly which probes the space holds (not how they were
    /// written down): a resumed scan must walk the same space.
    pub fn digest(&self) -> u64 {
        let mut h = siphasher::sip::SipHasher24::new_with_keys(0x0073_7061_6365, 0x6469_6765_7374);
        self.v4.digest_into(&mut h);
        self.v6.digest_into(&mut h);
        for e in self.ports.iter() {
            h.write_u8(e.proto as u8);
            h.write_u16(e.port);
            // Only where there are several (UDP payloads), so a TCP
            // space's digest is what it always was.
            if e.variant != 0 {
                h.write_u16(e.variant);
            }
        }
        h.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn all_probes(space: &ProbeSpace) -> Vec<Probe> {
        (0..space.size()).map(|i| space.probe(i)).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn overlaps_are_probed_once_and_exclusions_removed() {
        let space = ProbeSpace::parse(
            "198.18.4.0/30,198.18.4.2-198.18.4.5,198.18.4.5",
            "198.18.4.1",
            "80,22,80,20-22",
        )
        .unwrap();
        assert_eq!(space.host_count(), 5); // .0 .2 .3 .4 .5
        assert_eq!(space.port_numbers(Protocol::Tcp), [20, 21, 22, 80]);
        let entry = |port, variant| PortEntry {
            proto: Protocol::Udp,
            port,
            variant,
        };
        let udp = space.with_ports(vec![entry(53, 0), entry(53, 1), entry(80, 0)]);
        assert_eq!(udp.port_numbers(Protocol::Udp), [53, 80]);
        let probes = all_probes(&space);
        let unique: BTreeSet<_> = probes.iter().map(|p| (p.addr, p.port)).collect();
        assert_eq!(unique.len(), probes.len());
        assert_eq!(probes.len(), 20);
        assert!(!probes.iter().any(|p| p.addr == ip("198.18.4.1")));
        for (i, p) in probes.iter().enumerate() {
            assert_eq!(space.index_of(p.addr, p.proto, p.port), Some(i as u64));
        }
        assert_eq!(space.index_of(ip("198.18.4.1"), Protocol::Tcp, 80), None);
        assert_eq!(space.index_of(ip("198.18.4.0"), Protocol::Tcp, 81), None);
        assert_eq!(space.index_of(ip("198.18.4.0"), Protocol::Udp, 80), None);
    }

    #[test]
    fn both_families_share_one_space() {
        let space = ProbeSpace::parse(
            "2001:2::1000/126,198.18.0.0/31,2001:2::7,2001:2::1001",
            "2001:2::1002",
            "22,443",
        )
        .unwrap();
        // 2 IPv4 + (4 - 1 + 1) IPv6 hosts.
        assert_eq!(space.host_count(), 6);
        assert_eq!(space.size(), 12);
        let hosts: Vec<String> = (0..6).map(|h| space.host(h).to_string()).collect();
        assert_eq!(
            hosts,
            [
                "198.18.0.0",
                "198.18.0.1",
                "2001:2::1000",
                "2001:2::1001",
                "2001:2::1003",
                "2001:2::7"
            ]
        );
        assert_eq!(
            space.first_hosts(),
            (Some(ip("198.18.0.0")), Some(ip("2001:2::1000")))
        );
        for i in 0..space.size() {
            let p = space.probe(i);
            assert_eq!(space.index_of(p.addr, p.proto, p.port), Some(i));
        }
        let v6_only = ProbeSpace::parse("2001:2::/120", "", "80").unwrap();
        assert_eq!(v6_only.first_hosts(), (None, Some(ip("2001:2::"))));
    }

    #[test]
    fn reserved_blocks_follow_the_named_target() {
        let space = ProbeSpace::parse("198.18.0.0/16", "", "80").unwrap();
        assert_eq!(space.size(), 65536);
        let space = ProbeSpace::parse("198.0.0.0/8", "", "80").unwrap();
        assert!(!space.v4().contains(0xc612_0101));
        let mut spec = TargetSpec {
            includes: vec![TargetSource::Arg {
                text: "198.0.0.0/8".into(),
                origin: "target",
            }],
            ports: grammar::parse_ports("80", &Origin::Arg("p")).unwrap(),
            default_excludes: false,
            ..TargetSpec::default()
        };
        assert_eq!(ProbeSpace::build(&spec).unwrap().size(), 1 << 24);
        spec.includes[0] = TargetSource::Arg {
            text: "2001:2::/47".into(),
            origin: "target",
        };
        spec.default_excludes = true;
        // The /47 holds the benchmarking /48 without lying inside it.
        assert_eq!(
            ProbeSpace::build(&spec).unwrap_err().to_string(),
            TargetError::TooLarge {
                hosts: 1 << 80,
                ports: 1
            }
            .to_string()
        );
    }

    #[test]
    fn empty_and_oversized_results_are_errors() {
        assert_eq!(
            ProbeSpace::parse("198.18.0.0/24", "198.18.0.0/23", "80").unwrap_err(),
            TargetError::AllExcluded
        );
        assert_eq!(
            ProbeSpace::parse("224.0.0.0/3", "", "80").unwrap_err(),
            TargetError::AllExcluded
        );
        let e = ProbeSpace::parse("2001:2::/64", "", "22,80").unwrap_err();
        assert_eq!(
            e.to_string(),
            "the probe space is too large: 2^64.0 hosts x 2 ports = 2^65.0 probes, and at most 2^63 fit; narrow the targets (e.g. an IPv6 /64 holds 2^64 hosts) or the ports"
        );
        let e = ProbeSpace::parse("::/0", "", "80").unwrap_err().to_string();
        assert!(e.contains("2^128.0 hosts x 1 ports"), "{e}");
        // 2^62 hosts x 2 ports = 2^63: fits exactly.
        let edge = ProbeSpace::parse("2001:2::/66", "", "80,81").unwrap();
        assert_eq!(edge.size(), 1 << 63);
        let last = edge.probe((1 << 63) - 1);
        assert_eq!(
            (last.addr, last.port),
            (ip("2001:2:0:0:3fff:ffff:ffff:ffff"), 81)
        );
    }

    #[test]
    fn internet_scale_space_indexes_without_overflow() {
        let space = ProbeSpace::build(&TargetSpec {
            includes: vec![TargetSource::Arg {
                text: "0.0.0.0/0".into(),
                origin: "target",
            }],
            ports: grammar::parse_ports("0-65535", &Origin::Arg("p")).unwrap(),
            ..TargetSpec::default()
        })
        .unwrap();
        assert_eq!(space.size(), 1 << 48);
        let last = space.probe((1 << 48) - 1);
        assert_eq!((last.addr, last.port), (ip("255.255.255.255"), 65535));
        assert_eq!(space.probe(1 << 32).addr, ip("0.0.0.0"));
        assert_eq!(space.probe(1 << 32).port, 1);
    }

    #[test]
    fn digest_tells_spaces_apart() {
        let a = ProbeSpace::parse("198.18.0.0/24", "", "80").unwrap();
        let b = ProbeSpace::parse("198.18.0.0-198.18.0.255", "", "80").unwrap();
        let c = ProbeSpace::parse("198.18.0.0/24", "198.18.0.9", "80").unwrap();
        let d = ProbeSpace::parse("198.18.0.0/24", "", "81").unwrap();
        assert_eq!(a.digest(), b.digest());
        assert_ne!(a.digest(), c.digest());
        assert_ne!(a.digest(), d.digest());
    }
}
