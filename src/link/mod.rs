//! The link: which interface, source address and next-hop MAC a scan uses,
//! and the frame senders and receivers behind one small interface.
//!
//! The interface and gateway come from the kernel's route to the first
//! target, unless `--interface` names one; the next hop's MAC comes from our
//! own ARP request to the gateway, unless `--router-mac` gives it.

pub mod afpacket;
pub mod bpf;
pub mod offline;
pub mod pnet;
pub mod route;
pub mod socket;

use crate::wire::{MacAddr, arp, format_mac};
use socket::{ETH_P_ARP, PacketSocket};
use std::fmt;
use std::io;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// How frames leave and arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkKind {
    /// Linux AF_PACKET: sendmmsg batches out, a TPACKET_V3 ring in.
    AfPacket,
    /// pnet_datalink: portable, one system call per frame.
    Pnet,
    /// Build and pace frames, send none.
    Offline,
}

impl LinkKind {
    pub fn name(&self) -> &'static str {
        match self {
            LinkKind::AfPacket => "afpacket",
            LinkKind::Pnet => "pnet",
            LinkKind::Offline => "offline",
        }
    }
}

/// Sends frames built in place by `fill(i, buf) -> frame length`.
pub trait FrameTx: Send {
    /// Builds and sends `count` frames; returns when all are handed to the
    /// kernel.
    fn send_batch(
        &mut self,
        count: usize,
        fill: &mut dyn FnMut(usize, &mut [u8]) -> usize,
    ) -> io::Result<()>;
}

/// Receives frames.
pub trait FrameRx: Send {
    /// Waits at most `timeout` for frames, handing each to `on_frame` with
    /// its arrival time (Unix µs: the kernel's stamp where the link has one);
    /// returns how many arrived.
    fn recv_batch(
        &mut self,
        timeout: Duration,
        on_frame: &mut dyn FnMut(&[u8], u64),
    ) -> io::Result<usize>;

    /// Frames the kernel had to drop for us since the last call (our
    /// buffer was full), where the link can tell.
    fn kernel_drops(&mut self) -> Option<u64> {
        None
    }
}

/// What the user asked of the link.
#[derive(Clone, Debug, Default)]
pub struct LinkOptions {
    pub interface: Option<String>,
    pub source_ip: Option<Ipv4Addr>,
    pub router_mac: Option<MacAddr>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub index: u32,
    pub mac: MacAddr,
    pub ipv4: Vec<(Ipv4Addr, u8)>,
    pub is_loopback: bool,
    pub is_up: bool,
}

/// Where the next hop's MAC came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextHopSource {
    Arp,
    RouterMacOption,
    Loopback,
}

#[derive(Clone, Debug)]
pub struct LinkPlan {
    pub iface: Interface,
    pub src_ip: Ipv4Addr,
    pub gateway: Option<Ipv4Addr>,
    pub next_hop_mac: MacAddr,
    pub next_hop_source: NextHopSource,
}

impl fmt::Display for LinkPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "interface {} ({}), source {}, next hop {}",
            self.iface.name,
            format_mac(&self.iface.mac),
            self.src_ip,
            format_mac(&self.next_hop_mac)
        )?;
        match (self.next_hop_source, self.gateway) {
            (NextHopSource::Arp, Some(gw)) => write!(f, " (ARP for gateway {gw})"),
            (NextHopSource::RouterMacOption, _) => write!(f, " (--router-mac)"),
            (NextHopSource::Loopback, _) => write!(f, " (loopback)"),
            _ => Ok(()),
        }
    }
}

#[derive(Debug)]
pub enum LinkError {
    NoSuchInterface {
        name: String,
        available: Vec<String>,
    },
    InterfaceDown {
        name: String,
    },
    NoPermission {
        iface: String,
    },
    NoRoute {
        target: Ipv4Addr,
    },
    NoSourceIp {
        iface: String,
    },
    NoGateway {
        target: Ipv4Addr,
        iface: String,
    },
    ArpFailed {
        gateway: Ipv4Addr,
        iface: String,
    },
    Io {
        what: String,
        err: io::Error,
    },
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::NoSuchInterface { name, available } => write!(
                f,
                "no network interface named {name:?} (available: {})",
                available.join(", ")
            ),
            LinkError::InterfaceDown { name } => {
                write!(
                    f,
                    "interface {name} is down: bring it up with `ip link set {name} up`"
                )
            }
            LinkError::NoPermission { iface } => write!(
                f,
                "no permission to open a raw socket on {iface}: run as root, or grant the capabilities with `setcap cap_net_raw,cap_net_admin+eip <path to synsweep>`"
            ),
            LinkError::NoRoute { target } => write!(
                f,
                "no route to {target}: add one, or name the interface with --interface and the next hop with --router-mac"
            ),
            LinkError::NoSourceIp { iface } => write!(
                f,
                "interface {iface} has no IPv4 address: give one with --source-ip"
            ),
            LinkError::NoGateway { target, iface } => write!(
                f,
                "{target} is on-link on {iface} with no gateway to send every probe to: give the next hop's MAC with --router-mac"
            ),
            LinkError::ArpFailed { gateway, iface } => write!(
                f,
                "no ARP reply from gateway {gateway} on {iface} after 3 tries: check the link, or give the MAC with --router-mac"
            ),
            LinkError::Io { what, err } => write!(f, "{what}: {err}"),
        }
    }
}

