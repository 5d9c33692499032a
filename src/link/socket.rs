//! AF_PACKET sockets: the one place where synsweep talks to the kernel's
//! packet layer through raw system calls. Every other module sees a safe
//! `PacketSocket`.

use super::bpf::Insn;
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Ethernet protocol numbers for `socket()` and `bind()`.
pub const ETH_P_ARP: u16 = libc::ETH_P_ARP as u16;
/// Protocol 0: the socket receives nothing, which is what a send-only
/// socket wants (ETH_P_ALL would copy every frame on the link to it).
pub const ETH_P_NONE: u16 = 0;

#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
}

pub(super) fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

impl PacketSocket {
    /// A raw packet socket bound to interface `ifindex`, receiving frames of
    /// `protocol`. Needs CAP_NET_RAW; the error is EPERM without it.
    pub fn open(ifindex: u32, protocol: u16) -> io::Result<PacketSocket> {
        let sock = PacketSocket::unbound()?;
        sock.bind(ifindex, protocol)?;
        Ok(sock)
    }

    /// A packet socket that receives nothing until `bind`: filters and
    /// rings can be set up first, so no unfiltered frame slips in.
    pub fn unbound() -> io::Result<PacketSocket> {
        PacketSocket::unbound_of(libc::SOCK_RAW)
    }

    /// As `unbound`, but SOCK_DGRAM: packets are sent and received from
    /// the network header on, the kernel adding and removing any link
    /// header (packet(7)). For interfaces without a link layer.
    pub fn unbound_datagram() -> io::Result<PacketSocket> {
        PacketSocket::unbound_of(libc::SOCK_DGRAM)
    }

