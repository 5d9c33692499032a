//! The words every stage shares: address family, protocol, port state,
//! reason, and the result record. Nothing here knows how a probe is sent or
//! a reply parsed; the transmit, receive, output and counting stages all
//! speak these types, so data flows one way from here outwards.

use std::fmt;
use std::net::IpAddr;

/// An IP address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub const ALL: [Family; 2] = [Family::V4, Family::V6];

    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }

    /// nmap XML's `addrtype`.
    pub fn addrtype(&self) -> &'static str {
        match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The transport a probed port belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Icmp];

    pub fn name(&self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Icmp => "icmp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A port's state, in nmap's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    Open,
    Closed,
    Filtered,
    Unfiltered,
    OpenFiltered,
    ClosedFiltered,
    /// A host that answered discovery (`--ping`); its record has no port.
    Up,
}

impl State {
    pub const COUNT: usize = 7;
    /// In the order counters, checkpoints and status objects list them.
    pub const ALL: [State; State::COUNT] = [
        State::Open,
        State::Closed,
        State::Filtered,
        State::Unfiltered,
        State::OpenFiltered,
        State::ClosedFiltered,
        State::Up,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            State::Open => "open",
            State::Closed => "closed",
            State::Filtered => "filtered",
            State::Unfiltered => "unfiltered",
            State::OpenFiltered => "open|filtered",
            State::ClosedFiltered => "closed|filtered",
            State::Up => "up",
        }
    }

    pub fn from_name(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Position in `ALL`, for arrays of counters.
    #[inline]
    pub fn index(&self) -> usize {
        *self as usize
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a port is in its state, in nmap's words (nmap's `reason.cc`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    SynAck,
    Reset,
    NetUnreach,
    HostUnreach,
    ProtoUnreach,
    PortUnreach,
    NetProhibited,
    HostProhibited,
    AdminProhibited,
    NoRoute,
    BeyondScope,
    RejectRoute,
    NoResponse,
    UdpResponse,
    EchoReply,
    TimestampReply,
    ArpResponse,
    NdResponse,
    /// connect() was refused (a RST, or ICMP port unreachable): `-sT`.
    ConnRefused,
}

impl Reason {
    pub const ALL: [Reason; 19] = [
        Reason::SynAck,
        Reason::Reset,
        Reason::NetUnreach,
        Reason::HostUnreach,
        Reason::ProtoUnreach,
        Reason::PortUnreach,
        Reason::NetProhibited,
        Reason::HostProhibited,
        Reason::AdminProhibited,
        Reason::NoRoute,
        Reason::BeyondScope,
        Reason::RejectRoute,
        Reason::NoResponse,
        Reason::UdpResponse,
        Reason::EchoReply,
        Reason::TimestampReply,
        Reason::ArpResponse,
        Reason::NdResponse,
        Reason::ConnRefused,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Reason::SynAck => "syn-ack",
            Reason::Reset => "reset",
            Reason::NetUnreach => "net-unreach",
            Reason::HostUnreach => "host-unreach",
            Reason::ProtoUnreach => "proto-unreach",
            Reason::PortUnreach => "port-unreach",
            Reason::NetProhibited => "net-prohibited",
            Reason::HostProhibited => "host-prohibited",
            Reason::AdminProhibited => "admin-prohibited",
            Reason::NoRoute => "no-route",
            Reason::BeyondScope => "beyond-scope",
            Reason::RejectRoute => "reject-route",
            Reason::NoResponse => "no-response",
            Reason::UdpResponse => "udp-response",
            Reason::EchoReply => "echo-reply",
            Reason::TimestampReply => "timestamp-reply",
            Reason::ArpResponse => "arp-response",
            Reason::NdResponse => "nd-response",
            Reason::ConnRefused => "conn-refused",
        }
    }

    pub fn from_name(s: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// nmap's reason for an ICMP destination unreachable (ICMPv4 type 3,
    /// ICMPv6 type 1) of `code`; `None` for codes nmap gives no name.
    pub fn from_unreachable(family: Family, code: u8) -> Option<Reason> {
        Some(match (family, code) {
            (Family::V4, 0) => Reason::NetUnreach,
            (Family::V4, 1) => Reason::HostUnreach,
            (Family::V4, 2) => Reason::ProtoUnreach,
            (Family::V4, 3) => Reason::PortUnreach,
            (Family::V4, 9) => Reason::NetProhibited,
            (Family::V4, 10) => Reason::HostProhibited,
            (Family::V4, 13) => Reason::AdminProhibited,
            (Family::V6, 0) => Reason::NoRoute,
            (Family::V6, 1) => Reason::AdminProhibited,
            (Family::V6, 2) => Reason::BeyondScope,
            (Family::V6, 3) => Reason::HostUnreach,
            (Family::V6, 4) => Reason::PortUnreach,
            (Family::V6, 5) => Reason::AdminProhibited,
            (Family::V6, 6) => Reason::RejectRoute,
            _ => return None,
        })
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One result: a line of every output format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub ip: IpAddr,
    pub proto: Protocol,
    pub port: u16,
    pub state: State,
    pub reason: Reason,
    /// TTL (IPv4) or hop limit (IPv6) of the reply as it arrived; 0 when
    /// the record stands for silence.
    pub ttl: u8,
    /// Unix time of the reply (or of the verdict), seconds.
    pub ts: u64,
    /// The host's MAC address, where discovery learned it on the link.
    pub mac: Option<[u8; 6]>,
    /// What a banner session heard and identified (`--banners`, open TCP
    /// ports only).
    pub banner: Option<Box<crate::service::Banner>>,
    /// The passive OS guess from the port's SYN-ACK (`--os-hints`, open
    /// TCP ports of a SYN scan only).
    pub os: Option<OsFamily>,
}

/// A passive guess of a host's operating system family, read from the
/// fields of one SYN-ACK in the manner of p0f (`probe/os_hint.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OsFamily {
    Linux,
    Windows,
    /// FreeBSD, macOS and their kin: one family on the wire.
    Bsd,
    /// Routers, switches, firewalls: the TTL-255 stacks.
    NetworkDevice,
    /// A SYN-ACK of no shape the table knows.
    Unknown,
}

impl OsFamily {
    pub const ALL: [OsFamily; 5] = [
        OsFamily::Linux,
        OsFamily::Windows,
        OsFamily::Bsd,
        OsFamily::NetworkDevice,
        OsFamily::Unknown,
    ];

    /// The one-word name every format writes (`os`).
    pub fn as_str(&self) -> &'static str {
        match self {
            OsFamily::Linux => "linux",
            OsFamily::Windows => "windows",
            OsFamily::Bsd => "bsd",
            OsFamily::NetworkDevice => "network-device",
            OsFamily::Unknown => "unknown",
        }
    }

    pub fn from_name(s: &str) -> Option<OsFamily> {
        OsFamily::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// What nmap's OS match names it (XML `osmatch`, grepable `OS:`).
    pub fn display_name(&self) -> &'static str {
        match self {
            OsFamily::Linux => "Linux",
            OsFamily::Windows => "Microsoft Windows",
            OsFamily::Bsd => "BSD or macOS",
            OsFamily::NetworkDevice => "network device",
            OsFamily::Unknown => "unknown",
        }
    }
}

