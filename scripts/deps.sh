#!/usr/bin/env bash
# deps.sh - install the Debian packages synsweep's lab, tests and benchmarks
# need, only when something is missing. Needs root to install; without root
# it only reports what is missing.
#
#   scripts/deps.sh test    what the tests need (lab: iproute2, nftables, python3)
#   scripts/deps.sh bench   the tests' needs plus masscan, zmap and valgrind
set -euo pipefail
PATH=$PATH:/usr/sbin:/sbin

want=(ip:iproute2 nft:nftables python3:python3 setpriv:util-linux)
case "${1:-test}" in
test) ;;
bench) want+=(masscan:masscan zmap:zmap valgrind:valgrind) ;;
*) echo "usage: deps.sh [test|bench]" >&2; exit 2 ;;
esac

missing=()
for pair in "${want[@]}"; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
	echo "deps.sh: missing packages: ${missing[*]} (run as root to install them)" >&2
	exit 1
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
