//! The capture filter: a classic BPF program the kernel runs on every frame
//! before it reaches our socket, so only what could be a reply to us is
//! copied to user space: IPv4 to our source address that is either ICMP,
//! or an unfragmented TCP segment to one of our source ports.
//!
//! A small interpreter for the same instructions lets the tests run real
//! frames through the exact program the kernel gets.

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
const JMP: u16 = 0x05;
const RET: u16 = 0x06;
const W: u16 = 0x00;
const H: u16 = 0x08;
const B: u16 = 0x10;
const ABS: u16 = 0x20;
const IND: u16 = 0x40;
const MSH: u16 = 0xa0;
const JEQ: u16 = 0x10;
const JGT: u16 = 0x20;
const JGE: u16 = 0x30;
const JSET: u16 = 0x40;
const K: u16 = 0x00;

/// Bytes of a frame the kernel passes on: enough for any reply we parse.
const SNAP: u32 = 0x40000;

const fn insn(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
    Insn { code, jt, jf, k }
}

/// The filter for replies to `src_ip` on source ports `first..=last`.
pub fn reply_filter(src_ip: u32, first_port: u16, last_port: u16) -> Vec<Insn> {
    // Jump offsets count instructions after the next one.
    const ACCEPT: usize = 13;
    const DROP: usize = 14;
    let to = |from: usize, target: usize| (target - from - 1) as u8;
    vec![
        /* 0 */ insn(LD | H | ABS, 0, 0, 12), // ethertype
        /* 1 */ insn(JMP | JEQ | K, 0, to(1, DROP), 0x0800),
        /* 2 */ insn(LD | W | ABS, 0, 0, 30), // IPv4 destination
        /* 3 */ insn(JMP | JEQ | K, 0, to(3, DROP), src_ip),
        /* 4 */ insn(LD | B | ABS, 0, 0, 23), // protocol
        /* 5 */ insn(JMP | JEQ | K, to(5, ACCEPT), 0, 1), // ICMP
        /* 6 */ insn(JMP | JEQ | K, 0, to(6, DROP), 6), // TCP
        /* 7 */ insn(LD | H | ABS, 0, 0, 20), // flags + fragment offset
        /* 8 */ insn(JMP | JSET | K, to(8, DROP), 0, 0x1fff),
        /* 9 */ insn(LDX | B | MSH, 0, 0, 14), // X = IPv4 header length
        /* 10 */ insn(LD | H | IND, 0, 0, 14 + 2), // TCP destination port
        /* 11 */ insn(JMP | JGE | K, 0, to(11, DROP), u32::from(first_port)),
        /* 12 */
        insn(
            JMP | JGT | K,
            to(12, DROP),
            to(12, ACCEPT),
            u32::from(last_port),
        ),
        /* 13 */ insn(RET | K, 0, 0, SNAP),
        /* 14 */ insn(RET | K, 0, 0, 0),
    ]
}

/// A filter that accepts nothing: for sockets that only send.
pub fn drop_all() -> Vec<Insn> {
    vec![insn(RET | K, 0, 0, 0)]
}

