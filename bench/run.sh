#!/usr/bin/env bash
# bench/run.sh - synsweep against the ceiling, masscan and zmap, in one run,
# on a lab this script builds (scripts/lab.sh, id 14) and removes.
#
#   sudo bench/run.sh [--runs N] [--only SECTIONS]
#
# SECTIONS (comma list, default all): ceiling,tx,types,loop,cpu,profile,mem
#   ceiling  the sendmmsg blaster (bench/blaster.rs), 1 thread and all cores
#   tx       transmit-only: probes into the lab's silent block at max rate
#   types    transmit-only for every scan type (nmap's -sS -sA -sF -sN -sX
#            -sM -sW -sU, UDP with and without payloads), beside masscan's
#            UDP and zmap's udp module
#   loop     full loop: the responding block at rising rates; the highest
#            rate at which each tool reports 100% of the open ports and
#            nothing false; receive capacity is the valid replies/s there
#   cpu      user-space instructions per probe (valgrind callgrind)
#   profile  where a frame's time goes: user, system and softirq time per
#            frame for synsweep and the blaster, and callgrind's split of
#            synsweep's user-space instructions by function
#   mem      peak RSS at 2^16 and 2^48 probe spaces (--offline)
#   banners  banner grabbing on the lab's real daemons (lab.sh up --services):
#            synsweep --banners, masscan --banners and nmap -sV on the same
#            hosts x service ports: banners/s over the wire window (first
#            SYN to the last server byte, from a capture on the veth) and
#            completeness against `lab.sh truth --services --banners`
#   sessions memory of banner mode: peak RSS with ~10^4 to ~10^5 sessions
#            open at once (silent servers, bench/silent_listener.py), with
#            and without --banners; bytes per open session
#   connect  connect mode (--connect, -sT) beside RustScan and nmap -sT, all
#            three unprivileged (setpriv nobody), on the responding block:
#            connects/s over the wall time, completeness against
#            `lab.sh truth --scan connect`. RustScan is installed by cargo
#            into bench/.tools (not in git) if it is not there.
#
# banners and sessions run last, on the lab rebuilt with --services.
#
# Every rate is read off the lab veth's tx_packets counter (bench/txrate.py),
# the same way for every tool. Medians of N runs (default 3). Results go to
# stdout and to bench/results/<time>.md. Traffic goes only to the lab's
# blocks, on its veth, named explicitly on every command.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PATH=$PATH:/usr/sbin:/sbin:$HOME/.cargo/bin

runs=3
only=ceiling,tx,types,loop,cpu,profile,mem,connect,banners,sessions
while [[ $# -gt 0 ]]; do
	case "$1" in
	--runs) runs=$2; shift 2 ;;
	--only) only=$2; shift 2 ;;
	*) echo "usage: bench/run.sh [--runs N] [--only ceiling,tx,types,loop,cpu,profile,mem,connect,banners,sessions]" >&2; exit 2 ;;
	esac
done
want() { [[ ",$only," == *",$1,"* ]]; }
if [[ $(id -u) -ne 0 ]]; then
	echo "bench/run.sh: needs root (lab namespaces, raw sockets)" >&2
	exit 1
fi

