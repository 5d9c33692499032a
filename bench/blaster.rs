//! The ceiling: the fewest instructions that put Ethernet frames on a link.
//!
//! Fixed frames (no permutation, no cookie, no checksum work, no pacing) go
//! out of one interface with `sendmmsg`, 256 per call, from N threads with a
//! socket each, for a fixed time. What it reaches is the most the kernel
//! and the link can take; a scanner is measured against it.
//!
//!   cargo run --release --example blaster -- --interface IF --dst-mac MAC \
//!       --src-ip A.B.C.D --dst-net A.B.C.0 [--seconds 3] [--threads 1] [--frame-len 60]
//!
//! It sends only to `--dst-net`'s /24 (a lab's silent block): the benchmark
//! scripts point it at a namespace they built.

use std::ffi::CString;
use std::mem;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const BATCH: usize = 256;

struct Args {
    interface: String,
    dst_mac: [u8; 6],
    src_ip: Ipv4Addr,
    dst_net: Ipv4Addr,
    seconds: f64,
    threads: usize,
    frame_len: usize,
}

fn usage(why: &str) -> ! {
    eprintln!("blaster: {why}");
    eprintln!(
        "usage: blaster --interface IF --dst-mac MAC --src-ip IP --dst-net IP [--seconds S] [--threads N] [--frame-len 60..128]"
    );
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut a = Args {
        interface: String::new(),
        dst_mac: [0; 6],
        src_ip: Ipv4Addr::UNSPECIFIED,
        dst_net: Ipv4Addr::UNSPECIFIED,
        seconds: 3.0,
        threads: 1,
        frame_len: 60,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--interface" => a.interface = value(),
            "--dst-mac" => {
                let v = value();
                let parts: Vec<u8> = v
                    .split(':')
                    .filter_map(|p| u8::from_str_radix(p, 16).ok())
                    .collect();
                a.dst_mac = parts
                    .try_into()
                    .unwrap_or_else(|_| usage(&format!("bad MAC {v:?}")));
            }
            "--src-ip" => a.src_ip = value().parse().unwrap_or_else(|_| usage("bad --src-ip")),
            "--dst-net" => a.dst_net = value().parse().unwrap_or_else(|_| usage("bad --dst-net")),
            "--seconds" => a.seconds = value().parse().unwrap_or_else(|_| usage("bad --seconds")),
            "--threads" => a.threads = value().parse().unwrap_or_else(|_| usage("bad --threads")),
            "--frame-len" => {
                a.frame_len = value().parse().unwrap_or_else(|_| usage("bad --frame-len"))
            }
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    if a.interface.is_empty() || a.dst_net.is_unspecified() {
        usage("--interface and --dst-net are required");
    }
    if !(42..=128).contains(&a.frame_len) || a.threads == 0 || a.seconds <= 0.0 || a.seconds > 60.0
    {
        usage("--frame-len 42-128, --threads >= 1, --seconds 0-60");
    }
    a
}

/// A TCP SYN-shaped frame to host `host` of the /24; checksums left zero:
/// the receiving namespace drops it before anything would check them.
fn frame(a: &Args, src_mac: [u8; 6], host: u8) -> [u8; 128] {
    let mut f = [0u8; 128];
    f[0..6].copy_from_slice(&a.dst_mac);
    f[6..12].copy_from_slice(&src_mac);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    f[14] = 0x45;
    f[16..18].copy_from_slice(&((a.frame_len - 14) as u16).to_be_bytes());
    f[22] = 64;
    f[23] = 6;
    f[26..30].copy_from_slice(&a.src_ip.octets());
    let mut dst = a.dst_net.octets();
    dst[3] = host;
    f[30..34].copy_from_slice(&dst);
    f[34 + 13] = 0x02; // SYN
    f
}

fn check(r: libc::c_int, what: &str) {
    if r < 0 {
        eprintln!("blaster: {what}: {}", std::io::Error::last_os_error());
        std::process::exit(1);
    }
}

fn interface(name: &str) -> (i32, [u8; 6]) {
    let c = CString::new(name).unwrap();
    // SAFETY: c is a valid NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) } as i32;
    if index == 0 {
        usage(&format!("no interface {name:?}"));
    }
    let mac = std::fs::read_to_string(format!("/sys/class/net/{name}/address")).unwrap_or_default();
    let mac: Vec<u8> = mac
        .trim()
        .split(':')
        .filter_map(|p| u8::from_str_radix(p, 16).ok())
        .collect();
    (index, mac.try_into().unwrap_or([0; 6]))
}

fn blast(a: &Args, index: i32, src_mac: [u8; 6], stop: &AtomicBool, total: &AtomicU64) {
    // SAFETY: plain socket/bind/setsockopt calls on a descriptor we own,
    // with a live, correctly sized sockaddr_ll and option values.
    let fd = unsafe {
        let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
        check(fd, "socket (run as root)");
        let mut sll: libc::sockaddr_ll = mem::zeroed();
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_ifindex = index;
        check(
            libc::bind(
                fd,
                (&sll as *const libc::sockaddr_ll).cast(),
                mem::size_of::<libc::sockaddr_ll>() as u32,
            ),
            "bind",
        );
        let one: libc::c_int = 1;
        libc::setsockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_QDISC_BYPASS,
            (&one as *const libc::c_int).cast(),
            4,
        );
        fd
    };
    let mut frames: Vec<[u8; 128]> = (0..BATCH).map(|i| frame(a, src_mac, i as u8)).collect();
    let mut iov: Vec<libc::iovec> = frames
        .iter_mut()
        .map(|f| libc::iovec {
            iov_base: f.as_mut_ptr().cast(),
            iov_len: a.frame_len,
        })
        .collect();
    let mut msgs: Vec<libc::mmsghdr> = iov
        .iter_mut()
        .map(|v| {
            // SAFETY: an all-zero mmsghdr is valid.
            let mut m: libc::mmsghdr = unsafe { mem::zeroed() };
            m.msg_hdr.msg_iov = v;
            m.msg_hdr.msg_iovlen = 1;
            m
        })
        .collect();
    let mut sent = 0u64;
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: msgs point at iov, which point at frames; all live here.
        let n = unsafe { libc::sendmmsg(fd, msgs.as_mut_ptr(), BATCH as u32, 0) };
        if n > 0 {
            sent += n as u64;
        }
    }
    total.fetch_add(sent, Ordering::Relaxed);
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
}

fn main() {
    let a = parse_args();
    let (index, src_mac) = interface(&a.interface);
    let stop = AtomicBool::new(false);
    let total = AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..a.threads {
            s.spawn(|| blast(&a, index, src_mac, &stop, &total));
        }
        std::thread::sleep(Duration::from_secs_f64(a.seconds));
        stop.store(true, Ordering::Relaxed);
    });
    let secs = start.elapsed().as_secs_f64();
    let n = total.load(Ordering::Relaxed);
    println!(
        "blaster: {n} frames of {} bytes in {secs:.2} s from {} thread(s) = {:.0} frames/s",
        a.frame_len,
        a.threads,
        n as f64 / secs
    );
}
