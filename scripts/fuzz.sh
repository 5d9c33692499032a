#!/usr/bin/env bash
# fuzz.sh - fuzz synsweep's parsers with cargo-fuzz (libFuzzer), each target
# for a bounded time, one after the other (one fuzzing job at a time).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS per target, default 60. TARGETs: reply grammar conffile checkpoint
# banner service_probes (default: all six). docs/fuzzing.md says what each
# one asserts.
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
#   banner      server transcripts written here (SSH, SMTP, HTTP, Redis,
#               MySQL... greetings and replies), in the target's
#               HELLO MAX (LEN CHUNK)... form
#   service_probes  probe-file lines in nmap's format written here; and,
#               in the corpus only (never committed: nmap's file is not
#               ours to copy), nmap's own file cut into pieces of whole
#               lines, where it is installed
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

ALL_TARGETS=(reply grammar conffile checkpoint banner service_probes)
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

# banner: HELLO MAX then chunks, each a length byte and its bytes (0: the
# hello wait passes in silence). HELLO: 0 no hello (unknown port), 1-14
# Hello::ALL (http tls ssh ftp smtp pop3 imap redis mysql postgres
# memcached vnc rdp telnet), +15 for an IPv6 target; MAX under 128 is the
# byte budget itself, 128 and over the default 4096.
python3 - "$WORK/fresh/banner" <<'EOF'
import os, sys
out = sys.argv[1]
QUIET = None
def seed(name, hello, chunks, max_byte=0x80):
    b = bytearray([hello, max_byte])
    for c in chunks:
        if c is QUIET:
            b.append(0)
            continue
        for i in range(0, len(c), 255):
            part = c[i:i + 255]
            b.append(len(part))
            b += part
    with open(os.path.join(out, name), "wb") as f:
        f.write(bytes(b))
salt = bytes(range(0x21, 0x21 + 20))
mysql = (b"\x0a8.0.36-0ubuntu0.22.04.1\x00" + b"\x2a\x00\x00\x00" + salt[:8] + b"\x00"
         + b"\xff\xff\xff\x02\x00\xff\xdf\x15" + b"\x00" * 10 + salt[8:] + b"\x00"
         + b"caching_sha2_password\x00")
mysql = len(mysql).to_bytes(3, "little") + b"\x00" + mysql
seed("http", 1, [b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 30 Nov 2026 12:00:00 GMT\r\n",
                 b"Content-Type: text/html\r\nContent-Length: 615\r\nConnection: close\r\n\r\n<!DOCTYPE html>"])
