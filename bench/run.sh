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
only=ceiling,tx,types,loop,cpu,profile,mem
while [[ $# -gt 0 ]]; do
	case "$1" in
	--runs) runs=$2; shift 2 ;;
	--only) only=$2; shift 2 ;;
	*) echo "usage: bench/run.sh [--runs N] [--only ceiling,tx,types,loop,cpu,profile,mem]" >&2; exit 2 ;;
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
trap '$LABSH down --id $LAB >/dev/null; rm -rf "$work"' EXIT
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
log "(written to $report)"
