//! The portable link: pnet_datalink channels. One system call (plus pnet's
//! poll) per frame, so it is the slow path; it is here for platforms
//! without AF_PACKET rings and as a reference to check the fast path
//! against.
//!
//! On Linux we hand pnet a packet socket we opened ourselves, so that it
//! gets our capture filter and a large receive buffer, and does not copy
//! our own outgoing frames back to us: without those a 100 kpps scan
//! overflows the default buffer.

use super::bpf;
use super::socket::PacketSocket;
use super::{Interface, LinkError, LinkLayer};
use pnet_datalink::{Channel, Config, DataLinkReceiver, DataLinkSender};
use std::io;
use std::time::Duration;

/// Receive buffer asked of the kernel (bytes of queued frames).
const RECEIVE_BUFFER: usize = 64 << 20;
const READ_TIMEOUT: Duration = Duration::from_millis(50);
/// Room for any frame a probe module writes.
const FRAME_BUFFER: usize = 2048;

pub struct PnetTx {
    tx: Box<dyn DataLinkSender>,
    buf: Box<[u8; FRAME_BUFFER]>,
}

pub struct PnetRx {
    rx: Box<dyn DataLinkReceiver>,
}

type Halves = (Box<dyn DataLinkSender>, Box<dyn DataLinkReceiver>);

/// A pnet channel over our own socket, which gets `filter` first.
fn channel(
    iface: &Interface,
    filter: &[bpf::Insn],
    promiscuous: bool,
) -> Result<Halves, LinkError> {
    // pnet's Linux channel is a SOCK_RAW socket whose frames would be bare
    // IP here, which the templates and the capture filter do not write.
    if let LinkLayer::BareIp { kind } = iface.link_layer {
        return Err(LinkError::NoLinkLayer {
            iface: iface.name.clone(),
            kind,
            what: "--link pnet",
            instead: "use --link afpacket (the default), which sends bare IP there",
        });
    }
    let sock = PacketSocket::unbound()
        .and_then(|s| s.attach_filter(filter).map(|()| s))
        .map_err(|e| LinkError::from_socket(e, &iface.name, "opening a packet socket"))?;
    sock.grow_receive_buffer(RECEIVE_BUFFER);
    sock.ignore_outgoing();
    if promiscuous {
        sock.add_membership(iface.index, None).map_err(|e| {
            LinkError::from_socket(e, &iface.name, "making a packet socket promiscuous")
        })?;
    }
    let ni = pnet_datalink::interfaces()
        .into_iter()
        .find(|i| i.index == iface.index)
        .ok_or_else(|| LinkError::NoSuchInterface {
            name: iface.name.clone(),
            available: vec![],
        })?;
    let config = Config {
        read_timeout: Some(READ_TIMEOUT),
        read_buffer_size: 65536,
        promiscuous: false,
        socket_fd: Some(sock.into_raw_fd()),
        ..Config::default()
    };
    match pnet_datalink::channel(&ni, config) {
        Ok(Channel::Ethernet(tx, rx)) => Ok((tx, rx)),
        Ok(_) => Err(LinkError::Io {
            what: format!("opening a pnet channel on {}", iface.name),
            err: io::Error::other("not an Ethernet channel"),
        }),
        Err(e) => Err(LinkError::from_socket(
            e,
            &iface.name,
            "opening a pnet channel",
        )),
    }
}

/// A sender; its channel's receiving half gets nothing (drop-all filter).
pub fn open_tx(iface: &Interface) -> Result<PnetTx, LinkError> {
    let (tx, _) = channel(iface, &bpf::drop_all(), false)?;
    Ok(PnetTx {
        tx,
        buf: Box::new([0; FRAME_BUFFER]),
    })
}

/// `promiscuous`: our frames carry a MAC that is not the interface's.
pub fn open_rx(
    iface: &Interface,
    filter: &[bpf::Insn],
    promiscuous: bool,
) -> Result<PnetRx, LinkError> {
    let (_, rx) = channel(iface, filter, promiscuous)?;
    Ok(PnetRx { rx })
}

impl PnetTx {
    pub fn send_batch<F: FnMut(usize, &mut [u8]) -> usize>(
        &mut self,
        count: usize,
        mut fill: F,
    ) -> io::Result<()> {
        for i in 0..count {
            let len = fill(i, &mut self.buf[..]);
            loop {
                match self.tx.send_to(&self.buf[..len], None) {
                    Some(Ok(())) => break,
                    // The device queue is full: wait for it, never drop a probe.
                    Some(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                        std::thread::sleep(Duration::from_micros(50));
                    }
                    Some(Err(e)) => return Err(e),
                    None => return Err(io::Error::other("pnet sender refused the frame")),
                }
            }
        }
        Ok(())
    }
}

impl PnetRx {
    pub fn recv_batch<F: FnMut(&[u8], u64)>(
        &mut self,
        _timeout: Duration,
        mut on_frame: F,
    ) -> io::Result<usize> {
        // pnet waits READ_TIMEOUT at most, fixed when the channel opened.
        match self.rx.next() {
            Ok(frame) => {
                // pnet has no kernel timestamp: the time we read it.
                on_frame(frame, crate::engine::rate::unix_micros());
                Ok(1)
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Ok(0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(e),
        }
    }
}
