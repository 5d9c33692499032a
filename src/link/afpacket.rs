//! The Linux fast path: AF_PACKET with batched sends and a memory-mapped
//! receive ring.
//!
//! Transmit: frames are written in place into a fixed set of buffers and
//! handed to the kernel 256 at a time with one `sendmmsg`. Measured on this
//! project's veth lab, that beat PACKET_TX_RING (1.82 vs 1.60 Mpps for one
//! sender; docs/performance.md), so the ring is not used for sending.
//! PACKET_QDISC_BYPASS skips the queueing layer on NICs that have one.
//!
//! Receive: a TPACKET_V3 ring. The kernel fills blocks of frames and hands
//! over whole blocks, so one wake-up serves hundreds of replies with no
//! copy into user space; a BPF filter (`bpf.rs`) keeps everything that
//! cannot be a reply to us out of the ring, and our own outgoing frames
//! are not delivered at all.
//!
//! Interfaces without a link layer (tun, WireGuard, ipip ...) get SOCK_DGRAM
//! sockets, which send and receive from the network header on. The frames
//! stay Ethernet frames everywhere else: the sender skips the 14-byte
//! header the templates wrote (its EtherType becomes the packet's
//! protocol) and the receiver writes one in front of each packet. That
//! keeps every probe module, the session code and the reply parser to one
//! frame layout, at the price of one copy of each received packet into a
//! buffer the receiver owns (no allocation); a link-header length threaded
//! through every parser and template would touch them all instead.

use super::LinkLayer;
use super::bpf;
use super::socket::{ETH_P_NONE, PacketSocket};
use crate::wire::template::ETH_LEN;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{Ordering, fence};
use std::time::{Duration, Instant};

/// Frames per `sendmmsg`.
pub const TX_BATCH: usize = 256;
const SEND_BUFFER: libc::c_int = 4 << 20;
/// How long a device may refuse every frame before the scan gives up: a
/// busy queue drains in microseconds, while a link without carrier (a tun
/// device whose reader is gone, an unplugged NIC) refuses forever.
const SEND_STALL_LIMIT: Duration = Duration::from_secs(5);

pub struct AfPacketTx {
    sock: PacketSocket,
    /// Bytes per frame slot: the longest frame, rounded up to a cache line.
    slot: usize,
    // The buffers are boxed so their addresses never change: each
    // `msgs[i]` points at `iovecs[i]` (and `names[i]`, if any), which
    // points at slot `i` of `frames`.
    frames: Box<[u8]>,
    iovecs: Box<[libc::iovec; TX_BATCH]>,
    msgs: Box<[libc::mmsghdr; TX_BATCH]>,
    /// No link layer: each message's address, whose protocol is the
    /// packet's (the kernel's tunnel drivers dispatch on it); `msgs[i]`
    /// names `names[i]`. Empty on Ethernet.
    names: Box<[libc::sockaddr_ll]>,
}

// SAFETY: the raw pointers inside `iovecs` and `msgs` point only into the
// heap buffers this struct owns, which move with it between threads and
// are never shared; nothing else holds them.
unsafe impl Send for AfPacketTx {}

