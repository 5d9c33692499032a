#!/usr/bin/env bash
# deps.sh - install the Debian packages synsweep's lab, tests and benchmarks
# need, only when something is missing. Needs root to install; without root
# it only reports what is missing.
#
#   scripts/deps.sh test    what the tests need: the lab (iproute2, nftables,
#                           python3, and the UDP daemons it runs in its
#                           namespace: dnsmasq-base, chrony, snmpd,
#                           memcached), the databases the output is loaded
#                           into (postgresql, sqlite3), xmllint and nmap's
#                           DTD, nmap itself (a second opinion on the lab);
#                           the TCP daemons of `lab.sh up --services`
#                           (openssh-server, nginx-light, vsftpd,
#                           exim4-daemon-light, dovecot-pop3d and -imapd,
#                           redis-server, postgresql), openssl for their
#                           certificates, tcpdump for the tests' captures
#   scripts/deps.sh bench   the tests' needs plus masscan, zmap and valgrind
#
# The lab starts the daemons itself, inside its namespace, with its own
# configuration; the packages' system services must never run on the host
# (a host dnsmasq on port 53, a chronyd steering the host clock). So the
# install runs under a policy-rc.d that forbids starting services (only if
# the machine has none of its own: an existing one is left as it is), and on
# a systemd host the services this install brought (units that did not exist
# before it: never the host's own sshd, nginx, MTA or database) are disabled
# and stopped afterwards. debconf asks nothing (noninteractive: exim4-config
# takes its defaults, local delivery only, and nothing starts it). chrony
# conflicts with every other time daemon (systemd-timesyncd, ntp) and
# exim4-daemon-light with every other MTA (postfix, sendmail): a package
# whose install would remove another is not installed (that is the host's
# own service), only reported.
set -euo pipefail
PATH=$PATH:/usr/sbin:/sbin

# command-or-path:package
want=(
	ip:iproute2 nft:nftables python3:python3 setpriv:util-linux runuser:util-linux
	dnsmasq:dnsmasq-base chronyd:chrony snmpd:snmpd memcached:memcached
	psql:postgresql-client "/usr/lib/postgresql/*/bin/initdb:postgresql"
	sqlite3:sqlite3 xmllint:libxml2-utils /usr/share/nmap/nmap.dtd:nmap-common
	nmap:nmap
	# lab.sh up --services: real TCP daemons, their certificates; captures
	sshd:openssh-server ssh-keygen:openssh-client nginx:nginx-light
	vsftpd:vsftpd exim4:exim4-daemon-light dovecot:dovecot-core
	/usr/lib/dovecot/pop3:dovecot-pop3d /usr/lib/dovecot/imap:dovecot-imapd
	redis-server:redis-server redis-cli:redis-tools openssl:openssl
	tcpdump:tcpdump
)
case "${1:-test}" in
test) ;;
bench) want+=(masscan:masscan zmap:zmap valgrind:valgrind callgrind_annotate:valgrind /usr/bin/time:time) ;;
*) echo "usage: deps.sh [test|bench]" >&2; exit 2 ;;
esac

# The system units the packages (or what they pull in: nginx-common,
# exim4-base, dovecot-core) bring, to disable where systemd runs; only those
# that did not exist before the install.
units=(chrony.service snmpd.service memcached.service dnsmasq.service
	ssh.service ssh.socket nginx.service vsftpd.service exim4.service
	dovecot.service dovecot.socket redis-server.service postgresql.service)

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
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq

# systemd is running: its services are live.
systemd=0
[[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1 && systemd=1
# A package whose install would remove another (chrony the host's time
# daemon, exim4 the host's MTA) would change what the host runs: refused,
# systemd or not.
refused=()
install=()
for pkg in "${missing[@]}"; do
	# (the simulation's whole output first: grep -q would cut its pipe)
	sim=$(apt-get install -s -qq --no-install-recommends "$pkg" 2>/dev/null) || sim=
	if grep -q '^Remv ' <<<"$sim"; then
		refused+=("$pkg")
	else
		install+=("$pkg")
	fi
done
missing=("${install[@]}")

# The units of `units` that exist before the install: the host's, left alone.
declare -A existed=()
if ((systemd)); then
	for unit in "${units[@]}"; do
		[[ -z $(systemctl list-unit-files --no-legend "$unit" 2>/dev/null) ]] ||
			existed[$unit]=1
	done
fi

if ((${#missing[@]} > 0)); then
	echo "deps.sh: installing ${missing[*]}" >&2
	# Nothing installed here may start a service on the host. A policy-rc.d
	# of the machine's own stays as it is; ours goes, also on failure.
	policy=/usr/sbin/policy-rc.d
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\n# deps.sh: no service starts while it installs\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		trap 'rm -f "$policy"' EXIT
	fi
	apt-get install -y -qq --no-install-recommends \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
		"${missing[@]}" >/dev/null
	if ((systemd)); then
		for unit in "${units[@]}"; do
			[[ -z ${existed[$unit]:-} ]] || continue
			[[ -n $(systemctl list-unit-files --no-legend "$unit" 2>/dev/null) ]] || continue
			systemctl disable --now --quiet "$unit" 2>/dev/null || true
		done
	fi
fi
if ((${#refused[@]} > 0)); then
	echo "deps.sh: not installed: ${refused[*]}: it would remove another package" \
		"(chrony replaces the host's time daemon, exim4 its MTA); install it yourself if that is fine" >&2
	exit 1
fi
