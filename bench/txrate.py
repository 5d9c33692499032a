#!/usr/bin/env python3
"""Run a command and measure the frames/s it put on an interface.

    txrate.py IFACE -- COMMAND [ARGS...]

Samples /sys/class/net/IFACE/statistics/tx_packets every 10 ms from one
process (no fork per sample, so the sampler costs the machine almost
nothing) and reports the rate over the window in which the counter moved:
start-up, ARP and the tool's waiting time after its last probe are not
counted against it. The same measurement for every tool, whatever each
says of itself.

Prints one line: `frames SECONDS RATE` (integers and seconds).
"""

import subprocess
import sys
import time


def main() -> int:
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    path = f"/sys/class/net/{sys.argv[1]}/statistics/tx_packets"
    cmd = sys.argv[3:]

    def read() -> int:
        with open(path) as f:
            return int(f.read())

    samples = [(time.monotonic(), read())]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while proc.poll() is None:
        time.sleep(0.01)
        samples.append((time.monotonic(), read()))
    samples.append((time.monotonic(), read()))
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    # A tool ended by the caller's timeout (masscan 1.3.2 often never exits
    # after its last probe) still sent what it sent: report it, and say so.
    if proc.returncode not in (0, 130):
        print(f"txrate: command ended with status {proc.returncode}", file=sys.stderr)
    moving = [i for i in range(1, len(samples)) if samples[i][1] > samples[i - 1][1]]
    if not moving:
        print(f"txrate: nothing was sent: {err.strip()[-300:]}", file=sys.stderr)
        print("0 0 0")
        return 1 if proc.returncode not in (0, 130) else 0
    first, last = moving[0] - 1, moving[-1]
    frames = samples[last][1] - samples[first][1]
    secs = samples[last][0] - samples[first][0]
    print(f"{frames} {secs:.3f} {frames / secs:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
