#!/usr/bin/env python3
"""pcap_to_corpus.py - one file per captured Ethernet frame, for the
`reply` fuzz target's corpus.

    pcap_to_corpus.py CAPTURE.pcap OUT_DIR [--per-kind N] [--name-by-kind]

Reads a classic pcap file (as `tcpdump -w` writes it: either byte order,
micro- or nanosecond stamps, link type Ethernet) and writes each frame's
bytes to OUT_DIR/<sha1 of the bytes> (so identical frames are written
once, under the name libFuzzer would give them). Frames are sorted into
kinds by what they are on the wire (Ethertype, IP version and protocol,
TCP flags, UDP source port, ICMP type and code, ARP operation); at most N
of each kind are written
(default 200): a scan sends and draws tens of thousands of frames of a
handful of kinds. With --name-by-kind (and --per-kind 1) the files are
named after their kind instead, e.g. ipv6-icmp-1-4 (for seeds a person
reads). Prints a count per kind to standard error.
"""

import hashlib
import os
import struct
import sys

LINKTYPE_ETHERNET = 1


def frames(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        sys.exit(f"{path}: not a pcap file (too short)")
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        sys.exit(f"{path}: not a classic pcap file (pcapng? capture with tcpdump -w)")
    linktype = struct.unpack(end + "I", data[20:24])[0] & 0x0FFFFFFF
    if linktype != LINKTYPE_ETHERNET:
        sys.exit(f"{path}: link type {linktype}, not Ethernet")
    at = 24
    while at + 16 <= len(data):
        _sec, _frac, incl, _orig = struct.unpack(end + "IIII", data[at:at + 16])
        at += 16
        if at + incl > len(data):
            print(f"{path}: last record cut short, ignored", file=sys.stderr)
            break
        yield data[at:at + incl]
        at += incl


def kind(frame):
    """A short name for what the frame is."""
    if len(frame) < 14:
        return "runt"
    ethertype = struct.unpack(">H", frame[12:14])[0]
    ip = frame[14:]
    if ethertype == 0x0800 and len(ip) >= 20:
        proto, l4 = ip[9], (ip[0] & 0x0F) * 4
        fam = "ipv4"
    elif ethertype == 0x86DD and len(ip) >= 40:
        proto, l4 = ip[6], 40
        fam = "ipv6"
    elif ethertype == 0x0806:
        op = struct.unpack(">H", ip[6:8])[0] if len(ip) >= 8 else None
        return {1: "arp-request", 2: "arp-reply"}.get(op, f"arp-op-{op}")
    else:
        return f"ethertype-{ethertype:04x}"
    t = ip[l4:]
    if proto == 6 and len(t) >= 14:
        names = [(0x02, "S"), (0x10, "A"), (0x04, "R"), (0x01, "F"), (0x08, "P")]
        flags = "".join(n for bit, n in names if t[13] & bit) or "none"
        return f"{fam}-tcp-{flags}"
    if proto == 17 and len(t) >= 2:
        # By the port that answered: each service's answer is its own kind.
        return f"{fam}-udp-{struct.unpack('>H', t[0:2])[0]}"
    if proto in (1, 58) and len(t) >= 2:
        return f"{fam}-icmp-{t[0]}-{t[1]}"
    return f"{fam}-proto-{proto}"


def main():
    args = sys.argv[1:]
    per_kind = 200
    by_kind = "--name-by-kind" in args
    if by_kind:
        args.remove("--name-by-kind")
    if "--per-kind" in args:
        i = args.index("--per-kind")
        per_kind = int(args[i + 1])
        del args[i:i + 2]
    if len(args) != 2:
        sys.exit("usage: " + __doc__.strip().splitlines()[3].strip())
    capture, out = args
    os.makedirs(out, exist_ok=True)
    counts, written = {}, {}
    for frame in frames(capture):
        k = kind(frame)
        counts[k] = counts.get(k, 0) + 1
        if written.get(k, 0) >= per_kind:
            continue
        base = k if by_kind and per_kind == 1 else hashlib.sha1(frame).hexdigest()
        name = os.path.join(out, base)
        if not os.path.exists(name):
            with open(name, "wb") as f:
                f.write(frame)
            written[k] = written.get(k, 0) + 1
    for k in sorted(counts):
        print(f"  {k:<24} {counts[k]:>7} captured, {written.get(k, 0):>4} written",
              file=sys.stderr)
    print(f"  {'total':<24} {sum(counts.values()):>7} captured, "
          f"{sum(written.values()):>4} written to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