impl std::error::Error for LinkError {}

impl LinkError {
    /// Maps a socket error, turning EPERM/EACCES into the privilege hint.
    pub fn from_socket(err: io::Error, iface: &str, what: &str) -> LinkError {
        match err.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => LinkError::NoPermission {
                iface: iface.to_string(),
            },
            _ => LinkError::Io {
                what: format!("{what} on {iface}"),
                err,
            },
        }
    }
}

pub fn interfaces() -> Vec<Interface> {
    pnet_datalink::interfaces()
        .into_iter()
        .map(|i| Interface {
            is_loopback: i.is_loopback(),
            is_up: i.is_up(),
            mac: i.mac.map(|m| m.octets()).unwrap_or([0; 6]),
            ipv4: i
                .ips
                .iter()
                .filter_map(|n| match n.ip() {
                    std::net::IpAddr::V4(a) => Some((a, n.prefix())),
                    _ => None,
                })
                .collect(),
            name: i.name,
            index: i.index,
        })
        .collect()
}

pub fn find_interface(name: &str) -> Result<Interface, LinkError> {
    let all = interfaces();
    match all.iter().find(|i| i.name == name) {
        Some(i) if !i.is_up => Err(LinkError::InterfaceDown {
            name: name.to_string(),
        }),
        Some(i) => Ok(i.clone()),
        None => Err(LinkError::NoSuchInterface {
            name: name.to_string(),
            available: all.into_iter().map(|i| i.name).collect(),
        }),
    }
}

/// Decides interface, source address and next hop for a scan whose first
/// target is `target`. Sends ARP requests on the chosen interface only.
pub fn plan(opts: &LinkOptions, target: Ipv4Addr) -> Result<LinkPlan, LinkError> {
    let routes = route::read_routes().map_err(|err| LinkError::Io {
        what: "reading /proc/net/route".into(),
        err,
    })?;
    let target_u32 = u32::from(target);
    let chosen = route::lookup(&routes, target_u32, opts.interface.as_deref());
    let iface_name = match (&opts.interface, chosen) {
        (Some(name), _) => name.clone(),
        (None, Some(r)) => r.iface.clone(),
        (None, None) => return Err(LinkError::NoRoute { target }),
    };
    let iface = find_interface(&iface_name)?;
    let gateway = chosen.and_then(|r| r.gateway);

    let src_ip = match opts.source_ip {
        Some(ip) => ip,
        None => pick_source_ip(&iface, gateway.unwrap_or(target)).ok_or_else(|| {
            LinkError::NoSourceIp {
                iface: iface.name.clone(),
            }
        })?,
    };

    let (next_hop_mac, next_hop_source) = if let Some(mac) = opts.router_mac {
        (mac, NextHopSource::RouterMacOption)
    } else if iface.is_loopback {
        ([0; 6], NextHopSource::Loopback)
    } else {
        let gw = gateway.ok_or_else(|| LinkError::NoGateway {
            target,
            iface: iface.name.clone(),
        })?;
        (resolve_mac(&iface, src_ip, gw)?, NextHopSource::Arp)
    };
    Ok(LinkPlan {
        iface,
        src_ip,
        gateway,
        next_hop_mac,
        next_hop_source,
    })
}

/// The interface address on the same subnet as `toward`, else its first.
fn pick_source_ip(iface: &Interface, toward: Ipv4Addr) -> Option<Ipv4Addr> {
    let same_subnet = iface.ipv4.iter().find(|(a, prefix)| {
        let mask = if *prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        };
        u32::from(*a) & mask == u32::from(toward) & mask
    });
    same_subnet.or(iface.ipv4.first()).map(|(a, _)| *a)
}

