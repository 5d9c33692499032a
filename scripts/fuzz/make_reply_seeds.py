#!/usr/bin/env python3
"""make_reply_seeds.py - frames of the kinds lab 7's SYN capture lacks, for
the `reply` fuzz target's seeds.

    make_reply_seeds.py OUT_DIR

Writes one Ethernet frame per file, named made-KIND (KIND as
pcap_to_corpus.py --name-by-kind names it, with a suffix where a captured
seed has that kind too): what the UDP scan, the ping scan and the
neighbour sweep draw in lab 7, shaped as the RFCs and the lab's daemons
shape them. scripts/fuzz.sh writes them into each run's fresh seeds, and
into scripts/fuzz/seeds/reply with FUZZ_SEEDS=refresh.

- UDP answers of every built-in payload's protocol (DNS, NTP, SNMP,
  NetBIOS, memcached, IKE, SIP, portmapper, CoAP, STUN, NAT-PMP, SSDP),
  TFTP's from a port of its own and an echo (port 7); a few over IPv6;
- ICMP and ICMPv6 unreachables quoting UDP datagrams (a port unreachable
  from the host itself, others from the gateway), an ICMP echo request,
  and a SYN (ICMPv6 code 2, beyond scope, which the lab never sends);
- echo replies (both families), a timestamp reply;
- an ARP reply from the gateway, a neighbour advertisement without a
  link-layer option.

The cookies in them are not this run's (the target's fix-ups supply those);
the shapes are what let mutations reach each module's reading. Checksums
are right, although the parser does not check them.
"""

import os
import struct
import sys

US_MAC = bytes([2, 0x73, 0x73, 0x77, 7, 1])
GW_MAC = bytes([2, 0x73, 0x73, 0x77, 7, 2])
HOST_MAC = bytes([2, 0x73, 0x73, 0x77, 7, 0x35])
# Lab 7 (scripts/lab.sh info --id 7).
US4 = bytes([198, 19, 255, 29])
GW4 = bytes([198, 19, 255, 30])
HOST4 = bytes([198, 18, 112, 16])  # the daemons' host
SILENT4 = bytes([198, 18, 112, 20])
US6 = bytes.fromhex("200100020000ff070000000000000001")
GW6 = bytes.fromhex("200100020000ff070000000000000002")
HOST6 = bytes.fromhex("20010002000007000000000000001010")
OTHER6 = bytes.fromhex("20010002000007000000000000001014")
LAN6 = bytes.fromhex("200100020000ff070000000000000105")
OUR_PORT = 61000


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f">{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def eth(ethertype, payload, src=GW_MAC, dst=US_MAC):
    frame = dst + src + struct.pack(">H", ethertype) + payload
    return frame + b"\0" * max(0, 60 - len(frame))


def ip4(src, dst, proto, payload, ttl=63, ident=0x4242):
    h = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0x4000, ttl, proto, 0, src, dst)
    h = h[:10] + struct.pack(">H", csum(h)) + h[12:]
    return h + payload


def ip6(src, dst, nh, payload, hop=63, flow=0):
    return struct.pack(">IHBB", 0x60000000 | flow, len(payload), nh, hop) + src + dst + payload


def pseudo(src, dst, proto, length):
    if len(src) == 4:
        return src + dst + struct.pack(">BBH", 0, proto, length)
    return src + dst + struct.pack(">IxxxB", length, proto)


def udp(src, dst, sport, dport, payload):
    length = 8 + len(payload)
    u = struct.pack(">HHHH", sport, dport, length, 0) + payload
    c = csum(pseudo(src, dst, 17, length) + u) or 0xFFFF
    return u[:6] + struct.pack(">H", c) + u[8:]


def icmp(type_, code, rest):
    m = struct.pack(">BBH", type_, code, 0) + rest
    return m[:2] + struct.pack(">H", csum(m)) + m[4:]


def icmp6(src, dst, type_, code, rest):
    m = struct.pack(">BBH", type_, code, 0) + rest
    c = csum(pseudo(src, dst, 58, len(m)) + m)
    return m[:2] + struct.pack(">H", c) + m[4:]


def udp4_frame(src, sport, payload, dport=OUR_PORT):
    return eth(0x0800, ip4(src, US4, 17, udp(src, US4, sport, dport, payload)))


def udp6_frame(src, sport, payload, dport=OUR_PORT):
    return eth(0x86DD, ip6(src, US6, 17, udp(src, US6, sport, dport, payload)))