impl AfPacketTx {
    /// A sender on `ifindex` for frames of up to `max_frame_len` bytes.
    pub fn open(ifindex: u32, link: LinkLayer, max_frame_len: usize) -> io::Result<AfPacketTx> {
        let bare = link.is_bare_ip();
        let sock = if bare {
            PacketSocket::unbound_datagram()?
        } else {
            PacketSocket::unbound()?
        };
        // Protocol 0 at bind: this socket is never given received frames.
        sock.bind(ifindex, ETH_P_NONE)?;
        let _ = sock.set_int_option(libc::SOL_PACKET, libc::PACKET_QDISC_BYPASS, 1);
        if sock
            .set_int_option(libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, SEND_BUFFER)
            .is_err()
        {
            let _ = sock.set_int_option(libc::SOL_SOCKET, libc::SO_SNDBUF, SEND_BUFFER);
        }
        let slot = max_frame_len.max(1).next_multiple_of(64);
        let mut frames = vec![0u8; slot * TX_BATCH].into_boxed_slice();
        let mut iovecs: Box<[libc::iovec; TX_BATCH]> = Box::new(
            [libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            }; TX_BATCH],
        );
        // Bare IP: the kernel is handed what follows the Ethernet header.
        let skip = if bare { ETH_LEN } else { 0 };
        for (iov, frame) in iovecs.iter_mut().zip(frames.chunks_exact_mut(slot)) {
            iov.iov_base = frame[skip..].as_mut_ptr().cast();
        }
        // SAFETY: an all-zero mmsghdr is valid (null name, no control data).
        let mut msgs: Box<[libc::mmsghdr; TX_BATCH]> = Box::new(unsafe { std::mem::zeroed() });
        for (msg, iov) in msgs.iter_mut().zip(iovecs.iter_mut()) {
            msg.msg_hdr.msg_iov = iov;
            msg.msg_hdr.msg_iovlen = 1;
        }
        let mut names: Box<[libc::sockaddr_ll]> = if bare {
            // SAFETY: an all-zero sockaddr_ll is valid; the fields a send
            // needs are filled below (the protocol per packet).
            let name: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            vec![name; TX_BATCH].into_boxed_slice()
        } else {
            Box::new([])
        };
        for (msg, name) in msgs.iter_mut().zip(names.iter_mut()) {
            name.sll_family = libc::AF_PACKET as u16;
            name.sll_ifindex = ifindex as i32;
            msg.msg_hdr.msg_name = (name as *mut libc::sockaddr_ll).cast();
            msg.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as u32;
        }
        Ok(AfPacketTx {
            sock,
            slot,
            frames,
            iovecs,
            msgs,
            names,
        })
    }

    /// Builds `count` frames in place and sends them, `TX_BATCH` per call.
    #[inline]
    pub fn send_batch<F: FnMut(usize, &mut [u8]) -> usize>(
        &mut self,
        count: usize,
        mut fill: F,
    ) -> io::Result<()> {
        let mut done = 0;
        while done < count {
            let n = (count - done).min(TX_BATCH);
            for (i, frame) in self.frames.chunks_exact_mut(self.slot).take(n).enumerate() {
                let len = fill(done + i, frame);
                self.iovecs[i].iov_len = match self.names.get_mut(i) {
                    None => len,
                    Some(name) => {
                        let (protocol, packet_len) = bare_packet(frame, len);
                        name.sll_protocol = protocol;
                        packet_len
                    }
                };
            }
            let mut sent = 0;
            let mut stalled_since: Option<Instant> = None;
            while sent < n {
                match self.sock.send_many(&mut self.msgs[sent..n]) {
                    Ok(k) => {
                        sent += k;
                        stalled_since = None;
                    }
                    Err(e) => match e.raw_os_error() {
                        Some(libc::EINTR) => {}
                        // The device queue is full: give it a moment, never
                        // drop a probe; but a device that takes nothing for
                        // seconds is not busy, it is down.
                        Some(libc::ENOBUFS) | Some(libc::EAGAIN) => {
                            let since = *stalled_since.get_or_insert_with(Instant::now);
                            if since.elapsed() > SEND_STALL_LIMIT {
                                return Err(io::Error::new(
                                    e.kind(),
                                    format!(
                                        "the interface took no frame for {} s ({e}): is its link down (no carrier, or a tun device nobody reads)?",
                                        SEND_STALL_LIMIT.as_secs()
                                    ),
                                ));
                            }
                            std::thread::sleep(Duration::from_micros(20));
                        }
                        _ => return Err(e),
                    },
                }
            }
            done += n;
        }
        Ok(())
    }
}

/// What a bare-IP link sends of Ethernet frame `frame` of `len` bytes:
/// the packet after the header, whose length is returned, with the
/// header's EtherType as its protocol (network order, as `sll_protocol`).
#[inline]
fn bare_packet(frame: &[u8], len: usize) -> (u16, usize) {
    (
        u16::from_ne_bytes([frame[12], frame[13]]),
        len.saturating_sub(ETH_LEN),
    )
}

