#!/usr/bin/env bash
# deps.sh - install the Debian packages synsweep's lab, tests and benchmarks
# need, only when something is missing. Needs root to install; without root
# it only reports what is missing.
#
#   scripts/deps.sh test    what the tests need: the lab (iproute2, nftables,
#                           python3), the databases the output is loaded into
#                           (postgresql, sqlite3), xmllint and nmap's DTD,
#                           nmap itself (a second opinion on the lab)
#   scripts/deps.sh bench   the tests' needs plus masscan, zmap and valgrind
set -euo pipefail
PATH=$PATH:/usr/sbin:/sbin

# command-or-path:package
want=(
	ip:iproute2 nft:nftables python3:python3 setpriv:util-linux runuser:util-linux
	psql:postgresql-client "/usr/lib/postgresql/*/bin/initdb:postgresql"
	sqlite3:sqlite3 xmllint:libxml2-utils /usr/share/nmap/nmap.dtd:nmap-common
	nmap:nmap
)
case "${1:-test}" in
test) ;;
bench) want+=(masscan:masscan zmap:zmap valgrind:valgrind callgrind_annotate:valgrind /usr/bin/time:time) ;;
*) echo "usage: deps.sh [test|bench]" >&2; exit 2 ;;
esac

have() {
	if [[ $1 == /* ]]; then
		# A path, possibly with a glob: present if anything matches.
		compgen -G "$1" >/dev/null
	else
		command -v "$1" >/dev/null 2>&1
	fi
}

missing=()
for pair in "${want[@]}"; do
	have "${pair%%:*}" || missing+=("${pair##*:}")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

if [[ $(id -u) -ne 0 ]]; then
	echo "deps.sh: missing packages: ${missing[*]} (run as root to install them)" >&2
	exit 1
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
