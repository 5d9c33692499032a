#!/usr/bin/env bash
# lab.sh - build and remove the synsweep test network ("lab") on this machine.
#
# For lab id N (0..14) `up` builds, and `down` removes (h = N in hex, 0..e):
#
#   host: sswlabN 198.19.255.(4N+1)/30 ==veth== lab0 198.19.255.(4N+2)/30 :netns sswlabN
#                 2001:2:0:ff0h::1/64               2001:2:0:ff0h::2/64
#
#   198.18.(16N).0/20  IPv4 responding block. Every address is local inside
#                      the namespace (AnyIP route on lo), so the namespace
#                      kernel answers for all 4096 hosts; nftables table
#                      `inet lab` shapes the answers per rule_table() below.
#   2001:2:0:h00::1000/116
#                      IPv6 responding block (::1000..::1fff of the /64
#                      2001:2:0:h00::/64; for lab 0 2001:2::1000/116), made
#                      local the same way (IPv6 AnyIP); answers shaped per
#                      rule_table6(). Unlike IPv4, the kernel sends ICMPv6
#                      errors for an AnyIP address from lab0's address
#                      (2001:2:0:ff0h::2, as a router would), not from the
#                      probed one; SYN-ACKs and RSTs come from the probed one.
#   198.19.(16N).0/20  silent blocks, for transmit-only benchmarks. Routed
#   2001:2:0:h01::/64  into the namespace and dropped at lab0 ingress (nft
#                      netdev), before the IP stack, so they cost the
#                      namespace ~nothing.
#   python3 listeners  on OPEN_PORTS in the namespace, IPv4 and IPv6 (accept,
#                      close, repeat).
#
# Only 198.18.0.0/15 and 2001:2::/48 (the benchmarking ranges) are used. On the
# host only the veth end, its two addresses (and the kernel's fe80:: one) and
# the four block routes via the namespace (the IPv6 ones are the whole /64s)
# are added. No other interface,
# route or firewall rule of the host is touched, so traffic sent to the lab
# blocks can only ever reach this namespace. IPv6 on the veth is kept quiet:
# addresses without DAD, no router solicitations, no RAs accepted.
#
# `truth` prints the exact answers the lab gives to a TCP SYN on each of the
# 16 PORTS of every block address, as "IP PORT STATE REASON" (nmap's words),
# ordered by address, then port, both numerically (= `sort -k1,1V -k2,2n`).
# IPv6 addresses are in RFC 5952 form (as Rust's Ipv6Addr and `ip -6` print
# them). By default only the IPv4 block (the lines are exactly what they were
# before IPv6 existed, so callers that read every line keep working);
# --family 6 prints the IPv6 block, --family all both, IPv4 first.
# Probes that get no answer are not listed. It is computed from the same
# rule_table()/rule_table6() the nftables ruleset is generated from, so the
# two cannot disagree; it ignores --loss (loss is noise, not truth).

set -euo pipefail
# ip and nft live in /usr/sbin; non-login shells (CI, sudo -E) may lack it.
PATH=$PATH:/usr/sbin:/sbin

readonly PORTS=21,22,23,25,53,80,110,135,139,443,445,993,1433,3389,8080,8443
readonly OPEN_PORTS=22,80,443,8080
readonly RUN_ROOT=/run/synsweep-lab
readonly LISTEN_TIMEOUT=10 # seconds for the listeners to start listening

# The ground-truth rule table: first matching line wins, per (host, port).
# Unmatched probes go to the kernel: a listener port answers SYN-ACK (open),
# any other port RST (closed).
#   selector: all | offset=A-B | offset&MASK=VALUE, where offset is the host
#             address minus the block base (0..4095)
#   ports:    any (every packet, any protocol) | tcp (every TCP port) | P,P,..
#   action:   drop | reset (TCP RST) | icmp:TYPE (nft `reject with icmp type`)
rule_table() {
	cat <<'EOF'
# selector        ports  action
offset=3840-4095  any    drop
offset=3584-3839  tcp    icmp:host-unreachable
offset&7=3        80     drop
offset&15=5       22     reset
offset&255=7      8080   icmp:admin-prohibited
all               25     icmp:admin-prohibited
all               445    icmp:host-prohibited
all               135    icmp:net-prohibited
all               1433   icmp:port-unreachable
all               53     icmp:prot-unreachable
all               139    drop
EOF
}

