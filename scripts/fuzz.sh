#!/usr/bin/env bash
# fuzz.sh - fuzz synsweep's parsers with cargo-fuzz (libFuzzer), each target
# for a bounded time, one after the other (one fuzzing job at a time).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS per target, default 60. TARGETs: reply grammar conffile checkpoint
# (default: all four). docs/fuzzing.md says what each one asserts.
#
# Before fuzzing it seeds each target's corpus (scripts/fuzz/corpus/TARGET):
#   reply       as root (or through sudo): brings up lab 7 (the addresses
#               the reply target validates against), captures its interface with tcpdump while synsweep scans both
#               of its blocks, and writes the frames, one file each; the lab
#               is always taken down again. Always: the frames
#               scripts/fuzz/make_reply_seeds.py builds (UDP answers, echo
#               and timestamp replies, ARP replies... that a SYN scan of the
#               lab does not draw)
#   conffile    --echo output and argument vectors of lab-like scans
#   checkpoint  checkpoints the scanner itself wrote (offline scans, and a
#               lab scan, interrupted)
#   grammar     target tokens of both families, port lists
# The committed seeds in scripts/fuzz/seeds/TARGET are always used too.
#
# Environment:
#   FUZZ_LAB=0             skip the lab capture (it needs root)
#   FUZZ_SANITIZER=NAME    cargo fuzz --sanitizer (default none: the code
#                          fuzzed is safe Rust; `address` for ASan)
#   FUZZ_SEEDS=refresh     replace scripts/fuzz/seeds/TARGET by this run's
#                          fresh seeds, to commit: for reply, one captured
#                          frame of each kind plus those of the rest that
#                          add coverage (a libFuzzer merge), and the built
#                          frames (made-*); for the others, all the
#                          generated ones. Files named regress-* (inputs
#                          that once found a bug) are kept.
#   FUZZ_ARGS="..."        extra libFuzzer flags (e.g. -jobs is NOT advised:
#                          the machine is shared)
#
# Prints, per target, the executions done, exec/s, the corpus size and any
# crash (artifacts in scripts/fuzz/artifacts/TARGET). Exits 1 if any target
# crashed, panicked or timed out. Not part of CI: scripts/test.sh never
# calls it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PATH=$PATH:/usr/sbin:/sbin:$HOME/.cargo/bin
# shellcheck source=scripts/common.sh
source scripts/common.sh

ALL_TARGETS=(reply grammar conffile checkpoint)
FUZZ_DIR=scripts/fuzz
WORK=$FUZZ_DIR/work
# fuzz_targets/reply.rs validates replies to lab 7's source addresses.
LAB_ID_USED=7
SANITIZER=${FUZZ_SANITIZER:-none}

die() {
	echo "fuzz.sh: $*" >&2
	exit 1
}
say() { echo "fuzz.sh: $*" >&2; }

