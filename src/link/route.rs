//! The kernel's routes, read from /proc/net/route (IPv4) and
//! /proc/net/ipv6_route (IPv6), and the lookup that picks the interface and
//! gateway for a target.
//!
//! /proc/net/route shows the main table only: policy routing and the local
//! table are not consulted. Where that matters, `--interface`,
//! `--source-ip` and `--router-mac` say exactly what to use.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const RTF_UP: u32 = 0x0001;
const RTF_GATEWAY: u32 = 0x0002;
const RTF_REJECT: u32 = 0x0200;

/// A route to a block of one family, as `u128` bits (IPv4 in the low 32).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub iface: String,
    pub destination: IpAddr,
    pub prefix: u8,
    pub gateway: Option<IpAddr>,
    pub metric: u32,
}

fn bits(a: IpAddr) -> (u128, u32) {
    match a {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

impl Route {
    pub fn covers(&self, addr: IpAddr) -> bool {
        let ((dst, width), (a, w)) = (bits(self.destination), bits(addr));
        if width != w {
            return false;
        }
        let host_bits = width - u32::from(self.prefix);
        let mask = if host_bits >= 128 {
            0
        } else {
            !0u128 << host_bits
        };
        (a ^ dst) & mask & (u128::MAX >> (128 - width)) == 0
    }
}

/// The kernel prints each address as the hex of its in-memory (network
/// order) bytes read as a native integer.
fn proc_addr_v4(hex: &str) -> Option<Ipv4Addr> {
    let raw = u32::from_str_radix(hex, 16).ok()?;
    Some(Ipv4Addr::from(raw.to_ne_bytes()))
}

/// Parses the text of /proc/net/route; malformed lines are skipped.
pub fn parse_routes_v4(text: &str) -> Vec<Route> {
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
            let gateway = proc_addr_v4(f[2])?;
            let mask = u32::from(proc_addr_v4(f[7])?);
            Some(Route {
                iface: f[0].to_string(),
                destination: IpAddr::V4(proc_addr_v4(f[1])?),
                prefix: mask.count_ones() as u8,
                gateway: (flags & RTF_GATEWAY != 0 && !gateway.is_unspecified())
                    .then_some(IpAddr::V4(gateway)),
                metric: f[6].parse().ok()?,
            })
        })
        .collect()
}

/// Parses the text of /proc/net/ipv6_route: destination, its prefix
/// length, source and its prefix length, next hop, metric, refcount, use,
/// flags, interface; addresses as 32 hex digits. Malformed lines are
/// skipped.
pub fn parse_routes_v6(text: &str) -> Vec<Route> {
    let addr = |hex: &str| -> Option<Ipv6Addr> {
        (hex.len() == 32).then_some(())?;
        u128::from_str_radix(hex, 16).ok().map(Ipv6Addr::from)
    };
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 {
                return None;
            }
            let flags = u32::from_str_radix(f[8], 16).ok()?;
            if flags & RTF_UP == 0 || flags & RTF_REJECT != 0 {
                return None;
            }
            let prefix = u8::from_str_radix(f[1], 16).ok().filter(|p| *p <= 128)?;
            let next_hop = addr(f[4])?;
            Some(Route {
                iface: f[9].to_string(),
                destination: IpAddr::V6(addr(f[0])?),
                prefix,
                gateway: (flags & RTF_GATEWAY != 0 && !next_hop.is_unspecified())
                    .then_some(IpAddr::V6(next_hop)),
                metric: u32::from_str_radix(f[5], 16).ok()?,
            })
        })
        .collect()
}

/// The routes of `addr`'s family.
pub fn read_routes(family_of: IpAddr) -> std::io::Result<Vec<Route>> {
    Ok(match family_of {
        IpAddr::V4(_) => parse_routes_v4(&std::fs::read_to_string("/proc/net/route")?),
        IpAddr::V6(_) => parse_routes_v6(&std::fs::read_to_string("/proc/net/ipv6_route")?),
    })
}