# The same for the IPv6 block (offset = address minus its base ::1000), with
# ICMPv6 rejects: action icmp6:TYPE (nft `reject with icmpv6 type`).
rule_table6() {
	cat <<'EOF'
# selector        ports  action
offset=3840-4095  any    drop
offset=3584-3839  tcp    icmp6:addr-unreachable
offset&7=3        80     drop
offset&15=5       22     reset
offset&255=7      8080   icmp6:admin-prohibited
all               25     icmp6:admin-prohibited
all               445    icmp6:no-route
all               135    icmp6:reject-route
all               1433   icmp6:port-unreachable
all               53     icmp6:policy-fail
all               139    drop
EOF
}

usage() {
	cat <<'EOF'
usage: lab.sh COMMAND [--id N] [--loss PCT] [--family 4|6|all]

Builds and removes the synsweep test network (network namespace sswlabN),
IPv4 and IPv6.

commands:
  up [--id N] [--loss PCT]   (re)build lab N; returns once the listeners listen.
                             --loss PCT: drop PCT% (integer 0..100) of the
                             packets in each direction, at random (IPv4 and
                             IPv6; not ARP or IPv6 neighbour discovery)
  down [--id N]              remove lab N (no error if it is not there)
  truth [--id N] [--family 4|6|all]
                             print the ground truth, "IP PORT STATE REASON"
                             (works without the lab): the IPv4 block (default,
                             or 4), the IPv6 block (6) or both, IPv4 first (all)
  info [--id N]              print shell-sourceable LAB_* variables
  status [--id N]            exit 0 if lab N is up, 1 if not
  ruleset [--id N] [--loss PCT]
                             print the nftables ruleset `up` loads (both
                             families)

N is 0..14; default $LAB_ID, else 0. up and down need root.
EOF
}

die_usage() {
	echo "lab.sh: $*" >&2
	usage >&2
	exit 2
}
die() {
	echo "lab.sh: $*" >&2
	exit 1
}
say() { echo "lab.sh: $*" >&2; }

# --- arguments ---------------------------------------------------------------

CMD=${1:-}
case $CMD in
up | down | truth | info | status | ruleset) shift ;;
-h | --help | help)
	usage
	exit 0
	;;
'') die_usage "missing command" ;;
*) die_usage "unknown command '$CMD'" ;;
esac