seconds=60
if (($# > 0)) && [[ $1 =~ ^[0-9]+$ ]]; then
	seconds=$1
	shift
fi
((seconds > 0)) || die "SECONDS must be at least 1"
targets=("$@")
((${#targets[@]} > 0)) || targets=("${ALL_TARGETS[@]}")
for t in "${targets[@]}"; do
	[[ " ${ALL_TARGETS[*]} " == *" $t "* ]] ||
		die "unknown target '$t' (usage: fuzz.sh [SECONDS] [${ALL_TARGETS[*]}])"
done

# --- tools ---------------------------------------------------------------

cargo +nightly --version >/dev/null 2>&1 ||
	die "the nightly toolchain is missing: rustup toolchain install nightly --profile minimal"
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
	say "installing cargo-fuzz from crates.io"
	cargo install cargo-fuzz --locked
fi
say "$(cargo +nightly fuzz --version)"
# --fuzz-dir arrived in cargo-fuzz 0.11; older ones look for ./fuzz, which
# is what scripts/fuzz is from scripts/.
fuzz() {
	local cmd=$1
	shift
	if cargo +nightly fuzz "$cmd" --help 2>/dev/null | grep -q -- '--fuzz-dir'; then
		cargo +nightly fuzz "$cmd" --fuzz-dir "$FUZZ_DIR" "$@"
	else
		(cd scripts && cargo +nightly fuzz "$cmd" "$@")
	fi
}
BUILD_FLAGS=(--sanitizer "$SANITIZER" --debug-assertions)

say "building synsweep (release) and the fuzz targets"
cargo build --release --quiet
fuzz build "${BUILD_FLAGS[@]}" >/dev/null 2>"$ROOT/$FUZZ_DIR/build.log" ||
	{
		tail -30 "$FUZZ_DIR/build.log" >&2
		die "building the fuzz targets failed (full log: $FUZZ_DIR/build.log)"
	}
rm -f "$FUZZ_DIR/build.log"
SYNSWEEP=$ROOT/target/release/synsweep

mkdir -p "$WORK"
for t in "${ALL_TARGETS[@]}"; do
	mkdir -p "$FUZZ_DIR/corpus/$t" "$FUZZ_DIR/seeds/$t" "$WORK/fresh/$t"
	rm -f "$WORK/fresh/$t"/*
done

# seed TARGET NAME: standard input becomes a fresh seed of TARGET.
seed() {
	cat >"$WORK/fresh/$1/$2"
}

# --- lab capture (reply; and a checkpoint of a real lab scan) ---------------

eval "$(bash scripts/lab.sh info --id "$LAB_ID_USED")"
lab_up=0
captured=0
tcpdump_pid=
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	if [[ -n $tcpdump_pid ]]; then
		as_root kill -INT "$tcpdump_pid" 2>/dev/null || true
		wait "$tcpdump_pid" 2>/dev/null || true
		tcpdump_pid=
	fi
	if ((lab_up)); then
		as_root bash scripts/lab.sh down --id "$LAB_ID_USED" || true
		lab_up=0
	fi
	rm -rf /tmp/synsweep-fuzz-conf-*
}
trap cleanup EXIT
trap 'exit 130' INT TERM

capture_lab() {
	local need=() c
	for c in ip:iproute2 nft:nftables tcpdump:tcpdump; do
		command -v "${c%%:*}" >/dev/null || need+=("${c##*:}")
	done
	if ((${#need[@]})); then
		say "installing ${need[*]}"
		as_root apt-get update -qq
		as_root apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	fi
	say "lab $LAB_ID_USED up: capturing $LAB_IFACE during a scan of $LAB_BLOCK and $LAB_BLOCK6"
	lab_up=1
	as_root bash scripts/lab.sh up --id "$LAB_ID_USED"
	local pcap=$WORK/lab.pcap
	rm -f "$pcap" "$WORK/tcpdump.err"
	# -Z root: tcpdump keeps the privileges it needs to write into $WORK.
	# Started directly (or through sudo, which passes signals on), so that
	# $! is the process to stop.
	local sudo=()
	[[ $(id -u) -eq 0 ]] || sudo=(sudo)
	"${sudo[@]}" tcpdump -i "$LAB_IFACE" -n -s 0 -B 16384 -U -Z root -w "$pcap" \
		2>"$WORK/tcpdump.err" &
	tcpdump_pid=$!
	for _ in $(seq 50); do
		grep -q 'listening on' "$WORK/tcpdump.err" 2>/dev/null && break
		sleep 0.1
	done
	grep -q 'listening on' "$WORK/tcpdump.err" || die "tcpdump did not start: $(cat "$WORK/tcpdump.err")"
	as_root "$SYNSWEEP" "$LAB_BLOCK" "$LAB_BLOCK6" -p "$LAB_PORTS" --interface "$LAB_IFACE" \
		--rate 20000 --wait 1 --show all -o /dev/null --no-checkpoint 2>"$WORK/scan.err" ||
		{
			cat "$WORK/scan.err" >&2
			die "the lab scan failed"
		}
	sed 's/^/  /' "$WORK/scan.err" >&2
	sleep 0.5
	as_root kill -INT "$tcpdump_pid"
	wait "$tcpdump_pid" || true
	tcpdump_pid=
	sed -n 's/^/  tcpdump: /p' "$WORK/tcpdump.err" | grep -v 'listening on' >&2 || true
	python3 "$FUZZ_DIR/pcap_to_corpus.py" "$pcap" "$WORK/fresh/reply"
	captured=1

	# A checkpoint of the same scan, interrupted half-way: real counts.
	local d
	d=$(mktemp -d)
	# (Run in $d: the saved file names are then the same on every run.)
	(cd "$d" && as_root timeout -s INT 4 "$SYNSWEEP" "$LAB_BLOCK" "$LAB_BLOCK6" \
		-p "$LAB_PORTS" --interface "$LAB_IFACE" --rate 10000 --wait 1 --show all --seed 7 \
		-o lab.txt --checkpoint lab.checkpoint --checkpoint-interval 0.2 \
		>/dev/null 2>&1) || true
	if [[ -s $d/lab.checkpoint ]]; then
		seed checkpoint lab-interrupted <"$d/lab.checkpoint"
	else
		say "no checkpoint from the interrupted lab scan"
	fi
	rm -rf "$d"
	as_root bash scripts/lab.sh down --id "$LAB_ID_USED"
	lab_up=0
}

if [[ " ${targets[*]} " == *" reply "* || " ${targets[*]} " == *" checkpoint "* ]]; then
	if [[ ${FUZZ_LAB:-1} == 0 ]]; then
		say "FUZZ_LAB=0: no lab capture; the reply target starts from its committed seeds"
	elif ! can_be_root; then
		say "neither root nor sudo: no lab capture; the reply target starts from its committed seeds"
	else
		capture_lab
	fi
fi

# --- generated seeds ------------------------------------------------------

# reply: frames of the kinds the other probe modules draw (no root needed).
python3 "$FUZZ_DIR/make_reply_seeds.py" "$WORK/fresh/reply"

# grammar: the lab's own tokens, every form of both families, port lists,
# and three-line (targets, excludes, ports) probe spaces, TCP and UDP.
{
	i=0
	for tok in "$LAB_BLOCK" "$LAB_BLOCK6" "$LAB_SOURCE_IP" "$LAB_SOURCE_IP6" "$LAB_GATEWAY6" \
		"$LAB_SILENT_BLOCK" "$LAB_SILENT_BLOCK6" "$LAB_PORTS" "T:80,t:443,8000-8100" \
		"198.18.112.1-198.18.112.20" "2001:2:0:700::1000-2001:2:0:700::10ff" \
		"0.0.0.0/0" "::/0" "::ffff:198.18.0.1" "$LAB_BLOCK, $LAB_BLOCK6,198.18.0.7" \
		"$LAB_BLOCK6"$'\n'"2001:2:0:700::1800/117"$'\n'"$LAB_OPEN_PORTS" \
		"$LAB_BLOCK,$LAB_SILENT_BLOCK"$'\n'"198.18.112.0/24"$'\n'"1-1024" \
		"10.0.0.0/8"$'\n'$'\n'"0-65535" \
		"$LAB_BLOCK"$'\n'$'\n'"T:$LAB_OPEN_PORTS,U:53,69,123,161"; do
		i=$((i + 1))
		printf '%s' "$tok" | seed grammar "token-$i"
	done
}

# conffile: ARGS (one per line) [blank line, CONFIG FILE TEXT]. Paths stay
# relative: the target skips inputs that could name files outside its own
# directory.
{
	lab_args=("$LAB_BLOCK" "$LAB_BLOCK6" -p "$LAB_PORTS" --interface "$LAB_IFACE" --rate 20000
		--wait 1 --show all -o lab.txt --no-checkpoint --seed 7)
	printf '%s\n' "${lab_args[@]}" | seed conffile args-lab
	"$SYNSWEEP" "${lab_args[@]}" --echo >"$WORK/lab.conf"
	{
		printf '\n\n'
		cat "$WORK/lab.conf"
	} | seed conffile conf-lab
	# Resume the configuration the file makes: alone, and with options.
	{
		printf -- '--resume\nfuzz.checkpoint\n\n'
		cat "$WORK/lab.conf"
	} | seed conffile resume-lab
	{
		printf -- '--resume\nfuzz.checkpoint\n--rate\n5000\n--echo\n\n'
		cat "$WORK/lab.conf"
	} | seed conffile resume-lab-echo
	{
		printf -- '-c\nfuzz.conf\n--resume\nfuzz.checkpoint\n--no-checkpoint\n\n'
		cat "$WORK/lab.conf"
	} | seed conffile resume-lab-with-conf
	# Command line over a file, masscan spellings, every format.
	n=0
	for extra in "--rate|max|--seed|7|--shard|2/3" "-oX|scan.xml|--open-only" \
		"-oJ|scan.json|--source-ip|$LAB_SOURCE_IP,$LAB_SOURCE_IP6" \
		"-oG|scan.gnmap|--router-mac|02:73:73:77:07:02|--router-mac-ipv6|02:73:73:77:07:03" \
		"--format|csv|-o|scan.csv|--append|--retries|2|--ttl|9" \
		"--exclude|198.18.112.0/24|--no-default-excludes|--source-port|40000-40099" \
		"--offline|--max-probes|1000|--tx-threads|2|--benchmark|--status-json|status.json" \
		"--list-probes|--checkpoint-interval|0.5|--scan|syn"; do
		n=$((n + 1))
		{
			tr '|' '\n' <<<"$extra"
			echo
			cat "$WORK/lab.conf"
		} | seed conffile "conf-args-$n"
	done
	printf 'range = %s\nrange = %s\nports = %s\nseed = 3\nno-default-excludes = yes\nopen-only = false\n# a comment\n--rate = 5000 # trailing\n' \
		"$LAB_BLOCK" "$LAB_BLOCK6" "$LAB_OPEN_PORTS" | { printf '\n\n'; cat; } | seed conffile conf-hand
	printf '%s\n' --help | seed conffile help
}

# checkpoint: what the scanner itself writes when interrupted (offline, so
# no root and no network).
{
	d=$(mktemp -d)
	n=0
	for args in "$LAB_BLOCK $LAB_BLOCK6 -p $LAB_PORTS --seed 7" \
		"$LAB_BLOCK6 -p 22,80 --retries 2 --shard 1/2 --seed 9 --format xml --exclude 2001:2:0:700::1800/117" \
		"$LAB_SILENT_BLOCK -p 1-1024 --source-port 40000-40099 --format ndjson --show all"; do
		# shellcheck disable=SC2086 # word splitting intended
		(cd "$d" && timeout -s INT 2 "$SYNSWEEP" $args --offline --rate 200 -o out.txt \
			--checkpoint cp --checkpoint-interval 0.2 >/dev/null 2>&1) || true
		if [[ -s $d/cp ]]; then
			seed checkpoint "offline-$((n++))" <"$d/cp"
		fi
		rm -f "$d/cp" "$d/out.txt"
	done
	rm -rf "$d"
	((n > 0)) || say "no checkpoint from the offline scans"
}

# The option names, as a libFuzzer dictionary for the conffile target.
"$SYNSWEEP" --help | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u |
	while read -r o; do
		printf '"%s"\n"%s = "\n' "$o" "${o#--}"
	done >"$WORK/conffile.dict"

for t in "${ALL_TARGETS[@]}"; do
	cp -f "$WORK/fresh/$t"/* "$FUZZ_DIR/corpus/$t/" 2>/dev/null || true
done

# --- refresh the committed seeds (optional) -------------------------------

if [[ ${FUZZ_SEEDS:-} == refresh ]]; then
	for t in "${targets[@]}"; do
		dir=$FUZZ_DIR/seeds/$t
		# regress-*: inputs that once broke an invariant; always kept.
		if [[ $t != reply ]]; then
			# Generated by the real code, a score of files each: all of them.
			find "$dir" -type f ! -name 'regress-*' -delete
			cp "$WORK/fresh/$t"/* "$dir/"
		elif ((captured)); then
			# One frame of each kind the lab sent or answered, named by its
			# kind, the built frames, then whatever else of the capture adds
			# coverage.
			find "$dir" -type f ! -name 'regress-*' -delete
			python3 "$FUZZ_DIR/pcap_to_corpus.py" "$WORK/lab.pcap" "$dir" --per-kind 1 \
				--name-by-kind 2>/dev/null
			python3 "$FUZZ_DIR/make_reply_seeds.py" "$dir"
			fuzz run "${BUILD_FLAGS[@]}" reply "$ROOT/$dir" "$ROOT/$WORK/fresh/reply" -- \
				-merge=1 >"$WORK/merge-reply.log" 2>&1 ||
				{
					tail -20 "$WORK/merge-reply.log" >&2
					die "merging the lab frames into $dir failed"
				}
		else
			# The captured frames stay; the built ones are written afresh.
			find "$dir" -type f -name 'made-*' -delete
			python3 "$FUZZ_DIR/make_reply_seeds.py" "$dir"
			say "seeds/reply: captured frames kept (no lab capture in this run to refresh them from)"
		fi
		say "seeds/$t: $(find "$dir" -type f | wc -l) files, $(du -sh --apparent-size "$dir" | cut -f1)"
	done
fi

# --- fuzz -----------------------------------------------------------------

# What was fuzzed: the commit, and whether src/ differs from it. cargo fuzz
# rebuilds before each target, so a change of src/ during the run would
# mean targets ran against different code: that is checked at the end.
src_version() {
	local dirty=
	[[ -z $(git status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null) ]] ||
		dirty=" + uncommitted changes"
	echo "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$dirty"
}
src_digest() {
	find src Cargo.toml Cargo.lock -type f -print0 | sort -z | xargs -0 sha1sum | sha1sum | cut -c1-12
}
version_before=$(src_version)
digest_before=$(src_digest)
say "fuzzing synsweep $version_before (src digest $digest_before)"

declare -A execs rate files added result
failed=0
for t in "${targets[@]}"; do
	log=$WORK/$t.log
	corpus=$ROOT/$FUZZ_DIR/corpus/$t
	before=$(find "$FUZZ_DIR/artifacts/$t" -type f 2>/dev/null | sort || true)
	flags=(-max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048
		-max_len=4096)
	[[ $t != conffile ]] || flags+=(-dict="$ROOT/$WORK/conffile.dict")
	# shellcheck disable=SC2206 # FUZZ_ARGS is a list of flags
	flags+=(${FUZZ_ARGS:-})
	say "$t: ${seconds}s (log: $log)"
	echo "+ cargo +nightly fuzz run --fuzz-dir $FUZZ_DIR ${BUILD_FLAGS[*]} $t $FUZZ_DIR/corpus/$t $FUZZ_DIR/seeds/$t -- ${flags[*]}" >"$log"
	status=0
	fuzz run "${BUILD_FLAGS[@]}" "$t" "$corpus" "$ROOT/$FUZZ_DIR/seeds/$t" -- "${flags[@]}" \
		>>"$log" 2>&1 || status=$?
	final_stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
	execs[$t]=$(final_stat number_of_executed_units)
	rate[$t]=$(final_stat average_exec_per_sec)
	added[$t]=$(final_stat new_units_added)
	files[$t]="$(find "$corpus" -type f | wc -l) files, $(du -sh --apparent-size "$corpus" | cut -f1)"
	after=$(find "$FUZZ_DIR/artifacts/$t" -type f 2>/dev/null | sort || true)
	new_artifacts=$(comm -13 <(echo "$before") <(echo "$after") | sed '/^$/d')
	if ((status == 0)) && [[ -z $new_artifacts ]]; then
		result[$t]="none"
	else
		failed=1
		what=$(grep -m1 -oE "panicked at [^ ]+|ERROR: libFuzzer: [a-z-]+|ALARM: working on the last Unit for [0-9]+ seconds|out-of-memory" "$log" || echo "exit $status")
		result[$t]="FOUND: $what; ${new_artifacts//$'\n'/ }"
		grep -m1 -A3 "panicked at" "$log" >&2 || tail -20 "$log" >&2
	fi
done

echo
printf '%-11s %8s %14s %10s %10s %-22s %s\n' target seconds executions "exec/s" "new units" corpus findings
for t in "${targets[@]}"; do
	printf '%-11s %8s %14s %10s %10s %-22s %s\n' "$t" "$seconds" "${execs[$t]:-?}" "${rate[$t]:-?}" \
		"${added[$t]:-?}" "${files[$t]}" "${result[$t]}"
done
echo "synsweep fuzzed: $version_before (src digest $digest_before)"
if [[ $(src_digest) != "$digest_before" ]]; then
	echo "fuzz.sh: WARNING: src/ changed during the run (now $(src_version)): targets may have run against different code" >&2
fi
exit "$failed"