/// Writes `packet`, received from the network header on, into `buf` as
/// the Ethernet frame the rest of synsweep reads: no addresses (there are
/// none on the link), the EtherType told by the IP version. Returns the
/// frame; `buf` holds ETH_LEN + the longest packet.
#[inline]
fn ethernet_in_front<'b>(buf: &'b mut [u8], packet: &[u8]) -> &'b [u8] {
    let ethertype: u16 = match packet.first().map(|b| b >> 4) {
        Some(4) => 0x0800,
        Some(6) => 0x86dd,
        // The capture filter lets nothing else through.
        _ => 0,
    };
    let len = (ETH_LEN + packet.len()).min(buf.len());
    buf[..12].fill(0);
    buf[12..ETH_LEN].copy_from_slice(&ethertype.to_be_bytes());
    buf[ETH_LEN..len].copy_from_slice(&packet[..len - ETH_LEN]);
    &buf[..len]
}

/// Ring geometry: 8 blocks of 1 MiB, about 50 ms of replies at 1 Mpps; a
/// block is handed over when full or after 8 ms, whichever comes first.
const RX_BLOCK_SIZE: u32 = 1 << 20;
pub const RX_BLOCK_COUNT: u32 = 8;
/// Banner mode's ring: its receive thread also runs the sessions (TLS
/// handshakes among them) and shares the CPU with the servers it talks
/// to, so it is away from the ring for longer; 64 MiB rides that out.
pub const RX_BLOCK_COUNT_SESSIONS: u32 = 64;
const RX_FRAME_SIZE: u32 = 2048;
const RX_RETIRE_MS: u32 = 8;

pub struct AfPacketRx {
    sock: PacketSocket,
    ring: *mut u8,
    ring_len: usize,
    /// Blocks of `RX_BLOCK_SIZE` in the ring.
    blocks: usize,
    next_block: usize,
    /// No link layer: where each packet gets its Ethernet header (a
    /// frame's worth of bytes, allocated once). Empty on Ethernet.
    framed: Box<[u8]>,
}

// SAFETY: the mapping is owned by this struct alone (unmapped in Drop) and
// only touched through &mut self; the kernel's side of the ring is
// synchronised by the block status word, as packet(7) describes.
unsafe impl Send for AfPacketRx {}

impl AfPacketRx {
    /// Also receive frames addressed to other MACs (ours is not the
    /// interface's), until this receiver closes.
    pub fn promiscuous(&self, ifindex: u32) -> io::Result<()> {
        self.sock.add_membership(ifindex, None)
    }