ID=${LAB_ID:-0}
LOSS=0
loss_given=0
# What `truth` prints without --family. Only IPv4: existing callers (the Rust
# lab tests, bench/run.sh) read every line as the IPv4 block's truth.
FAMILY=4
family_given=0
while (($# > 0)); do
	case $1 in
	--id)
		(($# >= 2)) || die_usage "--id needs a value"
		ID=$2
		shift 2
		;;
	--id=*)
		ID=${1#--id=}
		shift
		;;
	--loss)
		(($# >= 2)) || die_usage "--loss needs a value"
		LOSS=$2
		loss_given=1
		shift 2
		;;
	--loss=*)
		LOSS=${1#--loss=}
		loss_given=1
		shift
		;;
	--family)
		(($# >= 2)) || die_usage "--family needs a value"
		FAMILY=$2
		family_given=1
		shift 2
		;;
	--family=*)
		FAMILY=${1#--family=}
		family_given=1
		shift
		;;
	*) die_usage "unknown argument '$1'" ;;
	esac
done
# 15 is out: its silent block 198.19.240.0/20 would contain the link nets.
if ! [[ $ID =~ ^[0-9]{1,2}$ ]] || ((10#$ID > 14)); then
	die_usage "lab id must be an integer 0..14 (got '$ID')"
fi
ID=$((10#$ID))
if ((loss_given)) && [[ $CMD != up && $CMD != ruleset ]]; then
	die_usage "--loss only applies to up (and ruleset)"
fi
if ! [[ $LOSS =~ ^[0-9]{1,3}$ ]] || ((10#$LOSS > 100)); then
	die_usage "--loss must be an integer percentage 0..100 (got '$LOSS')"
fi
LOSS=$((10#$LOSS))
if ((family_given)) && [[ $CMD != truth ]]; then
	die_usage "--family only applies to truth"
fi
case $FAMILY in
4 | 6 | all) ;;
*) die_usage "--family must be 4, 6 or all (got '$FAMILY')" ;;
esac

# --- everything below derives from the id, so labs can coexist ---------------

readonly NS=sswlab$ID
readonly HOST_IF=sswlab$ID
readonly NS_IF=lab0
readonly SOURCE_IP=198.19.255.$((4 * ID + 1))
readonly GATEWAY_IP=198.19.255.$((4 * ID + 2))
readonly BLOCK=198.18.$((16 * ID)).0/20
readonly SILENT_BLOCK=198.19.$((16 * ID)).0/20
# IPv6, all inside 2001:2::/48, in RFC 5952 form (lab 0's /64 is 2001:2::/64).
printf -v H '%x' "$ID"
if ((ID == 0)); then
	NET6=2001:2:: SILENT_BLOCK6=2001:2:0:1::/64
else
	NET6=2001:2:0:${H}00:: SILENT_BLOCK6=2001:2:0:${H}01::/64
fi
readonly H NET6 SILENT_BLOCK6
readonly SOURCE_IP6=2001:2:0:ff0$H::1
readonly GATEWAY_IP6=2001:2:0:ff0$H::2
readonly BLOCK6=${NET6}1000/116 # the answering addresses ::1000..::1fff
readonly BLOCK6_NET=$NET6/64    # all of it routed into the namespace
readonly RUN_DIR=$RUN_ROOT/$ID
# Fixed, locally administered MACs ("ssw" = 73:73:77) so a lab rebuilt with
# the same id looks the same on the wire; `info` still reads the real one.
printf -v HOST_MAC '02:73:73:77:%02x:01' "$ID"
printf -v NS_MAC '02:73:73:77:%02x:02' "$ID"
readonly HOST_MAC NS_MAC
# Marker in the listener's command line, so `down` kills only our process.
readonly LISTENER_TAG=synsweep-lab-listener

# --- the rule table, compiled two ways ---------------------------------------

# Parses a rule table on stdin; shared by the truth and ruleset generators.
# Both get -v fam=4 -v net=198.18 -v b3=<third octet of the block base>, or
# -v fam=6 -v pfx=<the block's /64 as "2001:2:0:h00::", RFC 5952>.
# shellcheck disable=SC2016 # awk program, not shell
readonly AWK_RULES='
BEGIN {
	# nft icmp(v6) type -> the reason nmap prints for it
	if (fam == 6) {
		icmp = "icmp6:"
		reason["no-route"] = "no-route"
		reason["admin-prohibited"] = "admin-prohibited"
		reason["addr-unreachable"] = "host-unreach"
		reason["port-unreachable"] = "port-unreach"
		reason["policy-fail"] = "admin-prohibited"
		reason["reject-route"] = "reject-route"
	} else {
		icmp = "icmp:"
		reason["net-unreachable"] = "net-unreach"
		reason["host-unreachable"] = "host-unreach"
		reason["prot-unreachable"] = "proto-unreach"
		reason["port-unreachable"] = "port-unreach"
		reason["net-prohibited"] = "net-prohibited"
		reason["host-prohibited"] = "host-prohibited"
		reason["admin-prohibited"] = "admin-prohibited"
	}
}
function fail(msg) {
	printf "lab.sh: rule table line %d: %s: %s\n", NR, msg, $0 > "/dev/stderr"
	bad = 1
	exit 1
}
# bitwise and; mawk has no and()
function band(a, b,    r, bit) {
	r = 0
	for (bit = 1; a > 0 && b > 0; bit *= 2) {
		if (a % 2 == 1 && b % 2 == 1) r += bit
		a = int(a / 2); b = int(b / 2)
	}
	return r
}
# The IPv6 block is pfx::1000..pfx::1fff: the last group is always 4 hex
# digits and the zeros before it are already compressed in pfx (RFC 5952).
function addr(off) {
	if (fam == 6) return pfx sprintf("%x", 4096 + off)
	return net "." (b3 + int(off / 256)) "." (off % 256)
}
# An offset-sized value as an address; the block base is 4096 aligned (/20,
# resp. ::1000/116), so offset & M == address & M for every M < 4096.
function dq(x) {
	if (fam == 6) return "::" (x ? sprintf("%x", x) : "")
	return "0.0." int(x / 256) "." (x % 256)
}
/^[ \t]*(#|$)/ { next }
{
	if (NF != 3) fail("want: selector ports action")
	n++; rsel[n] = $1; rports[n] = $2; ract[n] = $3
	if ($1 == "all") {
		rkind[n] = "all"
	} else if ($1 ~ /^offset=[0-9]+(-[0-9]+)?$/) {
		rkind[n] = "range"
		k = split(substr($1, 8), f, "-")
		rlo[n] = f[1] + 0; rhi[n] = (k == 2) ? f[2] + 0 : rlo[n]
		if (rhi[n] < rlo[n] || rhi[n] > 4095) fail("bad offset range")
	} else if ($1 ~ /^offset&[0-9]+=[0-9]+$/) {
		rkind[n] = "mask"
		split(substr($1, 8), f, "=")
		rmask[n] = f[1] + 0; rval[n] = f[2] + 0
		if (rmask[n] > 4095 || band(rval[n], rmask[n]) != rval[n]) fail("bad mask")
	} else fail("unknown selector")
	if ($2 != "any" && $2 != "tcp") {
		if ($2 !~ /^[0-9]+(,[0-9]+)*$/) fail("bad ports")
		k = split($2, f, ",")
		for (i = 1; i <= k; i++) rpm[n, f[i] + 0] = 1
	}
	if ($3 == "reset") {
		if ($2 == "any") fail("reset needs tcp ports")
	} else if (substr($3, 1, length(icmp)) == icmp) {
		rtype[n] = substr($3, length(icmp) + 1)
		if (!(rtype[n] in reason)) fail("unknown " icmp " type")
	} else if ($3 != "drop") fail("unknown action (IPv" fam " table)")
}
'

# -v ports=P,P,.. -v open=P,P,..
# shellcheck disable=SC2016
readonly AWK_TRUTH='
END {
	if (bad) exit 1
	np = split(ports, P, ",")
	k = split(open, f, ",")
	for (i = 1; i <= k; i++) isopen[f[i] + 0] = 1
	for (off = 0; off < 4096; off++) {
		for (r = 1; r <= n; r++)
			hm[r] = rkind[r] == "all" ||
			    (rkind[r] == "range" && off >= rlo[r] && off <= rhi[r]) ||
			    (rkind[r] == "mask" && band(off, rmask[r]) == rval[r])
		ip = addr(off)
		for (i = 1; i <= np; i++) {
			p = P[i] + 0; action = ""
			for (r = 1; r <= n; r++)
				if (hm[r] && (rports[r] == "any" || rports[r] == "tcp" || ((r, p) in rpm))) {
					action = ract[r]
					break
				}
			if (action == "drop") continue
			if (action == "") state = (p in isopen) ? "open syn-ack" : "closed reset"
			else if (action == "reset") state = "closed reset"
			else state = "filtered " reason[rtype[r]]
			print ip, p, state
		}
	}
}
'

# The input chain's rules for one family's block; -v block=CIDR
# shellcheck disable=SC2016
readonly AWK_NFT='
END {
	if (bad) exit 1
	ip = (fam == 6) ? "ip6" : "ip"
	for (r = 1; r <= n; r++) {
		if (rkind[r] == "all") m = ip " daddr " block
		else if (rkind[r] == "range") m = ip " daddr " addr(rlo[r]) (rhi[r] > rlo[r] ? "-" addr(rhi[r]) : "")
		else m = ip " daddr " block " " ip " daddr & " dq(rmask[r]) " == " dq(rval[r])
		if (rports[r] == "tcp") m = m " meta l4proto tcp"
		else if (rports[r] ~ /,/) { p = rports[r]; gsub(/,/, ", ", p); m = m " tcp dport { " p " }" }
		else if (rports[r] != "any") m = m " tcp dport " rports[r]
		if (ract[r] == "drop") verb = "drop"
		else if (ract[r] == "reset") verb = "reject with tcp reset"
		else verb = "reject with " (fam == 6 ? "icmpv6" : "icmp") " type " rtype[r]
		printf "\t\t%s counter %s comment \"%s%s %s %s\"\n", m, verb,
		    (fam == 6 ? "ipv6 " : ""), rsel[r], rports[r], ract[r]
	}
}
'

truth4() {
	rule_table | awk -v fam=4 -v net=198.18 -v b3=$((16 * ID)) \
		-v ports="$PORTS" -v open="$OPEN_PORTS" "$AWK_RULES$AWK_TRUTH"
}

truth6() {
	rule_table6 | awk -v fam=6 -v pfx="$NET6" \
		-v ports="$PORTS" -v open="$OPEN_PORTS" "$AWK_RULES$AWK_TRUTH"
}

truth() {
	case $FAMILY in
	4) truth4 ;;
	6) truth6 ;;
	all) truth4 && truth6 ;;
	esac
}

ruleset() {
	local rules4 rules6 loss=
	rules4=$(rule_table | awk -v fam=4 -v net=198.18 -v b3=$((16 * ID)) \
		-v block="$BLOCK" "$AWK_RULES$AWK_NFT")
	rules6=$(rule_table6 | awk -v fam=6 -v pfx="$NET6" \
		-v block="$BLOCK6" "$AWK_RULES$AWK_NFT")
	# Neighbour discovery is exempt, as ARP (not seen by inet tables) is:
	# a lost probe of the neighbour's reachability would not be random loss
	# but, after 3 in a row, every answer lost until it is resolved again.
	((LOSS == 0)) || printf -v loss '\t\t%s\n' \
		'icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept comment "neighbour discovery: no loss"' \
		"numgen random mod 100 < $LOSS counter drop comment \"loss $LOSS%\""
	# Replies (SYN-ACK, RST, and the ICMP/RST made by reject) pass the
	# output chain, so the loss applies to them too. The silent blocks die at
	# ingress, before routing, conntrack or the input chain; the counters
	# tell benchmarks how much arrived.
	cat <<EOF
table inet lab {
	chain input {
		type filter hook input priority filter; policy accept;
$loss$rules4
$rules6
		counter comment "to the kernel: listener or RST"
	}
	chain output {
		type filter hook output priority filter; policy accept;
${loss}		counter comment "sent"
	}
}
table netdev lab {
	chain silent {
		type filter hook ingress device "$NS_IF" priority -500; policy accept;
		ip daddr $SILENT_BLOCK counter drop comment "silent block"
		ip6 daddr $SILENT_BLOCK6 counter drop comment "silent block ipv6"
	}
}
EOF
}

# --- host helpers --------------------------------------------------------------

need_root() {
	[[ $EUID -eq 0 ]] || die "'$CMD' needs root"
}

# Tells which Debian package is missing; never installs anything itself.
need_tools() {
	local tool pkg missing=0
	for tool in "$@"; do
		case $tool in
		ip | ss) pkg=iproute2 ;;
		nft) pkg=nftables ;;
		python3) pkg=python3 ;;
		awk) pkg=mawk ;;
		flock | setsid) pkg=util-linux ;;
		*) pkg=coreutils ;;
		esac
		if ! command -v "$tool" >/dev/null 2>&1; then
			echo "lab.sh: '$tool' not found: install the Debian package $pkg (apt-get install -y $pkg)" >&2
			missing=1
		fi
	done
	((missing == 0)) || exit 1
}

# Debian's own python3 if present: a pyenv/venv shim on PATH may not work
# inside `ip netns exec` or may change pid while it execs.
python_bin() {
	if [[ -x /usr/bin/python3 ]]; then echo /usr/bin/python3; else command -v python3; fi
}

ns_exists() { [[ -e /run/netns/$NS ]]; }
link_exists() { ip link show dev "$HOST_IF" >/dev/null 2>&1; }

# Per-netns sysctl, written from inside the namespace (procps not needed).
ns_sysctl() {
	ip netns exec "$NS" tee "/proc/sys/${1//.//}" >/dev/null <<<"$2"
}
# A sysctl of the host's own end of the veth (nothing else of the host).
host_if_sysctl() { # FAMILY-DIR KEY VALUE, e.g. ipv6 accept_ra 0
	echo "$3" >"/proc/sys/net/$1/conf/$HOST_IF/$2"
}

# A killed process may stay a zombie for a while (this machine's init reaps
# slowly); it has already left the namespace, so it counts as gone.
running() { # PID
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != Z ]]
}

