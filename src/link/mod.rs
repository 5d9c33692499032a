//! The link: which interface, source address and next-hop MAC each address
//! family of a scan uses, and the frame senders and receivers.
//!
//! The interface and gateway come from the kernel's route to the first
//! target of each family, unless `--interface` names one; the next hop's
//! MAC comes from our own ARP request (IPv4) or Neighbor Solicitation
//! (IPv6) to the gateway, unless `--router-mac` gives it. Both families
//! share one interface.
//!
//! An interface without a link layer (a tun device, WireGuard, ipip, sit
//! and GRE tunnels, PPP) has no next hop to resolve: its frames are bare IP
//! packets. The plan records that (`LinkLayer::BareIp`), and the AF_PACKET
//! link strips and restores the Ethernet header the templates write, so no
//! probe module or parser knows the difference.
//!
//! Senders and receivers are enums over the concrete links rather than
//! trait objects: their batch methods are generic over the closure that
//! fills or reads each frame, so the per-frame work is compiled into the
//! transmit and receive loops with no dynamic call.

pub mod afpacket;
pub mod bpf;
pub mod hold;
pub mod memory;
pub mod offline;
pub mod pnet;
pub mod responder;
pub mod route;
pub mod socket;
pub mod source;

use crate::domain::Family;
use crate::wire::template::FrameParams;
use crate::wire::{MacAddr, arp, format_mac, nd};
use socket::{ETH_P_ARP, PacketSocket};
use source::Sources;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
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

/// A frame sender: one per transmit thread.
pub enum TxLink {
    AfPacket(afpacket::AfPacketTx),
    Pnet(pnet::PnetTx),
    Offline(offline::OfflineTx),
    Memory(memory::MemoryTx),
}

impl TxLink {
    /// Builds `count` frames in place with `fill(i, buf) -> length` and
    /// hands them to the kernel; returns when all are sent.
    #[inline]
    pub fn send_batch<F: FnMut(usize, &mut [u8]) -> usize>(
        &mut self,
        count: usize,
        fill: F,
    ) -> io::Result<()> {
        match self {
            TxLink::AfPacket(l) => l.send_batch(count, fill),
            TxLink::Pnet(l) => l.send_batch(count, fill),
            TxLink::Offline(l) => l.send_batch(count, fill),
            TxLink::Memory(l) => l.send_batch(count, fill),
        }
    }
}

/// A frame receiver.
pub enum RxLink {
    AfPacket(afpacket::AfPacketRx),
    Pnet(pnet::PnetRx),
    Offline(offline::OfflineRx),
    Memory(memory::MemoryRx),
}

impl RxLink {
    /// Waits at most `timeout` for frames, handing each to `on_frame` with
    /// its arrival time (Unix µs: the kernel's stamp where the link has
    /// one); returns how many arrived.
    #[inline]
    pub fn recv_batch<F: FnMut(&[u8], u64)>(
        &mut self,
        timeout: Duration,
        on_frame: F,
    ) -> io::Result<usize> {
        match self {
            RxLink::AfPacket(l) => l.recv_batch(timeout, on_frame),
            RxLink::Pnet(l) => l.recv_batch(timeout, on_frame),
            RxLink::Offline(l) => l.recv_batch(timeout, on_frame),
            RxLink::Memory(l) => l.recv_batch(timeout, on_frame),
        }
    }

    /// Frames the kernel had to drop for us since the last call (our
    /// buffer was full), where the link can tell.
    pub fn kernel_drops(&mut self) -> Option<u64> {
        match self {
            RxLink::AfPacket(l) => l.kernel_drops(),
            _ => None,
        }
    }
}

/// What the user asked of the link.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkOptions {
    pub interface: Option<String>,
    /// Source addresses per family; a family left empty takes the
    /// interface's.
    pub source: Sources,
    /// Next hop's MAC per family.
    pub router_mac: [Option<MacAddr>; 2],
    /// The Ethernet source of our frames, where not the interface's.
    pub source_mac: Option<MacAddr>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub index: u32,
    pub mac: MacAddr,
    pub addrs: Vec<(IpAddr, u8)>,
    pub is_loopback: bool,
    pub is_up: bool,
    pub link_layer: LinkLayer,
}

