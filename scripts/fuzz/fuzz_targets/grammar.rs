//! The target and port grammar, on any UTF-8 text.
//!
//! - `parse_target` on the whole input and `parse_target_list` on it as a
//!   comma list: every target that parses prints back (`canonical()` and
//!   `Display`) to a spelling that parses to the very same range, and the
//!   canonical spelling is never the longer one.
//! - `parse_ports`: every range is ordered, and `port_list` of the ports it
//!   names parses back to exactly those ports.
//! - `ProbeSpace::parse` of the input's first three lines (targets,
//!   exclusions, ports): the index <-> probe mapping round-trips at sample
//!   indexes, and the space built again from the canonical spellings (what
//!   a saved configuration holds) has the same digest.
//!
//! Errors of every kind must format without panicking.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::IpAddr;
use synsweep::domain::Protocol;
use synsweep::targets::ProbeSpace;
use synsweep::targets::grammar::{
    AnyRange, Origin, PortRange, parse_ports, parse_target, parse_target_list, port_list,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    one_target(text);
    let origin = Origin::Arg("target");
    let mut got = Vec::new();
    match parse_target_list(text, &origin, &mut |r| got.push(r)) {
        Ok(()) => assert_eq!(got.len(), text.split(',').count()),
        Err(e) => {
            let _ = e.to_string();
        }
    }
    for r in &got {
        round_trips(r);
    }
    ports(text);
    space(text);
});

fn one_target(text: &str) {
    match parse_target(text) {
        Ok(r) => {
            round_trips(&r);
            // A plain address is the one-address range it names.
            if let Ok(ip) = text.parse::<IpAddr>() {
                let want = match ip {
                    IpAddr::V4(a) => {
                        AnyRange::V4(synsweep::targets::ranges::Range::single(a.into()))
                    }
                    IpAddr::V6(a) => {
                        AnyRange::V6(synsweep::targets::ranges::Range::single(a.into()))
                    }
                };
                assert_eq!(r, want);
            }
        }
        Err(why) => assert!(!why.is_empty()),
    }
}

fn round_trips(r: &AnyRange) {
    let canonical = r.canonical();
    let display = r.to_string();
    assert_eq!(
        parse_target(&canonical).as_ref(),
        Ok(r),
        "canonical {canonical:?} of {r:?}"
    );
    assert_eq!(
        parse_target(&display).as_ref(),
        Ok(r),
        "display {display:?} of {r:?}"
    );
    assert!(
        canonical.len() <= display.len(),
        "{canonical:?} is longer than {display:?}"
    );
    match r {
        AnyRange::V4(x) => assert!(x.first <= x.last),
        AnyRange::V6(x) => assert!(x.first <= x.last),
    }
}

/// The set of TCP ports a list names.
fn port_set(ranges: &[PortRange]) -> Box<[u64; 1024]> {
    let mut set = Box::new([0u64; 1024]);
    for r in ranges {
        assert_eq!(r.proto, Protocol::Tcp);
        assert!(r.first <= r.last, "{r:?}");
        for p in r.first..=r.last {
            set[usize::from(p) / 64] |= 1 << (p % 64);
        }
    }
    set
}

fn ports(text: &str) {
    let origin = Origin::Arg("--ports");
    let ranges = match parse_ports(text, &origin) {
        Ok(r) => r,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    assert!(!ranges.is_empty());
    // Bounded: a long list of wide ranges is only walked once.
    if ranges.len() > 64 {
        return;
    }
    let set = port_set(&ranges);
    let listed: Vec<u16> = (0..=u16::MAX)
        .filter(|&p| set[usize::from(p) / 64] & (1 << (p % 64)) != 0)
        .collect();
    let spelled = port_list(&listed);
    let again = parse_ports(&spelled, &origin)
        .unwrap_or_else(|e| panic!("port_list {spelled:?} does not parse: {e}"));
    assert_eq!(port_set(&again), set, "{spelled:?} of {text:?}");
}

fn space(text: &str) {
    let mut lines = text.splitn(4, '\n');
    let targets = lines.next().unwrap_or("");
    let excludes = lines.next().unwrap_or("");
    let ports = lines.next().unwrap_or("80");
    // Keep each run cheap: the port list is expanded port by port.
    if ports.len() > 64 {
        return;
    }
    let space = match ProbeSpace::parse(targets, excludes, ports) {
        Ok(s) => s,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let size = space.size();
    assert!((1..=synsweep::targets::MAX_PROBES).contains(&size));
    assert_eq!(
        size,
        space.host_count() * space.ports().len() as u64,
        "{targets:?}"
    );
    let (v4, v6) = space.first_hosts();
    assert_eq!(v4.is_some(), !space.v4().is_empty());
    assert_eq!(v6.is_some(), !space.v6().is_empty());
    // Sample indexes: both ends, the family boundary and a few spread out.
    let v4_hosts = space.v4().count() as u64;
    let mut samples = vec![0, size - 1, size / 2, size / 3, v4_hosts % size];
    if v4_hosts > 0 {
        samples.push(v4_hosts - 1);
    }
    let mut x = text.len() as u64 ^ 0x9e37_79b9_7f4a_7c15;
    for _ in 0..8 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        samples.push(x % size);
    }
    for i in samples {
        let p = space.probe(i);
        assert_eq!(
            space.index_of(p.addr, p.proto, p.port),
            Some(i),
            "{p:?} of {targets:?} / {excludes:?} / {ports:?}"
        );
        match p.addr {
            IpAddr::V4(a) => assert!(space.v4().contains(a.into())),
            IpAddr::V6(a) => assert!(space.v6().contains(a.into())),
        }
    }
    // The space the saved configuration names is the same space.
    let canon = |list: &str| -> String {
        let mut out = Vec::new();
        parse_target_list(list, &Origin::Arg("t"), &mut |r| out.push(r.canonical()))
            .expect("it parsed once");
        out.join(",")
    };
    let excl = if excludes.is_empty() {
        String::new()
    } else {
        canon(excludes)
    };
    // Ports as a saved configuration spells them (cli.rs, `ports_line`):
    // a list per protocol, `T:` and `U:` naming each.
    let numbers: Vec<String> = [(Protocol::Tcp, "T:"), (Protocol::Udp, "U:")]
        .into_iter()
        .map(|(proto, prefix)| (prefix, space.port_numbers(proto)))
        .filter(|(_, ports)| !ports.is_empty())
        .map(|(prefix, ports)| format!("{prefix}{}", port_list(&ports)))
        .collect();
    let again = ProbeSpace::parse(&canon(targets), &excl, &numbers.join(","))
        .unwrap_or_else(|e| panic!("the canonical spelling fails: {e}"));
    assert_eq!(again.digest(), space.digest(), "{targets:?} / {excludes:?}");
    assert_eq!(again.size(), size);
}
