#!/usr/bin/env python3
"""bench/silent_listener.py - TCP servers that never say a word.

    silent_listener.py PORT_FIRST PORT_LAST [BACKLOG]

Listens on 0.0.0.0:PORT for every port of the range, with a large backlog,
and then never accepts, reads or writes: each SYN draws a SYN-ACK (the
kernel's, a SYN cookie when the queues are full and tcp_syncookies allows),
each completed handshake sits in the accept queue or is dropped there, and
no byte ever comes back. bench/run.sh's `sessions` section starts it inside
the lab namespace (ip netns exec), so that a banner scan holds one session
per probe until its --banner-timeout, and stops it by pid. Prints "ready"
once every socket listens. Ends on SIGTERM/SIGINT.
"""
import signal
import socket
import sys


def main():
    first, last = int(sys.argv[1]), int(sys.argv[2])
    backlog = int(sys.argv[3]) if len(sys.argv) > 3 else 65535
    socks = []
    for port in range(first, last + 1):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        s.listen(backlog)
        socks.append(s)
    print("ready", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
