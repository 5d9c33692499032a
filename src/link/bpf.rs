//! The capture filter: a classic BPF program the kernel runs on every frame
//! before it reaches our socket, so only what could be a reply to us is
//! copied to user space.
//!
//! Programs are written with a small builder: loads, compare-and-branch to
//! labels, returns; `build` resolves every label into the forward jump
//! offsets the kernel wants (and refuses a program whose jumps do not fit).
//! `reply_filter` generates the program from what the scan needs: the
//! families it uses, our address in each, our source ports, and the
//! transports the probe module listens for. A small interpreter for the
//! same instructions lets the tests run real frames through the exact
//! program the kernel gets.

use super::source::Sources;
use crate::probe::{Capture, SourcePorts};
use std::net::IpAddr;

/// One classic BPF instruction, laid out as the kernel's `sock_filter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

// Instruction classes, sizes, modes and jump kinds (linux/filter.h).
const LD: u16 = 0x00;
const LDX: u16 = 0x01;
const ALU: u16 = 0x04;
const JMP: u16 = 0x05;
const RET: u16 = 0x06;
const ABS: u16 = 0x20;
const IND: u16 = 0x40;
const MSH: u16 = 0xa0;
const RSH: u16 = 0x70;
const JA: u16 = 0x00;
const K: u16 = 0x00;

/// Bytes of a frame the kernel passes on: enough for any reply we parse.
pub const SNAP: u32 = 0x40000;

/// Load widths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    Word = 0x00,
    Half = 0x08,
    Byte = 0x10,
}

/// Jump conditions on the accumulator against a constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cond {
    Eq = 0x10,
    Gt = 0x20,
    Ge = 0x30,
    /// `A & k != 0`
    Set = 0x40,
}

/// A place in the program a jump can go to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label(usize);

/// Where a branch goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum To {
    /// The next instruction (fall through).
    Next,
    Label(Label),
}

#[derive(Debug, PartialEq, Eq)]
pub struct BuildError(pub String);

#[derive(Default)]
pub struct Builder {
    code: Vec<(Insn, To, To)>,
    labels: Vec<Option<usize>>,
}

impl Builder {
    pub fn new() -> Self {
        Builder::default()
    }

    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// `label` is the next instruction emitted.
    pub fn bind(&mut self, label: Label) {
        debug_assert!(self.labels[label.0].is_none(), "label bound twice");
        self.labels[label.0] = Some(self.code.len());
    }

    fn emit(&mut self, code: u16, k: u32, jt: To, jf: To) {
        self.code.push((
            Insn {
                code,
                jt: 0,
                jf: 0,
                k,
            },
            jt,
            jf,
        ));
    }

    /// A = the `size` bytes at `offset`.
    pub fn load(&mut self, size: Size, offset: u32) {
        self.emit(LD | size as u16 | ABS, offset, To::Next, To::Next);
    }

    /// A = the `size` bytes at `X + offset`.
    pub fn load_ind(&mut self, size: Size, offset: u32) {
        self.emit(LD | size as u16 | IND, offset, To::Next, To::Next);
    }

    /// X = 4 * (the low nibble of the byte at `offset`): an IPv4 header's length.
    pub fn load_x_ip_header_len(&mut self, offset: u32) {
        self.emit(LDX | Size::Byte as u16 | MSH, offset, To::Next, To::Next);
    }

    /// A = A >> `bits`.
    pub fn shift_right(&mut self, bits: u32) {
        self.emit(ALU | RSH | K, bits, To::Next, To::Next);
    }

    /// if `A cond k` go to `yes` else to `no`.
    pub fn jump(&mut self, cond: Cond, k: u32, yes: To, no: To) {
        self.emit(JMP | cond as u16 | K, k, yes, no);
    }

    /// Always go to `to`.
    pub fn goto(&mut self, to: Label) {
        self.emit(JMP | JA, 0, To::Label(to), To::Next);
    }

    /// if `A cond k` go to `to`, however far, else on: a short branch
    /// over an unconditional jump (a branch's offset is 8 bits).
    pub fn jump_far(&mut self, cond: Cond, k: u32, to: Label) {
        let no = self.label();
        self.jump(cond, k, To::Next, To::Label(no));
        self.goto(to);
        self.bind(no);
    }

