//! The kernel's IPv4 routes, read from /proc/net/route, and the lookup that
//! picks the interface and gateway for a target.
//!
//! /proc/net/route shows the main table only: policy routing and the local
//! table are not consulted. Where that matters, `--interface`,
//! `--source-ip` and `--router-mac` say exactly what to use.

use std::net::Ipv4Addr;

const RTF_UP: u32 = 0x0001;
const RTF_GATEWAY: u32 = 0x0002;
const RTF_REJECT: u32 = 0x0200;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub iface: String,
    pub destination: u32,
    pub mask: u32,
    pub gateway: Option<Ipv4Addr>,
    pub metric: u32,
}

impl Route {
    pub fn covers(&self, addr: u32) -> bool {
        addr & self.mask == self.destination
    }
}

/// The kernel prints each address as the hex of its in-memory (network
/// order) bytes read as a native integer.
fn proc_addr(hex: &str) -> Option<u32> {
    let raw = u32::from_str_radix(hex, 16).ok()?;
    Some(u32::from(Ipv4Addr::from(raw.to_ne_bytes())))
}

/// Parses the text of /proc/net/route; malformed lines are skipped.
pub fn parse_routes(text: &str) -> Vec<Route> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 8 {
                return None;
            }
            let flags = u32::from_str_radix(f[3], 16).ok()?;
            if flags & RTF_UP == 0 || flags & RTF_REJECT != 0 {
                return None;
            }
            let gateway = proc_addr(f[2])?;
            Some(Route {
                iface: f[0].to_string(),
                destination: proc_addr(f[1])?,
                gateway: (flags & RTF_GATEWAY != 0 && gateway != 0)
                    .then(|| Ipv4Addr::from(gateway)),
                metric: f[6].parse().ok()?,
                mask: proc_addr(f[7])?,
            })
        })
        .collect()
}

pub fn read_routes() -> std::io::Result<Vec<Route>> {
    Ok(parse_routes(&std::fs::read_to_string("/proc/net/route")?))
}

/// Longest prefix first, then lowest metric; optionally only routes out of
/// `iface`.
pub fn lookup<'a>(routes: &'a [Route], addr: u32, iface: Option<&str>) -> Option<&'a Route> {
    routes
        .iter()
        .filter(|r| r.covers(addr) && iface.is_none_or(|i| r.iface == i))
        .min_by_key(|r| (std::cmp::Reverse(r.mask.count_ones()), r.metric))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from a machine with a lab up (little-endian x86_64).
    const TABLE: &str = "\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
sswlab0\t000012C6\t02FF13C6\t0003\t0\t0\t0\t00F0FFFF\t0\t0\t0
sswlab0\t00FF13C6\t00000000\t0001\t0\t0\t0\tFCFFFFFF\t0\t0\t0
eth1\t000012C6\t00000000\t0201\t0\t0\t0\t0000FFFF\t0\t0\t0
bad line
";

    fn ip(s: &str) -> u32 {
        u32::from(s.parse::<Ipv4Addr>().unwrap())
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn parses_and_picks_the_longest_prefix() {
        let routes = parse_routes(TABLE);
        assert_eq!(routes.len(), 4, "reject route and junk skipped");
        let lab = lookup(&routes, ip("198.18.4.7"), None).unwrap();
        assert_eq!(lab.iface, "sswlab0");
        assert_eq!(lab.gateway, Some(Ipv4Addr::new(198, 19, 255, 2)));
        assert_eq!(lab.mask, ip("255.255.240.0"));
        let link = lookup(&routes, ip("198.19.255.2"), None).unwrap();
        assert_eq!((link.iface.as_str(), link.gateway), ("sswlab0", None));
        let default = lookup(&routes, ip("8.8.8.8"), None).unwrap();
        assert_eq!(default.gateway, Some(Ipv4Addr::new(192, 0, 2, 1)));
        // Restricted to an interface, the lab route is not taken.
        assert!(
            lookup(&routes, ip("198.18.4.7"), Some("eth0"))
                .unwrap()
                .mask
                == 0
        );
        assert!(lookup(&routes, ip("198.18.4.7"), Some("nope")).is_none());
    }

    #[test]
    fn reads_this_machine_without_error() {
        // Any Linux has the file; it may legitimately hold no routes.
        let _ = read_routes().unwrap();
    }
}