/// Our own ARP: three requests a second apart, first matching reply wins.
pub fn resolve_mac(
    iface: &Interface,
    src_ip: Ipv4Addr,
    target: Ipv4Addr,
) -> Result<MacAddr, LinkError> {
    let sock = PacketSocket::open(iface.index, ETH_P_ARP)
        .map_err(|e| LinkError::from_socket(e, &iface.name, "opening an ARP socket"))?;
    let (ours, theirs) = (u32::from(src_ip), u32::from(target));
    let request = arp::request(iface.mac, ours, theirs);
    let mut buf = [0u8; 2048];
    for _ in 0..3 {
        sock.send(&request)
            .map_err(|e| LinkError::from_socket(e, &iface.name, "sending an ARP request"))?;
        let deadline = Instant::now() + Duration::from_secs(1);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let got = sock
                .recv_timeout(&mut buf, left)
                .map_err(|err| LinkError::Io {
                    what: format!("receiving ARP on {}", iface.name),
                    err,
                })?;
            if let Some(n) = got
                && let Some(mac) = arp::reply_mac(&buf[..n], ours, theirs)
            {
                return Ok(mac);
            }
        }
    }
    Err(LinkError::ArpFailed {
        gateway: target,
        iface: iface.name.clone(),
    })
}

/// A plan for `--offline`: no interface, no next hop.
pub fn offline_plan(source_ip: Option<Ipv4Addr>) -> LinkPlan {
    LinkPlan {
        iface: Interface {
            name: "offline".into(),
            index: 0,
            mac: [0; 6],
            ipv4: vec![],
            is_loopback: false,
            is_up: true,
        },
        src_ip: source_ip.unwrap_or(Ipv4Addr::UNSPECIFIED),
        gateway: None,
        next_hop_mac: [0; 6],
        next_hop_source: NextHopSource::RouterMacOption,
    }
}

/// Opens one sender (each transmit thread has its own).
pub fn open_tx(kind: LinkKind, plan: &LinkPlan) -> Result<Box<dyn FrameTx>, LinkError> {
    let name = &plan.iface.name;
    Ok(match kind {
        LinkKind::AfPacket => Box::new(
            afpacket::AfPacketTx::open(plan.iface.index)
                .map_err(|e| LinkError::from_socket(e, name, "opening an AF_PACKET sender"))?,
        ),
        LinkKind::Pnet => pnet::open_tx(&plan.iface)?,
        LinkKind::Offline => Box::new(offline::OfflineTx::default()),
    })
}

/// Opens the receiver, filtered to replies to `plan.src_ip` on `ports`.
pub fn open_rx(
    kind: LinkKind,
    plan: &LinkPlan,
    first_port: u16,
    last_port: u16,
) -> Result<Box<dyn FrameRx>, LinkError> {
    let name = &plan.iface.name;
    let filter = bpf::reply_filter(u32::from(plan.src_ip), first_port, last_port);
    Ok(match kind {
        LinkKind::AfPacket => Box::new(
            afpacket::AfPacketRx::open(plan.iface.index, &filter).map_err(|e| {
                LinkError::from_socket(e, name, "opening an AF_PACKET receive ring")
            })?,
        ),
        LinkKind::Pnet => pnet::open_rx(&plan.iface, &filter)?,
        LinkKind::Offline => Box::new(offline::OfflineRx),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_ip_prefers_the_gateways_subnet() {
        let iface = Interface {
            name: "x".into(),
            index: 1,
            mac: [0; 6],
            ipv4: vec![
                (Ipv4Addr::new(192, 0, 2, 9), 24),
                (Ipv4Addr::new(198, 19, 255, 1), 30),
            ],
            is_loopback: false,
            is_up: true,
        };
        assert_eq!(
            pick_source_ip(&iface, Ipv4Addr::new(198, 19, 255, 2)),
            Some(Ipv4Addr::new(198, 19, 255, 1))
        );
        assert_eq!(
            pick_source_ip(&iface, Ipv4Addr::new(8, 8, 8, 8)),
            Some(Ipv4Addr::new(192, 0, 2, 9))
        );
    }

    #[test]
    fn unknown_interface_lists_the_real_ones() {
        let e = find_interface("no-such-if0").unwrap_err().to_string();
        assert!(
            e.starts_with("no network interface named \"no-such-if0\" (available: "),
            "{e}"
        );
        assert!(e.contains("lo"), "{e}");
    }

    #[test]
    fn permission_errors_say_what_to_do() {
        let e = LinkError::from_socket(io::Error::from_raw_os_error(libc::EPERM), "eth9", "x");
        let s = e.to_string();
        assert!(
            s.contains("run as root") && s.contains("setcap cap_net_raw,cap_net_admin+eip"),
            "{s}"
        );
    }
}