LAB=14
scripts/deps.sh bench
cargo build --release --quiet
cargo build --release --quiet --example blaster
SYN=$ROOT/target/release/synsweep
BLASTER=$ROOT/target/release/examples/blaster
TXRATE=$ROOT/bench/txrate.py
LABSH=$ROOT/scripts/lab.sh
work=$(mktemp -d)
# Background helpers (captures, listeners) are ended by their recorded pid.
bg_pids=""
cleanup() {
	local p
	for p in $bg_pids; do kill "$p" 2>/dev/null || true; done
	$LABSH down --id $LAB >/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
$LABSH up --id $LAB >/dev/null
eval "$($LABSH info --id $LAB)"
IF=$LAB_IFACE
MAC=$LAB_GATEWAY_MAC
SILENT=$LAB_SILENT_BLOCK
BLOCK=$LAB_BLOCK
# 4,096 hosts of the IPv6 silent /64, the same size as the IPv4 silent block.
SILENT6=${LAB_SILENT_BLOCK6%/*}/116
# zmap refuses 198.18.0.0/15 through its default blocklist.
: >"$work/empty.blocklist"
mkdir -p bench/results
report=$ROOT/bench/results/$(date -u +%Y%m%dT%H%M%SZ).md
cores=$(nproc)
# From here on the tools run in a scratch directory: masscan leaves
# paused.conf where it is interrupted, synsweep a checkpoint.
cd "$work"

log() { echo "$*" | tee -a "$report"; }
median() { sort -n | awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }
# rate_of CMD...: frames/s over the window the lab veth was sending.
rate_of() { timeout -k 3 90 "$TXRATE" "$IF" -- "$@" | awk '{print $3}'; }
# median_rate NAME CMD...: runs CMD $runs times; prints the median.
median_rate() {
	local name=$1; shift
	local r all=""
	for _ in $(seq "$runs"); do
		r=$(rate_of "$@" || echo 0)
		all="$all $r"
	done
	local m
	m=$(echo "$all" | tr ' ' '\n' | grep . | median)
	echo "  $name: runs$all -> median $m" >&2
	echo "$m"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b>0) printf "%.2f", a/b; else print "n/a" }'; }
fmt() { awk -v r="$1" 'BEGIN{ printf "%.3f Mpps", r/1e6 }'; }

log "# synsweep benchmark $(date -u +%Y-%m-%dT%H:%MZ)"
log ""
log "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
log "tools: $($SYN --version), $(masscan --version 2>/dev/null | grep -m1 -o 'Masscan version [0-9.]*'), $(zmap --version 2>&1 | head -1)"
log "lab: id $LAB, veth $IF, silent block $SILENT, responding block $BLOCK; $runs runs each, medians"
log ""

if want ceiling; then
	log "## Ceiling: sendmmsg blaster, 60-byte frames, into the silent block"
	ceil1=$(median_rate "blaster x1" $BLASTER --interface "$IF" --dst-mac "$MAC" --src-ip "$LAB_SOURCE_IP" --dst-net "${SILENT%/*}" --threads 1 --seconds 3)
	ceiln=$(median_rate "blaster x$cores" $BLASTER --interface "$IF" --dst-mac "$MAC" --src-ip "$LAB_SOURCE_IP" --dst-net "${SILENT%/*}" --threads "$cores" --seconds 3)
	ceil70=$(median_rate "blaster x1, 70 B" $BLASTER --interface "$IF" --dst-mac "$MAC" --src-ip "$LAB_SOURCE_IP" --dst-net "${SILENT%/*}" --threads 1 --seconds 3 --frame-len 70)
	log "| sender | frames/s |"
	log "|---|---|"
	log "| blaster, 1 thread | $(fmt "$ceil1") |"
	log "| blaster, $cores threads | $(fmt "$ceiln") |"
	log "| blaster, 1 thread, 70-byte frames (synsweep's SYN size) | $(fmt "$ceil70") |"
	log ""
fi

if want tx; then
	log "## Transmit-only: 4,096,000 probes into the silent block, each tool at its maximum"
	# 4096 hosts x 1000 ports for the scanners; zmap scans one port, so it
	# sends 1000 probes per host (-P) for the same count.
	syn1=$(median_rate "synsweep x1" $SYN "$SILENT" -p 1-1000 --rate max --wait 0 --interface "$IF" --router-mac "$MAC" --tx-threads 1)
	synn=$(median_rate "synsweep x$cores" $SYN "$SILENT" -p 1-1000 --rate max --wait 0 --interface "$IF" --router-mac "$MAC" --tx-threads "$cores")
	# masscan 1.3.2 sometimes never exits after its last probe ("waiting
	# -N secs"); the timeout ends it, and txrate.py only counts the window
	# in which frames moved.
	mass=$(median_rate "masscan" timeout -s INT -k 3 20 masscan "$SILENT" -p 1-1000 --rate 100000000 --wait 0 --interface "$IF" --router-mac "$MAC")
	zmap1=$(median_rate "zmap -T1" zmap -p 80 -P 1000 -r 0 -T 1 -i "$IF" -G "$MAC" -S "$LAB_SOURCE_IP" -b "$work/empty.blocklist" --disable-syslog -c 0 -q -o /dev/null "$SILENT")
	zmapn=$(median_rate "zmap -T$cores" zmap -p 80 -P 1000 -r 0 -T "$cores" -i "$IF" -G "$MAC" -S "$LAB_SOURCE_IP" -b "$work/empty.blocklist" --disable-syslog -c 0 -q -o /dev/null "$SILENT")
	log "| sender | probes/s | / masscan | / blaster x1 | / blaster x$cores |"
	log "|---|---|---|---|---|"
	for row in "synsweep, 1 tx thread:$syn1" "synsweep, $cores tx threads:$synn" "masscan:$mass" "zmap, 1 thread:$zmap1" "zmap, $cores threads:$zmapn"; do
		name=${row%%:*}; r=${row##*:}
		log "| $name | $(fmt "$r") | $(ratio "$r" "$mass") | $(ratio "$r" "${ceil1:-0}") | $(ratio "$r" "${ceiln:-0}") |"
	done
	log ""
	log "## Transmit-only, IPv6: 4,096,000 probes into $SILENT6 (90-byte SYNs; masscan's are 74)"
	syn61=$(median_rate "synsweep IPv6 x1" $SYN "$SILENT6" -p 1-1000 --rate max --wait 0 --interface "$IF" --router-mac "$MAC" --tx-threads 1)
	syn6n=$(median_rate "synsweep IPv6 x$cores" $SYN "$SILENT6" -p 1-1000 --rate max --wait 0 --interface "$IF" --router-mac "$MAC" --tx-threads "$cores")
	mass6=$(median_rate "masscan IPv6" timeout -s INT -k 3 20 masscan "$SILENT6" -p 1-1000 --rate 100000000 --wait 0 --interface "$IF" --router-mac "$MAC" --source-ip "$LAB_SOURCE_IP6")
	log "| sender | probes/s | / masscan IPv6 | / synsweep IPv4, same threads |"
	log "|---|---|---|---|"
	log "| synsweep IPv6, 1 tx thread | $(fmt "$syn61") | $(ratio "$syn61" "$mass6") | $(ratio "$syn61" "$syn1") |"
	log "| synsweep IPv6, $cores tx threads | $(fmt "$syn6n") | $(ratio "$syn6n" "$mass6") | $(ratio "$syn6n" "$synn") |"
	log "| masscan IPv6 | $(fmt "$mass6") | 1.00 | |"
	log ""
fi

# loop_try TOOL RATE: prints "found_open false_results achieved_pps valid_replies_per_s kernel_drops"
loop_try() {
	local tool=$1 rate=$2 out=$work/loop.$1.txt achieved
	rm -f "$out"
	case $tool in
	synsweep)
		achieved=$("$TXRATE" "$IF" -- sh -c "exec $SYN $BLOCK -p 1-1024,8080 --rate $rate --wait 2 \
			--interface $IF --router-mac $MAC --show open -o $out 2>$work/loop.err" | awk '{print $3}')
		;;
	masscan)
		achieved=$("$TXRATE" "$IF" -- timeout -s INT -k 3 $((4198400 / rate + 8)) masscan "$BLOCK" \
			-p 1-1024,8080 --rate "$rate" --wait 2 --interface "$IF" --router-mac "$MAC" -oL "$out" 2>/dev/null |
			awk '{print $3}')
		;;
	esac
	local want_open=$work/open.want
	awk '$1 ~ /^open$/ {print $4, $3}' "$out" 2>/dev/null | sort -u >"$work/open.got"
	local found false
	found=$(comm -12 "$work/open.got" "$want_open" | wc -l)
	false=$(comm -23 "$work/open.got" "$want_open" | wc -l)
	local valid="-" drops="-"
	if [[ $tool == synsweep ]]; then
		# valid replies over the sending time, from synsweep's own summary
		valid=$(awk '/^sent/{t=$7} /^received/{v=$4} END{ if (t>0) printf "%.0f", v/t; else print 0 }' "$work/loop.err")
		drops=$(awk '/^received/{print $(NF-6)}' "$work/loop.err")
	fi
	echo "$found $false ${achieved:-0} $valid $drops"
}

if want types; then
	log "## Transmit-only by scan type: 4,096,000 probes into the silent block, $cores transmit threads"
	# The same 4096 hosts x 1000 ports for every TCP type and UDP; SYNs are
	# 70 bytes (options), the flag scans' 54 (nmap's bare 20-byte header),
	# UDP 42 plus the payload where a port has one (7 of ports 1-1000).
	# The payload row: every probe a payload with an identifier the cookie
	# fills: the 14 ports with built-in payloads (15 payloads, SNMP has
	# two) x 4096 hosts, sent 67 times (--retries 66): 4,116,480 probes.
	# The runs are interleaved (every row once, then again), so a machine
	# that slows down or speeds up during the section skews no row.
	payload_ports=U:53,69,111,123,137,161,500,1900,3478,5060,5351,5353,5683,11211
	common="--rate max --wait 0 --interface $IF --router-mac $MAC --tx-threads $cores"
	rows=(
		"syn (-sS)|$SYN $SILENT -p 1-1000 $common"
		"ack (-sA)|$SYN $SILENT -p 1-1000 --scan ack $common"
		"fin (-sF)|$SYN $SILENT -p 1-1000 --scan fin $common"
		"null (-sN)|$SYN $SILENT -p 1-1000 --scan null $common"
		"xmas (-sX)|$SYN $SILENT -p 1-1000 --scan xmas $common"
		"maimon (-sM)|$SYN $SILENT -p 1-1000 --scan maimon $common"
		"window (-sW)|$SYN $SILENT -p 1-1000 --scan window $common"
		"udp (-sU), ports 1-1000|$SYN $SILENT -p U:1-1000 --scan udp $common"
		"udp, payload ports only (every probe a payload)|$SYN $SILENT -p $payload_ports --scan udp --retries 66 $common"
		"masscan, -pU:1-1000|timeout -s INT -k 3 20 masscan $SILENT -pU:1-1000 --rate 100000000 --wait 0 --interface $IF --router-mac $MAC"
		"zmap, udp module (port 53, $cores threads)|zmap -M udp -p 53 -P 1000 -r 0 -T $cores -i $IF -G $MAC -S $LAB_SOURCE_IP -b $work/empty.blocklist --disable-syslog -c 0 -q -o /dev/null $SILENT"
	)
	declare -A runs_of
	for _ in $(seq "$runs"); do
		for row in "${rows[@]}"; do
			# shellcheck disable=SC2086 # the command's words
			r=$(rate_of ${row#*|} || echo 0)
			runs_of[${row%%|*}]+=" $r"
		done
	done
	declare -A med
	for row in "${rows[@]}"; do
		name=${row%%|*}
		med[$name]=$(echo "${runs_of[$name]}" | tr ' ' '\n' | grep . | median)
		echo "  $name: runs${runs_of[$name]} -> median ${med[$name]}" >&2
	done
	tsyn=${med["syn (-sS)"]}
	log "| scan | probes/s | / SYN |"
	log "|---|---|---|"
	for row in "${rows[@]}"; do
		name=${row%%|*}
		log "| $name | $(fmt "${med[$name]}") | $(ratio "${med[$name]}" "$tsyn") |"
	done
	tudp=${med["udp (-sU), ports 1-1000"]}
	log ""
	log "synsweep UDP against the others: ports 1-1000 $(ratio "$tudp" "${med["masscan, -pU:1-1000"]}")x masscan's -pU, $(ratio "$tudp" "${med["zmap, udp module (port 53, $cores threads)"]}")x zmap's udp module"
	log ""
fi

if want loop; then
	log "## Full loop: $BLOCK x ports 1-1024,8080 (4,198,400 probes), rising rates"
	$LABSH truth --id $LAB | awk '$3=="open"{print $1, $2}' | sort -u >"$work/open.want"
	total_open=$(wc -l <"$work/open.want")
	log "ground truth: $total_open open ports; a rate counts when every one is reported and nothing else"
	log ""
	log "| rate set | synsweep achieved pps | open found | false | valid replies/s | kernel drops | masscan achieved pps | open found | false |"
	log "|---|---|---|---|---|---|---|---|---|"
	best_syn=0 best_mass=0 best_rx=0
	for rate in 25000 100000 250000 500000 750000 1000000 2000000; do
		read -r sf sx sa sv sd < <(loop_try synsweep $rate)
		read -r mf mx ma _ _ < <(loop_try masscan $rate)
		log "| $rate | $sa | $sf / $total_open | $sx | $sv | $sd | $ma | $mf / $total_open | $mx |"
		# A rate counts at what was achieved, not what was asked.
		if [[ $sf -eq $total_open && $sx -eq 0 && $sa -gt $best_syn ]]; then best_syn=$sa; fi
		if [[ $sf -eq $total_open && $sx -eq 0 && $sd == 0 && $sv -gt $best_rx ]]; then best_rx=$sv; fi
		if [[ $mf -eq $total_open && $mx -eq 0 && $ma -gt $best_mass ]]; then best_mass=$ma; fi
	done
	log ""
	log "at the highest rate asked, each as fast as it goes: synsweep $sa pps, masscan $ma pps, ratio $(ratio "$sa" "$ma")"
	log "highest achieved rate with 100% of open ports and nothing false: synsweep $best_syn pps, masscan $best_mass pps (0 = at no rate tried)"
	log "receive capacity (most valid replies/s handled with 100% found, no kernel drops): $best_rx"
	log ""
fi

if want cpu; then
	log "## CPU: user-space instructions per probe of the transmit thread (callgrind), into the silent block"
	log "marginal cost: (instructions for 262,144 probes - for 131,072) / 131,072, so start-up cancels out;"
	log "counted in the busiest thread (--separate-threads), the one that builds and sends the probes"
	busiest() { awk '/^(summary|totals):/{print $2}' "$@" 2>/dev/null | sort -n | tail -1; }
	cg() { # CMD...: instructions of its busiest thread, the run ending by itself
		rm -f "$work"/cg.out*
		timeout -s INT -k 5 120 valgrind --tool=callgrind --separate-threads=yes \
			--callgrind-out-file="$work/cg.out" "$@" >/dev/null 2>&1 || true
		busiest "$work"/cg.out*
	}
	s1=$(cg $SYN "$SILENT" -p 1-32 --rate max --wait 0 --interface "$IF" --router-mac "$MAC" --tx-threads 1)
	s2=$(cg $SYN "$SILENT" -p 1-64 --rate max --wait 0 --interface "$IF" --router-mac "$MAC" --tx-threads 1)
	v1=$(cg $SYN "$SILENT6" -p 1-32 --rate max --wait 0 --interface "$IF" --router-mac "$MAC" --tx-threads 1)
	v2=$(cg $SYN "$SILENT6" -p 1-64 --rate max --wait 0 --interface "$IF" --router-mac "$MAC" --tx-threads 1)
	# masscan 1.3.2 does not exit after its last probe, and a killed
	# process writes no profile: take a dump (callgrind_control) as soon as
	# the veth counter shows all its frames left, then end it.
	cg_dump() { # FRAMES CMD...: Ir total when FRAMES frames have been sent
		local frames=$1; shift
		local tx0 pid
		tx0=$(cat "/sys/class/net/$IF/statistics/tx_packets")
		valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$work/cgd.%p" "$@" >/dev/null 2>&1 &
		pid=$!
		for _ in $(seq 1200); do
			sleep 0.1
			(($(cat "/sys/class/net/$IF/statistics/tx_packets") - tx0 >= frames)) && break
		done
		sleep 0.5
		callgrind_control -d "$pid" >/dev/null 2>&1 || true
		sleep 1
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		busiest "$work"/cgd."$pid"*
		rm -f "$work"/cgd."$pid"*
	}
	m1=$(cg_dump 131072 masscan "$SILENT" -p 1-32 --rate 100000000 --wait 0 --interface "$IF" --router-mac "$MAC")
	m2=$(cg_dump 262144 masscan "$SILENT" -p 1-64 --rate 100000000 --wait 0 --interface "$IF" --router-mac "$MAC")
	sp=$(awk -v a="$s1" -v b="$s2" 'BEGIN{printf "%.0f", (b-a)/131072}')
	vp=$(awk -v a="$v1" -v b="$v2" 'BEGIN{printf "%.0f", (b-a)/131072}')
	mp=$(awk -v a="${m1:-0}" -v b="${m2:-0}" 'BEGIN{ if (a>0 && b>0) printf "%.0f", (b-a)/131072; else print "n/a" }')
	log "| tool | instructions/probe |"
	log "|---|---|"
	log "| synsweep, IPv4 SYN | $sp |"
	log "| synsweep, IPv6 SYN | $vp |"
	log "| masscan, IPv4 SYN | $mp |"
	log ""
fi

if want profile; then
	log "## Where a frame's time goes: one sending thread, 4,096,000 frames into the silent block"
	# /proc/stat cpu line: user nice system idle iowait irq softirq (ticks)
	cpu_ticks() { awk '/^cpu /{print $2+$3, $4, $8}' /proc/stat; }
	profile_row() { # NAME CMD...: whole-machine CPU time per frame sent
		local name=$1; shift
		local before after tx0 tx1 hz
		hz=$(getconf CLK_TCK)
		tx0=$(cat "/sys/class/net/$IF/statistics/tx_packets")
		before=$(cpu_ticks)
		/usr/bin/time -o "$work/time.out" -f "%e" "$@" >/dev/null 2>&1 || true
		after=$(cpu_ticks)
		tx1=$(cat "/sys/class/net/$IF/statistics/tx_packets")
		echo "$before $after $(cat "$work/time.out") $((tx1 - tx0))" | awk -v name="$name" -v hz="$hz" '{
			n=$8; u=($4-$1)/hz; sy=($5-$2)/hz; si=($6-$3)/hz;
			printf "| %s | %d | %.2f | %.0f | %.0f | %.0f | %.0f |\n", name, n, $7, $7*1e9/n, u*1e9/n, sy*1e9/n, si*1e9/n }'
	}
	log "| sender | frames | wall s | wall ns/frame | user ns/frame | system ns/frame | softirq ns/frame |"
	log "|---|---|---|---|---|---|---|"
	log "$(profile_row "synsweep, 1 tx thread" $SYN "$SILENT" -p 1-1000 --rate max --wait 0 --interface "$IF" --router-mac "$MAC" --tx-threads 1)"
	secs=$(awk -v r="${ceil1:-1700000}" 'BEGIN{printf "%.2f", 4096000/r}')
	log "$(profile_row "blaster, 1 thread, 70-byte frames" $BLASTER --interface "$IF" --dst-mac "$MAC" --src-ip "$LAB_SOURCE_IP" --dst-net "${SILENT%/*}" --threads 1 --seconds "$secs" --frame-len 70)"
	log ""
	log "synsweep's user-space instructions by function (callgrind, 262,144 probes, whole run):"
	log '```'
	timeout -s INT -k 5 120 valgrind --tool=callgrind --callgrind-out-file="$work/prof.out" \
		$SYN "$SILENT" -p 1-64 --rate max --wait 0 --interface "$IF" --router-mac "$MAC" --tx-threads 1 >/dev/null 2>&1 || true
	# awk stops printing but reads on: no SIGPIPE for callgrind_annotate.
	callgrind_annotate --inclusive=no "$work/prof.out" 2>/dev/null |
		awk '/PROGRAM TOTALS/{p=1} p && NF && n++ < 16' | tee -a "$report"
	log '```'
	log ""
fi

if want mem; then
	log "## Memory: peak RSS, --offline, 1,000,000 probes"
	rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
	r16=$(rss $SYN 198.18.0.0/20 -p 1-16 --offline --rate max --wait 0 --max-probes 1000000)
	r48=$(rss $SYN 0.0.0.0/0 -p 0-65535 --no-default-excludes --offline --rate max --wait 0 --max-probes 1000000)
	rlab=$(rss $SYN "$BLOCK" -p 1-1024,8080 --rate 500000 --wait 1 --interface "$IF" --router-mac "$MAC" -o /dev/null)
	log "| probe space | peak RSS |"
	log "|---|---|"
	log "| 2^16 (4096 hosts x 16 ports) | $((r16 / 1024)) MiB |"
	log "| 2^48 (all IPv4 x all ports) | $((r48 / 1024)) MiB |"
	log "| lab scan, 4.2M probes, afpacket rings | $((rlab / 1024)) MiB |"
	log ""
	log "## Hit lists: 10^6 random addresses in a file (-iL), loaded and one probe built (--offline)"
	python3 - "$work" <<'EOF'
import random, sys, ipaddress
r = random.Random(1)
with open(sys.argv[1] + "/hit4.txt", "w") as f:
    for _ in range(10**6):
        f.write("%d.%d.%d.%d\n" % (r.randrange(1, 224), r.randrange(256), r.randrange(256), r.randrange(256)))
with open(sys.argv[1] + "/hit6.txt", "w") as f:
    for _ in range(10**6):
        f.write(str(ipaddress.IPv6Address((0x2a00 << 112) | r.getrandbits(100))) + "\n")
EOF
	log "| list | file | peak RSS | bytes per address | wall | addresses per second |"
	log "|---|---|---|---|---|---|"
	for fam in 4 6; do
		/usr/bin/time -f "%M %e" -o "$work/hit.time" $SYN -iL "$work/hit$fam.txt" -p 80 --offline --rate max --max-probes 1 >/dev/null 2>&1
		read -r kib secs <"$work/hit.time"
		log "| 10^6 IPv$fam | $(($(stat -c %s "$work/hit$fam.txt") / 1048576)) MiB | $((kib / 1024)) MiB | $(awk -v k="$kib" 'BEGIN{printf "%.1f", k*1024/1e6}') | $secs s | $(awk -v s="$secs" 'BEGIN{ if (s>0) printf "%.2f M", 1/s; else print "n/a" }') |"
	done
	log ""
fi
if want connect; then
	# RustScan: a pinned release, built into the bench's own directory.
	RUSTSCAN=$ROOT/bench/.tools/bin/rustscan
	if [[ ! -x $RUSTSCAN ]]; then
		cargo install rustscan --locked --root "$ROOT/bench/.tools" >&2
	fi
	CPORTS=$LAB_PORTS
	nports=$(echo "$CPORTS" | tr ',' '\n' | wc -l)
	nconn=$((4096 * nports))
	# nmap -sT takes minutes for the whole block: it scans the first 512
	# hosts, and its rate is per that sample (said so below).
	CNNET=${CONNECT_NMAP_NET:-${BLOCK%/*}/23}
	$LABSH truth --id $LAB --scan connect --silent | sort >"$work/ctruth"
	python3 -c 'import ipaddress, sys
n = ipaddress.ip_network(sys.argv[1])
sys.stdout.writelines(l for l in sys.stdin if ipaddress.ip_address(l.split()[0]) in n)' "$CNNET" <"$work/ctruth" >"$work/ctruth.nmap"
	awk '$3=="open"{print $1, $2}' "$work/ctruth" | sort >"$work/ctruth.open"
	copen=$(wc -l <"$work/ctruth.open")
	# The tools run as nobody, from copies nobody can read, into a
	# directory nobody can write.
	cdir=$work/connect
	mkdir -p "$cdir"
	chmod 755 "$work"
	chmod 777 "$cdir"
	cp "$SYN" "$RUSTSCAN" "$cdir/"
	chmod 755 "$cdir/synsweep" "$cdir/rustscan"
	NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
	# RustScan has no interface option: it goes where the routes say, so
	# the block must route to the lab's veth and nowhere else.
	if ! ip route get "${BLOCK%/*}" | grep -q "dev $IF "; then
		echo "bench/run.sh: $BLOCK does not route to $IF; not running RustScan" >&2
		exit 1
	fi
	crun() { # TOOL RUN: prints "wall_s correct_of_truth open_found false"
		local tool=$1 out=$cdir/c.$1.$2
		rm -f "$out"
		case $tool in
		synsweep)
			/usr/bin/time -f "%e" -o "$out.time" "${NOBODY[@]}" "$cdir/synsweep" --connect --interface "$IF" "$BLOCK" -p "$CPORTS" \
				--rate max --show all --format csv -o "$out" 2>"$out.err" >/dev/null || true
			awk -F, 'NR>1{print $1, $2, $4, $5}' "$out" | sort >"$out.r"
			all=$work/ctruth
			;;
		rustscan)
			/usr/bin/time -f "%e" -o "$out.time" "${NOBODY[@]}" "$cdir/rustscan" -n --no-banner -a "$BLOCK" -p "$CPORTS" \
				-b "$RS_BATCH" -t "$RS_TIMEOUT" --ulimit "$RS_ULIMIT" -g >"$out" 2>"$out.err" || true
			# "IP -> [p,p]": open ports only
			sed 's/ -> \[/ /; s/\]//' "$out" | awk '{n=split($2,p,","); for(i=1;i<=n;i++) print $1, p[i], "open", "syn-ack"}' | sort >"$out.r"
			all=$work/ctruth
			;;
		nmap)
			/usr/bin/time -f "%e" -o "$out.time" "${NOBODY[@]}" nmap -sT -Pn -n --reason -e "$IF" -T4 -p "$CPORTS" -oX "$out" "$CNNET" \
				>/dev/null 2>"$out.err" || true
			python3 - "$out" <<'PY' | sort >"$out.r"
import sys, xml.etree.ElementTree as ET
for h in ET.parse(sys.argv[1]).getroot().iter("host"):
    a = h.find("address").get("addr")
    for p in h.iter("port"):
        s = p.find("state")
        print(a, p.get("portid"), s.get("state"), s.get("reason"))
PY
			all=$work/ctruth.nmap
			;;
		esac
		local correct opens false
		correct=$(comm -12 "$all" "$out.r" | wc -l)
		opens=$(awk '$3=="open"' "$out.r" | awk '{print $1, $2}' | sort | comm -12 - "$work/ctruth.open" | wc -l)
		false=$(comm -13 "$all" "$out.r" | wc -l)
		echo "$(cat "$out.time" | tail -1) $correct $opens $false"
	}
	RS_BATCH=4500 RS_TIMEOUT=1500 RS_ULIMIT=5000
	declare -A cres
	for tool in synsweep rustscan rustscan-wide nmap; do
		walls="" corrects="" opens_="" falses=""
		for n in $(seq "$runs"); do
			case $tool in
			rustscan) RS_BATCH=4500 RS_ULIMIT=5000; r=$(crun rustscan "$n") ;;
			rustscan-wide) RS_BATCH=15000 RS_ULIMIT=20000; r=$(crun rustscan "w$n") ;;
			*) r=$(crun "$tool" "$n") ;;
			esac
			read -r w c o f <<<"$r"
			walls="$walls $w" corrects="$corrects $c" opens_="$opens_ $o" falses="$falses $f"
		done
		echo "  connect $tool: wall s$walls; correct$corrects; open found$opens_; false$falses" >&2
		cres[$tool]="$(echo "$walls" | tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}') $(echo "$corrects" | tr ' ' '\n' | grep . | sort -n | head -1) $(echo "$opens_" | tr ' ' '\n' | grep . | sort -n | head -1) $(echo "$falses" | tr ' ' '\n' | grep . | sort -n | tail -1)"
	done
	ntr=$(wc -l <"$work/ctruth")
	nntr=$(wc -l <"$work/ctruth.nmap")
	nnopen=$(awk '$3=="open"' "$work/ctruth.nmap" | wc -l)
	log "## Connect mode: $BLOCK x $nports ports ($nconn connects; $copen open, $ntr results in the truth), unprivileged"
	log "all three as nobody (setpriv, no capabilities); connects/s = connects / wall time of the whole run"
	log "(start to exit, timeouts of the silent ports included); correct = (ip, port, state, reason) lines equal"
	log "to \`lab.sh truth --scan connect --silent\` (RustScan reports open ports only: its line is open ports);"
	log "false = lines the truth does not have; worst of $runs runs for correct/false, median wall time."
	log '```'
	log "synsweep --connect --interface $IF $BLOCK -p $CPORTS --rate max --show all --format csv -o FILE"
	log "rustscan -n --no-banner -a $BLOCK -p $CPORTS -b 4500 -t 1500 --ulimit 5000 -g     (its defaults: batch 4500, timeout 1500 ms)"
	log "rustscan -n --no-banner -a $BLOCK -p $CPORTS -b 15000 -t 1500 --ulimit 20000 -g   (batch raised to the open-file limit)"
	log "nmap -sT -Pn -n --reason -e $IF -T4 -p $CPORTS -oX FILE $CNNET"
	log '```'
	log "| tool | connects | wall | connects/s | correct / truth | open found / truth | false | synsweep's speed / tool's |"
	log "|---|---|---|---|---|---|---|---|"
	read -r sw _ _ _ <<<"${cres[synsweep]}"
	srate=$(awk -v n="$nconn" -v w="$sw" 'BEGIN{ if (w>0) printf "%.0f", n/w; else print 0 }')
	for tool in synsweep rustscan rustscan-wide nmap; do
		read -r w c o f <<<"${cres[$tool]}"
		n=$nconn tr_=$ntr op=$copen
		if [[ $tool == nmap ]]; then n=$nntr tr_=$nntr op=$nnopen; fi
		if [[ $tool == rustscan* ]]; then tr_=$copen; fi
		rate=$(awk -v n="$n" -v w="$w" 'BEGIN{ if (w>0) printf "%.0f", n/w; else print 0 }')
		log "| $tool | $n | $w s | $rate | $c / $tr_ | $o / $op | $f | $(ratio "$srate" "$rate") |"
	done
	log ""
	log "(nmap scanned $CNNET only: $nntr connects, $nnopen open; its connects/s compare, its wall time is for that sample)"
	log "(synsweep's last summary: $(grep -E '^(sent|found|rtt)' "$cdir/c.synsweep.$runs.err" | tr '\n' ';'))"
	log ""
fi
# The banner sections need the lab's real daemons: rebuild it with --services
# (every host of the block then serves LAB_SERVICE_PORTS).
if want banners || want sessions; then
	$LABSH down --id $LAB >/dev/null
	$LABSH up --id $LAB --services >/dev/null
	eval "$($LABSH info --id $LAB)"
	MAC=$LAB_GATEWAY_MAC
fi

# ns_start PIDFILE CMD...: CMD in the lab namespace, in the background; its
# own pid (ip netns exec forks, and passes no signal on) into PIDFILE and
# bg_pids
ns_start() {
	local pidfile=$1; shift
	rm -f "$pidfile"
	ip netns exec "$LAB_NS" sh -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" &
	for _ in $(seq 100); do [[ -s $pidfile ]] && break; sleep 0.02; done
	bg_pids="$bg_pids $(cat "$pidfile")"
}
# capture_start FILE: the TCP headers on the namespace's end of the veth
# (lab0) into FILE; tcpdump only listens. The host end would not do: the
# scanners' packet sockets bypass the taps there (PACKET_QDISC_BYPASS), so
# their SYNs are seen only where they arrive. Sets cap_pid.
capture_start() {
	rm -f "$1" "$1.err"
	ns_start "$work/cap.pid" tcpdump -i lab0 -n -s 96 -B 32768 -U -w "$1" tcp 2>"$1.err"
	cap_pid=$(cat "$work/cap.pid")
	for _ in $(seq 100); do grep -q 'listening on' "$1.err" 2>/dev/null && break; sleep 0.05; done
}
capture_stop() {
	sleep 0.2
	kill -INT "$cap_pid" 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$cap_pid" 2>/dev/null || break; sleep 0.05; done
}
# wire_stats PCAP SRC NET: "window_s wire_banners". The window runs from the
# first SYN that SRC sent to the last segment with payload that a host of NET
# sent to SRC; wire_banners is the distinct (ip, port) of NET that sent SRC at
# least one byte. The same for every tool, whatever it writes itself.
wire_stats() {
	local first
	first=$(tcpdump -r "$1" -n -tt "src host $2 and tcp[tcpflags] == tcp-syn" 2>/dev/null | awk 'NR==1{print $1; exit}')
	tcpdump -r "$1" -n -tt -q "src net $3 and dst host $2 and (ip[2:2] - ((ip[0]&0xf)<<2) - ((tcp[12]&0xf0)>>2)) > 0" 2>/dev/null |
		awk -v t0="${first:-0}" '{ last=$1; seen[$3]=1 } END{ n=0; for (k in seen) n++;
			if (t0>0 && last>0) printf "%.3f %d\n", last-t0, n; else print "0 0" }'
}
# in_net NET: the lines of stdin whose first field is an address of NET
in_net() {
	local lo hi
	read -r lo hi < <(python3 -c 'import ipaddress,sys; n=ipaddress.ip_network(sys.argv[1]); print(int(n[0]), int(n[-1]))' "$1")
	awk -v lo="$lo" -v hi="$hi" '{ split($1, p, "."); a=((p[1]*256+p[2])*256+p[3])*256+p[4]; if (a>=lo && a<=hi) print }'
}

if want banners; then
	# The first 256 hosts of the block x the 10 service ports, for every tool.
	BNET=${BANNER_NET:-${BLOCK%/*}/24}
	BPORTS=$LAB_SERVICE_PORTS
	BRATE=20000
	nprobes=$(($(python3 -c 'import ipaddress,sys; print(ipaddress.ip_network(sys.argv[1]).num_addresses)' "$BNET") * $(echo "$BPORTS" | tr ',' '\n' | wc -l)))
	$LABSH truth --id $LAB --services --banners | in_net "$BNET" >"$work/btruth"
	topen=$(wc -l <"$work/btruth")
	# nmap -sV takes minutes for 256 hosts (~5 s a host-port group): it
	# scans the first 32 of them, and its figures are per that sample
	# (banners/s is a rate, so it compares; its time for all 256 hosts is
	# extrapolated, x hosts, and said so).
	NNET=${NMAP_NET:-${BNET%/*}/27}
	in_net "$NNET" <"$work/btruth" >"$work/btruth.nmap"
	nopen=$(wc -l <"$work/btruth.nmap")
	nscale=$(python3 -c 'import ipaddress,sys; print(ipaddress.ip_network(sys.argv[1]).num_addresses / ipaddress.ip_network(sys.argv[2]).num_addresses)' "$BNET" "$NNET")
	# masscan speaks TCP itself from an address the host kernel does not own
	# (else the kernel resets its connections) and answers ARP for it. An
	# address of the lab's on-link LAN /24 that nobody holds: the namespace
	# reaches it through lab0 (connected route) and ARPs for it, so no route
	# is added. A MAC of its own keeps the host kernel from taking the
	# answers (PACKET_OTHERHOST).
	MSRC=${LAB_LAN%.*}.77
	MMAC=02:73:73:77:$(printf %02x "$LAB"):77
	log "## Banners: $BNET x ports $BPORTS ($nprobes probes, $topen open in the truth), real daemons"
	log "window: first SYN the tool sends to the last server segment with payload it gets (tcpdump on lab0, the namespace end of $IF);"
	log "banners: (ip, port) the tool reports bytes from (synsweep: its stderr's \"with bytes from the server\";"
	log "masscan: distinct (ip, port) of -oL banner lines; nmap: open ports with a probed <service>);"
	log "banners/s = banners / window; completeness = banners / open ports in the truth"
	log ""
	brun() { # TOOL RUN: prints "window wire reported wall"
		local tool=$1 n=$2 pcap=$work/b.pcap out src rep t0 t1
		out=$work/b.$tool.$n
		capture_start "$pcap"
		t0=$(date +%s.%N)
		case $tool in
		synsweep)
			src=$LAB_SOURCE_IP
			timeout -k 3 120 $SYN "$BNET" -p "$BPORTS" --banners --rate $BRATE --interface "$IF" --router-mac "$MAC" \
				-o "$out.list" 2>"$out.err" >/dev/null || true
			rep=$(sed -n 's/^banners *[0-9]* sessions, \([0-9]*\) with bytes.*/\1/p' "$out.err" | tail -1)
			;;
		masscan)
			src=$MSRC
			timeout -s INT -k 3 120 masscan "$BNET" -p "$BPORTS" --banners --rate $BRATE --wait 10 \
				--adapter "$IF" --router-mac "$MAC" --source-ip "$MSRC" --adapter-mac "$MMAC" \
				-oL "$out.list" >/dev/null 2>&1 || true
			rep=$(awk '$1=="banner"{print $4, $3}' "$out.list" | sort -u | wc -l)
			;;
		nmap)
			src=$LAB_SOURCE_IP
			timeout -k 3 1800 nmap -sV --version-light -Pn -n -e "$IF" -p "$BPORTS" -oX "$out.xml" "$NNET" >/dev/null 2>&1 || true
			rep=$(python3 - "$out.xml" "$work/btruth.nmap" <<'EOF'
import sys, xml.etree.ElementTree as ET
truth = {}
for line in open(sys.argv[2]):
    f = line.split(None, 3)
    truth[(f[0], f[1])] = (f[2], f[3].strip() if len(f) > 3 else "")
probed = name_ok = prod_ok = 0
for host in ET.parse(sys.argv[1]).getroot().iter("host"):
    ip = host.find("address").get("addr")
    for port in host.iter("port"):
        st, sv = port.find("state"), port.find("service")
        if st is None or st.get("state") != "open" or sv is None or sv.get("method") != "probed":
            continue
        probed += 1
        want = truth.get((ip, port.get("portid")))
        if want and sv.get("name") == want[0]:
            name_ok += 1
        if want and sv.get("product", "") == want[1]:
            prod_ok += 1
print(probed, name_ok, prod_ok)
EOF
)
			echo "$rep" >"$out.match"
			rep=${rep%% *}
			;;
		esac
		t1=$(date +%s.%N)
		capture_stop
		echo "$(wire_stats "$pcap" "$src" "$BLOCK") ${rep:-0} $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')"
	}
	declare -A bcol
	for n in $(seq "$runs"); do
		for tool in synsweep masscan nmap; do
			# not in a subshell: the capture's pid must reach cleanup()
			brun $tool "$n" >"$work/brun.out"
			read -r w wb rp wall <"$work/brun.out"
			bps=$(awk -v b="$rp" -v w="$w" 'BEGIN{ if (w>0) printf "%.2f", b/w; else print 0 }')
			echo "  $tool run $n: window ${w}s, wall ${wall}s, banners $rp (on the wire $wb), $bps banners/s" >&2
			bcol[$tool.w]+=" $(awk -v w="$w" 'BEGIN{printf "%.0f", w*1000}')"
			bcol[$tool.wall]+=" $(awk -v w="$wall" 'BEGIN{printf "%.0f", w*1000}')"
			bcol[$tool.rep]+=" $rp"
			bcol[$tool.wire]+=" $wb"
			bcol[$tool.bps]+=" $bps"
		done
	done
	med() { echo "${bcol[$1]}" | tr ' ' '\n' | grep . | median; }
	declare -A bps_of
	for tool in synsweep masscan nmap; do bps_of[$tool]=$(med $tool.bps); done
	log "| tool | hosts | window | wall | banners | completeness | bytes seen on the wire from | banners/s | synsweep's banners/s over it |"
	log "|---|---|---|---|---|---|---|---|---|"
	for tool in synsweep masscan nmap; do
		rp=$(med $tool.rep)
		net=$BNET to=$topen
		[[ $tool == nmap ]] && net=$NNET to=$nopen
		log "| $tool | $net | $(awk -v m="$(med $tool.w)" 'BEGIN{printf "%.2f s", m/1000}') | $(awk -v m="$(med $tool.wall)" 'BEGIN{printf "%.1f s", m/1000}') | $rp / $to | $(awk -v a="$rp" -v b="$to" 'BEGIN{printf "%.1f%%", 100*a/b}') | $(med $tool.wire) | ${bps_of[$tool]} | $(ratio "${bps_of[synsweep]}" "${bps_of[$tool]}") |"
	done
	log ""
	log "nmap scanned $NNET only; its window for all of $BNET, extrapolated x$nscale at its measured rate: $(awk -v m="$(med nmap.w)" -v k="$nscale" 'BEGIN{printf "%.0f s", m*k/1000}')"
	log ""
	log "medians of $runs interleaved runs (each tool once, then again); per run:"
	for tool in synsweep masscan nmap; do
		log "- $tool: window ms${bcol[$tool.w]}; banners${bcol[$tool.rep]}; banners/s${bcol[$tool.bps]}"
	done
	log ""
	log "commands (rate $BRATE pps for the two that take one):"
	log '```'
	log "synsweep $BNET -p $BPORTS --banners --rate $BRATE --interface $IF --router-mac $MAC -o FILE"
	log "masscan $BNET -p $BPORTS --banners --rate $BRATE --wait 10 --adapter $IF --router-mac $MAC --source-ip $MSRC --adapter-mac $MMAC -oL FILE"
	log "nmap -sV --version-light -Pn -n -e $IF -p $BPORTS -oX FILE $NNET"
	log '```'
	log "by port, last run: banners reported (masscan -oL banner lines, nmap probed services) / open in the truth"
	log "| port | truth, $BNET | masscan | truth, $NNET | nmap |"
	log "|---|---|---|---|---|"
	for p in ${BPORTS//,/ }; do
		t=$(awk -v p="$p" '$2==p' "$work/btruth" | wc -l)
		tn=$(awk -v p="$p" '$2==p' "$work/btruth.nmap" | wc -l)
		m=$(awk -v p="$p" '$1=="banner" && $3==p {print $4}' "$work/b.masscan.$runs.list" 2>/dev/null | sort -u | wc -l)
		x=$(python3 -c 'import sys, xml.etree.ElementTree as ET
print(sum(1 for q in ET.parse(sys.argv[1]).getroot().iter("port") if q.get("portid")==sys.argv[2] and q.find("state").get("state")=="open" and q.find("service") is not None and q.find("service").get("method")=="probed"))' "$work/b.nmap.$runs.xml" "$p" 2>/dev/null || echo "?")
		log "| $p | $t | $m | $tn | $x |"
	done
	read -r _ nok pok <"$work/b.nmap.$runs.match" || true
	log ""
	log "nmap's names equal to the truth: ${nok:-?}, products: ${pok:-?} (last run)"
	log "synsweep's last banner line: $(grep '^banners' "$work/b.synsweep.$runs.err" | tail -1)"
	log ""
fi

if want sessions; then
	# Servers that answer the handshake and then never say a word: the
	# listener holds 27 ports nobody else serves in the lab, so every probe
	# to them draws a SYN-ACK and the session stays open until
	# --banner-timeout (the server is given --hello-wait 60 > 30 to speak
	# first, so synsweep never speaks). tcp_syncookies=2: the namespace
	# answers every SYN with a cookie, whatever its queues hold.
	SPORT0=20001 SPORT1=20027
	nports=$((SPORT1 - SPORT0 + 1))
	SRATE=100000
	old_syncookies=$(ip netns exec "$LAB_NS" sysctl -n net.ipv4.tcp_syncookies)
	ip netns exec "$LAB_NS" sysctl -qw net.ipv4.tcp_syncookies=2 net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535
	listen_start() {
		: >"$work/listen.out"
		ns_start "$work/listen.pid" python3 "$ROOT/bench/silent_listener.py" $SPORT0 $SPORT1 65535 >"$work/listen.out" 2>&1
		lpid=$(cat "$work/listen.pid")
		for _ in $(seq 100); do grep -q ready "$work/listen.out" && return 0; sleep 0.05; done
		echo "bench/run.sh: silent listener did not start: $(cat "$work/listen.out")" >&2
		return 1
	}
	# a fresh listener per run: no handshake of an earlier run waits in its
	# accept queues
	listen_stop() {
		kill "$lpid" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 "$lpid" 2>/dev/null || break; sleep 0.05; done
	}
	srun() { # NET banners|plain: prints "peak_rss_kib open_at_most wall_s"
		local extra=""
		[[ $2 == banners ]] && extra="--banners --hello-wait 60 --banner-timeout 30 --max-sessions 1048576"
		listen_start
		# shellcheck disable=SC2086 # the options' words
		/usr/bin/time -f "%M %e" -o "$work/s.time" timeout -k 3 120 $SYN "$1" -p $SPORT0-$SPORT1 $extra \
			--rate $SRATE --wait 2 --interface "$IF" --router-mac "$MAC" -o /dev/null 2>"$work/s.$2.err" >/dev/null || true
		listen_stop
		local om
		om=$(sed -n 's/.* \([0-9]*\) open at most.*/\1/p' "$work/s.$2.err" | tail -1)
		echo "$(tail -1 "$work/s.time" | awk '{print $1}') ${om:-0} $(tail -1 "$work/s.time" | awk '{print $2}')"
	}
	log "## Banner sessions: peak RSS with 10^4 to 10^5 sessions open at once (silent servers)"
	log "hosts x ports $SPORT0-$SPORT1 of the block, where bench/silent_listener.py in the namespace"
	log "completes every handshake and never speaks; $SRATE pps, so every SYN-ACK arrives within the"
	log "banner timeout; the same scan without --banners is the baseline. Peak RSS is /usr/bin/time's"
	log "maximum resident set size of synsweep; \"open at most\" is from its stderr banner line."
	log '```'
	log "synsweep NET -p $SPORT0-$SPORT1 --banners --hello-wait 60 --banner-timeout 30 --max-sessions 1048576 --rate $SRATE --wait 2 --interface $IF --router-mac $MAC -o /dev/null"
	log "synsweep NET -p $SPORT0-$SPORT1 --rate $SRATE --wait 2 --interface $IF --router-mac $MAC -o /dev/null"
	log '```'
	log "| hosts | probes | open at most | peak RSS, --banners | peak RSS, plain | difference | bytes per open session |"
	log "|---|---|---|---|---|---|---|"
	declare -A sres
	snets=("${BLOCK%/*}/23" "${BLOCK%/*}/21" "$BLOCK")
	for net in "${snets[@]}"; do
		rb="" rp="" ob=""
		for _ in $(seq "$runs"); do
			# not in a subshell: the listener's pid must reach cleanup()
			srun "$net" banners >"$work/srun.out"
			read -r kib om _ <"$work/srun.out"
			rb="$rb $kib"; ob="$ob $om"
			srun "$net" plain >"$work/srun.out"
			read -r kib _ _ <"$work/srun.out"
			rp="$rp $kib"
		done
		echo "  sessions $net: banners RSS KiB$rb, open at most$ob; plain RSS KiB$rp" >&2
		mb=$(echo "$rb" | tr ' ' '\n' | grep . | median)
		mp=$(echo "$rp" | tr ' ' '\n' | grep . | median)
		mo=$(echo "$ob" | tr ' ' '\n' | grep . | median)
		sres[$net]="$mb $mp $mo"
		hosts=$(python3 -c 'import ipaddress,sys; print(ipaddress.ip_network(sys.argv[1]).num_addresses)' "$net")
		log "| $net ($hosts) | $((hosts * nports)) | $mo | $((mb / 1024)) MiB | $((mp / 1024)) MiB | $(((mb - mp) / 1024)) MiB | $(awk -v b="$mb" -v p="$mp" -v o="$mo" 'BEGIN{ if (o>0) printf "%.0f", (b-p)*1024/o; else print "n/a" }') |"
	done
	log ""
	read -r b1 _ o1 <<<"${sres[${snets[0]}]}"
	read -r b3 _ o3 <<<"${sres[${snets[2]}]}"
	slope=$(awk -v b1="$b1" -v b3="$b3" -v o1="$o1" -v o3="$o3" 'BEGIN{ if (o3>o1) printf "%.0f", (b3-b1)*1024/(o3-o1); else print 0 }')
	log "marginal bytes per open session (the --banners RSS between the smallest and the largest run, over"
	log "the sessions between them; the fixed cost of banner mode cancels out): $slope"
	log "upper bound at the table's capacity: 2^20 sessions x $slope B = $(awk -v s="$slope" 'BEGIN{printf "%.0f MiB", s*1048576/1048576}')"
	log "(runs: medians of $runs; the listener restarted for every run; synsweep's last banner line: $(grep '^banners' "$work/s.banners.err" | tail -1))"
	log ""
	ip netns exec "$LAB_NS" sysctl -qw net.ipv4.tcp_syncookies="$old_syncookies"
fi
log "(written to $report)"
