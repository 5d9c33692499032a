#!/usr/bin/env python3
"""Answers TCP SYNs to chosen addresses with hand-built SYN-ACKs of other
operating systems' shapes, for the --os-hints lab test (tests/os_hints.rs).

    ip netns exec sswlabN python3 scripts/os_responder.py IFACE ADDR=SHAPE...

SHAPE is one of the names in SHAPES. Run inside a lab namespace on its
`lab0`, for addresses the namespace's kernel never answers (the lab's
silent block, dropped at ingress: a packet socket sees frames before that).
Each SYN to ADDR gets a SYN-ACK acknowledging its sequence number plus one
(the cookie synsweep checks), from ADDR and the probed port, with the
shape's TTL, DF bit, window and options. Prints "ready" once listening;
runs until killed. Python 3 standard library only.
"""

import ipaddress
import socket
import struct
import sys

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
PACKET_OUTGOING = 4
SYN, ACK, RST = 0x02, 0x10, 0x04

MSS = bytes([2, 4, 0x05, 0xB4])  # 1460
NOP = bytes([1])
SOK = bytes([4, 2])


def ws(scale):
    return bytes([3, 3, scale])


def ts(val, echo):
    return bytes([8, 10]) + struct.pack("!II", val, echo)


# name: (TTL as it leaves, DF, window, options(ts_echo) -> bytes)
# The TTLs are below the initial value, as after a few routers.
SHAPES = {
    # Windows answering our MSS + timestamp offer: TTL 128, NOP-padded.
    "windows": (126, True, 64240, lambda e: MSS + NOP + NOP + ts(1000, e)),
    # Windows with its own MSS, NOP, WS, NOP, NOP, SACK-permitted layout.
    "windows-ws": (128, True, 8192, lambda e: MSS + NOP + ws(8) + NOP + NOP + SOK),
    # FreeBSD: TTL 64, window 65535, window scale right after the MSS.
    "bsd": (61, True, 65535, lambda e: MSS + NOP + ws(6) + SOK + ts(2000, e)),
    # macOS: the same, timestamps before SACK-permitted, then end of list.
    "macos": (64, True, 65535,
              lambda e: MSS + NOP + ws(6) + NOP + NOP + ts(3000, e) + SOK + bytes([0, 0])),
    # A router's management port: TTL 255, no DF, a small window, MSS only.
    "router": (254, False, 4128, lambda e: MSS),
    # No known stack: timestamps first, MSS last, an odd window.
    "odd": (64, True, 1337, lambda e: ts(4000, e) + NOP + NOP + MSS),
}


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def tsecr_of(opts):
    """The TSval of a SYN's timestamp option (what a SYN-ACK echoes)."""
    i = 0
    while i < len(opts):
        kind = opts[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= len(opts) or opts[i + 1] < 2:
            break
        if kind == 8 and opts[i + 1] == 10 and i + 10 <= len(opts):
            return struct.unpack("!I", opts[i + 2:i + 6])[0]
        i += opts[i + 1]
    return 0


def tcp_segment(sport, dport, seq, ack, window, options, pseudo):
    options += b"\0" * (-len(options) % 4)
    offset = (20 + len(options)) // 4
    head = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, offset << 4,
                       SYN | ACK, window, 0, 0) + options
    csum = checksum(pseudo + head)
    return head[:16] + struct.pack("!H", csum) + head[18:]


def answer(frame, shapes):
    """The SYN-ACK for `frame`, if it is a SYN to one of `shapes`' addresses."""
    ethertype = struct.unpack("!H", frame[12:14])[0]
    if ethertype == ETH_P_IP:
        ip = frame[14:]
        if len(ip) < 20 or ip[9] != 6:
            return None
        ihl = (ip[0] & 15) * 4
        src, dst = ip[12:16], ip[16:20]
        tcp = ip[ihl:]
    elif ethertype == ETH_P_IPV6:
        ip = frame[14:]
        if len(ip) < 40 or ip[6] != 6:
            return None
        src, dst = ip[8:24], ip[24:40]
        tcp = ip[40:]
    else:
        return None
    if len(tcp) < 20:
        return None
    addr = ipaddress.ip_address(dst)
    shape = shapes.get(addr)
    sport, dport, seq = struct.unpack("!HHI", tcp[:8])
    flags = tcp[13]
    if shape is None or flags & (SYN | ACK | RST) != SYN:
        return None
    ttl, df, window, options = SHAPES[shape]
    opts = options(tsecr_of(tcp[20:(tcp[12] >> 4) * 4]))
    isn = 0x5EED0000 | (dport & 0xFFFF)
    eth = frame[6:12] + frame[0:6] + frame[12:14]
    ack = (seq + 1) & 0xFFFFFFFF
    if ethertype == ETH_P_IP:
        length = 20 + (len(opts) + (-len(opts) % 4))
        pseudo = dst + src + struct.pack("!BBH", 0, 6, length)
        seg = tcp_segment(dport, sport, isn, ack, window, opts, pseudo)
        head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(seg), 0,
                           0x4000 if df else 0, ttl, 6, 0, dst, src)
        head = head[:10] + struct.pack("!H", checksum(head)) + head[12:]
        return eth + head + seg
    pseudo = dst + src + struct.pack("!I", 20 + len(opts) + (-len(opts) % 4)) + bytes([0, 0, 0, 6])
    seg = tcp_segment(dport, sport, isn, ack, window, opts, pseudo)
    head = struct.pack("!IHBB16s16s", 6 << 28, len(seg), 6, ttl, dst, src)
    return eth + head + seg


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: os_responder.py IFACE ADDR=SHAPE... (shapes: %s)" % ", ".join(SHAPES))
    iface = sys.argv[1]
    shapes = {}
    for arg in sys.argv[2:]:
        addr, _, shape = arg.partition("=")
        if shape not in SHAPES:
            sys.exit("os_responder.py: %r: no shape %r (shapes: %s)" % (arg, shape, ", ".join(SHAPES)))
        shapes[ipaddress.ip_address(addr)] = shape
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, ETH_P_ALL))
    print("ready", flush=True)
    while True:
        frame, meta = s.recvfrom(65535)
        if meta[2] == PACKET_OUTGOING:
            continue
        reply = answer(frame, shapes)
        if reply is not None:
            s.send(reply)


if __name__ == "__main__":
    main()