    pub fn ret(&mut self, k: u32) {
        self.emit(RET | K, k, To::Next, To::Next);
    }

    /// The program, with every label turned into a forward offset.
    pub fn build(self) -> Result<Vec<Insn>, BuildError> {
        let mut out = Vec::with_capacity(self.code.len());
        for (pc, (mut insn, jt, jf)) in self.code.iter().copied().enumerate() {
            let offset = |to: To| -> Result<u32, BuildError> {
                match to {
                    To::Next => Ok(0),
                    To::Label(l) => {
                        let target = self.labels[l.0]
                            .ok_or_else(|| BuildError(format!("label {} never bound", l.0)))?;
                        if target <= pc {
                            return Err(BuildError(format!(
                                "instruction {pc} jumps backwards to {target}"
                            )));
                        }
                        Ok((target - pc - 1) as u32)
                    }
                }
            };
            let (t, f) = (offset(jt)?, offset(jf)?);
            if insn.code & 0x07 == JMP && insn.code & 0xf0 == JA {
                insn.k = t;
            } else {
                if t > 255 || f > 255 {
                    return Err(BuildError(format!("instruction {pc} jumps too far")));
                }
                insn.jt = t as u8;
                insn.jf = f as u8;
            }
            out.push(insn);
        }
        if out.len() > 4096 {
            return Err(BuildError(format!(
                "{} instructions: over the kernel's 4096",
                out.len()
            )));
        }
        Ok(out)
    }
}

const ETHERTYPE: u32 = 12;
/// ARP over Ethernet: the operation, and the target protocol address.
const ARP_OPERATION: u32 = 14 + 6;
const ARP_TARGET_IP: u32 = 14 + 24;

/// With the IP protocol in A: ICMP (`icmp`, 1 or 58) accepted, TCP and
/// UDP on to `ports` (their destination port is checked there), as
/// `capture` asks; anything else dropped. Every branch is short.
fn transports(b: &mut Builder, capture: Capture, icmp: u32, ports: Label) {
    if capture.icmp {
        let other = b.label();
        b.jump(Cond::Eq, icmp, To::Next, To::Label(other));
        b.ret(SNAP);
        b.bind(other);
    }
    if capture.tcp {
        b.jump(Cond::Eq, 6, To::Label(ports), To::Next);
    }
    if capture.udp {
        b.jump(Cond::Eq, 17, To::Label(ports), To::Next);
    }
    b.ret(0);
}

/// With an IPv4 address in A: on to `hit` if one of `ranges` holds it,
/// else on past them. The tests branch only to the next range and a hit
/// is an unconditional jump, so no number of ranges strains the 8-bit
/// branch offsets.
pub fn match_ranges_v4(b: &mut Builder, ranges: &[(u32, u32)], hit: Label) {
    for &(lo, hi) in ranges {
        let next = b.label();
        if lo == hi {
            b.jump(Cond::Eq, lo, To::Next, To::Label(next));
        } else {
            b.jump(Cond::Ge, lo, To::Next, To::Label(next));
            b.jump(Cond::Gt, hi, To::Label(next), To::Next);
        }
        b.goto(hit);
        b.bind(next);
    }
}

/// The IPv6 address at `offset`: on to `hit` if one of `ranges` holds it,
/// else on past them. A range is tested in pieces that share their first
/// 96 bits: three equal words and the last one in range.
pub fn match_ranges_v6(b: &mut Builder, offset: u32, ranges: &[(u128, u128)], hit: Label) {
    for &(lo, hi) in ranges {
        let mut piece = lo;
        loop {
            let piece_hi = hi.min(piece | 0xffff_ffff);
            let next = b.label();
            for i in 0..3 {
                b.load(Size::Word, offset + 4 * i);
                b.jump(
                    Cond::Eq,
                    (piece >> (96 - 32 * i)) as u32,
                    To::Next,
                    To::Label(next),
                );
            }
            b.load(Size::Word, offset + 12);
            match_ranges_v4(b, &[(piece as u32, piece_hi as u32)], hit);
            b.bind(next);
            if piece_hi == hi {
                break;
            }
            piece = piece_hi + 1;
        }
    }
}

