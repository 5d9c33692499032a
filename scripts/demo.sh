#!/usr/bin/env bash
# demo.sh - the main job end to end on this machine: install what is missing,
# build synsweep, bring up a lab network (scripts/lab.sh), scan all of it at
# a high rate over both address families, print what was found next to the
# lab's ground truth, and take
# the lab down again (also on failure or Ctrl-C).
#
#   scripts/demo.sh [--rate PPS] [--id N]
#
# As root, or as a user with sudo (the build stays the user's; installing,
# the lab and the scan go through sudo). Traffic goes only to the lab's
# namespace, on its veth, named explicitly.
set -euo pipefail
cd "$(dirname "$0")/.."
PATH=$PATH:/usr/sbin:/sbin:$HOME/.cargo/bin
# shellcheck source=scripts/common.sh
source scripts/common.sh

rate=200000
id=0
while [[ $# -gt 0 ]]; do
	case "$1" in
	--rate) rate=$2; shift 2 ;;
	--id) id=$2; shift 2 ;;
	*) echo "usage: demo.sh [--rate PPS] [--id N]" >&2; exit 2 ;;
	esac
done
if ! can_be_root; then
	echo "demo.sh: needs root (it builds a network namespace and sends raw frames): run it as root, or install sudo" >&2
	exit 1
fi

as_root scripts/deps.sh test
cargo build --release --quiet
out=$(mktemp -d)
trap 'as_root scripts/lab.sh down --id "$id"; rm -rf "$out"' EXIT
as_root scripts/lab.sh up --id "$id"
eval "$(scripts/lab.sh info --id "$id")"

echo "== scanning lab $id: $LAB_BLOCK and $LAB_BLOCK6, ports $LAB_PORTS, on $LAB_IFACE at $rate pps"
as_root target/release/synsweep "$LAB_BLOCK" "$LAB_BLOCK6" -p "$LAB_PORTS" --interface "$LAB_IFACE" \
	--rate "$rate" --wait 2 --show all --format csv -o "$out/results.csv" --no-checkpoint

echo "== first results"
head -n 6 "$out/results.csv"
echo "== results by state and reason (synsweep | lab ground truth)"
tail -n +2 "$out/results.csv" | awk -F, '{print $4, $5}' | sort | uniq -c >"$out/got"
scripts/lab.sh truth --id "$id" --family all --silent | awk '{print $3, $4}' | sort | uniq -c >"$out/want"
paste "$out/got" "$out/want" | column -t
tail -n +2 "$out/results.csv" | awk -F, '{print $1, $2, $4, $5}' | sort >"$out/got.lines"
scripts/lab.sh truth --id "$id" --family all --silent | sort >"$out/want.lines"
if cmp -s "$out/got.lines" "$out/want.lines"; then
	echo "== every result matches the lab's ground truth exactly ($(wc -l <"$out/want.lines") lines)"
else
	echo "== results differ from the ground truth:"
	diff "$out/got.lines" "$out/want.lines" | head -20
	exit 1
fi