    fn unbound_of(sock_type: libc::c_int) -> io::Result<PacketSocket> {
        // SAFETY: socket() takes no pointers; a non-negative return is a
        // fresh descriptor that nothing else owns.
        let fd =
            check(unsafe { libc::socket(libc::AF_PACKET, sock_type | libc::SOCK_CLOEXEC, 0) })?;
        // SAFETY: fd was just returned by socket() and is owned by no one else.
        Ok(PacketSocket {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    pub fn bind(&self, ifindex: u32, protocol: u16) -> io::Result<()> {
        // SAFETY: an all-zero sockaddr_ll is valid; we fill the fields bind needs.
        let mut addr: libc::sockaddr_ll = unsafe { mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = protocol.to_be();
        addr.sll_ifindex = ifindex as i32;
        // SAFETY: addr is a live sockaddr_ll and the length passed is its size.
        check(unsafe {
            libc::bind(
                self.fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_ll).cast(),
                mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })
        .map(drop)
    }

    /// Attaches a classic BPF program (see `bpf.rs`).
    pub fn attach_filter(&self, prog: &[Insn]) -> io::Result<()> {
        attach_filter(&self.fd, prog)
    }

    /// Sends the prepared messages with one `sendmmsg`; returns how many
    /// went (possibly fewer than given).
    pub fn send_many(&self, msgs: &mut [libc::mmsghdr]) -> io::Result<usize> {
        // SAFETY: msgs is a live, writable slice; each header's iovecs are
        // the caller's responsibility (see AfPacketTx) and stay valid for
        // the call, which only reads them and writes msg_len.
        let n =
            unsafe { libc::sendmmsg(self.fd.as_raw_fd(), msgs.as_mut_ptr(), msgs.len() as u32, 0) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// Frames the kernel delivered and dropped (ring or buffer full) since
    /// the last call; reading resets the kernel's counters.
    pub fn take_kernel_stats(&self) -> io::Result<(u64, u64)> {
        // tpacket_stats_v3 starts with tpacket_stats' two counters, and is
        // what a TPACKET_V3 socket fills; a plain socket fills the first two.
        // SAFETY: all-zero is a valid tpacket_stats_v3.
        let mut st: libc::tpacket_stats_v3 = unsafe { mem::zeroed() };
        let mut len = mem::size_of::<libc::tpacket_stats_v3>() as libc::socklen_t;
        // SAFETY: st and len are live and len holds st's size.
        check(unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut st as *mut libc::tpacket_stats_v3).cast(),
                &mut len,
            )
        })?;
        Ok((u64::from(st.tp_packets), u64::from(st.tp_drops)))
    }

    /// Sets an integer-valued socket option.
    pub fn set_int_option(
        &self,
        level: libc::c_int,
        name: libc::c_int,
        value: libc::c_int,
    ) -> io::Result<()> {
        self.set_option(level, name, &value)
    }

    /// Sets a socket option whose value is a plain C struct.
    pub fn set_option<T: Copy>(
        &self,
        level: libc::c_int,
        name: libc::c_int,
        value: &T,
    ) -> io::Result<()> {
        set_option(&self.fd, level, name, value)
    }

    /// Asks for a large receive buffer so bursts of replies wait in the
    /// kernel instead of being dropped. As root SO_RCVBUFFORCE passes the
    /// rmem_max cap; without CAP_NET_ADMIN the capped SO_RCVBUF is used.
    pub fn grow_receive_buffer(&self, bytes: usize) {
        let bytes = bytes.min(i32::MAX as usize) as libc::c_int;
        if self
            .set_int_option(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, bytes)
            .is_err()
        {
            let _ = self.set_int_option(libc::SOL_SOCKET, libc::SO_RCVBUF, bytes);
        }
    }

    /// Do not deliver frames this host sends (our own probes, the kernel's
    /// RSTs) to this socket. Linux 4.20+; older kernels just see more noise.
    pub fn ignore_outgoing(&self) {
        let _ = self.set_int_option(libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, 1);
    }

    /// Also receive frames the interface would not pass up on its own:
    /// all of them (`None`: promiscuous, for replies to a `--source-mac`
    /// that is not the interface's) or one multicast group's (a
    /// solicited-node group we answer Neighbor Solicitations for). The
    /// membership is this socket's: it ends when the socket closes.
    pub fn add_membership(&self, ifindex: u32, multicast: Option<[u8; 6]>) -> io::Result<()> {
        let mut address = [0u8; 8];
        let (kind, alen) = match multicast {
            None => (libc::PACKET_MR_PROMISC, 0),
            Some(mac) => {
                address[..6].copy_from_slice(&mac);
                (libc::PACKET_MR_MULTICAST, 6)
            }
        };
        let mreq = libc::packet_mreq {
            mr_ifindex: ifindex as libc::c_int,
            mr_type: kind as libc::c_ushort,
            mr_alen: alen,
            mr_address: address,
        };
        self.set_option(libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mreq)
    }

    pub fn send(&self, frame: &[u8]) -> io::Result<usize> {
        // SAFETY: frame is a live slice; send() reads at most frame.len() bytes.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// Receives one frame into `buf`, waiting at most `timeout`. `Ok(None)`
    /// when nothing arrived in time.
    pub fn recv_timeout(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: pfd is one live pollfd and we pass a count of 1.
        let ready = unsafe { libc::poll(&mut pfd, 1, ms) };
        if ready < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(None)
            } else {
                Err(e)
            };
        }
        if ready == 0 {
            return Ok(None);
        }
        // SAFETY: buf is a live, writable slice of buf.len() bytes.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            };
        }
        Ok(Some(n as usize))
    }

    /// Gives up ownership of the descriptor (to pnet, which closes it).
    pub fn into_raw_fd(self) -> RawFd {
        self.fd.into_raw_fd()
    }
}

impl AsRawFd for PacketSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Sets a socket option of any socket whose value is a plain C struct.
pub(super) fn set_option<T: Copy>(
    fd: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: value points to a live T of the size we pass; setsockopt
    // only reads it. T: Copy keeps Drop types (with pointers the kernel
    // would not understand as owned) out.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            mem::size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Attaches a classic BPF program (see `bpf.rs`) to any socket.
pub(super) fn attach_filter(fd: &impl AsRawFd, prog: &[Insn]) -> io::Result<()> {
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        // Insn is #[repr(C)] with sock_filter's exact layout.
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    // The kernel copies the program during the call; `prog` outlives it.
    set_option(fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)
}