is_listener() { # PID
	local cmdline
	cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline") || return 1
	[[ $cmdline == *"$LISTENER_TAG $ID "* ]]
}

listener_pid() {
	local pid
	[[ -r $RUN_DIR/listener.pid ]] || return 1
	pid=$(<"$RUN_DIR/listener.pid")
	[[ $pid =~ ^[0-9]+$ ]] && is_listener "$pid" && echo "$pid"
}

# Serialises up/down across ids: two concurrent runs would tear down each
# other's half-built lab. Locks this script file, so nothing is left behind.
take_lock() {
	exec 9<"${BASH_SOURCE[0]}"
	flock -w 60 9 || die "another lab.sh up/down is still running"
}

# Removes everything of lab $ID that exists; never fails.
teardown() {
	local - pid pids=() alive=() tries b
	set +e
	pid=$(listener_pid) && pids+=("$pid")
	# Anything else still inside the namespace would keep it (and its veth)
	# alive after `ip netns del`.
	if ns_exists; then
		for pid in $(ip netns pids "$NS" 2>/dev/null); do pids+=("$pid"); done
	fi
	if ((${#pids[@]} > 0)); then
		kill "${pids[@]}" 2>/dev/null
		for ((tries = 0; tries < 30; tries++)); do
			alive=()
			for pid in "${pids[@]}"; do
				running "$pid" && alive+=("$pid")
			done
			((${#alive[@]} > 0)) || break
			sleep 0.1
		done
		((${#alive[@]} == 0)) || kill -KILL "${alive[@]}" 2>/dev/null
	fi
	if link_exists; then
		for b in "$BLOCK" "$SILENT_BLOCK"; do
			ip route del "$b" dev "$HOST_IF" 2>/dev/null
		done
		for b in "$BLOCK6_NET" "$SILENT_BLOCK6"; do
			ip -6 route del "$b" dev "$HOST_IF" 2>/dev/null
		done
		# takes the addresses and the link routes with it
		ip link del dev "$HOST_IF" 2>/dev/null
	fi
	ns_exists && ip netns del "$NS" 2>/dev/null
	rm -rf "$RUN_DIR"
	rmdir "$RUN_ROOT" 2>/dev/null
	return 0
}

# --- the python listener -------------------------------------------------------

write_listener() {
	cat >"$RUN_DIR/listener.py" <<'EOF'
# synsweep lab listener: listen on the given ports, IPv4 and IPv6, accept
# and close forever.
# argv: TAG LAB_ID PORT,PORT,...
import os, selectors, socket, sys

# Keep no descriptor of whoever started us (a caller's pipe would never
# see EOF, a lock would never be released).
os.closerange(3, 65536)
sel = selectors.DefaultSelector()
for port in sys.argv[3].split(","):
    for family, any_addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            # its own socket, not v4-mapped: each family has its own queue
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((any_addr, int(port)))
        # A scan leaves one half-open connection per host; clamped by somaxconn.
        s.listen(65535)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        while True:
            try:
                conn, _ = key.fileobj.accept()
            except OSError:  # drained (EAGAIN), or the peer already gave up
                break
            conn.close()
EOF
}

start_listener() {
	local py pid deadline listening missing p
	py=$(python_bin)
	write_listener
	# setsid+nohup: the listener must outlive this script and its caller's
	# session (CI runners kill their process group); 9<&- drops the lock.
	setsid nohup ip netns exec "$NS" "$py" -I "$RUN_DIR/listener.py" \
		"$LISTENER_TAG" "$ID" "$OPEN_PORTS" \
		</dev/null >>"$RUN_DIR/listener.log" 2>&1 9<&- &
	pid=$!
	echo "$pid" >"$RUN_DIR/listener.pid"
	deadline=$((SECONDS + LISTEN_TIMEOUT))
	while :; do
		listening=$(ip netns exec "$NS" ss -Hltn | awk '{ print $4 }')
		missing=
		for p in ${OPEN_PORTS//,/ }; do
			grep -qxF "0.0.0.0:$p" <<<"$listening" || missing+=" 0.0.0.0:$p"
			grep -qxF "[::]:$p" <<<"$listening" || missing+=" [::]:$p"
		done
		[[ -z $missing ]] && return 0
		if ! running "$pid"; then
			say "the listener exited before listening on:$missing; its log:"
			sed 's/^/  /' "$RUN_DIR/listener.log" >&2
			return 1
		fi
		if ((SECONDS >= deadline)); then
			say "the listener is not listening on:$missing after ${LISTEN_TIMEOUT}s; its log:"
			sed 's/^/  /' "$RUN_DIR/listener.log" >&2
			return 1
		fi
		sleep 0.1
	done
}

# --- commands --------------------------------------------------------------------

UP_DONE=0
up_exit() {
	local rc=$?
	if ((UP_DONE == 0)); then
		say "up failed (exit $rc); removing the partial lab $ID"
		teardown
		((rc != 0)) || rc=1
	fi
	exit "$rc"
}

cmd_up() {
	need_root
	need_tools ip ss nft python3 awk flock setsid nohup
	[[ -d /proc/sys/net/ipv6 ]] || die "this kernel has no IPv6 (boot without ipv6.disable=1)"
	take_lock
	teardown # a leftover lab with this id, if any
	trap up_exit EXIT
	trap 'exit 130' INT TERM HUP

	mkdir -p "$RUN_DIR"
	echo "$LOSS" >"$RUN_DIR/loss"
	ip netns add "$NS"
	ip link add "$HOST_IF" address "$HOST_MAC" type veth \
		peer name "$NS_IF" address "$NS_MAC" netns "$NS"
	# IPv6 on the link, but quiet: router solicitations, RAs and DAD would
	# show up as noise in the scanner's capture (and an accepted RA could
	# add routes). MLD reports cannot be turned off; the unsolicited ones
	# (a few per end as the link comes up) are sent within milliseconds
	# instead of over the next second or so, so they are over before `up`
	# returns. Set before the links go up.
	local key
	for key in disable_ipv6=0 accept_ra=0 router_solicitations=0 accept_dad=0 \
		mldv1_unsolicited_report_interval=1 mldv2_unsolicited_report_interval=1; do
		host_if_sysctl ipv6 "${key%=*}" "${key#*=}"
		ns_sysctl "net.ipv6.conf.$NS_IF.${key%=*}" "${key#*=}"
	done
	ns_sysctl net.ipv6.conf.lo.disable_ipv6 0 # for the AnyIP route

	ip addr add "$SOURCE_IP/30" dev "$HOST_IF"
	ip -n "$NS" addr add "$GATEWAY_IP/30" dev "$NS_IF"
	ip -6 addr add "$SOURCE_IP6/64" dev "$HOST_IF" nodad
	ip -6 -n "$NS" addr add "$GATEWAY_IP6/64" dev "$NS_IF" nodad
	ip -n "$NS" link set lo up
	ip -n "$NS" link set "$NS_IF" up
	ip link set "$HOST_IF" up
	# AnyIP: the whole block is local, no per-address setup.
	ip -n "$NS" route add local "$BLOCK" dev lo
	ip -6 -n "$NS" route add local "$BLOCK6" dev lo

	# ICMP errors are rate limited per destination (icmp_ratelimit: 6, then
	# ~1/s) and per namespace (icmp_msgs_per_sec/burst: ~1000/s). A scan is
	# one destination sending thousands of probes a second, so either limit
	# alone would silence most rejects and break the ground truth (measured:
	# 6 resp. 203 of 3840 answered). nstat's IcmpOutRateLimitHost and
	# IcmpOutRateLimitGlobal in the namespace must stay 0.
	# msgs_per_sec stays far below INT_MAX: kernels before early 2026
	# multiply it by the elapsed jiffies in 32 bits and can overflow.
	# ICMPv6 has its own per-destination limit (net.ipv6.icmp.ratelimit,
	# 1000 ms) and shares the namespace-wide one; nstat's
	# Icmp6OutRateLimitHost must stay 0 too.
	ns_sysctl net.ipv4.icmp_ratelimit 0
	ns_sysctl net.ipv6.icmp.ratelimit 0
	ns_sysctl net.ipv4.icmp_msgs_per_sec 1000000
	ns_sysctl net.ipv4.icmp_msgs_burst 1000000
	# Open ports must answer SYN-ACK however many half-open connections a
	# scan leaves behind: deep queues first, syncookies past them (IPv6 TCP
	# uses these net.ipv4 settings too).
	ns_sysctl net.ipv4.tcp_syncookies 1
	ns_sysctl net.core.somaxconn 65535
	ns_sysctl net.ipv4.tcp_max_syn_backlog 65535

	ruleset | ip netns exec "$NS" nft -f -

	ip route add "$BLOCK" via "$GATEWAY_IP" dev "$HOST_IF"
	ip route add "$SILENT_BLOCK" via "$GATEWAY_IP" dev "$HOST_IF"
	ip -6 route add "$BLOCK6_NET" via "$GATEWAY_IP6" dev "$HOST_IF"
	ip -6 route add "$SILENT_BLOCK6" via "$GATEWAY_IP6" dev "$HOST_IF"

	start_listener

	UP_DONE=1
	trap - EXIT INT TERM HUP
	say "lab $ID up: $HOST_IF $SOURCE_IP -> $GATEWAY_IP," \
		"$SOURCE_IP6 -> $GATEWAY_IP6 ($NS_MAC), blocks $BLOCK $BLOCK6," \
		"silent $SILENT_BLOCK $SILENT_BLOCK6, loss $LOSS%"
}

cmd_down() {
	need_root
	need_tools ip
	take_lock
	teardown
	say "lab $ID down"
}

is_up() {
	ns_exists && link_exists && listener_pid >/dev/null
}

cmd_status() {
	need_tools ip
	if is_up; then
		echo "lab $ID: up (netns $NS, blocks $BLOCK $BLOCK6, loss $(cat "$RUN_DIR/loss" 2>/dev/null || echo '?')%)"
		exit 0
	fi
	local parts=()
	ns_exists && parts+=("netns $NS")
	link_exists && parts+=("link $HOST_IF")
	[[ -e $RUN_DIR ]] && parts+=("$RUN_DIR")
	if ((${#parts[@]} > 0)); then
		echo "lab $ID: broken, left over: ${parts[*]} (run: lab.sh down --id $ID)"
	else
		echo "lab $ID: down"
	fi
	exit 1
}

cmd_info() {
	local mac
	echo "LAB_ID=$ID"
	echo "LAB_NS=$NS"
	echo "LAB_IFACE=$HOST_IF"
	echo "LAB_SOURCE_IP=$SOURCE_IP"
	echo "LAB_GATEWAY=$GATEWAY_IP"
	echo "LAB_SOURCE_IP6=$SOURCE_IP6"
	echo "LAB_GATEWAY6=$GATEWAY_IP6"
	if command -v ip >/dev/null 2>&1 && is_up; then
		# read, not assumed: whatever is on the wire is what a scanner needs
		mac=$(ip -n "$NS" -br link show dev "$NS_IF" 2>/dev/null | awk '{ print $3 }') || mac=
		# the same veth end answers both families
		[[ -z $mac ]] || echo "LAB_GATEWAY_MAC=$mac"
		[[ -z $mac ]] || echo "LAB_GATEWAY_MAC6=$mac"
		echo "LAB_LOSS=$(cat "$RUN_DIR/loss" 2>/dev/null || echo 0)"
	fi
	echo "LAB_BLOCK=$BLOCK"
	echo "LAB_SILENT_BLOCK=$SILENT_BLOCK"
	echo "LAB_BLOCK6=$BLOCK6"
	echo "LAB_SILENT_BLOCK6=$SILENT_BLOCK6"
	echo "LAB_PORTS=$PORTS"
	echo "LAB_OPEN_PORTS=$OPEN_PORTS"
}

case $CMD in
up) cmd_up ;;
down) cmd_down ;;
truth) truth ;;
ruleset) ruleset ;;
info) cmd_info ;;
status) cmd_status ;;
esac
