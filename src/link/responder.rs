//! Answering ARP and Neighbor Solicitations for our source addresses that
//! the machine does not own.
//!
//! A target (or the gateway) must learn a MAC for each address we send
//! from before its replies can reach us. For an address on a local
//! interface the kernel answers; for any other it does not, so while a
//! scan runs we do it ourselves: one packet socket on the scan's interface
//! behind a filter that passes only ARP requests and Neighbor
//! Solicitations for those addresses, and a thread that answers each with
//! our MAC (`--source-mac`, else the interface's). Replies then come to a
//! MAC we capture on and to an address no local socket has, so the kernel
//! neither answers nor resets them. The thread stops, and its socket (and
//! with it any multicast or promiscuous membership) closes, when the
//! responder is dropped.

use super::bpf::{self, Builder, Cond, Insn, Size, To};
use super::socket::PacketSocket;
use super::source::Sources;
use super::{Interface, LinkError, LinkPlan};
use crate::wire::{MacAddr, arp, nd};
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::thread::JoinHandle;
use std::time::Duration;

/// Linux's ETH_P_ALL: ARP and IPv6 frames on one socket.
const ETH_P_ALL: u16 = libc::ETH_P_ALL as u16;
/// How long the thread waits for a frame before looking at `stop`.
const POLL: Duration = Duration::from_millis(100);

/// The running responder; dropping it stops it.
pub struct Responder {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<io::Result<()>>>,
    /// The addresses answered for.
    pub addrs: Sources,
}

impl Responder {
    /// Starts answering for every source of `plan` no local interface has
    /// (`owned`); `None` when there is none.
    pub fn start(plan: &LinkPlan, owned: &[IpAddr]) -> Result<Option<Responder>, LinkError> {
        let addrs: Sources = plan
            .source_set
            .iter()
            .filter(|ip| !owned.contains(ip))
            .collect();
        if addrs.is_empty() {
            return Ok(None);
        }
        let sock = open(&plan.iface, plan.mac, &addrs).map_err(|e| {
            LinkError::from_socket(e, &plan.iface.name, "opening the ARP/ND responder")
        })?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (stop, addrs, mac) = (Arc::clone(&stop), addrs.clone(), plan.mac);
            std::thread::Builder::new()
                .name("responder".into())
                .spawn(move || {
                    let result = serve(&sock, mac, &addrs, &stop);
                    // Said at once: replies to these addresses stop coming.
                    if let Err(e) = &result {
                        eprintln!("synsweep: the ARP/ND responder stopped: {e}");
                    }
                    result
                })
                .map_err(|err| LinkError::Io {
                    what: "starting the ARP/ND responder".into(),
                    err,
                })?
        };
        Ok(Some(Responder {
            stop,
            thread: Some(thread),
            addrs,
        }))
    }

    /// Stops answering; the error the thread met, if any.
    pub fn stop(mut self) -> io::Result<()> {
        self.halt()
    }

    fn halt(&mut self) -> io::Result<()> {
        self.stop.store(true, Relaxed);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the ARP/ND responder panicked")),
            None => Ok(()),
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        let _ = self.halt();
    }
}

/// The responder's socket: bound to the interface, filtered to what it
/// answers, and a member of each solicited-node group it answers for (and
/// promiscuous when our MAC is not the interface's: a neighbour checking
/// its cache asks that MAC directly), which a real NIC would otherwise
/// not pass up.
fn open(iface: &Interface, mac: MacAddr, addrs: &Sources) -> io::Result<PacketSocket> {
    let sock = PacketSocket::unbound()?;
    sock.attach_filter(&solicitation_filter(addrs))?;
    sock.ignore_outgoing();
    sock.bind(iface.index, ETH_P_ALL)?;
    for &a in addrs.v6.addrs() {
        let g = nd::solicited_node(Ipv6Addr::from(a)).octets();
        sock.add_membership(iface.index, Some([0x33, 0x33, g[12], g[13], g[14], g[15]]))?;
    }
    if mac != iface.mac {
        sock.add_membership(iface.index, None)?;
    }
    Ok(sock)
}

/// The loop: one frame in, at most one answer out, nothing allocated.
fn serve(sock: &PacketSocket, mac: MacAddr, addrs: &Sources, stop: &AtomicBool) -> io::Result<()> {
    let mut buf = [0u8; 2048];
    while !stop.load(Relaxed) {
        let Some(n) = sock.recv_timeout(&mut buf, POLL)? else {
            continue;
        };
        let frame = &buf[..n];
        // The filter passed it; the parse checks what the filter could not.
        if let Some(req) = arp::parse_request(frame)
            && addrs.contains(IpAddr::V4(req.target_ip.into()))
        {
            // A send that fails (a full queue) is asked again by the
            // neighbour's next request.
            let _ = sock.send(&arp::reply(mac, &req));
        } else if let Some(ns) = nd::parse_solicitation(frame)
            && addrs.contains(IpAddr::V6(ns.target))
        {
            let _ = sock.send(&nd::advertisement(mac, &ns));
        }
    }
    Ok(())
}