/// What the kernel shows a filter: where the packet starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// After a 14-byte Ethernet header.
    Ethernet,
    /// At offset 0: a SOCK_DGRAM socket, or an interface without a link
    /// layer (the IP version tells the family; there is no ARP).
    BareIp,
}

/// The filter for replies to a scan on Ethernet from one address per
/// family (see `reply_filter_for`).
pub fn reply_filter(
    sources: [Option<IpAddr>; 2],
    ports: SourcePorts,
    capture: Capture,
) -> Vec<Insn> {
    reply_filter_for(Framing::Ethernet, &Sources::of(sources), ports, capture)
}

/// `reply_filter` framed as `framing` says.
pub fn reply_filter_on(
    framing: Framing,
    sources: [Option<IpAddr>; 2],
    ports: SourcePorts,
    capture: Capture,
) -> Vec<Insn> {
    reply_filter_for(framing, &Sources::of(sources), ports, capture)
}

/// The filter for replies to a scan: IPv4 or IPv6 frames addressed to one
/// of `sources`, carrying ICMP (if `capture.icmp`), or TCP or UDP (as
/// `capture` asks) to one of our source `ports` in an unfragmented packet,
/// framed as `framing` says (ARP only on Ethernet).
pub fn reply_filter_for(
    framing: Framing,
    sources: &Sources,
    ports: SourcePorts,
    capture: Capture,
) -> Vec<Insn> {
    let mut b = Builder::new();
    let (v4, v6, arp) = (b.label(), b.label(), b.label());
    // A = what tells the family: the EtherType, or the IP version nibble;
    // `net`: where the IP header starts.
    let (net, v4_tag, v6_tag) = match framing {
        Framing::Ethernet => {
            b.load(Size::Half, ETHERTYPE);
            (14, 0x0800, 0x86dd)
        }
        Framing::BareIp => {
            b.load(Size::Byte, 0);
            b.shift_right(4);
            (0, 4, 6)
        }
    };
    b.jump_far(Cond::Eq, v4_tag, v4);
    b.jump_far(Cond::Eq, v6_tag, v6);
    let want_arp = capture.arp && !sources.v4.is_empty() && framing == Framing::Ethernet;
    if want_arp {
        b.jump_far(Cond::Eq, 0x0806, arp);
    }
    b.ret(0);
    // IPv4: destination is one of ours, then the protocol.
    b.bind(v4);
    if !sources.v4.is_empty() {
        let (ours, port4) = (b.label(), b.label());
        b.load(Size::Word, net + 16);
        match_ranges_v4(&mut b, sources.v4.ranges(), ours);
        b.ret(0);
        b.bind(ours);
        b.load(Size::Byte, net + 9);
        transports(&mut b, capture, 1, port4);
        // A transport header only in a packet's first fragment; X = header length.
        b.bind(port4);
        let fragment = b.label();
        b.load(Size::Half, net + 6);
        b.jump(Cond::Set, 0x1fff, To::Label(fragment), To::Next);
        b.load_x_ip_header_len(net);
        b.load_ind(Size::Half, net + 2);
        port_in_range(&mut b, ports);
        b.bind(fragment);
    }
    b.ret(0);
    // IPv6: destination, then the next header (no extension headers).
    b.bind(v6);
    if !sources.v6.is_empty() {
        let (ours, port6) = (b.label(), b.label());
        match_ranges_v6(&mut b, net + 24, sources.v6.ranges(), ours);
        b.ret(0);
        b.bind(ours);
        b.load(Size::Byte, net + 6);
        transports(&mut b, capture, 58, port6);
        b.bind(port6);
        b.load(Size::Half, net + 40 + 2);
        port_in_range(&mut b, ports);
    }
    b.ret(0);
    // ARP: a reply whose target protocol address is ours.
    b.bind(arp);
    if want_arp {
        let (reply, ours) = (b.label(), b.label());
        b.load(Size::Half, ARP_OPERATION);
        b.jump(Cond::Eq, 2, To::Label(reply), To::Next);
        b.ret(0);
        b.bind(reply);
        b.load(Size::Word, ARP_TARGET_IP);
        match_ranges_v4(&mut b, sources.v4.ranges(), ours);
        b.ret(0);
        b.bind(ours);
        b.ret(SNAP);
    }
    b.ret(0);
    b.build().expect("the reply filter is well formed")
}