impl fmt::Display for OsFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of states, e.g. the ones `--show` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateSet(u8);

impl StateSet {
    pub const OPEN_ONLY: StateSet = StateSet(1);
    pub const ALL: StateSet = StateSet((1 << State::COUNT) - 1);

    pub fn new(states: &[State]) -> StateSet {
        StateSet(states.iter().fold(0, |m, s| m | 1 << s.index()))
    }

    #[inline]
    pub fn contains(&self, s: State) -> bool {
        self.0 & (1 << s.index()) != 0
    }

    pub fn names(&self) -> Vec<&'static str> {
        State::ALL
            .into_iter()
            .filter(|s| self.contains(*s))
            .map(|s| s.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in State::ALL {
            assert_eq!(State::from_name(s.as_str()), Some(s));
            assert_eq!(State::ALL[s.index()], s);
        }
        for r in Reason::ALL {
            assert_eq!(Reason::from_name(r.as_str()), Some(r));
        }
        for o in OsFamily::ALL {
            assert_eq!(OsFamily::from_name(o.as_str()), Some(o));
            assert!(!o.as_str().contains([' ', ',', '/', '"']), "{o:?}");
        }
        assert_eq!(State::from_name("down"), None);
    }

    #[test]
    fn unreachable_codes_read_as_nmap_reads_them() {
        let v4: Vec<_> = (0..16)
            .filter_map(|c| Reason::from_unreachable(Family::V4, c).map(|r| (c, r.as_str())))
            .collect();
        assert_eq!(
            v4,
            [
                (0, "net-unreach"),
                (1, "host-unreach"),
                (2, "proto-unreach"),
                (3, "port-unreach"),
                (9, "net-prohibited"),
                (10, "host-prohibited"),
                (13, "admin-prohibited")
            ]
        );
        let v6: Vec<_> = (0..16)
            .filter_map(|c| Reason::from_unreachable(Family::V6, c).map(|r| (c, r.as_str())))
            .collect();
        assert_eq!(
            v6,
            [
                (0, "no-route"),
                (1, "admin-prohibited"),
                (2, "beyond-scope"),
                (3, "host-unreach"),
                (4, "port-unreach"),
                (5, "admin-prohibited"),
                (6, "reject-route")
            ]
        );
    }

    #[test]
    fn state_sets() {
        let s = StateSet::new(&[State::Closed, State::OpenFiltered]);
        assert!(s.contains(State::Closed) && s.contains(State::OpenFiltered));
        assert!(!s.contains(State::Open));
        assert_eq!(s.names(), ["closed", "open|filtered"]);
        assert!(State::ALL.iter().all(|x| StateSet::ALL.contains(*x)));
        assert_eq!(StateSet::OPEN_ONLY.names(), ["open"]);
    }
}