seed("http-ipv6-apache", 16, [b"HTTP/1.1 403 Forbidden\r\nServer: Apache/2.4.62 (Debian)\r\nContent-Length: 199\r\n\r\n"])
seed("unknown-port-http", 0, [QUIET, b"HTTP/1.0 404 File not found\r\nServer: SimpleHTTP/0.6 Python/3.11.2\r\n\r\n"])
seed("unknown-port-greeting", 0, [b"+OK Gearman ready\r\n"])
seed("tls-alert", 2, [b"\x15\x03\x03\x00\x02\x02\x28"])
seed("tls-serverhello-cut", 2, [b"\x16\x03\x03\x00\x5a\x02\x00\x00\x56\x03\x03" + bytes(range(32)) + b"\x20" + bytes(range(32, 64)) + b"\x13\x02\x00"])
seed("ssh", 3, [b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"])
seed("ssh-quiet-dropbear", 3, [QUIET, b"SSH-2.0-dropbear_2022.83\r\n"])
seed("ssh-prelude-budget", 3, [b"Welcome to the lab\r\n", b"authorised users only\r\n", b"SSH-1.99-Cisco-1.25\r\n"], 48)
seed("ftp", 4, [b"220 (vsFTPd 3.0.3)\r\n"])
seed("ftp-multiline", 4, [b"220-Welcome to the lab FTP service.\r\n220-", b"Be nice.\r\n220 ProFTPD Server (Debian) [::ffff:198.18.112.7]\r\n"])
seed("smtp", 5, [b"220 mail.lab.test ESMTP Postfix (Debian/GNU)\r\n",
                 b"250-mail.lab.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n",
                 b"220 2.0.0 Ready to start TLS\r\n", b"\x15\x03\x03\x00\x02\x02\x46"])
seed("smtp-slow-greeting", 5, [QUIET, b"220 exim.lab.test ESMTP Exim 4.96 Mon, 30 Nov 2026 12:00:00 +0000\r\n",
                               b"250-exim.lab.test Hello synsweep.invalid\r\n250-SIZE 52428800\r\n250 HELP\r\n"])
seed("pop3", 6, [b"+OK Dovecot (Debian) ready.\r\n", b"+OK Begin TLS negotiation now.\r\n"])
seed("imap", 7, [b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN] Dovecot (Debian) ready.\r\n",
                 b"* BYE going\r\n", b"a1 OK Begin TLS negotiation now.\r\n"])
seed("redis", 8, [b"$312\r\n# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\nredis_mode:standalone\r\nos:Linux 6.1.0-28-amd64 x86_64\r\n",
                  b"arch_bits:64\r\ntcp_port:6379\r\n\r\n"])
seed("redis-noauth", 8, [b"-NOAUTH Authentication required.\r\n"])
seed("mysql", 9, [mysql])
seed("mysql-refused", 9, [b"\x45\x00\x00\x00\xffj\x04Host '198.18.112.1' is not allowed to connect to this MySQL server"])
seed("postgres", 10, [b"N", b"R\x00\x00\x00\x08\x00\x00\x00\x03"])
seed("postgres-error", 10, [b"E\x00\x00\x00\x53SFATAL\x00VFATAL\x00C28000\x00Mno pg_hba.conf entry for host\x00\x00"])
seed("memcached", 11, [b"VERSION 1.6.21\r\n"])
seed("vnc", 12, [b"RFB 003.008\n"])
seed("rdp", 13, [b"\x03\x00\x00\x13\x0e\xd0\x00\x00\x12\x34\x00\x02\x1f\x08\x00\x02\x00\x00\x00"])
seed("telnet", 14, [b"\xff\xfd\x18\xff\xfd\x20\xff\xfd\x23\xff\xfd\x27", b"\xff\xfb\x03\xff\xfb\x01",
                    b"\r\nDebian GNU/Linux 12\r\n", b"lab login: "])
EOF

# service_probes: a small probe file in nmap's format (written here, not
# nmap's lines), cut into pieces, and lines nmap's parser would refuse.
{
	probes=$(
		cat <<'EOF'
# synsweep fuzz seed: a few probes, in nmap-service-probes' format
Exclude T:9100-9107,U:30000-30005
Probe TCP NULL q||
totalwaitms 6000
tcpwrappedms 3000
match ssh m|^SSH-([\d.]+)-OpenSSH_([\w._-]+) Debian-(\S+)\r?\n| p/OpenSSH/ v/$2 Debian $3/ i/protocol $1/ o/Linux/ cpe:/a:openbsd:openssh:$2/ cpe:/o:linux:linux_kernel/a
match ftp m|^220 \(vsFTPd ([-.\w]+)\)\r\n| p/vsftpd/ v/$1/ o/Unix/ cpe:/a:beasts:vsftpd:$1/
match smtp m|^220 ([-.\w]+) ESMTP Postfix| p/Postfix smtpd/ h/$1/ cpe:/a:postfix:postfix/a
softmatch smtp m|^220[ -][^\r\n]*SMTP|i
match mysql m|^.\0\0\0\x0a(8\.[\d.]+)-(\S+)\0|s p/MySQL/ v/$1/ i/$2/ cpe:/a:mysql:mysql:$1/
match vnc m|^RFB 00(\d)\.00(\d)\n$| p/VNC/ i/protocol $1.$2/
Probe TCP GetRequest q|GET / HTTP/1.0\r\n\r\n|
rarity 1
ports 80-85,8000-8010,8080,8888
sslports 443,8443
match http m|^HTTP/1\.[01] \d\d\d .*\r\nServer: nginx/([\d.]+)\r\n|s p/nginx/ v/$1/ cpe:/a:igor_sysoev:nginx:$1/
match http m=^HTTP/1\.[01] \d\d\d.*\r\nServer: Apache/([\d.]+) \(([^)]+)\)=s p/Apache httpd/ v/$1/ i/$2/ cpe:/a:apache:http_server:$1/
softmatch http m|^HTTP/1\.[01] \d\d\d|
Probe TCP redis-server q|*1\r\n$4\r\ninfo\r\n|
rarity 8
ports 6379
match redis m|^\$\d+\r\n# Server\r\nredis_version:([.\d]+)\r\n| p/Redis key-value store/ v/$1/ cpe:/a:redislabs:redis:$1/
match redis m|^-NOAUTH Authentication required\.\r\n| p/Redis key-value store/
Probe TCP SSLSessionReq q|\x16\x03\0\0S\x01\0\0O\x03\0?G\xd7\xf7\xba,\xee\xea\xb2`~\xf3\0\xfd\x82{\xb9\xd5\x96\xc8w\x9b\xe6\xc4\xdb<=\xdbo\xef\x10n\0\0(\0\x16\0\x13\0\x0a\0f\0\x05\0\x04\0e\0d\0c\0b\0a\0`\0\x15\0\x12\0\x09\0\x14\0\x11\0\x08\0\x06\0\x03\x01\0|
rarity 1
ports 443,465,993,995
fallback GetRequest
match ssl m|^\x16\x03[\0-\x03]..\x02|s p/TLS/
Probe UDP DNSStatusRequest q|\0\0\x10\0\0\0\0\0\0\0\0\0|
ports 53
match domain m|^\0\0\x90\x04\0\0\0\0\0\0\0\0| p/DNS status/
Probe TCP DNSStatusRequestTCP q|\0\x0c\0\0\x10\0\0\0\0\0\0\0\0\0|
ports 53
fallback DNSStatusRequest
Probe TCP Empty q|| no-payload
EOF
	)
	printf '%s\n' "$probes" | seed service_probes probes-all
	# One probe at a time (each piece from a Probe line to the next).
	printf '%s\n' "$probes" | awk -v dir="$WORK/fresh/service_probes" \
		'/^Probe /{n++} n{print > (dir "/probe-" n)}'
	i=0
	for bad in 'match ssh m|^SSH-| p/x/' $'Probe TCP NULL q||\nrarity 0' \
		$'Probe TCP NULL q||\nmatch ssh m|^SSH-' $'Probe TCP NULL q||\nports 80-' \
		$'Probe TCP NULL q||\nfallback Nowhere' $'Probe SCTP x q||' $'Probe TCP NULL q|\\xZZ|' \
		$'Probe TCP NULL q||\nmatch ssh m|(| p/broken regex/' $'Probe TCP NULL q||\nsoftmatch x m/a/q'; do
		i=$((i + 1))
		printf '%s\n' "$bad" | seed service_probes "bad-$i"
	done
	# nmap's own file, in pieces of whole lines under -max_len, into the
	# corpus only.
	nmap_probes=/usr/share/nmap/nmap-service-probes
	if [[ -r $nmap_probes ]]; then
		rm -f "$FUZZ_DIR/corpus/service_probes"/nmap-*
		python3 - "$nmap_probes" "$FUZZ_DIR/corpus/service_probes" <<'EOF'
import os, sys
lines = open(sys.argv[1], "rb").read().split(b"\n")
# A piece of a long probe starts again with its Probe line, so that its
# match lines are read rather than refused as coming before any Probe.
piece, probe, n = b"", b"", 0
def flush():
    global piece, n
    if piece:
        n += 1
        open(os.path.join(sys.argv[2], "nmap-%04d" % n), "wb").write(piece)
    piece = b""
for line in lines:
    if line.startswith(b"Probe "):
        flush()
        probe = line + b"\n"
    elif len(piece) + len(line) + 1 > 4000:
        flush()
        piece = probe
    if len(probe) + len(line) < 4000:
        piece += line + b"\n"
flush()
EOF
	fi
}

# service_probes: the file's words, as a libFuzzer dictionary (its own
# escapes: a backslash doubled).
cat >"$WORK/service_probes.dict" <<'EOF'
"Probe TCP "
"Probe UDP "
"match "
"softmatch "
"ports "
"sslports "
"rarity "
"fallback "
"totalwaitms "
"tcpwrappedms "
"Exclude "
" p/"
" v/"
" i/"
" h/"
" o/"
" d/"
" cpe:/"
"/a"
"m|"
"|s"
"|i"
"q|"
" no-payload"
"\\x"
"\\0"
"\\r\\n"
"T:"
"U:"
EOF

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
	[[ $t != service_probes ]] || flags+=(-dict="$ROOT/$WORK/service_probes.dict")
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