/// What an interface's frames start with, from its ARPHRD type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkLayer {
    /// An Ethernet header (loopback's frames have one too).
    Ethernet,
    /// None: a frame is a bare IPv4 or IPv6 packet. `kind` names the
    /// interface type for messages.
    BareIp { kind: &'static str },
    /// Anything else (InfiniBand, radiotap ...): not ours to frame.
    Other { arphrd: u16 },
}

impl LinkLayer {
    /// The link layer of ARPHRD type `arphrd` (if_arp.h).
    pub fn of_arphrd(arphrd: u16) -> LinkLayer {
        match arphrd {
            1 | 772 => LinkLayer::Ethernet,
            65534 => LinkLayer::BareIp {
                kind: "tun or WireGuard",
            },
            768 => LinkLayer::BareIp { kind: "ipip" },
            769 => LinkLayer::BareIp { kind: "ip6tnl" },
            776 => LinkLayer::BareIp { kind: "sit" },
            778 => LinkLayer::BareIp { kind: "gre" },
            823 => LinkLayer::BareIp { kind: "ip6gre" },
            512 => LinkLayer::BareIp { kind: "ppp" },
            519 => LinkLayer::BareIp { kind: "raw IP" },
            arphrd => LinkLayer::Other { arphrd },
        }
    }

    /// The link layer of interface `name`, as sysfs reports it; Ethernet
    /// where sysfs cannot tell (as every interface was taken to be before).
    pub fn of_interface(name: &str) -> LinkLayer {
        std::fs::read_to_string(format!("/sys/class/net/{name}/type"))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .map_or(LinkLayer::Ethernet, LinkLayer::of_arphrd)
    }

    pub fn is_bare_ip(&self) -> bool {
        matches!(self, LinkLayer::BareIp { .. })
    }

    /// Where the capture filter finds the IP header on this link.
    pub fn framing(&self) -> bpf::Framing {
        if self.is_bare_ip() {
            bpf::Framing::BareIp
        } else {
            bpf::Framing::Ethernet
        }
    }
}

/// Where a family's next-hop MAC came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextHopSource {
    Arp,
    NeighborDiscovery,
    RouterMacOption,
    Loopback,
    /// The targets are on this link, no gateway between: each has its own
    /// MAC, which the neighbour sweep learns before any other probe.
    OnLink,
    /// `--offline`: nothing is sent.
    None,
    /// The interface has no link layer: packets go out bare, to no MAC.
    NoLinkLayer,
}

/// One family's way out: our address, the gateway and its MAC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FamilyPlan {
    pub src: IpAddr,
    pub gateway: Option<IpAddr>,
    pub next_hop_mac: MacAddr,
    pub next_hop_source: NextHopSource,
}

#[derive(Clone, Debug)]
pub struct LinkPlan {
    pub iface: Interface,
    /// Per family (`Family as usize`), for the families the scan targets.
    pub families: [Option<FamilyPlan>; 2],
    /// Every source address of the families scanned (each family's first
    /// is its `FamilyPlan::src`).
    pub source_set: Sources,
    /// The Ethernet source of our frames: `--source-mac`, or the
    /// interface's.
    pub mac: MacAddr,
}

impl LinkPlan {
    /// Our (first) source address in each family scanned.
    pub fn sources(&self) -> [Option<IpAddr>; 2] {
        [0, 1].map(|i| self.families[i].as_ref().map(|f| f.src))
    }

    /// Our frames carry a MAC the interface does not own: on a real NIC
    /// its replies only reach us with the interface promiscuous.
    pub fn foreign_mac(&self) -> bool {
        self.mac != self.iface.mac
    }

    /// What a frame template of `family` needs, if the scan has it.
    pub fn frame_params(&self, family: Family, ttl: u8) -> Option<FrameParams> {
        self.families[family as usize]
            .as_ref()
            .map(|f| FrameParams {
                src_mac: self.mac,
                dst_mac: f.next_hop_mac,
                src: f.src,
                ttl,
            })
    }
}