    /// A ring-backed receiver of frames that pass `filter`, on `ifindex`.
    pub fn open(
        ifindex: u32,
        link: LinkLayer,
        filter: &[bpf::Insn],
        blocks: u32,
    ) -> io::Result<AfPacketRx> {
        let (sock, framed) = if link.is_bare_ip() {
            let room = ETH_LEN + bpf::SNAP as usize;
            (
                PacketSocket::unbound_datagram()?,
                vec![0; room].into_boxed_slice(),
            )
        } else {
            (PacketSocket::unbound()?, Box::default())
        };
        sock.attach_filter(filter)?;
        sock.ignore_outgoing();
        sock.set_int_option(
            libc::SOL_PACKET,
            libc::PACKET_VERSION,
            libc::tpacket_versions::TPACKET_V3 as i32,
        )?;
        let req = libc::tpacket_req3 {
            tp_block_size: RX_BLOCK_SIZE,
            tp_block_nr: blocks,
            tp_frame_size: RX_FRAME_SIZE,
            tp_frame_nr: RX_BLOCK_SIZE / RX_FRAME_SIZE * blocks,
            tp_retire_blk_tov: RX_RETIRE_MS,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        sock.set_option(libc::SOL_PACKET, libc::PACKET_RX_RING, &req)?;
        let ring_len = RX_BLOCK_SIZE as usize * blocks as usize;
        // SAFETY: a fresh shared mapping of the ring the kernel just set up
        // on this socket, at the length it was configured with.
        let ring = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ring_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                sock.as_raw_fd(),
                0,
            )
        };
        if ring == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let rx = AfPacketRx {
            sock,
            ring: ring.cast(),
            ring_len,
            blocks: blocks as usize,
            next_block: 0,
            framed,
        };
        // Every protocol: the filter decides (IPv4, IPv6, and later ARP).
        rx.sock.bind(ifindex, libc::ETH_P_ALL as u16)?;
        Ok(rx)
    }

    fn block(&self, i: usize) -> *mut libc::tpacket_block_desc {
        // SAFETY: i < self.blocks, so the offset stays inside the mapping.
        unsafe { self.ring.add(i * RX_BLOCK_SIZE as usize).cast() }
    }

    fn block_ready(&self, i: usize) -> bool {
        let desc = self.block(i);
        // SAFETY: desc points at a block header inside the live mapping;
        // the kernel writes block_status, so read it volatile, then fence
        // so the frames are read after the status that published them.
        let status = unsafe { std::ptr::read_volatile(&(*desc).hdr.bh1.block_status) };
        fence(Ordering::Acquire);
        status & libc::TP_STATUS_USER != 0
    }

    /// Hands every frame of ready block `i` to `on_frame`, with the time the
    /// kernel stamped on it when it arrived (not when the block was handed
    /// over, up to RX_RETIRE_MS later), then returns the block to the
    /// kernel. Returns the number of frames.
    fn drain_block<F: FnMut(&[u8], u64)>(&mut self, i: usize, on_frame: &mut F) -> usize {
        let desc = self.block(i);
        let base: *const u8 = desc.cast();
        // SAFETY: the block is ours (status TP_STATUS_USER) until we hand it
        // back below; the kernel wrote num_pkts frames starting at
        // offset_to_first_pkt, each header giving the next offset, all
        // inside this block. Lengths are checked against the block size.
        unsafe {
            let bh = &(*desc).hdr.bh1;
            let count = bh.num_pkts as usize;
            let mut off = bh.offset_to_first_pkt as usize;
            for _ in 0..count {
                if off + std::mem::size_of::<libc::tpacket3_hdr>() > RX_BLOCK_SIZE as usize {
                    break;
                }
                let h = &*(base.add(off) as *const libc::tpacket3_hdr);
                let start = off + usize::from(h.tp_mac);
                let len = h.tp_snaplen as usize;
                if start + len <= RX_BLOCK_SIZE as usize {
                    let arrived = u64::from(h.tp_sec) * 1_000_000 + u64::from(h.tp_nsec) / 1000;
                    let data = std::slice::from_raw_parts(base.add(start), len);
                    if self.framed.is_empty() {
                        on_frame(data, arrived);
                    } else {
                        on_frame(ethernet_in_front(&mut self.framed, data), arrived);
                    }
                }
                if h.tp_next_offset == 0 {
                    break;
                }
                off += h.tp_next_offset as usize;
            }
            fence(Ordering::Release);
            std::ptr::write_volatile(&mut (*desc).hdr.bh1.block_status, libc::TP_STATUS_KERNEL);
            count
        }
    }

    /// Waits at most `timeout` for a block, then hands every frame of every
    /// ready block to `on_frame` with the kernel's arrival stamp.
    #[inline]
    pub fn recv_batch<F: FnMut(&[u8], u64)>(
        &mut self,
        timeout: Duration,
        mut on_frame: F,
    ) -> io::Result<usize> {
        if !self.block_ready(self.next_block) {
            let mut pfd = libc::pollfd {
                fd: self.sock.as_raw_fd(),
                events: libc::POLLIN | libc::POLLERR,
                revents: 0,
            };
            let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
            // SAFETY: one live pollfd, count 1.
            let r = unsafe { libc::poll(&mut pfd, 1, ms) };
            if r < 0 {
                let e = io::Error::last_os_error();
                return if e.kind() == io::ErrorKind::Interrupted {
                    Ok(0)
                } else {
                    Err(e)
                };
            }
        }
        let mut frames = 0;
        // Drain every ready block, in ring order, without sleeping again.
        for _ in 0..self.blocks {
            if !self.block_ready(self.next_block) {
                break;
            }
            frames += self.drain_block(self.next_block, &mut on_frame);
            self.next_block = (self.next_block + 1) % self.blocks;
        }
        Ok(frames)
    }

    /// Frames the ring had no room for since the last call.
    pub fn kernel_drops(&mut self) -> Option<u64> {
        self.sock.take_kernel_stats().ok().map(|(_, drops)| drops)
    }
}