/// ARP requests for one of `addrs` (IPv4), and Neighbor Solicitations
/// (ICMPv6 type 135 right after the IPv6 header) for one of them (IPv6).
pub fn solicitation_filter(addrs: &Sources) -> Vec<Insn> {
    const ARP_OPERATION: u32 = 14 + 6;
    const ARP_TARGET_IP: u32 = 14 + 24;
    const IPV6_NEXT_HEADER: u32 = 14 + 6;
    const ICMPV6_TYPE: u32 = 14 + 40;
    const NS_TARGET: u32 = 14 + 40 + 8;
    let mut b = Builder::new();
    let (v6, hit) = (b.label(), b.label());
    b.load(Size::Half, 12);
    b.jump_far(Cond::Eq, 0x86dd, v6);
    if !addrs.v4.is_empty() {
        let (arp, request) = (b.label(), b.label());
        b.jump(Cond::Eq, 0x0806, To::Label(arp), To::Next);
        b.ret(0);
        b.bind(arp);
        b.load(Size::Half, ARP_OPERATION);
        b.jump(Cond::Eq, 1, To::Label(request), To::Next);
        b.ret(0);
        b.bind(request);
        b.load(Size::Word, ARP_TARGET_IP);
        bpf::match_ranges_v4(&mut b, addrs.v4.ranges(), hit);
    }
    b.ret(0);
    b.bind(v6);
    if !addrs.v6.is_empty() {
        let (ns, not_ns) = (b.label(), b.label());
        b.load(Size::Byte, IPV6_NEXT_HEADER);
        b.jump(Cond::Eq, 58, To::Next, To::Label(not_ns));
        b.load(Size::Byte, ICMPV6_TYPE);
        b.jump(Cond::Eq, 135, To::Label(ns), To::Next);
        b.bind(not_ns);
        b.ret(0);
        b.bind(ns);
        bpf::match_ranges_v6(&mut b, NS_TARGET, addrs.v6.ranges(), hit);
    }
    b.ret(0);
    b.bind(hit);
    b.ret(bpf::SNAP);
    b.build().expect("the responder's filter is well formed")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::reply::tests::tcp_frame;
    use crate::wire::reply::tests::{TcpAnswer, ip};

    const THEIR_MAC: MacAddr = [2, 0x73, 0x73, 0x77, 13, 2];

    fn sources(lists: &[&str]) -> Sources {
        let mut s = Sources::default();
        for l in lists {
            s.add_list(l).unwrap();
        }
        s
    }

    #[test]
    fn the_filter_passes_only_requests_for_our_unowned_addresses() {
        let ours = sources(&[
            "198.19.255.118-198.19.255.119",
            "2001:2:0:ff0d::5002-2001:2:0:ff0d::5003",
        ]);
        let f = solicitation_filter(&ours);
        let them4 = u32::from(std::net::Ipv4Addr::new(198, 19, 255, 54));
        let them6: Ipv6Addr = "2001:2:0:ff0d::2".parse().unwrap();
        for (asked, pass) in [
            ("198.19.255.117", false),
            ("198.19.255.118", true),
            ("198.19.255.119", true),
            ("198.19.255.120", false),
        ] {
            let target = u32::from(asked.parse::<std::net::Ipv4Addr>().unwrap());
            let req = arp::request(THEIR_MAC, them4, target);
            assert_eq!(bpf::run(&f, &req) != 0, pass, "ARP for {asked}");
            // The answer to it is no request.
            let answer = arp::reply([2, 0, 0, 0, 0, 1], &arp::parse_request(&req).unwrap());
            assert_eq!(bpf::run(&f, &answer), 0);
        }
        for (asked, pass) in [
            ("2001:2:0:ff0d::5001", false),
            ("2001:2:0:ff0d::5002", true),
            ("2001:2:0:ff0d::5003", true),
            ("2001:2:0:ff0e::5003", false),
        ] {
            let ns = nd::solicitation(THEIR_MAC, them6, asked.parse().unwrap());
            assert_eq!(bpf::run(&f, &ns) != 0, pass, "NS for {asked}");
        }
        // Ordinary traffic to the same addresses is not the responder's.
        let syn_ack = tcp_frame(
            ip("198.18.208.1"),
            ip("198.19.255.118"),
            TcpAnswer::new(80, 61000, 2, 0x12),
        );
        assert_eq!(bpf::run(&f, &syn_ack), 0);
        // A set of one family passes nothing of the other.
        let v4_only = solicitation_filter(&sources(&["198.19.255.118"]));
        let ns = nd::solicitation(THEIR_MAC, them6, "2001:2:0:ff0d::5002".parse().unwrap());
        assert_eq!(bpf::run(&v4_only, &ns), 0);
    }

    #[test]
    fn the_filter_fits_the_most_scattered_set() {
        let v4: Vec<String> = (0..256)
            .map(|i| format!("198.18.{}.{}", i / 128, 2 * (i % 128)))
            .collect();
        let v6: Vec<String> = (0..256).map(|i| format!("2001:2::{:x}", 2 * i)).collect();
        let f = solicitation_filter(&sources(&[&v4.join(","), &v6.join(",")]));
        let them6: Ipv6Addr = "2001:2::ffff".parse().unwrap();
        for (target, pass) in [("198.18.1.254", true), ("198.18.1.253", false)] {
            let t = u32::from(target.parse::<std::net::Ipv4Addr>().unwrap());
            assert_eq!(
                bpf::run(&f, &arp::request(THEIR_MAC, 1, t)) != 0,
                pass,
                "{target}"
            );
        }
        for (target, pass) in [("2001:2::1fe", true), ("2001:2::1ff", false)] {
            let ns = nd::solicitation(THEIR_MAC, them6, target.parse().unwrap());
            assert_eq!(bpf::run(&f, &ns) != 0, pass, "{target}");
        }
    }
}