/// Longest prefix first, then lowest metric; optionally only routes out of
/// `iface`. Routes out of the loopback interface are the kernel's own
/// local routes, not a way to a target.
pub fn lookup<'a>(routes: &'a [Route], addr: IpAddr, iface: Option<&str>) -> Option<&'a Route> {
    routes
        .iter()
        .filter(|r| r.covers(addr) && iface.is_none_or(|i| r.iface == i))
        .filter(|r| iface.is_some() || r.iface != "lo")
        .min_by_key(|r| (std::cmp::Reverse(r.prefix), r.metric))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from a machine with a lab up (little-endian x86_64).
    const TABLE_V4: &str = "\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
sswlab0\t000012C6\t02FF13C6\t0003\t0\t0\t0\t00F0FFFF\t0\t0\t0
sswlab0\t00FF13C6\t00000000\t0001\t0\t0\t0\tFCFFFFFF\t0\t0\t0
eth1\t000012C6\t00000000\t0201\t0\t0\t0\t0000FFFF\t0\t0\t0
bad line
";

    const TABLE_V6: &str = "\
20010002000003000000000000000000 40 00000000000000000000000000000000 00 20010002000003ff0000000000000002 00000400 00000001 00000000 00000003  sswlab3
200100020000ff030000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000002 00000000 00000001  sswlab3
fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
200100020000ff030000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo
garbage
";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn v4_parses_and_picks_the_longest_prefix() {
        let routes = parse_routes_v4(TABLE_V4);
        assert_eq!(routes.len(), 4, "reject route and junk skipped");
        let lab = lookup(&routes, ip("198.18.4.7"), None).unwrap();
        assert_eq!(lab.iface, "sswlab0");
        assert_eq!(lab.gateway, Some(ip("198.19.255.2")));
        assert_eq!(lab.prefix, 20);
        let link = lookup(&routes, ip("198.19.255.2"), None).unwrap();
        assert_eq!((link.iface.as_str(), link.gateway), ("sswlab0", None));
        let default = lookup(&routes, ip("8.8.8.8"), None).unwrap();
        assert_eq!(default.gateway, Some(ip("192.0.2.1")));
        assert_eq!(
            lookup(&routes, ip("198.18.4.7"), Some("eth0"))
                .unwrap()
                .prefix,
            0
        );
        assert!(lookup(&routes, ip("198.18.4.7"), Some("nope")).is_none());
        assert!(
            lookup(&routes, ip("2001:2::1"), None).is_none(),
            "other family"
        );
    }

    #[test]
    fn v6_parses_and_picks_the_longest_prefix() {
        let routes = parse_routes_v6(TABLE_V6);
        assert_eq!(routes.len(), 5, "the unreachable default and junk skipped");
        let lab = lookup(&routes, ip("2001:2:0:300::1abc"), None).unwrap();
        assert_eq!(lab.iface, "sswlab3");
        assert_eq!(lab.gateway, Some(ip("2001:2:0:3ff::2")));
        assert_eq!(lab.metric, 1024);
        let link = lookup(&routes, ip("2001:2:0:ff03::2"), None).unwrap();
        assert_eq!((link.iface.as_str(), link.gateway), ("sswlab3", None));
        let default = lookup(&routes, ip("2a00::1"), None).unwrap();
        assert_eq!(
            (default.iface.as_str(), default.gateway),
            ("eth0", Some(ip("fe80::1")))
        );
        // Our own address is a local route out of lo: not a way anywhere.
        assert_eq!(
            lookup(&routes, ip("2001:2:0:ff03::1"), None).unwrap().iface,
            "sswlab3"
        );
    }

    #[test]
    fn covers_respects_prefix_and_family() {
        let r = Route {
            iface: "x".into(),
            destination: ip("2001:2:0:300::"),
            prefix: 56,
            gateway: None,
            metric: 0,
        };
        assert!(r.covers(ip("2001:2:0:3ff::1")));
        assert!(!r.covers(ip("2001:2:0:400::1")));
        assert!(!r.covers(ip("198.18.0.1")));
        let all = Route {
            destination: ip("::"),
            prefix: 0,
            ..r
        };
        assert!(all.covers(ip("ffff::1")));
    }

    #[test]
    fn reads_this_machine_without_error() {
        // Any Linux has the files; they may legitimately hold no routes.
        let _ = read_routes(ip("127.0.0.1")).unwrap();
        let _ = read_routes(ip("::1"));
    }
}