impl Drop for AfPacketRx {
    fn drop(&mut self) {
        // SAFETY: ring/ring_len are exactly what mmap returned and were given.
        unsafe {
            libc::munmap(self.ring.cast(), self.ring_len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookie::CookieKey;
    use crate::probe::tcp::tests::probe_frame;
    use crate::wire::reply::tests::{TARGET4, TARGET6, US4, US6};
    use crate::wire::reply::{parse_frame, parse_ip};

    #[test]
    fn a_bare_link_sends_the_packet_after_the_header_with_its_ethertype() {
        let key = CookieKey::random();
        for (us, them, ethertype) in [(US4, TARGET4, 0x0800u16), (US6, TARGET6, 0x86dd)] {
            let mut slot = probe_frame(&key, us, them, 61000, 443);
            let len = slot.len();
            // A slot is longer than the frame in it.
            slot.resize(len + 64, 0xee);
            let (protocol, packet_len) = bare_packet(&slot, len);
            assert_eq!(protocol, ethertype.to_be(), "{us}: network order");
            assert_eq!(packet_len, len - ETH_LEN);
            // What the iovec, which starts ETH_LEN in, then covers:
            let packet = &slot[ETH_LEN..ETH_LEN + packet_len];
            let r = parse_ip(packet).expect("a whole IP packet");
            assert_eq!((r.src, r.dst), (us.parse().unwrap(), them.parse().unwrap()));
        }
    }

    #[test]
    fn a_bare_packet_received_gets_the_header_the_parser_reads() {
        let key = CookieKey::random();
        let mut buf = vec![0xaa; ETH_LEN + 2048];
        for (us, them, ethertype) in [(US4, TARGET4, [8, 0]), (US6, TARGET6, [0x86, 0xdd])] {
            let frame = probe_frame(&key, us, them, 61000, 80);
            let packet = &frame[ETH_LEN..];
            let framed = ethernet_in_front(&mut buf, packet).to_vec();
            assert_eq!(framed.len(), frame.len());
            assert_eq!(&framed[..12], &[0; 12], "no addresses on the link");
            assert_eq!(&framed[12..14], &ethertype);
            assert_eq!(&framed[ETH_LEN..], packet);
            let (a, b) = (parse_frame(&framed).unwrap(), parse_ip(packet).unwrap());
            assert_eq!((a.src, a.dst, a.ttl), (b.src, b.dst, b.ttl));
            assert_eq!(format!("{:?}", a.transport), format!("{:?}", b.transport));
        }
        // Neither version: no EtherType the parser takes; nothing at all:
        // an Ethernet header alone.
        let odd = ethernet_in_front(&mut buf, &[0x51, 0, 0, 0]).to_vec();
        assert_eq!(&odd[12..14], &[0, 0]);
        assert!(parse_frame(&odd).is_err());
        assert_eq!(ethernet_in_front(&mut buf, &[]).len(), ETH_LEN);
        // Longer than the buffer: cut, never a panic.
        let mut small = [0u8; ETH_LEN + 4];
        assert_eq!(
            ethernet_in_front(&mut small, &[0x45; 40]).len(),
            ETH_LEN + 4
        );
    }
}