impl fmt::Display for LinkPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let LinkLayer::BareIp { kind } = self.iface.link_layer {
            write!(f, "interface {} (no link layer: {kind})", self.iface.name)?;
            for fp in self.families.iter().flatten() {
                write!(
                    f,
                    "; {}: source {}, bare IP packets, no next-hop MAC",
                    Family::of(&fp.src),
                    fp.src
                )?;
            }
            return Ok(());
        }
        write!(
            f,
            "interface {} ({})",
            self.iface.name,
            format_mac(&self.iface.mac)
        )?;
        if self.foreign_mac() {
            write!(f, ", frames from {}", format_mac(&self.mac))?;
        }
        for fp in self.families.iter().flatten() {
            let family = Family::of(&fp.src);
            let source = match self.source_set.len(family) {
                0 | 1 => fp.src.to_string(),
                n => format!("{n} addresses from {}", fp.src),
            };
            write!(
                f,
                "; {family}: source {source}, next hop {}",
                format_mac(&fp.next_hop_mac)
            )?;
            match (fp.next_hop_source, fp.gateway) {
                (NextHopSource::Arp, Some(gw)) => write!(f, " (ARP for gateway {gw})")?,
                (NextHopSource::NeighborDiscovery, Some(gw)) => {
                    write!(f, " (neighbor discovery for gateway {gw})")?
                }
                (NextHopSource::RouterMacOption, _) => write!(f, " (--router-mac)")?,
                (NextHopSource::Loopback, _) => write!(f, " (loopback)")?,
                (NextHopSource::OnLink, _) => write!(f, " (on-link: ARP/ND for each target)")?,
                _ => {}
            }
        }
        Ok(())
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
        target: IpAddr,
    },
    SplitRoute {
        v4: String,
        v6: String,
    },
    NoSourceIp {
        iface: String,
        family: Family,
    },
    NoNeighbor {
        gateway: IpAddr,
        iface: String,
    },
    Io {
        what: String,
        err: io::Error,
    },
    /// Something that needs a link layer, asked of an interface without.
    NoLinkLayer {
        iface: String,
        kind: &'static str,
        what: &'static str,
        instead: &'static str,
    },
    UnsupportedLinkLayer {
        iface: String,
        arphrd: u16,
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
            LinkError::InterfaceDown { name } => write!(
                f,
                "interface {name} is down: bring it up with `ip link set {name} up`"
            ),
            LinkError::NoPermission { iface } => write!(
                f,
                "no permission to open a raw socket on {iface}: run as root, or grant the capabilities with `setcap cap_net_raw,cap_net_admin+eip <path to synsweep>`, or scan through the kernel's TCP stack with --connect (-sT), which needs neither"
            ),
            LinkError::NoRoute { target } => write!(
                f,
                "no route to {target}: add one, or name the interface with --interface and the next hop with --router-mac"
            ),
            LinkError::SplitRoute { v4, v6 } => write!(
                f,
                "the IPv4 targets route out of {v4} and the IPv6 targets out of {v6}: a scan uses one interface, so name it with --interface or scan the families separately"
            ),
            LinkError::NoSourceIp { iface, family } => write!(
                f,
                "interface {iface} has no usable {family} address: give one with --source-ip"
            ),
            LinkError::NoNeighbor { gateway, iface } => write!(
                f,
                "no {} reply from gateway {gateway} on {iface} after 3 tries: check the link, or give the MAC with --router-mac",
                match gateway {
                    IpAddr::V4(_) => "ARP",
                    IpAddr::V6(_) => "neighbor advertisement",
                }
            ),
            LinkError::Io { what, err } => write!(f, "{what}: {err}"),
            LinkError::NoLinkLayer {
                iface,
                kind,
                what,
                instead,
            } => write!(
                f,
                "{what} needs a link layer, and interface {iface} has none ({kind}: bare IP packets): {instead}"
            ),
            LinkError::UnsupportedLinkLayer { iface, arphrd } => write!(
                f,
                "interface {iface} has link type {arphrd} (ARPHRD), which synsweep cannot frame: it sends on Ethernet and on links without a link layer (tun, WireGuard, ipip, sit, gre, ppp)"
            ),
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
            addrs: i.ips.iter().map(|n| (n.ip(), n.prefix())).collect(),
            link_layer: LinkLayer::of_interface(&i.name),
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

/// Decides the interface, and each family's source address and next hop,
/// for a scan whose first target of each family is `targets`. Sends ARP
/// and Neighbor Solicitations on the chosen interface only.
pub fn plan(opts: &LinkOptions, targets: [Option<IpAddr>; 2]) -> Result<LinkPlan, LinkError> {
    let mut routes: [Option<route::Route>; 2] = [None, None];
    for (slot, target) in routes.iter_mut().zip(targets) {
        let Some(target) = target else { continue };
        let table = route::read_routes(target).map_err(|err| LinkError::Io {
            what: "reading the kernel's routes from /proc/net".into(),
            err,
        })?;
        *slot = route::lookup(&table, target, opts.interface.as_deref()).cloned();
        if slot.is_none() && opts.interface.is_none() {
            return Err(LinkError::NoRoute { target });
        }
    }
    let iface_name = match (&opts.interface, &routes) {
        (Some(name), _) => name.clone(),
        (None, [Some(a), Some(b)]) if a.iface != b.iface => {
            return Err(LinkError::SplitRoute {
                v4: a.iface.clone(),
                v6: b.iface.clone(),
            });
        }
        (None, [Some(r), _] | [None, Some(r)]) => r.iface.clone(),
        (None, [None, None]) => unreachable!("a scan has targets"),
    };
    let iface = find_interface(&iface_name)?;
    let bare = match iface.link_layer {
        LinkLayer::Ethernet => None,
        LinkLayer::BareIp { kind } => Some(kind),
        LinkLayer::Other { arphrd } => {
            return Err(LinkError::UnsupportedLinkLayer {
                iface: iface.name,
                arphrd,
            });
        }
    };
    if let (Some(kind), [v4, v6]) = (bare, opts.router_mac)
        && (v4.is_some() || v6.is_some())
    {
        return Err(LinkError::NoLinkLayer {
            iface: iface.name,
            kind,
            // --router-mac sets both families; --router-mac-ipv6 the one.
            what: if v4.is_some() {
                "--router-mac"
            } else {
                "--router-mac-ipv6"
            },
            instead: "leave it out, no next-hop MAC is used there",
        });
    }
    if let (Some(kind), Some(_)) = (bare, opts.source_mac) {
        return Err(LinkError::NoLinkLayer {
            iface: iface.name,
            kind,
            what: "--source-mac",
            instead: "leave it out, frames there carry no MAC",
        });
    }
    let mac = opts.source_mac.unwrap_or(iface.mac);
    let owned = owned_addresses();
    let mut chosen: Vec<IpAddr> = Vec::new();
    let mut families: [Option<FamilyPlan>; 2] = [None, None];
    for (i, target) in targets.into_iter().enumerate() {
        let Some(target) = target else { continue };
        let family = Family::of(&target);
        let gateway = routes[i].as_ref().and_then(|r| r.gateway);
        let src = match opts.source.first(family) {
            Some(ip) => ip,
            None => pick_source(&iface, gateway.unwrap_or(target)).ok_or_else(|| {
                LinkError::NoSourceIp {
                    iface: iface.name.clone(),
                    family,
                }
            })?,
        };
        let (next_hop_mac, next_hop_source) = if bare.is_some() {
            ([0; 6], NextHopSource::NoLinkLayer)
        } else if let Some(mac) = opts.router_mac[i] {
            (mac, NextHopSource::RouterMacOption)
        } else if iface.is_loopback {
            ([0; 6], NextHopSource::Loopback)
        } else if gateway.is_none() {
            ([0; 6], NextHopSource::OnLink)
        } else {
            let gw = gateway.expect("routed");
            let source = match family {
                Family::V4 => NextHopSource::Arp,
                Family::V6 => NextHopSource::NeighborDiscovery,
            };
            // Asked from an address the kernel does not own, the gateway
            // answers (and remembers) the MAC our frames carry.
            let asker = if owned.contains(&src) { iface.mac } else { mac };
            (resolve_mac(&iface, asker, src, gw)?, source)
        };
        families[i] = Some(FamilyPlan {
            src,
            gateway,
            next_hop_mac,
            next_hop_source,
        });
        chosen.extend(chosen_sources(opts, family, src));
    }
    let source_set: Sources = chosen.into_iter().collect();
    Ok(LinkPlan {
        iface,
        families,
        source_set,
        mac,
    })
}

/// `family`'s addresses of `--source-ip`, or `first` (the interface's)
/// where it gave none.
fn chosen_sources(opts: &LinkOptions, family: Family, first: IpAddr) -> Vec<IpAddr> {
    let given: Vec<IpAddr> = opts
        .source
        .iter()
        .filter(|ip| Family::of(ip) == family)
        .collect();
    if given.is_empty() { vec![first] } else { given }
}

/// Every address of every local interface: what the kernel answers ARP
/// and Neighbor Solicitations for, and RSTs unexpected segments to.
pub fn owned_addresses() -> Vec<IpAddr> {
    interfaces()
        .into_iter()
        .flat_map(|i| i.addrs.into_iter().map(|(a, _)| a))
        .collect()
}

/// Does `a/prefix` hold `b`?
fn same_subnet(a: IpAddr, prefix: u8, b: IpAddr) -> bool {
    route::Route {
        iface: String::new(),
        destination: a,
        prefix,
        gateway: None,
        metric: 0,
    }
    .covers(b)
}

/// The interface address of `toward`'s family on its subnet, else the
/// first of that family that is not IPv6 link-local.
fn pick_source(iface: &Interface, toward: IpAddr) -> Option<IpAddr> {
    let family = Family::of(&toward);
    let usable = || {
        iface.addrs.iter().filter(move |(a, _)| {
            Family::of(a) == family
                && !matches!(a, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
        })
    };
    usable()
        .find(|(a, prefix)| same_subnet(*a, *prefix, toward))
        .or_else(|| usable().next())
        .map(|(a, _)| *a)
}

/// Our own ARP (IPv4) or Neighbor Solicitation (IPv6): three requests a
/// second apart, the first matching reply wins.
pub fn resolve_mac(
    iface: &Interface,
    our_mac: MacAddr,
    src: IpAddr,
    target: IpAddr,
) -> Result<MacAddr, LinkError> {
    let protocol = match target {
        IpAddr::V4(_) => ETH_P_ARP,
        IpAddr::V6(_) => libc::ETH_P_IPV6 as u16,
    };
    let sock = PacketSocket::open(iface.index, protocol)
        .map_err(|e| LinkError::from_socket(e, &iface.name, "opening a neighbour socket"))?;
    sock.ignore_outgoing();
    if our_mac != iface.mac {
        sock.add_membership(iface.index, None).map_err(|e| {
            LinkError::from_socket(e, &iface.name, "making the neighbour socket promiscuous")
        })?;
    }
    type Parse = Box<dyn Fn(&[u8]) -> Option<MacAddr>>;
    let (request, parse): (Vec<u8>, Parse) = match (src, target) {
        (IpAddr::V4(s), IpAddr::V4(t)) => (
            arp::request(our_mac, u32::from(s), u32::from(t)).to_vec(),
            Box::new(move |f: &[u8]| arp::reply_mac(f, u32::from(s), u32::from(t))),
        ),
        (IpAddr::V6(s), IpAddr::V6(t)) => (
            nd::solicitation(our_mac, s, t).to_vec(),
            Box::new(move |f: &[u8]| nd::advertisement_mac(f, s, t)),
        ),
        _ => unreachable!("source and gateway of one family"),
    };
    let mut buf = [0u8; 2048];
    for _ in 0..3 {
        sock.send(&request)
            .map_err(|e| LinkError::from_socket(e, &iface.name, "sending a neighbour request"))?;
        let deadline = Instant::now() + Duration::from_secs(1);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let got = sock
                .recv_timeout(&mut buf, left)
                .map_err(|err| LinkError::Io {
                    what: format!("receiving neighbour replies on {}", iface.name),
                    err,
                })?;
            if let Some(n) = got
                && let Some(mac) = parse(&buf[..n])
            {
                return Ok(mac);
            }
        }
    }
    Err(LinkError::NoNeighbor {
        gateway: target,
        iface: iface.name.clone(),
    })
}

/// A plan for `--offline`: no interface, no next hop; our address as given
/// or unspecified.
pub fn offline_plan(opts: &LinkOptions, targets: [Option<IpAddr>; 2]) -> LinkPlan {
    let unspecified = [
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    ];
    let families: [Option<FamilyPlan>; 2] = [0, 1].map(|i| {
        targets[i].map(|_| FamilyPlan {
            src: opts.source.first(Family::ALL[i]).unwrap_or(unspecified[i]),
            gateway: None,
            next_hop_mac: opts.router_mac[i].unwrap_or([0; 6]),
            next_hop_source: NextHopSource::None,
        })
    });
    let source_set: Sources = families
        .iter()
        .flatten()
        .flat_map(|fp| chosen_sources(opts, Family::of(&fp.src), fp.src))
        .collect();
    let mac = opts.source_mac.unwrap_or([0; 6]);
    LinkPlan {
        iface: Interface {
            name: "offline".into(),
            index: 0,
            mac: [0; 6],
            addrs: vec![],
            is_loopback: false,
            is_up: true,
            link_layer: LinkLayer::Ethernet,
        },
        families,
        source_set,
        mac,
    }
}

/// Opens one sender (each transmit thread has its own) for frames of up
/// to `max_frame_len` bytes.
pub fn open_tx(kind: LinkKind, plan: &LinkPlan, max_frame_len: usize) -> Result<TxLink, LinkError> {
    let name = &plan.iface.name;
    Ok(match kind {
        LinkKind::AfPacket => TxLink::AfPacket(
            afpacket::AfPacketTx::open(plan.iface.index, plan.iface.link_layer, max_frame_len)
                .map_err(|e| LinkError::from_socket(e, name, "opening an AF_PACKET sender"))?,
        ),
        LinkKind::Pnet => TxLink::Pnet(pnet::open_tx(&plan.iface)?),
        LinkKind::Offline => TxLink::Offline(offline::OfflineTx::new(max_frame_len)),
    })
}

/// Opens the receiver, behind the capture filter `filter`; `sessions`:
/// banner mode, whose receive thread needs a deeper ring.
pub fn open_rx(
    kind: LinkKind,
    plan: &LinkPlan,
    filter: &[bpf::Insn],
    sessions: bool,
) -> Result<RxLink, LinkError> {
    let name = &plan.iface.name;
    let blocks = if sessions {
        afpacket::RX_BLOCK_COUNT_SESSIONS
    } else {
        afpacket::RX_BLOCK_COUNT
    };
    Ok(match kind {
        LinkKind::AfPacket => {
            let rx =
                afpacket::AfPacketRx::open(plan.iface.index, plan.iface.link_layer, filter, blocks)
                    .map_err(|e| {
                        LinkError::from_socket(e, name, "opening an AF_PACKET receive ring")
                    })?;
            if plan.foreign_mac() {
                rx.promiscuous(plan.iface.index).map_err(|e| {
                    LinkError::from_socket(e, name, "making the receive ring promiscuous")
                })?;
            }
            RxLink::AfPacket(rx)
        }
        LinkKind::Pnet => RxLink::Pnet(pnet::open_rx(&plan.iface, filter, plan.foreign_mac())?),
        LinkKind::Offline => RxLink::Offline(offline::OfflineRx),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn source_ip_prefers_the_gateways_subnet_in_its_family() {
        let iface = Interface {
            name: "x".into(),
            index: 1,
            mac: [0; 6],
            addrs: vec![
                (ip("192.0.2.9"), 24),
                (ip("fe80::1"), 64),
                (ip("198.19.255.1"), 30),
                (ip("2001:db8::5"), 64),
                (ip("2001:2:0:ff03::1"), 64),
            ],
            is_loopback: false,
            is_up: true,
            link_layer: LinkLayer::Ethernet,
        };
        assert_eq!(
            pick_source(&iface, ip("198.19.255.2")),
            Some(ip("198.19.255.1"))
        );
        assert_eq!(pick_source(&iface, ip("8.8.8.8")), Some(ip("192.0.2.9")));
        assert_eq!(
            pick_source(&iface, ip("2001:2:0:ff03::2")),
            Some(ip("2001:2:0:ff03::1"))
        );
        // Never link-local, unless nothing else is there.
        assert_eq!(pick_source(&iface, ip("2a00::1")), Some(ip("2001:db8::5")));
        let ll_only = Interface {
            addrs: vec![(ip("fe80::1"), 64)],
            ..iface
        };
        assert_eq!(pick_source(&ll_only, ip("2a00::1")), None);
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
    fn errors_say_what_to_do() {
        let e = LinkError::from_socket(io::Error::from_raw_os_error(libc::EPERM), "eth9", "x");
        let s = e.to_string();
        assert!(
            s.contains("run as root") && s.contains("setcap cap_net_raw,cap_net_admin+eip"),
            "{s}"
        );
        let s = LinkError::NoNeighbor {
            gateway: ip("2001:2::2"),
            iface: "eth9".into(),
        }
        .to_string();
        assert!(
            s.starts_with("no neighbor advertisement reply from gateway 2001:2::2"),
            "{s}"
        );
    }

    #[test]
    fn offline_plan_keeps_only_the_scanned_families() {
        let opts = LinkOptions::default();
        let p = offline_plan(&opts, [None, Some(ip("2001:2::1"))]);
        assert_eq!(p.sources(), [None, Some(ip("::"))]);
        assert!(p.frame_params(Family::V4, 64).is_none());
        assert_eq!(p.frame_params(Family::V6, 64).unwrap().src, ip("::"));
    }

    #[test]
    fn link_layers_by_arphrd() {
        assert_eq!(LinkLayer::of_arphrd(1), LinkLayer::Ethernet);
        assert_eq!(LinkLayer::of_arphrd(772), LinkLayer::Ethernet);
        for (arphrd, kind) in [(65534, "tun or WireGuard"), (768, "ipip"), (776, "sit")] {
            assert_eq!(LinkLayer::of_arphrd(arphrd), LinkLayer::BareIp { kind });
        }
        assert_eq!(
            LinkLayer::of_arphrd(32),
            LinkLayer::Other { arphrd: 32 },
            "InfiniBand"
        );
        assert_eq!(LinkLayer::of_interface("lo"), LinkLayer::Ethernet);
        assert_eq!(
            LinkLayer::of_interface("no-such-if0"),
            LinkLayer::Ethernet,
            "unknown to sysfs: as before"
        );
        assert_eq!(
            LinkLayer::BareIp { kind: "ipip" }.framing(),
            bpf::Framing::BareIp
        );
    }

    #[test]
    fn a_bare_ip_plan_says_so() {
        let plan = LinkPlan {
            iface: Interface {
                name: "wg0".into(),
                index: 7,
                mac: [0; 6],
                addrs: vec![],
                is_loopback: false,
                is_up: true,
                link_layer: LinkLayer::of_arphrd(65534),
            },
            families: [
                Some(FamilyPlan {
                    src: ip("198.19.255.165"),
                    gateway: None,
                    next_hop_mac: [0; 6],
                    next_hop_source: NextHopSource::NoLinkLayer,
                }),
                None,
            ],
            source_set: [ip("198.19.255.165")].into_iter().collect(),
            mac: [0; 6],
        };
        assert_eq!(
            plan.to_string(),
            "interface wg0 (no link layer: tun or WireGuard); IPv4: source 198.19.255.165, bare IP packets, no next-hop MAC"
        );
        let e = LinkError::NoLinkLayer {
            iface: "wg0".into(),
            kind: "tun or WireGuard",
            what: "--router-mac",
            instead: "leave it out",
        }
        .to_string();
        assert_eq!(
            e,
            "--router-mac needs a link layer, and interface wg0 has none (tun or WireGuard: bare IP packets): leave it out"
        );
    }

    #[test]
    fn a_plan_keeps_every_given_source_of_the_families_scanned() {
        let mut opts = LinkOptions {
            source_mac: Some([2, 0x53, 0x53, 0x57, 13, 0x99]),
            ..LinkOptions::default()
        };
        opts.source
            .add_list("198.19.255.118-198.19.255.119,2001:2::5,2001:2::7")
            .unwrap();
        let p = offline_plan(&opts, [Some(ip("198.18.0.1")), Some(ip("2001:2::1"))]);
        assert_eq!(
            p.sources(),
            [Some(ip("198.19.255.118")), Some(ip("2001:2::5"))]
        );
        assert_eq!(p.source_set, opts.source);
        assert_eq!(p.frame_params(Family::V4, 64).unwrap().src_mac, p.mac);
        assert!(p.foreign_mac());
        // Only the families scanned; a family given none takes the one.
        let p = offline_plan(&opts, [None, Some(ip("2001:2::1"))]);
        assert_eq!(p.source_set.words(), ["2001:2::5", "2001:2::7"]);
        let opts = LinkOptions::default();
        let p = offline_plan(&opts, [Some(ip("198.18.0.1")), None]);
        assert_eq!(p.source_set.words(), ["0.0.0.0"]);
        assert!(!p.foreign_mac());
    }
}