def dns_answer(ident):
    q = b"\0" + struct.pack(">HH", 2, 1)  # root, NS, IN
    rr = b"\0" + struct.pack(">HHIH", 2, 1, 518400, 20) + b"\x01a\x0croot-servers\x03net\x00"
    return struct.pack(">HHHHHH", ident, 0x8180, 1, 1, 0, 0) + q + rr


def ber(tag, content):
    n = len(content)
    length = bytes([n]) if n < 0x80 else bytes([0x81, n])
    return bytes([tag]) + length + content


def snmp_response(request_id, version):
    oid = bytes([0x2B, 6, 1, 2, 1, 1, 1, 0])
    varbind = ber(0x30, ber(0x06, oid) + ber(0x04, b"Linux sswlab7 6.18.0 x86_64"))
    pdu = ber(0xA2, ber(0x02, struct.pack(">I", request_id)) + b"\x02\x01\x00\x02\x01\x00" + ber(0x30, varbind))
    return ber(0x30, b"\x02\x01" + bytes([version]) + ber(0x04, b"public") + pdu)


def ntp_answer(origin):
    m = bytearray(48)
    m[0] = 0x24  # version 4, mode 4 (server)
    m[1] = 2  # stratum
    m[24:32] = origin
    m[32:40] = bytes.fromhex("e9c3a1b200000000")
    m[40:48] = bytes.fromhex("e9c3a1b200100000")
    return bytes(m)