/// With a destination port in A: accept it if it is one of our source
/// ports, else drop.
fn port_in_range(b: &mut Builder, ports: SourcePorts) {
    let no = b.label();
    b.jump(Cond::Ge, u32::from(ports.first), To::Next, To::Label(no));
    b.jump(Cond::Gt, u32::from(ports.last), To::Label(no), To::Next);
    b.ret(SNAP);
    b.bind(no);
    b.ret(0);
}

/// A filter that accepts nothing: for sockets that only send.
pub fn drop_all() -> Vec<Insn> {
    vec![Insn {
        code: RET | K,
        jt: 0,
        jf: 0,
        k: 0,
    }]
}

/// Runs `prog` on `frame` as the kernel would; returns the bytes to keep
/// (0 = drop). Only the instructions our programs use are implemented; an
/// out-of-bounds load drops the frame, as in the kernel.
pub fn run(prog: &[Insn], frame: &[u8]) -> u32 {
    let load = |off: usize, size: usize| -> Option<u32> {
        let b = frame.get(off..off.checked_add(size)?)?;
        Some(b.iter().fold(0u32, |acc, &x| (acc << 8) | u32::from(x)))
    };
    let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
    while let Some(i) = prog.get(pc) {
        pc += 1;
        let size = match i.code & 0x18 {
            0x00 => 4,
            0x08 => 2,
            _ => 1,
        };
        match i.code & 0x07 {
            LD => {
                let off = match i.code & 0xe0 {
                    ABS => i.k as usize,
                    IND => x.wrapping_add(i.k) as usize,
                    m => panic!("unsupported load mode {m:#x}"),
                };
                match load(off, size) {
                    Some(v) => a = v,
                    None => return 0,
                }
            }
            LDX => {
                assert_eq!(i.code & 0xe0, MSH);
                match load(i.k as usize, 1) {
                    Some(v) => x = 4 * (v & 0xf),
                    None => return 0,
                }
            }
            ALU => {
                assert_eq!(i.code, ALU | RSH | K, "unsupported ALU operation");
                a = a.checked_shr(i.k).unwrap_or(0);
            }
            JMP => {
                if i.code & 0xf0 == JA {
                    pc += i.k as usize;
                    continue;
                }
                let taken = match i.code & 0xf0 {
                    0x10 => a == i.k,
                    0x20 => a > i.k,
                    0x30 => a >= i.k,
                    0x40 => a & i.k != 0,
                    j => panic!("unsupported jump {j:#x}"),
                };
                pc += usize::from(if taken { i.jt } else { i.jf });
            }
            RET => return i.k,
            c => panic!("unsupported class {c:#x}"),
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookie::CookieKey;
    use crate::probe::tcp::tests::probe_frame;
    use crate::wire::reply::tcp_flags;
    use crate::wire::reply::tests::{
        TARGET4, TARGET6, TcpAnswer, US4, US6, ip, tcp_frame, unreachable_frame,
    };
    use etherparse::PacketBuilder;

    const PORTS: SourcePorts = SourcePorts {
        first: 61000,
        last: 61255,
    };
    const TCP_ICMP: Capture = Capture {
        tcp: true,
        udp: false,
        icmp: true,
        arp: false,
    };

    fn prog() -> Vec<Insn> {
        reply_filter([Some(ip(US4)), Some(ip(US6))], PORTS, TCP_ICMP)
    }

    fn syn_ack(us: &str, them: &str, port: u16) -> Vec<u8> {
        tcp_frame(
            ip(them),
            ip(us),
            TcpAnswer::new(80, port, 2, tcp_flags::SYN | tcp_flags::ACK),
        )
    }

    #[test]
    fn builder_resolves_labels_and_refuses_bad_programs() {
        let mut b = Builder::new();
        let (yes, no) = (b.label(), b.label());
        b.load(Size::Byte, 0);
        b.jump(Cond::Eq, 7, To::Label(yes), To::Label(no));
        b.bind(yes);
        b.ret(1);
        b.bind(no);
        b.ret(0);
        let p = b.build().unwrap();
        assert_eq!((p[1].jt, p[1].jf), (0, 1));
        assert_eq!(run(&p, &[7]), 1);
        assert_eq!(run(&p, &[8]), 0);
        assert_eq!(run(&p, &[]), 0);

        let mut b = Builder::new();
        let l = b.label();
        b.bind(l);
        b.goto(l);
        assert!(b.build().unwrap_err().0.contains("backwards"));
        let mut b = Builder::new();
        let l = b.label();
        b.goto(l);
        assert!(b.build().unwrap_err().0.contains("never bound"));
        let mut b = Builder::new();
        let far = b.label();
        b.jump(Cond::Eq, 0, To::Label(far), To::Next);
        for _ in 0..300 {
            b.load(Size::Byte, 0);
        }
        b.bind(far);
        b.ret(0);
        assert!(b.build().unwrap_err().0.contains("too far"));
    }

    #[test]
    fn passes_replies_to_us_in_both_families() {
        let p = prog();
        let key = CookieKey::random();
        for (us, them) in [(US4, TARGET4), (US6, TARGET6)] {
            for port in [61000, 61100, 61255] {
                assert_eq!(run(&p, &syn_ack(us, them, port)), SNAP, "{us} {port}");
            }
            let probe = probe_frame(&key, us, them, 61000, 25);
            let e = unreachable_frame(ip(them), 1, &probe, probe.len() - 14);
            assert_eq!(run(&p, &e), SNAP, "{us} icmp");
        }
    }

    #[test]
    fn drops_everything_else() {
        let p = prog();
        let key = CookieKey::random();
        for (us, them) in [(US4, TARGET4), (US6, TARGET6)] {
            // Below and above our port range.
            assert_eq!(run(&p, &syn_ack(us, them, 60999)), 0);
            assert_eq!(run(&p, &syn_ack(us, them, 61256)), 0);
            // Our own probe, on its way out: not addressed to us.
            assert_eq!(run(&p, &probe_frame(&key, us, them, 61000, 80)), 0);
            // Addressed to a neighbour of ours.
            let other = if us == US4 {
                "198.19.255.2"
            } else {
                "2001:2:0:ff03::2"
            };
            assert_eq!(run(&p, &syn_ack(other, them, 61000)), 0);
            // Too short to hold what the filter reads.
            let ok = syn_ack(us, them, 61000);
            let port_end = if us == US4 { 38 } else { 58 };
            for cut in [0, 12, 20, 31, port_end - 1] {
                assert_eq!(run(&p, &ok[..cut]), 0, "cut {cut}");
            }
        }
        // UDP to us (not asked for), ARP.
        let mut udp = Vec::new();
        PacketBuilder::ethernet2([2; 6], [3; 6])
            .ipv4([1, 2, 3, 4], [198, 19, 255, 1], 64)
            .udp(53, 61000)
            .write(&mut udp, &[0; 4])
            .unwrap();
        assert_eq!(run(&p, &udp), 0);
        let udp_filter = reply_filter(
            [Some(ip(US4)), None],
            PORTS,
            Capture {
                udp: true,
                ..Capture::default()
            },
        );
        assert_eq!(run(&udp_filter, &udp), SNAP);
        assert_eq!(run(&udp_filter, &syn_ack(US4, TARGET4, 61000)), 0);
        let mut arp = vec![0xff; 12];
        arp.extend_from_slice(&[0x08, 0x06]);
        arp.extend_from_slice(&[0; 28]);
        assert_eq!(run(&p, &arp), 0);
        // ARP replies pass only when asked for, and only when to us.
        let arp_reply = |op: u8, to: [u8; 4]| {
            let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x06];
            f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, op]);
            f.extend_from_slice(&[2, 0, 0, 0, 0, 2, 198, 19, 250, 7]);
            f.extend_from_slice(&[2, 0, 0, 0, 0, 1]);
            f.extend_from_slice(&to);
            f
        };
        let arp_filter = reply_filter(
            [Some(ip(US4)), None],
            PORTS,
            Capture {
                arp: true,
                ..Capture::default()
            },
        );
        assert_eq!(run(&arp_filter, &arp_reply(2, [198, 19, 255, 1])), SNAP);
        assert_eq!(run(&arp_filter, &arp_reply(1, [198, 19, 255, 1])), 0);
        assert_eq!(run(&arp_filter, &arp_reply(2, [198, 19, 255, 9])), 0);
        assert_eq!(run(&arp_filter, &arp_reply(2, [198, 19, 255, 1])[..30]), 0);
        assert_eq!(run(&p, &arp_reply(2, [198, 19, 255, 1])), 0);
        // A later fragment of a TCP packet to us.
        let mut frag = syn_ack(US4, TARGET4, 61000);
        frag[20] = 0x00;
        frag[21] = 0x10;
        assert_eq!(run(&p, &frag), 0);
        assert_eq!(run(&drop_all(), &syn_ack(US4, TARGET4, 61000)), 0);
    }

    #[test]
    fn only_the_families_scanned_pass() {
        let v4_only = reply_filter([Some(ip(US4)), None], PORTS, TCP_ICMP);
        assert_eq!(run(&v4_only, &syn_ack(US4, TARGET4, 61000)), SNAP);
        assert_eq!(run(&v4_only, &syn_ack(US6, TARGET6, 61000)), 0);
        let v6_only = reply_filter([None, Some(ip(US6))], PORTS, TCP_ICMP);
        assert_eq!(run(&v6_only, &syn_ack(US4, TARGET4, 61000)), 0);
        assert_eq!(run(&v6_only, &syn_ack(US6, TARGET6, 61000)), SNAP);
    }

    #[test]
    fn handles_ip_options() {
        // IHL 6: the port sits 4 bytes later; X must follow it.
        let base = syn_ack(US4, TARGET4, 61000);
        let mut f = base[..34].to_vec();
        f[14] = 0x46;
        f.extend_from_slice(&[1, 1, 1, 0]); // NOP NOP NOP EOL
        f.extend_from_slice(&base[34..]);
        assert_eq!(run(&prog(), &f), SNAP);
        f[14 + 24 + 2] = 0; // destination port now 0x00xx: below the range
        assert_eq!(run(&prog(), &f), 0);
    }

    #[test]
    fn several_sources_pass_and_their_neighbours_do_not() {
        let mut sources = Sources::default();
        sources
            .add_list("198.19.255.116-198.19.255.119,198.19.255.200,2001:2:0:ff0d::5000/126")
            .unwrap();
        // A range across a /96 boundary is tested in two pieces.
        sources.add_list("2001:2::ffff:fffe-2001:2::1:0:1").unwrap();
        let p = reply_filter_for(Framing::Ethernet, &sources, PORTS, TCP_ICMP);
        let arp_p = reply_filter_for(
            Framing::Ethernet,
            &sources,
            PORTS,
            Capture {
                arp: true,
                ..TCP_ICMP
            },
        );
        for us in [
            "198.19.255.116",
            "198.19.255.117",
            "198.19.255.118",
            "198.19.255.119",
            "198.19.255.200",
            "2001:2:0:ff0d::5000",
            "2001:2:0:ff0d::5003",
            "2001:2::ffff:fffe",
            "2001:2::ffff:ffff",
            "2001:2::1:0:0",
            "2001:2::1:0:1",
        ] {
            let them = if us.contains(':') { TARGET6 } else { TARGET4 };
            assert_eq!(run(&p, &syn_ack(us, them, 61000)), SNAP, "{us}");
            assert_eq!(run(&arp_p, &syn_ack(us, them, 61255)), SNAP, "{us}");
            assert_eq!(run(&p, &syn_ack(us, them, 60999)), 0, "{us} port");
        }
        for other in [
            "198.19.255.115",
            "198.19.255.120",
            "198.19.255.199",
            "198.19.255.201",
            "2001:2:0:ff0d::4fff",
            "2001:2:0:ff0d::5004",
            "2001:2::ffff:fffd",
            "2001:2::1:0:2",
            "2001:2:0:1::1:0:0",
        ] {
            let them = if other.contains(':') {
                TARGET6
            } else {
                TARGET4
            };
            assert_eq!(run(&p, &syn_ack(other, them, 61000)), 0, "{other}");
        }
        // The most ranges a family can have still builds, and still sorts
        // replies right at both ends.
        let mut scattered = Sources::default();
        let every_other: Vec<String> = (0..256)
            .map(|i| format!("198.18.{}.{}", i / 128, 2 * (i % 128)))
            .collect();
        scattered.add_list(&every_other.join(",")).unwrap();
        let v6: Vec<String> = (0..256).map(|i| format!("2001:2::{:x}", 2 * i)).collect();
        scattered.add_list(&v6.join(",")).unwrap();
        let big = reply_filter_for(
            Framing::Ethernet,
            &scattered,
            PORTS,
            Capture {
                arp: true,
                ..TCP_ICMP
            },
        );
        assert!(big.len() <= 4096);
        for (yes, no) in [
            ("198.18.0.0", "198.18.0.1"),
            ("198.18.1.254", "198.18.1.255"),
            ("2001:2::", "2001:2::1"),
            ("2001:2::1fe", "2001:2::1ff"),
        ] {
            let them = if yes.contains(':') { TARGET6 } else { TARGET4 };
            assert_eq!(run(&big, &syn_ack(yes, them, 61000)), SNAP, "{yes}");
            assert_eq!(run(&big, &syn_ack(no, them, 61000)), 0, "{no}");
        }
    }

    /// The same packets, as a SOCK_DGRAM socket on a link without a link
    /// layer shows them to the filter: from the IP header on.
    #[test]
    fn bare_ip_filter_reads_the_packet_from_offset_0() {
        let bare = |f: &[u8]| f[14..].to_vec();
        let p = reply_filter_on(
            Framing::BareIp,
            [Some(ip(US4)), Some(ip(US6))],
            PORTS,
            TCP_ICMP,
        );
        let key = CookieKey::random();
        for (us, them) in [(US4, TARGET4), (US6, TARGET6)] {
            for port in [61000, 61255] {
                assert_eq!(run(&p, &bare(&syn_ack(us, them, port))), SNAP, "{us}");
            }
            assert_eq!(run(&p, &bare(&syn_ack(us, them, 60999))), 0);
            assert_eq!(run(&p, &bare(&syn_ack(us, them, 61256))), 0);
            let probe = probe_frame(&key, us, them, 61000, 25);
            assert_eq!(run(&p, &bare(&probe)), 0, "our own probe");
            let e = unreachable_frame(ip(them), 1, &probe, probe.len() - 14);
            assert_eq!(run(&p, &bare(&e)), SNAP, "{us} icmp");
            let ok = bare(&syn_ack(us, them, 61000));
            let port_end = if us == US4 { 24 } else { 44 };
            for cut in [0, 1, 9, 19, port_end - 1] {
                assert_eq!(run(&p, &ok[..cut]), 0, "cut {cut}");
            }
            // The Ethernet program reads these at the wrong offsets.
            assert_eq!(run(&prog(), &ok), 0);
        }
        // The family is the version nibble: a v4 packet claiming 6 (or 5)
        // is not read as IPv4.
        let mut odd = bare(&syn_ack(US4, TARGET4, 61000));
        odd[0] = 0x65;
        assert_eq!(run(&p, &odd), 0);
        odd[0] = 0x55;
        assert_eq!(run(&p, &odd), 0);
        // IP options move the port; X follows them at offset 0 too.
        let base = bare(&syn_ack(US4, TARGET4, 61000));
        let mut f = base[..20].to_vec();
        f[0] = 0x46;
        f.extend_from_slice(&[1, 1, 1, 0]);
        f.extend_from_slice(&base[20..]);
        assert_eq!(run(&p, &f), SNAP);
        // UDP when asked for; never ARP (there is none on such a link).
        let mut udp = Vec::new();
        PacketBuilder::ipv4([1, 2, 3, 4], [198, 19, 255, 1], 64)
            .udp(53, 61000)
            .write(&mut udp, &[0; 4])
            .unwrap();
        let everything = Capture {
            tcp: true,
            udp: true,
            icmp: true,
            arp: true,
        };
        let q = reply_filter_on(Framing::BareIp, [Some(ip(US4)), None], PORTS, everything);
        assert_eq!(run(&q, &udp), SNAP);
        assert_eq!(run(&p, &udp), 0);
        let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 2];
        arp.extend_from_slice(&[2, 0, 0, 0, 0, 2, 198, 19, 250, 7]);
        arp.extend_from_slice(&[2, 0, 0, 0, 0, 1, 198, 19, 255, 1]);
        assert_eq!(run(&q, &arp), 0);
        assert!(!q.iter().any(|i| i.k == 0x0806), "no ARP branch");
    }
}
