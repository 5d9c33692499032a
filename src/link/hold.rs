//! Keeping the host kernel out of banner sessions.
//!
//! Banner mode completes handshakes in user space, so the kernel owns no
//! socket for them: left alone, it answers every SYN-ACK to our source
//! ports with a reset and kills the connection before the server says a
//! word (masscan's lost-banner reports). Here we hold those ports with
//! listening TCP sockets of our own whose socket filter drops everything.
//! The kernel then finds a socket for each segment, runs its filter, and
//! discards the segment silently (a filtered segment is never answered),
//! while our packet socket still sees it. The sockets die with the process,
//! so even `kill -9` leaves no rule, address or socket behind; a firewall
//! rule would outlive a crash.

use super::bpf;
use super::socket::{attach_filter, check, set_option};
use crate::probe::SourcePorts;
use std::io;
use std::mem;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The held ports: dropping this lets them go.
#[derive(Debug)]
pub struct PortHold {
    _sockets: Vec<OwnedFd>,
}

impl PortHold {
    /// Holds `ports` on each of our source addresses.
    pub fn new(sources: [Option<IpAddr>; 2], ports: SourcePorts) -> io::Result<PortHold> {
        let mut sockets = Vec::with_capacity(2 * ports.count() as usize);
        for src in sources.into_iter().flatten() {
            for port in ports.first..=ports.last {
                sockets.push(hold(SocketAddr::new(src, port)).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("cannot hold source port {port} on {src} against the kernel's resets ({e}): pick free ports with --source-port"),
                    )
                })?);
            }
        }
        Ok(PortHold { _sockets: sockets })
    }
}

/// One listening socket on `addr` that drops every segment.
fn hold(addr: SocketAddr) -> io::Result<OwnedFd> {
    let domain = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: socket() takes no pointers; a non-negative return is a fresh
    // descriptor nothing else owns.
    let fd = check(unsafe { libc::socket(domain, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: fd was just returned by socket() and is owned by no one else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // Another scan on the same address may hold the same ports.
    set_option(&fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, &1)?;
    set_option(&fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, &1)?;
    if domain == libc::AF_INET6 {
        set_option(&fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, &1)?;
    }
    // The filter before listen(): no segment is ever accepted.
    attach_filter(&fd, &bpf::drop_all())?;
    let (storage, len) = sockaddr(addr);
    // SAFETY: storage holds a sockaddr_in or sockaddr_in6 of `len` bytes.
    check(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&storage as *const libc::sockaddr_storage).cast(),
            len,
        )
    })?;
    // SAFETY: listen takes no pointers.
    check(unsafe { libc::listen(fd.as_raw_fd(), 1) })?;
    Ok(fd)
}

fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is larger than and aligned for
            // sockaddr_in.
            let sin = unsafe {
                &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()
            };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from(*a.ip()).to_be();
            mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_storage is larger than and aligned for
            // sockaddr_in6.
            let sin6 = unsafe {
                &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_scope_id = a.scope_id();
            mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind;
    use std::net::{Ipv4Addr, TcpStream};
    use std::time::Duration;

    /// A held port takes no connection: the kernel neither accepts nor
    /// resets it, so a connect times out instead of being refused.
    #[test]
    fn a_held_port_neither_accepts_nor_refuses() {
        let ports = SourcePorts {
            first: 61990,
            last: 61991,
        };
        let hold = PortHold::new([Some(IpAddr::V4(Ipv4Addr::LOCALHOST)), None], ports).unwrap();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 61990));
        let err = TcpStream::connect_timeout(&addr, Duration::from_millis(300)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
        drop(hold);
        let err = TcpStream::connect_timeout(&addr, Duration::from_millis(300)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    }
}