def sip_answer(call_id):
    return (
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP nm;branch=z9hG4bK-synsweep;rport=61000\r\n"
        b"From: <sip:nm@nm>;tag=synsweep\r\nTo: <sip:nm2@nm2>;tag=as1\r\n"
        b"Call-ID: " + call_id + b"@synsweep\r\nCSeq: 42 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )


def unreachable4(sender, code, quoted, ident=0x9a11):
    return eth(0x0800, ip4(sender, US4, 1, icmp(3, code, b"\0\0\0\0" + quoted), ident=ident))


def unreachable6(sender, code, quoted):
    return eth(0x86DD, ip6(sender, US6, 58, icmp6(sender, US6, 1, code, b"\0\0\0\0" + quoted)))


def seeds():
    s = {}
    # UDP answers from the daemons' host to one of our ports.
    s["ipv4-udp-53"] = udp4_frame(HOST4, 53, dns_answer(0x3C5A))
    s["ipv4-udp-123"] = udp4_frame(HOST4, 123, ntp_answer(bytes.fromhex("3c5a17e8d04b9901")))
    s["ipv4-udp-161"] = udp4_frame(HOST4, 161, snmp_response(0x1C5A17E8, 1))
    s["ipv4-udp-137"] = udp4_frame(
        HOST4, 137,
        struct.pack(">HHHHHH", 0x3C5A, 0x8400, 0, 1, 0, 0) + b"\x20CK" + b"A" * 30 + b"\0"
        + struct.pack(">HHIH", 0x21, 1, 0, 47) + b"\x01" + b"SSWLAB7        \x00" + b"\x04\x00" + bytes(28))
    s["ipv4-udp-11211"] = udp4_frame(HOST4, 11211, b"\x3c\x5a\x00\x00\x00\x01\x00\x00VERSION 1.6.21\r\n")
    s["ipv4-udp-500"] = udp4_frame(
        HOST4, 500, bytes.fromhex("3c5a17e8d04b9901") + bytes.fromhex("a1b2c3d4e5f60718")
        + bytes([1, 0x10, 2, 0]) + struct.pack(">II", 0, 28 + 8) + bytes([0, 0, 0, 8, 0, 0, 0, 1]))
    s["ipv4-udp-5060"] = udp4_frame(HOST4, 5060, sip_answer(b"3c5a17e8d04b9901"))
    s["ipv4-udp-111"] = udp4_frame(HOST4, 111, struct.pack(">IIIIII", 0x3C5A17E8, 1, 0, 0, 0, 0))
    s["ipv4-udp-5683"] = udp4_frame(HOST4, 5683, bytes([0x60, 0x45, 0x3C, 0x5A, 0xFF]) + b"</.well-known/core>")
    s["ipv4-udp-3478"] = udp4_frame(
        HOST4, 3478, struct.pack(">HHI", 0x0101, 12, 0x2112A442) + bytes.fromhex("3c5a17e8d04b99013c5a17e8")
        + struct.pack(">HH", 0x0020, 8) + bytes([0, 1, 0xE0, 0x5A, 0xE7, 0x01, 0x8E, 0x5F]))
    s["ipv4-udp-5351"] = udp4_frame(HOST4, 5351, bytes([0, 128, 0, 0]) + struct.pack(">I", 4242) + HOST4)
    s["ipv4-udp-1900"] = udp4_frame(
        HOST4, 1900, b"HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nST: upnp:rootdevice\r\n"
        b"USN: uuid:sswlab7::upnp:rootdevice\r\n\r\n")
    # TFTP answers a read request from a port of its own.
    s["ipv4-udp-50123"] = udp4_frame(HOST4, 50123, b"\x00\x05\x00\x01File not found\x00")
    s["ipv4-udp-7"] = udp4_frame(HOST4, 7, b"")
    s["ipv6-udp-53"] = udp6_frame(HOST6, 53, dns_answer(0x3C5A))
    s["ipv6-udp-123"] = udp6_frame(HOST6, 123, ntp_answer(bytes.fromhex("3c5a17e8d04b9901")))
    s["ipv6-udp-161"] = udp6_frame(HOST6, 161, snmp_response(0x1C5A17E8, 0))
    s["ipv6-udp-50123"] = udp6_frame(HOST6, 50123, b"\x00\x05\x00\x01File not found\x00")

    # Unreachables quoting our UDP datagrams: the whole datagram, as Linux
    # quotes it (RFC 1812 allows it; RFC 792 asks for 8 bytes).
    probe4 = ip4(US4, SILENT4, 17, udp(US4, SILENT4, OUR_PORT, 9999, b""), ttl=64, ident=0x17E8)
    s["ipv4-icmp-3-3-udp"] = unreachable4(SILENT4, 3, probe4)
    dns4 = ip4(US4, HOST4, 17, udp(US4, HOST4, OUR_PORT, 53, dns_answer(0)[:17]), ttl=64, ident=0x17E8)
    s["ipv4-icmp-3-13-udp"] = unreachable4(GW4, 13, dns4[:28])
    probe6 = ip6(US6, OTHER6, 17, udp(US6, OTHER6, OUR_PORT, 9999, b""), hop=64, flow=0x317E8)
    s["ipv6-icmp-1-4-udp"] = unreachable6(OTHER6, 4, probe6)
    s["ipv6-icmp-1-1-udp"] = unreachable6(GW6, 1, probe6)
    # Beyond the scope of the source address (ICMPv6 code 2), quoting a SYN
    # (20 bytes of header, MSS, NOP NOP, timestamps) with a 40-byte IPv6
    # header: the whole probe.
    syn = struct.pack(">HHIIBBHHH", OUR_PORT, 443, 0x3C5A17E8, 0, 0x90, 0x02, 64240, 0, 0)
    syn += bytes([2, 4, 5, 0xB4, 1, 1, 8, 10]) + struct.pack(">II", 0x71737700, 0)
    s["ipv6-icmp-1-2"] = unreachable6(GW6, 2, ip6(US6, OTHER6, 6, syn, hop=64, flow=0x17E8))
    # An unreachable quoting a ping (an echo request), which proves nothing.
    ping4 = ip4(US4, SILENT4, 1, icmp(8, 0, struct.pack(">HH", 0x3C5A, 0x17E8)), ttl=64, ident=0x3C5A)
    s["ipv4-icmp-3-1-icmp"] = unreachable4(GW4, 1, ping4)

    # Discovery answers.
    s["ipv4-icmp-0-0"] = eth(0x0800, ip4(HOST4, US4, 1, icmp(0, 0, struct.pack(">HH", 0x3C5A, 0x17E8)), ttl=64))
    s["ipv6-icmp-129-0"] = eth(
        0x86DD, ip6(HOST6, US6, 58, icmp6(HOST6, US6, 129, 0, struct.pack(">HH", 0x3C5A, 0x17E8)), hop=64))
    s["ipv4-icmp-14-0"] = eth(
        0x0800, ip4(HOST4, US4, 1, icmp(14, 0, struct.pack(">HHIII", 0x3C5A, 0x17E8, 0xD04B9901, 0x02A0C3B1,
                                                               0x02A0C3B1)), ttl=64))
    s["arp-reply"] = eth(
        0x0806, struct.pack(">HHBBH", 1, 0x0800, 6, 4, 2) + GW_MAC + GW4 + US_MAC + US4)
    # Solicited, not override; no target link-layer option: the MAC is the
    # frame's source.
    s["ipv6-icmp-136-0-nomac"] = eth(
        0x86DD, ip6(LAN6, US6, 58, icmp6(LAN6, US6, 136, 0, bytes([0x40, 0, 0, 0]) + LAN6), hop=255),
        src=HOST_MAC)
    return s


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_reply_seeds.py OUT_DIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, frame in seeds().items():
        with open(os.path.join(out, "made-" + name), "wb") as f:
            f.write(frame)


if __name__ == "__main__":
    main()