/// Runs `prog` on `frame` as the kernel would; returns the bytes to keep
/// (0 = drop). Only the instructions our programs use are implemented; an
/// out-of-bounds load drops the frame, as in the kernel.
pub fn run(prog: &[Insn], frame: &[u8]) -> u32 {
    let load = |off: usize, size: usize| -> Option<u32> {
        let b = frame.get(off..off + size)?;
        Some(b.iter().fold(0u32, |acc, &x| (acc << 8) | u32::from(x)))
    };
    let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
    while let Some(i) = prog.get(pc) {
        pc += 1;
        let class = i.code & 0x07;
        let size = match i.code & 0x18 {
            W => 4,
            H => 2,
            _ => 1,
        };
        match class {
            c if c == LD => {
                let off = match i.code & 0xe0 {
                    ABS => i.k as usize,
                    IND => (x + i.k) as usize,
                    m => panic!("unsupported load mode {m:#x}"),
                };
                match load(off, size) {
                    Some(v) => a = v,
                    None => return 0,
                }
            }
            c if c == LDX => {
                assert_eq!(i.code & 0xe0, MSH);
                match load(i.k as usize, 1) {
                    Some(v) => x = 4 * (v & 0xf),
                    None => return 0,
                }
            }
            c if c == JMP => {
                let taken = match i.code & 0xf0 {
                    JEQ => a == i.k,
                    JGT => a > i.k,
                    JGE => a >= i.k,
                    JSET => a & i.k != 0,
                    j => panic!("unsupported jump {j:#x}"),
                };
                pc += usize::from(if taken { i.jt } else { i.jf });
            }
            c if c == RET => return i.k,
            c => panic!("unsupported class {c:#x}"),
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::reply::tests::{US, icmp_answer, probe_frame, tcp_answer};
    use crate::wire::template::{ProbeFields, SYN_FRAME_LEN};
    use etherparse::PacketBuilder;

    fn prog() -> Vec<Insn> {
        reply_filter(u32::from_be_bytes(US), 61000, 61255)
    }

    #[test]
    fn passes_replies_to_us() {
        let p = prog();
        for port in [61000, 61100, 61255] {
            assert_eq!(
                run(&p, &tcp_answer(80, port, 1, 2, true, false, None)),
                SNAP,
                "{port}"
            );
            assert_eq!(
                run(&p, &tcp_answer(80, port, 1, 2, false, true, None)),
                SNAP
            );
        }
        let probe = probe_frame(&ProbeFields {
            dst_ip: 1,
            src_port: 61000,
            dst_port: 25,
            seq: 3,
            ip_id: 4,
            tsval: 5,
        });
        assert_eq!(run(&p, &icmp_answer(13, &probe, SYN_FRAME_LEN - 14)), SNAP);
    }

    #[test]
    fn drops_everything_else() {
        let p = prog();
        // Below and above our port range.
        assert_eq!(run(&p, &tcp_answer(80, 60999, 1, 2, true, false, None)), 0);
        assert_eq!(run(&p, &tcp_answer(80, 61256, 1, 2, true, false, None)), 0);
        // Our own probe, on its way out: not addressed to us.
        let probe = probe_frame(&ProbeFields {
            dst_ip: 0x0102_0304,
            src_port: 61000,
            dst_port: 80,
            ..Default::default()
        });
        assert_eq!(run(&p, &probe), 0);
        // UDP to us, IPv6, ARP, truncated frames.
        let mut udp = Vec::new();
        PacketBuilder::ethernet2([2; 6], [3; 6])
            .ipv4([1, 2, 3, 4], US, 64)
            .udp(53, 61000)
            .write(&mut udp, &[0; 4])
            .unwrap();
        assert_eq!(run(&p, &udp), 0);
        let mut v6 = Vec::new();
        PacketBuilder::ethernet2([2; 6], [3; 6])
            .ipv6([0; 16], [1; 16], 64)
            .tcp(80, 61000, 0, 0)
            .write(&mut v6, &[])
            .unwrap();
        assert_eq!(run(&p, &v6), 0);
        let ok = tcp_answer(80, 61000, 1, 2, true, false, None);
        // Too short to hold what the filter reads (it stops at the TCP port).
        for cut in [0, 12, 20, 31, 37] {
            assert_eq!(run(&p, &ok[..cut]), 0, "cut {cut}");
        }
        // A later fragment of a TCP packet to us.
        let mut frag = ok.clone();
        frag[20] = 0x00;
        frag[21] = 0x10;
        assert_eq!(run(&p, &frag), 0);
        assert_eq!(run(&drop_all(), &ok), 0);
    }

    #[test]
    fn handles_ip_options() {
        // IHL 6: the port sits 4 bytes later; X must follow it.
        let base = tcp_answer(80, 61000, 1, 2, true, false, None);
        let mut f = base[..34].to_vec();
        f[14] = 0x46;
        f.extend_from_slice(&[1, 1, 1, 0]); // NOP NOP NOP EOL
        f.extend_from_slice(&base[34..]);
        assert_eq!(run(&prog(), &f), SNAP);
        f[14 + 24 + 2] = 0; // destination port now 0x00xx: below the range
        assert_eq!(run(&prog(), &f), 0);
    }
}
