#!/usr/bin/env bash
# lab.sh - build and remove the synsweep test network ("lab") on this machine.
#
# For lab id N (0..14) `up` builds, and `down` removes (h = N in hex, 0..e):
#
#   host: sswlabN 198.19.255.(4N+1)/30 ==veth== lab0 198.19.255.(4N+2)/30 :netns sswlabN
#                 198.19.(240+N).1/24              LAN hosts (below)
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
#                      UDP port unreachables are the exception: the output
#                      chain rewrites their source to the probed address
#                      (a closed port, not a router's "filtered").
#   daemon hosts       block offsets DNS_HOSTS.. below (the same in both
#                      blocks), also real addresses on lo, so their UDP
#                      answers and every ICMP(v6) error come from the probed
#                      address. Real daemons serve them, each bound to its
#                      hosts only: dnsmasq (DNS 53, TFTP 69), chronyd (NTP
#                      123, never touching the clock), snmpd (161, v1/v2c
#                      community public), memcached (UDP 11211).
#   198.19.(240+N).0/24
#                      on-link LAN (no gateway), for ARP sweeps: hosts at
#                      LAN_HOSTS offsets are addresses on lab0, so the
#                      namespace answers ARP, TCP, UDP and ICMP for them and
#                      for nothing else of the /24; lan_table() shapes them.
#   2001:2:0:ff0h::100/120
#                      the same in the link's /64 (::100 + LAN_HOSTS, on
#                      lab0), for Neighbor Discovery sweeps.
#   198.19.(16N).0/20  silent blocks, for transmit-only benchmarks. Routed
#   2001:2:0:h01::/64  into the namespace and dropped at lab0 ingress (nft
#                      netdev), before the IP stack, so they cost the
#                      namespace ~nothing.
#   python3 listeners  on OPEN_PORTS in the namespace, IPv4 and IPv6 (accept,
#                      close, repeat).
#
# Only 198.18.0.0/15 and 2001:2::/48 (the benchmarking ranges) are used. On the
# host only the veth end, its three addresses (and the kernel's fe80:: one)
# and the four block routes via the namespace (the IPv6 ones are the whole
# /64s) are added. No other interface,
# route or firewall rule of the host is touched, so traffic sent to the lab
# blocks can only ever reach this namespace. IPv6 on the veth is kept quiet:
# addresses without DAD, no router solicitations, no RAs accepted.
#
# `truth` prints the exact answers the lab gives, computed from the same
# rule_table()/rule_table6()/lan_table() the nftables ruleset is generated
# from, so the two cannot disagree; it ignores --loss (loss is noise, not
# truth). For a port scan (--scan syn, the default; ack fin null xmas maimon
# window on the 16 PORTS; udp on UDP_PORTS) one line per probe that draws an
# answer, "IP PORT STATE REASON" (nmap's words), ordered by address, then
# port, both numerically (= `sort -k1,1V -k2,2n`); --silent adds the probes
# that draw none, with the state nmap gives silence and reason no-response.
# For host discovery (echo, timestamp, ping-syn:PORT, ping-ack:PORT, arp)
# one line per host that answers, "IP up REASON". IPv6 addresses are in RFC
# 5952 form (as Rust's Ipv6Addr and `ip -6` print them). By default only the
# IPv4 block (the default lines are exactly what they were before IPv6, UDP
# and the LAN existed, so callers that read every line keep working);
# --family 6 prints the IPv6 block, --family all both, IPv4 first. --lan
# prints the LAN hosts' truth instead of the blocks'.
#
# `up --services` also runs real TCP daemons from Debian's packages in the
# namespace, each with its own configuration, certificates, logs and pid in
# RUN_DIR, listening on the wildcard addresses (IPv4 and IPv6), so every host
# of both blocks (and the daemon and LAN hosts) serves them: vsftpd (21),
# OpenSSH (22), exim4 (25, STARTTLS), nginx (80; 443 TLS 1.3 only; 8443 TLS
# 1.2 only), dovecot (POP3 110 with STLS, IMAP 143 with STARTTLS),
# redis-server (6379) and PostgreSQL (5432, SSL). The python listener then
# serves only the OPEN_PORTS no daemon serves (8080), and the TCP answers are
# shaped by rule_table_services()/rule_table6_services() instead. `truth
# --services` is that lab's truth (a TCP port scan covers SERVICE_PORTS);
# `truth --services --banners` names each open port's service and product as
# `nmap -sV` reports them; `certs` lists the TLS ports' certificate files.
#
# `up --tunnel tun` also joins host and namespace by a link without a link
# layer (no MAC, no ARP/ND: what tun, WireGuard and ipip interfaces are) and
# routes the responding blocks over it instead of the veth:
#
#   host: sswtunN 198.19.255.(128+4N+1)/30 ==tun pair== tun0 198.19.255.(128+4N+2)/30
#                 2001:2:0:fe0h::1/64                  2001:2:0:fe0h::2/64
#
# Two tun devices, joined by a small python process on the host (RUN_DIR/
# tunnel.py, pid in tunnel.pid) that copies each packet one device's kernel
# routes into it out of the other; the namespace end is moved into the
# namespace. Both die with that process, which `down` stops; `down` also
# deletes sswtunN itself. The namespace answers the tunnel's addresses over
# tun0 (they are on-link there), so every answer goes back the way the
# probe came. The silent blocks stay on the veth. `--tunnel ipip` does the
# same with a kernel ipip tunnel over the veth (IPv4 only, the IPv6 block
# stays on the veth), on kernels that have one. Same ruleset, same truth.

set -euo pipefail
# ip and nft live in /usr/sbin; non-login shells (CI, sudo -E) may lack it.
PATH=$PATH:/usr/sbin:/sbin

readonly PORTS=21,22,23,25,53,80,110,135,139,443,445,993,1433,3389,8080,8443
readonly OPEN_PORTS=22,80,443,8080
# What `truth --scan udp` covers: the daemons' ports, well-known UDP services
# nobody serves here (closed) and two plain ports. Ascending: truth's order.
readonly UDP_PORTS=7,53,69,111,123,137,161,500,1900,5060,5353,9999,11211
# The daemon hosts, as block offsets (the same in the IPv4 and the IPv6
# block), per daemon. None is picked by a rule of the tables below but the
# `all` ones. chronyd binds one address per family, so NTP has one host.
readonly DNS_HOSTS=16,17          # dnsmasq: DNS 53, TFTP 69
readonly NTP_HOSTS=16             # chronyd: NTP 123
readonly SNMP_HOSTS=16,17,1040    # snmpd: SNMP 161
readonly MEMCACHED_HOSTS=16,1040  # memcached: UDP 11211
# The LAN hosts: offsets in the on-link /24 (IPv4) and in ::100/120 of the
# link's /64 (IPv6, ::100 + offset). Every other address there is nobody.
readonly LAN_HOSTS=2,3,4,5,6,7,8,9,33,100,200,254
readonly RUN_ROOT=/run/synsweep-lab
readonly LISTEN_TIMEOUT=10 # seconds for the listeners and daemons to start
# up --services: the TCP daemons' ports (what a TCP port scan's truth covers
# in that mode), ascending, and the seconds they get to listen (initdb and
# the certificates come first, before the clock starts).
readonly SERVICE_PORTS=21,22,25,80,110,143,443,5432,6379,8443
readonly SERVICES_TIMEOUT=30

# The ground-truth rule table: first matching line wins, per (host, probe).
# Unmatched probes go to the kernel: a listener port answers SYN-ACK (open),
# any other TCP port RST (closed); a daemon's UDP port its answer (open), any
# other UDP port ICMP port unreachable (closed); ICMP echo and timestamp
# requests their replies.
#   selector: all | offset=A-B | offset&MASK=VALUE, where offset is the host
#             address minus the block base (0..4095)
#   ports:    any (every packet, any protocol; never neighbour discovery) |
#             tcp (every TCP port) | P,P,.. (these TCP ports) |
#             udp (every UDP port) | u:P,P,.. (these UDP ports) |
#             icmp (every ICMP message; never neighbour discovery) |
#             echo (echo requests) | timestamp (timestamp requests, IPv4)
#   action:   drop | reset (TCP RST; TCP ports only) | icmp:TYPE (nft
#             `reject with icmp type`; not for ICMP, which is only dropped)
rule_table() {
	cat <<'EOF'
# selector        ports       action
offset=3840-4095  any         drop
offset=3584-3839  tcp         icmp:host-unreachable
offset&7=3        80          drop
offset&15=5       22          reset
offset&255=7      8080        icmp:admin-prohibited
all               25          icmp:admin-prohibited
all               445         icmp:host-prohibited
all               135         icmp:net-prohibited
all               1433        icmp:port-unreachable
all               53          icmp:prot-unreachable
all               139         drop
# UDP (TCP probes match none of these)
offset&7=6        u:161,5353  drop
offset&15=9       u:53,123    icmp:admin-prohibited
offset&255=200    udp         icmp:host-unreachable
all               u:500       drop
all               u:1900      icmp:host-prohibited
# host discovery: no echo reply (timestamp, TCP and UDP still answer); no
# ICMP at all (TCP and UDP answer); 3840-4095 answer nothing
offset=3072-3327  echo        drop
offset=3328-3583  icmp        drop
EOF
}

# The same for the IPv6 block (offset = address minus its base ::1000), with
# ICMPv6 rejects: action icmp6:TYPE (nft `reject with icmpv6 type`).
rule_table6() {
	cat <<'EOF'
# selector        ports       action
offset=3840-4095  any         drop
offset=3584-3839  tcp         icmp6:addr-unreachable
offset&7=3        80          drop
offset&15=5       22          reset
offset&255=7      8080        icmp6:admin-prohibited
all               25          icmp6:admin-prohibited
all               445         icmp6:no-route
all               135         icmp6:reject-route
all               1433        icmp6:port-unreachable
all               53          icmp6:policy-fail
all               139         drop
# UDP
offset&7=6        u:161,5353  drop
offset&15=9       u:53,123    icmp6:admin-prohibited
offset&255=200    udp         icmp6:addr-unreachable
all               u:500       drop
all               u:1900      icmp6:no-route
# host discovery (ICMPv6 has no timestamp)
offset=3072-3327  echo        drop
offset=3328-3583  icmp        drop
EOF
}

# The tables of a lab with --services, for its real TCP daemons: every host
# of the block serves every SERVICE_PORT but those below. UDP and host
# discovery as in rule_table() (the same lines); no ICMP rejects of TCP.
rule_table_services() {
	cat <<'EOF'
# selector        ports       action
offset=3840-4095  any         drop
offset&15=5       22          reset
offset&7=3        80          drop
EOF
	# UDP and host discovery: rule_table()'s own lines.
	rule_table | sed -n '/^# UDP/,$p'
}
rule_table6_services() {
	cat <<'EOF'
# selector        ports       action
offset=3840-4095  any         drop
offset&15=5       22          reset
offset&7=3        80          drop
EOF
	# UDP and host discovery: rule_table6()'s own lines.
	rule_table6 | sed -n '/^# UDP/,$p'
}

# What `truth --services --banners` names a service port: "SERVICE PRODUCT",
# nmap's service name and product string (nmap -sV, Debian 12's packages;
# 443 and 8443 nmap prints as ssl/http: the service under the tunnel).
service_product() { # PORT
	case $1 in
	21) echo "ftp vsftpd" ;;
	22) echo "ssh OpenSSH" ;;
	25) echo "smtp Exim smtpd" ;;
	80 | 443 | 8443) echo "http nginx" ;;
	110) echo "pop3 Dovecot pop3d" ;;
	143) echo "imap Dovecot imapd" ;;
	5432) echo "postgresql PostgreSQL DB" ;;
	6379) echo "redis Redis key-value store" ;;
	esac
}

# The LAN hosts' table (offset = address minus the /24's .0, resp. minus
# ::100; only LAN_HOSTS exist), both families, icmp:/icmp6: rejects not
# allowed (the table serves both).
lan_table() {
	cat <<'EOF'
# selector  ports  action
offset=200  any    drop   # ARP / ND find it, nothing else does
offset=100  echo   drop   # ARP / ND, TCP and UDP find it, ping does not
EOF
}

usage() {
	cat <<'EOF'
usage: lab.sh COMMAND [--id N] [--loss PCT] [--family 4|6|all]
              [--scan TYPE] [--silent] [--lan] [--services] [--banners]
              [--tunnel tun|ipip]

Builds and removes the synsweep test network (network namespace sswlabN),
IPv4 and IPv6: responding blocks, UDP daemons, an on-link LAN.

commands:
  up [--id N] [--loss PCT] [--services]
                             (re)build lab N; returns once the listeners and
                             the daemons listen.
                             --loss PCT: drop PCT% (integer 0..100) of the
                             packets in each direction, at random (IPv4 and
                             IPv6, any protocol; not ARP or IPv6 neighbour
                             discovery)
                             --services: also real TCP daemons on every
                             host: vsftpd 21, sshd 22, exim4 25, nginx 80,
                             443 (TLS 1.3), 8443 (TLS 1.2), dovecot 110 143,
                             PostgreSQL 5432, redis 6379; TCP answers per
                             rule_table_services (docs/lab.md)
                             --tunnel tun: route the responding blocks over
                             a link with no link layer (host end sswtunN, a
                             tun device joined to tun0 in the namespace)
                             instead of the veth; `info` gives
                             LAB_TUNNEL_IFACE and its source addresses.
                             --tunnel ipip: the same over a kernel ipip
                             tunnel (IPv4 block only; needs ipip support)
  down [--id N]              remove lab N, daemons included (no error if it
                             is not there)
  truth [--id N] [--family 4|6|all] [--scan TYPE] [--silent] [--lan]
                             print the ground truth (works without the lab):
                             the IPv4 block (default, or 4), the IPv6 block
                             (6) or both, IPv4 first (all).
                             --scan TYPE, a port scan, "IP PORT STATE REASON"
                             per probe that draws an answer:
                               syn (default), ack, fin, null, xmas, maimon,
                               window  on LAB_PORTS (TCP)
                               udp     on LAB_UDP_PORTS (assumes a payload
                                       the daemon answers)
                             --silent: also the probes that draw no answer
                             (state as nmap reports silence, reason
                             no-response).
                             --scan TYPE, host discovery, "IP up REASON" per
                             host that answers (--silent is refused):
                               echo            ICMP(v6) echo: echo-reply
                               timestamp       ICMP timestamp (IPv4 only:
                                               --family 6 is refused, all
                                               prints IPv4): timestamp-reply
                               connect         the SYN ports by connect() (-sT):
                                               conn-refused, host-unreach...
                               ping-syn[:PORT] TCP SYN (PORT 80 if not
                                               given): syn-ack or reset
                               ping-ack[:PORT] TCP ACK (PORT 80): reset
                               arp             the LAN hosts: arp-response
                                               (IPv4), nd-response (IPv6)
                             --lan: the LAN hosts' truth instead of the
                             blocks' (arp always is)
                             --services: the truth of a lab up with
                             --services (TCP port scans on SERVICE_PORTS)
                             --banners (with --services, --scan syn):
                             "IP PORT SERVICE PRODUCT" per open port, as
                             nmap -sV names them (PRODUCT has spaces)
  certs [--id N]             "PORT FILE" per TLS port of a lab up with
                             --services: its certificate (PEM)
  info [--id N]              print shell-sourceable LAB_* variables
  status [--id N]            exit 0 if lab N is up, 1 if not
  ruleset [--id N] [--loss PCT] [--services]
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
up | down | truth | info | status | ruleset | certs) shift ;;
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
SCAN=syn
SILENT=0
LAN=0
SERVICES=0
TUNNEL=
BANNERS=0
scan_given=0
truth_opt= # the last truth-only option given, for the error message
while (($# > 0)); do
	case $1 in
	--services)
		SERVICES=1
		shift
		;;
	--tunnel)
		(($# >= 2)) || die_usage "--tunnel needs a value"
		TUNNEL=$2
		shift 2
		;;
	--tunnel=*)
		TUNNEL=${1#--tunnel=}
		shift
		;;
	--banners)
		BANNERS=1
		truth_opt=--banners
		shift
		;;
	--scan)
		(($# >= 2)) || die_usage "--scan needs a value"
		SCAN=$2
		truth_opt=--scan
		scan_given=1
		shift 2
		;;
	--scan=*)
		SCAN=${1#--scan=}
		truth_opt=--scan
		scan_given=1
		shift
		;;
	--silent)
		SILENT=1
		truth_opt=--silent
		shift
		;;
	--lan)
		LAN=1
		truth_opt=--lan
		shift
		;;
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
if [[ -n $truth_opt && $CMD != truth ]]; then
	die_usage "$truth_opt only applies to truth"
fi
if ((SERVICES)) && [[ $CMD != up && $CMD != truth && $CMD != ruleset ]]; then
	die_usage "--services only applies to up, truth and ruleset"
fi
if [[ -n $TUNNEL ]]; then
	[[ $CMD == up ]] || die_usage "--tunnel only applies to up"
	[[ $TUNNEL == tun || $TUNNEL == ipip ]] || die_usage "--tunnel must be tun or ipip (got '$TUNNEL')"
fi
if ((BANNERS)); then
	((SERVICES)) || die_usage "--banners needs --services"
	((scan_given == 0)) || [[ $SCAN == syn ]] || die_usage "--banners is the open ports of --scan syn (got --scan $SCAN)"
	((SILENT == 0)) || die_usage "--banners and --silent exclude each other"
	((LAN == 0)) || die_usage "--banners is the blocks' (not with --lan)"
fi
# PROBE_PORT: the port of ping-syn/ping-ack (nmap's default 80).
PROBE_PORT=
case $SCAN in
syn | ack | fin | null | xmas | maimon | window | udp | connect) ;;
echo | timestamp | arp | ping-syn | ping-ack | ping-syn:* | ping-ack:*)
	if [[ $SCAN == ping-* ]]; then
		PROBE_PORT=80
		if [[ $SCAN == *:* ]]; then
			PROBE_PORT=${SCAN#*:}
			SCAN=${SCAN%%:*}
			if ! [[ $PROBE_PORT =~ ^[0-9]{1,5}$ ]] || ((10#$PROBE_PORT < 1 || 10#$PROBE_PORT > 65535)); then
				die_usage "--scan $SCAN:PORT needs a port 1..65535 (got '$PROBE_PORT')"
			fi
			PROBE_PORT=$((10#$PROBE_PORT))
		fi
	fi
	# Host discovery lists the hosts that answer; there is no silent state.
	((SILENT == 0)) || die_usage "--silent only applies to port scans, not to --scan $SCAN"
	if [[ $SCAN == timestamp && $FAMILY == 6 ]]; then
		die_usage "--scan timestamp is IPv4 only (ICMPv6 has no timestamp)"
	fi
	;;
*) die_usage "--scan must be syn, ack, fin, null, xmas, maimon, window, udp, connect, echo, timestamp, ping-syn[:PORT], ping-ack[:PORT] or arp (got '$SCAN')" ;;
esac
readonly SCAN SILENT LAN PROBE_PORT SERVICES BANNERS

# --- everything below derives from the id, so labs can coexist ---------------

readonly NS=sswlab$ID
readonly HOST_IF=sswlab$ID
readonly NS_IF=lab0
readonly SOURCE_IP=198.19.255.$((4 * ID + 1))
readonly GATEWAY_IP=198.19.255.$((4 * ID + 2))
# up --tunnel: the link without a link layer (198.19.255.128/26 is no
# lab's veth /30, which end at .59).
readonly TUN_IF=sswtun$ID
readonly TUN_PEER_IF=sswtun${ID}p # the namespace end, until it moves there
readonly NS_TUN_IF=tun0
readonly TUN_SOURCE_IP=198.19.255.$((128 + 4 * ID + 1))
readonly TUN_GATEWAY_IP=198.19.255.$((128 + 4 * ID + 2))
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
# The block's /64 as the 64-bit number nft compares an address's first half
# with (2001:0002:0000:0h00).
printf -v NET6_HEX '0x200100020000%04x' $((ID * 256))
readonly NET6_HEX
# The on-link LAN: 198.19.240.0/20 is no lab's silent block (id 15 is out).
readonly LAN_NET=198.19.$((240 + ID)).0/24
readonly LAN_SOURCE_IP=198.19.$((240 + ID)).1
readonly LINK6=2001:2:0:ff0$H:: # the link's /64, RFC 5952
readonly LAN6_NET=${LINK6}100/120
readonly TUN_SOURCE_IP6=2001:2:0:fe0$H::1 # up --tunnel tun
readonly TUN_GATEWAY_IP6=2001:2:0:fe0$H::2
readonly RUN_DIR=$RUN_ROOT/$ID
# Fixed, locally administered MACs ("ssw" = 73:73:77) so a lab rebuilt with
# the same id looks the same on the wire; `info` still reads the real one.
printf -v HOST_MAC '02:73:73:77:%02x:01' "$ID"
printf -v NS_MAC '02:73:73:77:%02x:02' "$ID"
readonly HOST_MAC NS_MAC
# Marker in the listener's command line, so `down` kills only our process.
readonly LISTENER_TAG=synsweep-lab-listener
# The python listener's ports: OPEN_PORTS, with --services only those no
# daemon serves (8080). The TCP ports open on a host the rules leave alone.
if ((SERVICES)); then
	LISTEN_PORTS=$(comm -23 <(tr , '\n' <<<"$OPEN_PORTS" | sort) \
		<(tr , '\n' <<<"$SERVICE_PORTS" | sort) | sort -n | paste -sd ,)
	TCP_OPEN=$SERVICE_PORTS,$LISTEN_PORTS
else
	LISTEN_PORTS=$OPEN_PORTS
	TCP_OPEN=$OPEN_PORTS
fi
readonly LISTEN_PORTS TCP_OPEN
# up --services: the TCP daemons, each NAME as the UDP ones (DAEMONS below),
# their files in RUN_DIR/NAME/; RUN_DIR/services marks a lab that has them.
readonly SERVICE_DAEMONS="vsftpd sshd exim4 nginx dovecot postgres redis-server"
readonly CERT_DIR=$RUN_DIR/certs

# --- the rule table, compiled two ways ---------------------------------------

# Parses a rule table on stdin; shared by the truth and ruleset generators.
# Both get -v fam=4 -v net=198.18 -v b3=<third octet of the block base>, or
# -v fam=6 -v pfx=<the block's /64 as "2001:2:0:h00::", RFC 5952>; for the
# LAN also -v lan=1 (net/b3 of its /24, pfx of the link's /64: the offsets
# count from .0, resp. ::100, and stop at 255).
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
	base6 = lan ? 256 : 4096
	maxoff = lan ? 255 : 4095
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
# The LAN6 range pfx::100..pfx::1ff likewise, 3 digits.
function addr(off) {
	if (fam == 6) return pfx sprintf("%x", base6 + off)
	return net "." (b3 + int(off / 256)) "." (off % 256)
}
# An offset-sized value as an address; the block base is 4096 aligned (/20,
# resp. ::1000/116), so offset & M == address & M for every M < 4096 (the
# LAN: 256 aligned, M < 256).
function dq(x) {
	if (fam == 6) return "::" (x ? sprintf("%x", x) : "")
	return "0.0." int(x / 256) "." (x % 256)
}
# Does rule r match a probe? proto tcp or udp with port p, or icmp with p
# echo or timestamp.
function hits(r, proto, p) {
	if (rproto[r] == "any") return 1
	if (rproto[r] != proto) return 0
	if (proto == "icmp") return ricmp[r] == "icmp" || ricmp[r] == p
	return rall[r] || ((r, p) in rpm)
}
/^[ \t]*(#|$)/ { next }
{
	sub(/[ \t]+#.*$/, "") # a comment after the action
	if (NF != 3) fail("want: selector ports action")
	n++; rsel[n] = $1; rports[n] = $2; ract[n] = $3
	if ($1 == "all") {
		rkind[n] = "all"
	} else if ($1 ~ /^offset=[0-9]+(-[0-9]+)?$/) {
		rkind[n] = "range"
		k = split(substr($1, 8), f, "-")
		rlo[n] = f[1] + 0; rhi[n] = (k == 2) ? f[2] + 0 : rlo[n]
		if (rhi[n] < rlo[n] || rhi[n] > maxoff) fail("bad offset range")
	} else if ($1 ~ /^offset&[0-9]+=[0-9]+$/) {
		rkind[n] = "mask"
		split(substr($1, 8), f, "=")
		rmask[n] = f[1] + 0; rval[n] = f[2] + 0
		if (rmask[n] > maxoff || band(rval[n], rmask[n]) != rval[n]) fail("bad mask")
	} else fail("unknown selector")
	if ($2 == "any") {
		rproto[n] = "any"
	} else if ($2 == "tcp" || $2 == "udp") {
		rproto[n] = $2; rall[n] = 1
	} else if ($2 == "icmp" || $2 == "echo" || $2 == "timestamp") {
		rproto[n] = "icmp"; ricmp[n] = $2
		if ($2 == "timestamp" && fam == 6) fail("ICMPv6 has no timestamp")
	} else {
		rproto[n] = "tcp"; pl = $2
		if (pl ~ /^u:/) { rproto[n] = "udp"; pl = substr(pl, 3) }
		if (pl !~ /^[0-9]+(,[0-9]+)*$/) fail("bad ports")
		rplist[n] = pl
		k = split(pl, f, ",")
		for (i = 1; i <= k; i++) rpm[n, f[i] + 0] = 1
	}
	if ($3 == "reset") {
		if (rproto[n] != "tcp") fail("reset needs tcp ports")
	} else if (substr($3, 1, length(icmp)) == icmp) {
		if (rproto[n] == "icmp") fail("ICMP is only dropped")
		if (lan) fail("the LAN table serves both families: no ICMP rejects")
		rtype[n] = substr($3, length(icmp) + 1)
		if (!(rtype[n] in reason)) fail("unknown " icmp " type")
	} else if ($3 != "drop") fail("unknown action (IPv" fam " table)")
}
'

# The truth: -v scan=TYPE (syn ack fin null xmas maimon window udp echo
# timestamp ping-syn ping-ack arp) -v silent=0|1 -v ports=P,P,.. (the port
# scan's) -v open=P,P,.. (OPEN_PORTS) -v dport=P (ping-syn, ping-ack)
# -v daemons="OFF:PORT .." (the UDP sockets of the daemons) -v hosts=OFF,..
# (the offsets that exist, ascending; empty: 0..maxoff).
# shellcheck disable=SC2016
readonly AWK_TRUTH='
# What the lab answers a TCP probe of type t (syn ack fin null xmas maimon
# window) to port p, as nmap reads it; "" for no answer. action is the rule
# that matched (r), "" if none: the kernel.
function tcp_answer(t, action, r, p) {
	if (action == "drop") return ""
	if (action != "reset" && action != "") return "filtered " reason[rtype[r]]
	if (action == "" && (p in isopen)) {
		# a listener (LISTEN socket)
		if (t == "syn") return "open syn-ack"
		if (t == "ack") return "unfiltered reset"
		# FIN+ACK and the window scan (an ACK) get a RST, window 0
		if (t == "maimon" || t == "window") return "closed reset"
		return "" # fin, null, xmas: Linux drops them at a LISTEN socket
	}
	# no listener, or the rule RST: every segment without RST gets one
	return t == "ack" ? "unfiltered reset" : "closed reset"
}
# The same probe made by connect() (-sT): what Linux makes of the answer
# (errno) as nmap -sT reads it, measured on the lab (docs/lab.md).
function connect_answer(action, r, p,    a, t) {
	a = tcp_answer("syn", action, r, p)
	if (a == "closed reset") return "closed conn-refused"
	if (a !~ /^filtered /) return a
	t = rtype[r]
	if (t == "port-unreachable") return "closed conn-refused"
	if (t == "prot-unreachable") return "filtered proto-unreach"
	if (fam == 6) {
		if (t == "no-route") return "filtered net-unreach"
		if (t == "addr-unreachable") return "filtered host-unreach"
		return "filtered admin-prohibited" # admin-prohibited, policy-fail, reject-route: EACCES
	}
	if (t == "net-prohibited") return "filtered net-unreach"
	return "filtered host-unreach" # host-unreachable, host-prohibited, admin-prohibited
}
function udp_answer(action, r, off, p) {
	if (action == "drop") return ""
	if (action != "") {
		# a port unreachable from the probed address (IPv6: rewritten)
		if (rtype[r] == "port-unreachable") return "closed port-unreach"
		return "filtered " reason[rtype[r]]
	}
	return ((off, p) in daemon) ? "open udp-response" : "closed port-unreach"
}
# The first rule that hits (proto, p) for the current host; sets R.
function verdict(proto, p,    r) {
	for (r = 1; r <= n; r++)
		if (hm[r] && hits(r, proto, p)) {
			R = r
			return ract[r]
		}
	R = 0
	return ""
}
END {
	if (bad) exit 1
	np = split(ports, P, ",")
	k = split(open, f, ",")
	for (i = 1; i <= k; i++) isopen[f[i] + 0] = 1
	k = split(daemons, f, " ")
	for (i = 1; i <= k; i++) {
		split(f[i], g, ":")
		daemon[g[1] + 0, g[2] + 0] = 1
	}
	if (hosts == "") {
		nh = maxoff + 1
		for (i = 1; i <= nh; i++) H[i] = i - 1
	} else nh = split(hosts, H, ",")
	silence = (scan == "syn" || scan == "ack" || scan == "window" || scan == "connect") ? "filtered no-response" : "open|filtered no-response"
	for (hi = 1; hi <= nh; hi++) {
		off = H[hi] + 0
		for (r = 1; r <= n; r++)
			hm[r] = rkind[r] == "all" ||
			    (rkind[r] == "range" && off >= rlo[r] && off <= rhi[r]) ||
			    (rkind[r] == "mask" && band(off, rmask[r]) == rval[r])
		ip = addr(off)
		if (scan == "arp") {
			# every LAN host: ARP and ND are never filtered
			print ip, "up", (fam == 6 ? "nd-response" : "arp-response")
			continue
		}
		if (scan == "echo" || scan == "timestamp") {
			# an ICMP reject does not make a host up; only drop is allowed
			if (verdict("icmp", scan) == "") print ip, "up", scan "-reply"
			continue
		}
		if (scan == "ping-syn" || scan == "ping-ack") {
			action = verdict("tcp", dport)
			a = tcp_answer(substr(scan, 6), action, R, dport)
			# ICMP errors do not make a host up
			if (a == "open syn-ack") print ip, "up", "syn-ack"
			else if (a ~ / reset$/) print ip, "up", "reset"
			continue
		}
		for (i = 1; i <= np; i++) {
			p = P[i] + 0
			if (scan == "udp") {
				action = verdict("udp", p)
				a = udp_answer(action, R, off, p)
			}
			else if (scan == "connect") {
				action = verdict("tcp", p)
				a = connect_answer(action, R, p)
			}
			else {
				action = verdict("tcp", p)
				a = tcp_answer(scan, action, R, p)
			}
			if (a == "") {
				if (!silent) continue
				a = silence
			}
			print ip, p, a
		}
	}
}
'

# The input chain's rules for one table; -v block=CIDR -v tag=COMMENT-PREFIX
# shellcheck disable=SC2016
readonly AWK_NFT='
function dports(proto, list) {
	if (list ~ /,/) { gsub(/,/, ", ", list); return " " proto " dport { " list " }" }
	return " " proto " dport " list
}
END {
	if (bad) exit 1
	ip = (fam == 6) ? "ip6" : "ip"
	for (r = 1; r <= n; r++) {
		if (rkind[r] == "all") m = ip " daddr " block
		else if (rkind[r] == "range") m = ip " daddr " addr(rlo[r]) (rhi[r] > rlo[r] ? "-" addr(rhi[r]) : "")
		else m = ip " daddr " block " " ip " daddr & " dq(rmask[r]) " == " dq(rval[r])
		if (rproto[r] == "tcp" || rproto[r] == "udp")
			m = m (rall[r] ? " meta l4proto " rproto[r] : dports(rproto[r], rplist[r]))
		else if (rproto[r] == "icmp") {
			# neighbour discovery was accepted before these
			if (ricmp[r] == "icmp") m = m " meta l4proto " (fam == 6 ? "ipv6-icmp" : "icmp")
			else m = m (fam == 6 ? " icmpv6" : " icmp") " type " ricmp[r] "-request"
		}
		if (ract[r] == "drop") verb = "drop"
		else if (ract[r] == "reset") verb = "reject with tcp reset"
		else verb = "reject with " (fam == 6 ? "icmpv6" : "icmp") " type " rtype[r]
		printf "\t\t%s counter %s comment \"%s%s %s %s\"\n", m, verb,
		    tag, rsel[r], rports[r], ract[r]
	}
}
'

# Block offsets (DNS_HOSTS..) -> "OFF:PORT .." of the daemons' UDP sockets.
daemon_sockets() {
	local o out=()
	for o in ${DNS_HOSTS//,/ }; do out+=("$o:53" "$o:69"); done
	for o in ${NTP_HOSTS//,/ }; do out+=("$o:123"); done
	for o in ${SNMP_HOSTS//,/ }; do out+=("$o:161"); done
	for o in ${MEMCACHED_HOSTS//,/ }; do out+=("$o:11211"); done
	# by address, then port
	printf '%s\n' "${out[@]}" | sort -t: -k1,1n -k2,2n | paste -sd ' '
}

# The address of block offset OFF, family 4 or 6.
block_addr() { # FAMILY OFF
	if (($1 == 4)); then
		echo "198.18.$((16 * ID + $2 / 256)).$(($2 % 256))"
	else
		printf '%s%x\n' "$NET6" $((4096 + $2))
	fi
}
# The address of LAN offset OFF, family 4 or 6.
lan_addr() { # FAMILY OFF
	if (($1 == 4)); then
		echo "198.19.$((240 + ID)).$2"
	else
		printf '%s%x\n' "$LINK6" $((256 + $2))
	fi
}
# The daemon hosts (block offsets, ascending, once each).
daemon_hosts() {
	tr , '\n' <<<"$DNS_HOSTS,$NTP_HOSTS,$SNMP_HOSTS,$MEMCACHED_HOSTS" | sort -nu
}

# The truth of one family (4 or 6) of the blocks or (with --lan) the LAN.
truth_of() { # FAMILY
	local ports=$PORTS table=rule_table loc
	((SERVICES == 0)) || ports=$SERVICE_PORTS
	[[ $SCAN != udp ]] || ports=$UDP_PORTS
	if [[ $LAN == 1 || $SCAN == arp ]]; then
		if (($1 == 4)); then
			loc=(-v net=198.19 -v b3=$((240 + ID)))
		else
			loc=(-v pfx="$LINK6")
		fi
		loc+=(-v lan=1 -v hosts="$LAN_HOSTS")
		table=lan_table
	else
		if (($1 == 4)); then
			loc=(-v net=198.18 -v b3=$((16 * ID)))
		else
			loc=(-v pfx="$NET6")
			table=rule_table6
		fi
		((SERVICES == 0)) || table=${table}_services
		loc+=(-v daemons="$(daemon_sockets)")
	fi
	"$table" | awk -v fam="$1" "${loc[@]}" -v scan="$SCAN" -v silent="$SILENT" \
		-v ports="$ports" -v open="$TCP_OPEN" -v dport="$PROBE_PORT" \
		"$AWK_RULES$AWK_TRUTH"
}

# --banners: the open ports of the syn truth, named.
banners() {
	local p names=
	for p in ${SERVICE_PORTS//,/ }; do names+="$p $(service_product "$p")"$'\n'; done
	awk -v names="$names" 'BEGIN {
		n = split(names, l, "\n")
		for (i = 1; i <= n; i++) if (l[i] != "") {
			p = l[i]; sub(/ .*/, "", p)
			name[p] = substr(l[i], length(p) + 2)
		}
	}
	$3 == "open" && ($2 in name) { print $1, $2, name[$2] }'
}

truth() {
	if ((BANNERS)); then
		truth_families | banners
	else
		truth_families
	fi
}
truth_families() {
	case $FAMILY in
	4) truth_of 4 ;;
	6) truth_of 6 ;;
	all)
		truth_of 4
		# ICMPv6 has no timestamp: all is the IPv4 part
		[[ $SCAN == timestamp ]] || truth_of 6
		;;
	esac
}

ruleset() {
	local rules4 rules6 lan4 lan6 loss=
	local sfx=
	((SERVICES == 0)) || sfx=_services
	rules4=$("rule_table$sfx" | awk -v fam=4 -v net=198.18 -v b3=$((16 * ID)) \
		-v block="$BLOCK" -v tag= "$AWK_RULES$AWK_NFT")
	rules6=$("rule_table6$sfx" | awk -v fam=6 -v pfx="$NET6" \
		-v block="$BLOCK6" -v tag="ipv6 " "$AWK_RULES$AWK_NFT")
	lan4=$(lan_table | awk -v fam=4 -v lan=1 -v net=198.19 -v b3=$((240 + ID)) \
		-v block="$LAN_NET" -v tag="lan " "$AWK_RULES$AWK_NFT")
	lan6=$(lan_table | awk -v fam=6 -v lan=1 -v pfx="$LINK6" \
		-v block="$LAN6_NET" -v tag="lan ipv6 " "$AWK_RULES$AWK_NFT")
	((LOSS == 0)) || printf -v loss '\t\t%s\n' \
		"numgen random mod 100 < $LOSS counter drop comment \"loss $LOSS%\""
	# Neighbour discovery is never dropped, as ARP (not seen by inet tables)
	# is not: by a table's any/icmp rule it would break the LAN (the IPv6
	# LAN host that drops everything still answers ND, as the IPv4 one
	# answers ARP), and a lost probe of the neighbour's reachability would
	# not be random loss but, after 3 in a row, every answer lost until it
	# is resolved again.
	# Replies (SYN-ACK, RST, UDP answers, and the ICMP/RST made by reject)
	# pass the output chain, so the loss applies to them too. The silent
	# blocks die at ingress, before routing, conntrack or the input chain;
	# the counters tell benchmarks how much arrived.
	# The kernel sends an IPv6 AnyIP address's ICMPv6 errors (and nft's
	# rejects, which are the kernel's) from lab0's address; for a UDP port
	# unreachable that reads as a router's "filtered", not the host's
	# "closed". So the output chain sets their source to the probed address,
	# the inner packet's destination (at 48 + 24 bytes; 48 + 6 is its next
	# header), checksum updated by nft. TCP's ICMPv6 errors stay as they are.
	cat <<EOF
table inet lab {
	chain input {
		type filter hook input priority filter; policy accept;
		icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept comment "neighbour discovery: never dropped"
$loss$rules4
$rules6
$lan4
$lan6
		counter comment "to the kernel: listener or RST"
	}
	chain output {
		type filter hook output priority filter; policy accept;
		icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept comment "neighbour discovery: never dropped"
${loss}		icmpv6 type destination-unreachable icmpv6 code port-unreachable @nh,432,8 17 @nh,576,64 $NET6_HEX counter ip6 saddr set @nh,576,128 comment "udp port unreachable from the probed address"
		counter comment "sent"
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
		dnsmasq) pkg=dnsmasq-base ;;
		chronyd) pkg=chrony ;;
		snmpd | memcached | vsftpd | tcpdump | openssl) pkg=$tool ;;
		sshd) pkg=openssh-server ;;
		ssh-keygen) pkg=openssh-client ;;
		exim4) pkg=exim4-daemon-light ;;
		nginx) pkg=nginx-light ;;
		dovecot) pkg="dovecot-core dovecot-pop3d dovecot-imapd" ;;
		redis-server) pkg=redis-server ;;
		setpriv) pkg=util-linux ;;
		*) pkg=coreutils ;;
		esac
		if ! command -v "$tool" >/dev/null 2>&1; then
			echo "lab.sh: '$tool' not found: install the Debian package $pkg (scripts/deps.sh test does, without starting its service)" >&2
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

# The daemons `up` starts; each NAME has RUN_DIR/NAME.pid (its pid, recorded
# by `up`), NAME.log, and files of its own in RUN_DIR.
readonly DAEMONS="dnsmasq chronyd snmpd memcached"

# The recorded pid of daemon NAME if that process still runs it: its command
# line names a file in RUN_DIR (with the slash: lab 1's is no prefix of
# lab 10's), so a reused pid is never killed.
daemon_pid() { # NAME
	local pid cmdline comm
	[[ -r $RUN_DIR/$1.pid ]] || return 1
	pid=$(<"$RUN_DIR/$1.pid")
	[[ $pid =~ ^[0-9]+$ ]] && running "$pid" || return 1
	# (--services: vsftpd's and sshd's is their inetd, in python)
	comm=$1
	[[ $1 != vsftpd && $1 != sshd ]] || comm=python3
	[[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$comm" ]] || return 1
	cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
	[[ $cmdline == *"$RUN_DIR/"* ]] && echo "$pid"
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
	# --services: each TCP daemon by its recorded pid first, so it stops its
	# own workers and connections' processes (PostgreSQL: SIGINT, its fast
	# shutdown; SIGTERM would wait for its clients); whatever is left then
	# goes with the rest of the namespace below.
	for b in $SERVICE_DAEMONS; do
		pid=$(daemon_pid "$b") && pids+=("$pid")
	done
	if ((${#pids[@]} > 0)); then
		pid=$(daemon_pid postgres) && kill -INT "$pid" 2>/dev/null
		kill "${pids[@]}" 2>/dev/null
		for ((tries = 0; tries < 250; tries++)); do
			alive=()
			for pid in "${pids[@]}"; do
				running "$pid" && alive+=("$pid")
			done
			((${#alive[@]} > 0)) || break
			sleep 0.02
		done
		pids=()
	fi
	pid=$(listener_pid) && pids+=("$pid")
	pid=$(tunnel_pid) && pids+=("$pid")
	for b in $DAEMONS; do
		pid=$(daemon_pid "$b") && pids+=("$pid")
	done
	# memcached leaves its event loop on SIGTERM only at its once-a-second
	# clock tick, and has nothing to save.
	pid=$(daemon_pid memcached) && kill -KILL "$pid" 2>/dev/null
	# Anything else still inside the namespace would keep it (and its veth)
	# alive after `ip netns del`.
	if ns_exists; then
		for pid in $(ip netns pids "$NS" 2>/dev/null); do pids+=("$pid"); done
	fi
	if ((${#pids[@]} > 0)); then
		kill "${pids[@]}" 2>/dev/null
		for ((tries = 0; tries < 150; tries++)); do
			alive=()
			for pid in "${pids[@]}"; do
				running "$pid" && alive+=("$pid")
			done
			((${#alive[@]} > 0)) || break
			sleep 0.02
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
		# takes the addresses (the LAN's too) and the link routes with it
		ip link del dev "$HOST_IF" 2>/dev/null
	fi
	# --tunnel: the host end (with its routes) does not go with the
	# namespace; a tun one goes with its holder, stopped above.
	ip link del dev "$TUN_IF" 2>/dev/null
	ns_exists && ip netns del "$NS" 2>/dev/null
	# configurations, logs, pid files, snmpd's persistent data, TFTP root
	# (--services: the daemons' too, certificates, PostgreSQL's cluster)
	rm -rf "$RUN_DIR"
	# sshd's privilege separation directory, if a lab made it and no lab
	# with --services is left (up and down hold the lock)
	if [[ -e $RUN_ROOT/sshd-privsep-made ]] &&
		! compgen -G "$RUN_ROOT/*/services" >/dev/null; then
		rmdir /run/sshd 2>/dev/null
		rm -f "$RUN_ROOT/sshd-privsep-made"
	fi
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

# Starts a process in the namespace, in the background: COMMAND... runs as
# NAME, its pid recorded in RUN_DIR/NAME.pid, its output in RUN_DIR/NAME.log.
# setsid+nohup: it must outlive this script and its caller's session (CI
# runners kill their process group); 9<&- drops the lock. Every exec keeps
# the pid (setsid forks only for a process group leader, which a background
# job of a script is not).
spawn() { # NAME COMMAND...
	local name=$1
	shift
	setsid nohup ip netns exec "$NS" "$@" \
		</dev/null >>"$RUN_DIR/$name.log" 2>&1 9<&- &
	echo "$!" >"$RUN_DIR/$name.pid"
}

start_listener() {
	write_listener
	spawn listener "$(python_bin)" -I "$RUN_DIR/listener.py" \
		"$LISTENER_TAG" "$ID" "$LISTEN_PORTS"
}

# --- the tunnel (up --tunnel) ---------------------------------------------------

# The recorded pid of the tun pair's holder, if that process still runs it.
tunnel_pid() {
	local pid cmdline
	[[ -r $RUN_DIR/tunnel.pid ]] || return 1
	pid=$(<"$RUN_DIR/tunnel.pid")
	[[ $pid =~ ^[0-9]+$ ]] && running "$pid" || return 1
	cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
	[[ $cmdline == *"$RUN_DIR/tunnel.py "* ]] && echo "$pid"
}

write_tunnel() {
	cat >"$RUN_DIR/tunnel.py" <<'EOF'
# synsweep lab tunnel: two tun devices (no link layer, bare IP packets)
# joined in user space: a packet one device's kernel routes into it comes
# out of the other. Both devices go away when this process ends.
# argv: HOST_DEV PEER_DEV READY_FILE
import fcntl, os, select, struct, sys

os.closerange(3, 65536)
TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


a, b = open_tun(sys.argv[1]), open_tun(sys.argv[2])
open(sys.argv[3], "w").close()
peer = {a: b, b: a}
poll = select.epoll()
for fd in (a, b):
    poll.register(fd, select.EPOLLIN)
while True:
    for fd, _ in poll.poll():
        # a bounded drain, so neither direction starves the other
        for _ in range(512):
            try:
                packet = os.read(fd, 65536)
            except BlockingIOError:
                break
            try:
                os.write(peer[fd], packet)
            except OSError:  # that end is down: lost, as on a wire
                pass
EOF
}

# The tunnel's two ends, addressed, and the namespace's end in place.
start_tunnel() {
	local tries
	case $TUNNEL in
	tun)
		[[ -c /dev/net/tun ]] || die "--tunnel tun needs /dev/net/tun (CONFIG_TUN)"
		write_tunnel
		rm -f "$RUN_DIR/tunnel.ready"
		setsid nohup "$(python_bin)" -I "$RUN_DIR/tunnel.py" "$TUN_IF" "$TUN_PEER_IF" \
			"$RUN_DIR/tunnel.ready" </dev/null >>"$RUN_DIR/tunnel.log" 2>&1 9<&- &
		echo "$!" >"$RUN_DIR/tunnel.pid"
		for ((tries = 0; tries < 250; tries++)); do
			[[ -e $RUN_DIR/tunnel.ready ]] && break
			running "$(<"$RUN_DIR/tunnel.pid")" || break
			sleep 0.02
		done
		if [[ ! -e $RUN_DIR/tunnel.ready ]]; then
			sed 's/^/  /' "$RUN_DIR/tunnel.log" >&2
			die "the tunnel's tun devices did not come up (its log above)"
		fi
		# the descriptor stays attached as the device moves
		ip link set dev "$TUN_PEER_IF" netns "$NS" name "$NS_TUN_IF"
		;;
	ipip)
		ip link add "$TUN_IF" type ipip local "$SOURCE_IP" remote "$GATEWAY_IP" 2>/dev/null ||
			die "this kernel has no ipip tunnels (CONFIG_NET_IPIP): use --tunnel tun"
		ip -n "$NS" link add "$NS_TUN_IF" type ipip local "$GATEWAY_IP" remote "$SOURCE_IP"
		;;
	esac
	# IPv6 as quiet as on the veth, set before the links go up; deep
	# queues: a tun device drops what its reader has not taken yet.
	local key
	for key in disable_ipv6=0 accept_ra=0 router_solicitations=0 accept_dad=0 \
		mldv1_unsolicited_report_interval=1 mldv2_unsolicited_report_interval=1; do
		echo "${key#*=}" >"/proc/sys/net/ipv6/conf/$TUN_IF/${key%=*}"
		ns_sysctl "net.ipv6.conf.$NS_TUN_IF.${key%=*}" "${key#*=}"
	done
	ip link set dev "$TUN_IF" txqueuelen 10000
	ip -n "$NS" link set dev "$NS_TUN_IF" txqueuelen 10000
	ip addr add "$TUN_SOURCE_IP/30" dev "$TUN_IF"
	ip -n "$NS" addr add "$TUN_GATEWAY_IP/30" dev "$NS_TUN_IF"
	if [[ $TUNNEL == tun ]]; then
		ip -6 addr add "$TUN_SOURCE_IP6/64" dev "$TUN_IF" nodad
		ip -6 -n "$NS" addr add "$TUN_GATEWAY_IP6/64" dev "$NS_TUN_IF" nodad
	fi
	ip -n "$NS" link set "$NS_TUN_IF" up
	ip link set "$TUN_IF" up
	echo "$TUNNEL" >"$RUN_DIR/tunnel"
}

# --- the UDP daemons -------------------------------------------------------------

# The addresses of the daemon hosts OFFSETS (comma separated), family 4 or 6.
daemon_addrs() { # FAMILY OFFSETS
	local o
	for o in ${2//,/ }; do block_addr "$1" "$o"; done
}

# Each daemon runs in the foreground in the namespace, from a configuration
# in RUN_DIR that reads nothing of the host's, writes only into RUN_DIR and
# binds only its daemon hosts' addresses (real addresses on lo: a socket
# bound to one answers from it, so an answer comes from the probed address
# and port; TFTP's from another port of it, as TFTP does). As root: the
# namespace is theirs alone, and RUN_DIR is root's.
start_daemons() {
	local a addrs=() list=
	# dnsmasq: DNS and TFTP. No upstream, no /etc/hosts, no /etc/resolv.conf:
	# it answers the names of .lab itself and refuses the rest (an answer
	# all the same). The TFTP root is empty: a read request gets an error
	# packet, one datagram, no transfer to time out.
	mapfile -t addrs < <(daemon_addrs 4 "$DNS_HOSTS"; daemon_addrs 6 "$DNS_HOSTS")
	mkdir -p "$RUN_DIR/tftp"
	{
		echo "# synsweep lab $ID: DNS (53) and TFTP (69) on its daemon hosts"
		echo "port=53"
		echo "bind-interfaces"
		for a in "${addrs[@]}"; do echo "listen-address=$a"; done
		echo "no-resolv"
		echo "no-hosts"
		echo "local=/lab/"
		echo "host-record=ns.lab,${addrs[0]}"
		echo "enable-tftp"
		echo "tftp-root=$RUN_DIR/tftp"
		echo "user=root"
		echo "log-facility=$RUN_DIR/dnsmasq.log"
	} >"$RUN_DIR/dnsmasq.conf"
	spawn dnsmasq dnsmasq --keep-in-foreground --pid-file= \
		--conf-file="$RUN_DIR/dnsmasq.conf"

	# chronyd: serves its own clock (local stratum 8: answers unsynchronised,
	# no sources); -x: never adjusts the system clock, which the namespace
	# shares with the host. No command port or socket (the socket's path
	# would be every lab's). One bindaddress per family.
	cat >"$RUN_DIR/chrony.conf" <<EOF
# synsweep lab $ID: NTP (123) on its NTP host
bindaddress $(daemon_addrs 4 "$NTP_HOSTS")
bindaddress $(daemon_addrs 6 "$NTP_HOSTS")
allow 198.18.0.0/15
allow 2001:2::/48
local stratum 8
cmdport 0
bindcmdaddress /
pidfile $RUN_DIR/chronyd.self.pid
EOF
	spawn chronyd chronyd -n -x -u root -f "$RUN_DIR/chrony.conf" \
		-l "$RUN_DIR/chronyd.log"

	# snmpd: v1/v2c, read-only community public (v3 only answers discovery).
	# -C: no configuration but this one; -m '': no MIB files (Debian ships
	# few; the agent answers by OID); -I -smux: no SMUX listener on TCP 199
	# of every address. Its persistent data goes to RUN_DIR, not
	# /var/lib/snmp.
	for a in $(daemon_addrs 4 "$SNMP_HOSTS"); do list+=,udp:$a:161; done
	for a in $(daemon_addrs 6 "$SNMP_HOSTS"); do list+=,udp6:[$a]:161; done
	cat >"$RUN_DIR/snmpd.conf" <<EOF
# synsweep lab $ID: SNMP (161) on its daemon hosts
agentaddress ${list#,}
rocommunity public
rocommunity6 public
sysdescr synsweep lab $ID
EOF
	mkdir -p "$RUN_DIR/snmp"
	spawn snmpd env SNMP_PERSISTENT_DIR="$RUN_DIR/snmp" snmpd -f -C \
		-c "$RUN_DIR/snmpd.conf" -m '' -I -smux -Lf "$RUN_DIR/snmpd.log"

	# memcached: UDP only (-p 0: no TCP; UDP is off by default), one
	# thread, little memory. Its -P (a pid file of its own) names RUN_DIR on
	# its command line, which daemon_pid looks for.
	list=
	for a in $(daemon_addrs 4 "$MEMCACHED_HOSTS"); do list+=,$a; done
	for a in $(daemon_addrs 6 "$MEMCACHED_HOSTS"); do list+=,[$a]; done
	spawn memcached memcached -U 11211 -p 0 -l "${list#,}" -u root -t 1 \
		-m 8 -c 64 -P "$RUN_DIR/memcached.self.pid"
}

# --- the TCP daemons (up --services) ----------------------------------------------

# An inetd for one port: accepts on [::]:PORT (IPv4 too) with a deep queue,
# runs COMMAND per connection, the connection on its stdin and stdout.
write_inetd() { # FILE
	cat >"$1" <<'EOF'
# synsweep lab: inetd for one daemon. argv: PORT COMMAND...
import os, signal, socket, sys

os.closerange(3, 65536)
port, argv = int(sys.argv[1]), sys.argv[2:]
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", port))
s.listen(4096)  # clamped by somaxconn
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps them
while True:
    try:
        conn, _ = s.accept()
    except OSError:  # the peer already gave up
        continue
    if os.fork() == 0:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.dup2(conn.fileno(), 0)
        os.dup2(conn.fileno(), 1)
        os.execv(argv[0], argv)
    conn.close()
EOF
}

# The newest PostgreSQL server's bin directory.
pg_bindir() {
	local d
	d=$(compgen -G '/usr/lib/postgresql/*/bin/postgres' | sort -V | tail -n 1) || return 1
	[[ -n $d ]] && dirname "$d"
}

# A self-signed certificate (RSA 2048, SHA-256, 30 days from now): NAME.crt
# and NAME.key in CERT_DIR, SUBJECT as openssl -subj, one DNS SAN.
make_cert() { # NAME SUBJECT DNS
	openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 \
		-subj "$2" -addext "subjectAltName=DNS:$3" \
		-keyout "$CERT_DIR/$1.key" -out "$CERT_DIR/$1.crt" \
		>>"$CERT_DIR/openssl.log" 2>&1 ||
		die "openssl could not make the $1 certificate; its log: $CERT_DIR/openssl.log"
	chmod 600 "$CERT_DIR/$1.key"
}

# The TLS ports' certificates ("PORT NAME"): web (nginx), mail (exim4,
# dovecot and PostgreSQL).
readonly CERT_PORTS="25 mail
110 mail
143 mail
443 web
5432 mail
8443 web"

# Each daemon runs in the foreground, in the namespace, its pid the one spawn
# records (nginx's master, dovecot's master, the postmaster and exim's
# listening daemon fork their workers and connections' processes; vsftpd and
# sshd run one per connection under inetd.py), from a configuration of its
# own in RUN_DIR/NAME/ that reads none of the host's configuration files
# (only the packages' binaries, the user database, dovecot's DH parameters
# in /usr/share and OpenSSH's moduli) and writes only into RUN_DIR (but
# sshd's privilege separation directory /run/sshd, a compiled-in path: made
# if missing, removed at `down` only if a lab made it and no lab with
# --services is left). Every one listens on the wildcard addresses, both
# families, so all hosts of both blocks serve it; each takes ~600 and more
# connections at once (the limits below), behind deep listen queues.
start_services() {
	local d pgbin hard
	pgbin=$(pg_bindir) || die "no PostgreSQL server under /usr/lib/postgresql (scripts/deps.sh test installs it)"
	echo "$SERVICE_PORTS" >"$RUN_DIR/services"
	# The daemons hold a descriptor per connection (redis: maxclients + 32).
	hard=$(ulimit -Hn)
	[[ $hard == unlimited ]] && hard=65536
	ulimit -n "$hard" 2>/dev/null || ulimit -n 65536 2>/dev/null || true

	mkdir -p "$CERT_DIR"
	make_cert web "/CN=lab.synsweep.test/O=Synsweep Lab/OU=banners" lab.synsweep.test
	make_cert mail "/CN=mail.synsweep.test/O=Synsweep Lab/OU=mail" mail.synsweep.test

	# vsftpd (21): anonymous read-only logins into an empty directory (it
	# wants one kind of login; local users would be the host's), no client
	# limits. Its greeting is the default "220 (vsFTPd 3.0.3)". The seccomp
	# sandbox off: its filter predates newer kernels' and libc's syscalls.
	# vsftpd's own listener has a fixed listen backlog of 32: a burst of
	# connections overflowed it (SYNs dropped: a scan would see port 21
	# filtered; measured 8 of 256 connections lost). So it runs in inetd
	# mode (listen=NO: the session on stdin/stdout), one vsftpd per
	# connection, started by RUN_DIR/inetd.py, which listens on [::]:21
	# (both families) with a backlog of 4096; that launcher is daemon
	# vsftpd (its pid in vsftpd.pid).
	d=$RUN_DIR/vsftpd
	mkdir -p "$d/empty"
	write_inetd "$RUN_DIR/inetd.py"
	cat >"$d/vsftpd.conf" <<CONF
# synsweep lab $ID: FTP (21) on every address, one vsftpd per connection
listen=NO
listen_ipv6=NO
anonymous_enable=YES
anon_root=$d/empty
no_anon_password=YES
local_enable=NO
write_enable=NO
anon_upload_enable=NO
anon_mkdir_write_enable=NO
max_clients=0
max_per_ip=0
secure_chroot_dir=$d/empty
pam_service_name=vsftpd
seccomp_sandbox=NO
tcp_wrappers=NO
xferlog_enable=NO
vsftpd_log_file=$d/vsftpd.xfer.log
idle_session_timeout=30
CONF
	chmod 600 "$d/vsftpd.conf"
	spawn vsftpd "$(python_bin)" -I "$RUN_DIR/inetd.py" 21 /usr/sbin/vsftpd "$d/vsftpd.conf"

	# sshd (22): own host keys, nobody may log in. Its listener's backlog is
	# a fixed 128 and each connection costs it a fork and a re-exec (~15 ms
	# of CPU here): 600 connections at once overflowed the queue (half of
	# them lost). So, as vsftpd, it runs in inetd mode (sshd -i, one per
	# connection) behind inetd.py (daemon sshd, its pid in sshd.pid), which
	# never refuses. MaxStartups and PerSourceMaxStartups would lift the
	# standalone listener's limits; with -i there are none.
	d=$RUN_DIR/sshd
	mkdir -p "$d"
	chmod 700 "$d"
	ssh-keygen -q -t ed25519 -N '' -C "synsweep lab $ID" -f "$d/ssh_host_ed25519_key" >/dev/null
	ssh-keygen -q -t ecdsa -N '' -C "synsweep lab $ID" -f "$d/ssh_host_ecdsa_key" >/dev/null
	if [[ ! -d /run/sshd ]]; then
		mkdir -m 755 /run/sshd
		: >"$RUN_ROOT/sshd-privsep-made"
	fi
	cat >"$d/sshd_config" <<CONF
# synsweep lab $ID: SSH (22) on every address; nobody logs in
Port 22
AddressFamily any
ListenAddress 0.0.0.0
ListenAddress ::
HostKey $d/ssh_host_ed25519_key
HostKey $d/ssh_host_ecdsa_key
PidFile $d/sshd.self.pid
UsePAM no
MaxStartups 4096
PerSourceMaxStartups none
LoginGraceTime 20
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile none
DenyUsers *
UseDNS no
PrintMotd no
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
PermitTunnel no
CONF
	spawn sshd "$(python_bin)" -I "$RUN_DIR/inetd.py" 22 /usr/sbin/sshd -i -e -f "$d/sshd_config"

	# exim4 (25): a listening daemon in the foreground (-bdf) on port 25 of
	# every address (local_interfaces unset), STARTTLS offered to everyone,
	# no limit but smtp_accept_max, no ident or DNS lookups, no queue
	# runner; every recipient is refused, so nothing is ever delivered.
	# Greets "220 mail.synsweep.test ESMTP Exim 4.96 DATE". Exim reads its
	# certificate and spool as its user.
	d=$RUN_DIR/exim4
	mkdir -p "$d/spool"
	cp "$CERT_DIR/mail.crt" "$CERT_DIR/mail.key" "$d/"
	cat >"$d/exim4.conf" <<CONF
# synsweep lab $ID: SMTP (25) on every address; accepts no mail
primary_hostname = mail.synsweep.test
exim_path = /usr/sbin/exim4
spool_directory = $d/spool
log_file_path = $d/%slog
pid_file_path = $d/exim.self.pid
keep_environment =
tls_advertise_hosts = *
tls_certificate = $d/mail.crt
tls_privatekey = $d/mail.key
smtp_accept_max = 4096
smtp_accept_queue = 0
smtp_accept_reserve = 0
smtp_connect_backlog = 4096
rfc1413_query_timeout = 0s
host_lookup =
acl_smtp_rcpt = acl_check_rcpt

begin acl
acl_check_rcpt:
  deny message = this lab accepts no mail
CONF
	chown -R Debian-exim:Debian-exim "$d"
	chown root:root "$d/exim4.conf"
	chmod 644 "$d/exim4.conf"
	spawn exim4 /usr/sbin/exim4 -bdf -oX 25 -C "$d/exim4.conf"

	# nginx (80, 443 TLS 1.3 only, 8443 TLS 1.2 only): a fixed page,
	# Server: nginx/VERSION. Everything it writes (pid, logs, temp
	# directories) in its directory.
	d=$RUN_DIR/nginx
	mkdir -p "$d/tmp"
	cat >"$d/nginx.conf" <<CONF
# synsweep lab $ID: HTTP (80), HTTPS (443 TLS 1.3, 8443 TLS 1.2) on every address
daemon off;
master_process on;
user www-data;
worker_processes 2;
worker_rlimit_nofile 20000;
pid $d/nginx.self.pid;
error_log $RUN_DIR/nginx.log warn;
events {
	worker_connections 8192;
}
http {
	server_tokens on;
	access_log off;
	default_type text/html;
	client_body_temp_path $d/tmp/body;
	proxy_temp_path $d/tmp/proxy;
	fastcgi_temp_path $d/tmp/fastcgi;
	uwsgi_temp_path $d/tmp/uwsgi;
	scgi_temp_path $d/tmp/scgi;
	ssl_certificate $CERT_DIR/web.crt;
	ssl_certificate_key $CERT_DIR/web.key;
	server {
		listen 80 backlog=4096;
		listen [::]:80 backlog=4096;
		location / {
			return 200 "<html><head><title>synsweep lab $ID</title></head><body>synsweep lab</body></html>\n";
		}
	}
	server {
		listen 443 ssl backlog=4096;
		listen [::]:443 ssl backlog=4096;
		ssl_protocols TLSv1.3;
		location / {
			return 200 "<html><head><title>synsweep lab $ID</title></head><body>synsweep lab, TLS 1.3</body></html>\n";
		}
	}
	server {
		listen 8443 ssl backlog=4096;
		listen [::]:8443 ssl backlog=4096;
		ssl_protocols TLSv1.2;
		location / {
			return 200 "<html><head><title>synsweep lab $ID</title></head><body>synsweep lab, TLS 1.2</body></html>\n";
		}
	}
}
CONF
	spawn nginx /usr/sbin/nginx -e "$RUN_DIR/nginx.log" -p "$d/" -c "$d/nginx.conf"

	# dovecot (POP3 110, IMAP 143, STARTTLS/STLS; no pop3s/imaps): nobody
	# logs in (an empty passwd-file). Login processes in high-performance
	# mode (service_count 0), 2048 clients each, two of each kept running.
	d=$RUN_DIR/dovecot
	mkdir -p "$d/state"
	: >"$d/users"
	cat >"$d/dovecot.conf" <<CONF
# synsweep lab $ID: POP3 (110) and IMAP (143) on every address; nobody logs in
instance_name = synsweep-lab-$ID
base_dir = $d/base
state_dir = $d/state
protocols = imap pop3
listen = *, ::
log_path = $RUN_DIR/dovecot.log
ssl = yes
ssl_cert = <$CERT_DIR/mail.crt
ssl_key = <$CERT_DIR/mail.key
ssl_dh = </usr/share/dovecot/dh.pem
auth_mechanisms = plain
disable_plaintext_auth = yes
passdb {
  driver = passwd-file
  args = $d/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}
mail_location = maildir:/nonexistent
default_client_limit = 4096
default_process_limit = 256
service imap-login {
  inet_listener imap {
    port = 143
  }
  inet_listener imaps {
    port = 0
  }
  service_count = 0
  process_min_avail = 2
  client_limit = 2048
}
service pop3-login {
  inet_listener pop3 {
    port = 110
  }
  inet_listener pop3s {
    port = 0
  }
  service_count = 0
  process_min_avail = 2
  client_limit = 2048
}
service auth {
  client_limit = 8192
}
service anvil {
  client_limit = 8192
}
CONF
	spawn dovecot /usr/sbin/dovecot -F -c "$d/dovecot.conf"

	# PostgreSQL (5432): a cluster of its own, made as the postgres user;
	# SSL on (an SSLRequest gets 'S'), and every connection rejected by
	# pg_hba.conf (an error, no authentication). No fsync: nothing is kept.
	d=$RUN_DIR/postgres
	mkdir -p "$d"
	cp "$CERT_DIR/mail.crt" "$CERT_DIR/mail.key" "$d/"
	chown -R postgres:postgres "$d"
	chmod 700 "$d"
	(cd / && setpriv --reuid=postgres --regid=postgres --init-groups \
		"$pgbin/initdb" -D "$d/data" -U postgres -A reject -E UTF8 \
		--locale=C --no-sync) >>"$RUN_DIR/postgres.log" 2>&1 ||
		die "initdb failed; its log: $RUN_DIR/postgres.log"
	cat >>"$d/data/postgresql.conf" <<CONF

# synsweep lab $ID: PostgreSQL (5432) on every address; rejects everyone
listen_addresses = '*'
port = 5432
unix_socket_directories = '$d'
max_connections = 600
shared_buffers = 16MB
dynamic_shared_memory_type = mmap
huge_pages = off
fsync = off
synchronous_commit = off
full_page_writes = off
autovacuum = off
authentication_timeout = 20s
ssl = on
ssl_cert_file = '$d/mail.crt'
ssl_key_file = '$d/mail.key'
logging_collector = off
CONF
	cat >"$d/data/pg_hba.conf" <<CONF
# synsweep lab $ID: nobody gets in
local all all reject
host  all all 0.0.0.0/0 reject
host  all all ::/0 reject
CONF
	spawn postgres setpriv --reuid=postgres --regid=postgres --init-groups \
		"$pgbin/postgres" -D "$d/data"

	# redis-server (6379): every address, no protected mode, no persistence.
	# set-proc-title no: its command line keeps naming its configuration.
	d=$RUN_DIR/redis-server
	mkdir -p "$d"
	cat >"$d/redis.conf" <<CONF
# synsweep lab $ID: Redis (6379) on every address
bind * -::*
port 6379
protected-mode no
tcp-backlog 4096
daemonize no
supervised no
set-proc-title no
logfile ""
dir $d
save ""
appendonly no
maxclients 10000
timeout 0
CONF
	spawn redis-server /usr/bin/redis-server "$d/redis.conf"
}

# "NAME PROTO ADDRESS:PORT" (as ss prints it) for every socket `up` waits for.
expected_sockets() {
	local p o a port name
	for p in ${LISTEN_PORTS//,/ }; do
		echo "listener tcp 0.0.0.0:$p"
		echo "listener tcp [::]:$p"
	done
	if ((SERVICES)); then
		for p in ${SERVICE_PORTS//,/ }; do
			case $p in
			21) name=vsftpd ;;
			22) name=sshd ;;
			25) name=exim4 ;;
			80 | 443 | 8443) name=nginx ;;
			110 | 143) name=dovecot ;;
			5432) name=postgres ;;
			6379) name=redis-server ;;
			esac
			echo "$name tcp 0.0.0.0:$p"
			echo "$name tcp [::]:$p"
		done
	fi
	for o in $(daemon_sockets); do
		port=${o#*:}
		o=${o%:*}
		case $port in
		53 | 69) name=dnsmasq ;;
		123) name=chronyd ;;
		161) name=snmpd ;;
		11211) name=memcached ;;
		esac
		a=$(block_addr 4 "$o")
		echo "$name udp $a:$port"
		a=$(block_addr 6 "$o")
		echo "$name udp [$a]:$port"
	done
}

# Waits until the listener and every daemon listen; on failure (one exited,
# or LISTEN_TIMEOUT) says which and shows its log.
wait_ready() { # [TIMEOUT]
	local expected listening missing names name pid deadline bad
	local timeout=${1:-$LISTEN_TIMEOUT}
	expected=$(expected_sockets)
	deadline=$((SECONDS + timeout))
	while :; do
		# a dual-stack socket (*:P, IPV6_V6ONLY off) serves both families
		listening=$(ip netns exec "$NS" ss -Hltun | awk '{ print $1, $5 }
			$5 ~ /^\*:/ { p = substr($5, 2); print $1, "0.0.0.0" p; print $1, "[::]" p }')
		# the expected sockets not (yet) listening
		missing=$(awk 'NR == FNR { have[$0] = 1; next }
			!(($2 " " $3) in have)' <(echo "$listening") <(echo "$expected"))
		[[ -z $missing ]] && return 0
		mapfile -t names < <(awk '{ print $1 }' <<<"$missing" | sort -u)
		bad=()
		for name in "${names[@]}"; do
			pid=$(<"$RUN_DIR/$name.pid")
			running "$pid" || bad+=("$name")
		done
		((${#bad[@]} == 0 && SECONDS < deadline)) || break
		sleep 0.05
	done
	((${#bad[@]} > 0)) || bad=("${names[@]}")
	for name in "${bad[@]}"; do
		if running "$(<"$RUN_DIR/$name.pid")"; then
			say "$name is not listening after ${timeout}s on:$(missing_of "$name" "$missing"); its log:"
		else
			say "$name exited before listening on:$(missing_of "$name" "$missing"); its log:"
		fi
		sed 's/^/  /' "$RUN_DIR/$name.log" >&2
		[[ -s $RUN_DIR/$name.log ]] || echo "  (empty)" >&2
	done
	return 1
}
missing_of() { # NAME MISSING
	awk -v n="$1" '$1 == n { printf " %s", $3 }' <<<"$2"
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
	need_tools ip ss nft python3 awk flock setsid nohup dnsmasq chronyd snmpd memcached
	((SERVICES == 0)) || need_tools vsftpd sshd ssh-keygen exim4 nginx dovecot \
		redis-server openssl setpriv comm
	if ((SERVICES)); then
		[[ -x /usr/lib/dovecot/pop3 && -x /usr/lib/dovecot/imap ]] ||
			die "dovecot's pop3 or imap is missing: install dovecot-pop3d and dovecot-imapd (scripts/deps.sh test does)"
		pg_bindir >/dev/null || die "no PostgreSQL server: install postgresql (scripts/deps.sh test does)"
	fi
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
	# ... but the daemon hosts are real addresses too: a daemon binds them
	# (AnyIP would need IP_FREEBIND, and IPv6 errors would come from lab0's
	# address). The LAN hosts are addresses on lab0: the namespace answers
	# ARP and neighbour solicitations for them, and for no other address of
	# the LAN (its prefix routes lead back over lab0). nodad: usable at once,
	# and no DAD noise. The IPv6 LAN hosts are deprecated (preferred_lft 0):
	# they answer as any address does, but the kernel picks lab0's own
	# address (the gateway's) as the source where it chooses one (the
	# AnyIP addresses' ICMPv6 errors), as it did before the LAN existed.
	local o
	{
		for o in $(daemon_hosts); do
			echo "address add $(block_addr 4 "$o")/32 dev lo"
			echo "address add $(block_addr 6 "$o")/128 dev lo nodad"
		done
		for o in ${LAN_HOSTS//,/ }; do
			echo "address add $(lan_addr 4 "$o")/24 dev $NS_IF"
			echo "address add $(lan_addr 6 "$o")/64 dev $NS_IF nodad preferred_lft 0"
		done
	} | ip -n "$NS" -batch -
	ip addr add "$LAN_SOURCE_IP/24" dev "$HOST_IF"

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

	if [[ -n $TUNNEL ]]; then
		start_tunnel
		# no next hop to name: the tunnel's far end is the only one
		ip route add "$BLOCK" dev "$TUN_IF"
	else
		ip route add "$BLOCK" via "$GATEWAY_IP" dev "$HOST_IF"
	fi
	ip route add "$SILENT_BLOCK" via "$GATEWAY_IP" dev "$HOST_IF"
	if [[ $TUNNEL == tun ]]; then
		ip -6 route add "$BLOCK6_NET" dev "$TUN_IF"
	else
		ip -6 route add "$BLOCK6_NET" via "$GATEWAY_IP6" dev "$HOST_IF"
	fi
	ip -6 route add "$SILENT_BLOCK6" via "$GATEWAY_IP6" dev "$HOST_IF"

	# both at once: each takes a few tens of ms to listen
	start_listener
	start_daemons
	if ((SERVICES)); then
		start_services
		wait_ready "$SERVICES_TIMEOUT"
	else
		wait_ready
	fi

	UP_DONE=1
	trap - EXIT INT TERM HUP
	local more=
	((SERVICES == 0)) || more=", services $SERVICE_DAEMONS on $SERVICE_PORTS"
	[[ -z $TUNNEL ]] || more+=", blocks over $TUNNEL tunnel $TUN_IF $TUN_SOURCE_IP -> $TUN_GATEWAY_IP"
	say "lab $ID up: $HOST_IF $SOURCE_IP -> $GATEWAY_IP," \
		"$SOURCE_IP6 -> $GATEWAY_IP6 ($NS_MAC), blocks $BLOCK $BLOCK6," \
		"silent $SILENT_BLOCK $SILENT_BLOCK6, LAN $LAN_NET $LAN6_NET," \
		"daemons $DAEMONS$more, loss $LOSS%"
}

cmd_down() {
	need_root
	need_tools ip
	take_lock
	teardown
	say "lab $ID down"
}

is_up() {
	local name
	ns_exists && link_exists && listener_pid >/dev/null || return 1
	for name in $DAEMONS; do
		daemon_pid "$name" >/dev/null || return 1
	done
	if [[ -e $RUN_DIR/tunnel ]]; then
		ip link show dev "$TUN_IF" >/dev/null 2>&1 || return 1
		[[ $(<"$RUN_DIR/tunnel") != tun ]] || tunnel_pid >/dev/null || return 1
	fi
	[[ -e $RUN_DIR/services ]] || return 0
	for name in $SERVICE_DAEMONS; do
		daemon_pid "$name" >/dev/null || return 1
	done
}

cmd_status() {
	need_tools ip
	if is_up; then
		local more=
		[[ ! -e $RUN_DIR/services ]] || more=", services $SERVICE_PORTS"
		echo "lab $ID: up (netns $NS, blocks $BLOCK $BLOCK6$more, loss $(cat "$RUN_DIR/loss" 2>/dev/null || echo '?')%)"
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
	echo "LAB_UDP_PORTS=$UDP_PORTS"
	# the daemons' sockets, ADDRESS:PORT/udp (IPv6 in brackets)
	local o list4=() list6=()
	for o in $(daemon_sockets); do
		list4+=("$(block_addr 4 "${o%:*}"):${o#*:}/udp")
		list6+=("[$(block_addr 6 "${o%:*}")]:${o#*:}/udp")
	done
	echo "LAB_DAEMONS=$(IFS=,; echo "${list4[*]}")"
	echo "LAB_DAEMONS6=$(IFS=,; echo "${list6[*]}")"
	echo "LAB_LAN=$LAN_NET"
	echo "LAB_LAN_SOURCE=$LAN_SOURCE_IP"
	echo "LAB_LAN6=$LAN6_NET"
	echo "LAB_LAN_SOURCE6=$SOURCE_IP6"
	# up --tunnel: the link without a link layer and our addresses on it
	if [[ -e $RUN_DIR/tunnel ]]; then
		echo "LAB_TUNNEL=$(<"$RUN_DIR/tunnel")"
		echo "LAB_TUNNEL_IFACE=$TUN_IF"
		echo "LAB_TUNNEL_SOURCE_IP=$TUN_SOURCE_IP"
		[[ $(<"$RUN_DIR/tunnel") != tun ]] || echo "LAB_TUNNEL_SOURCE_IP6=$TUN_SOURCE_IP6"
	fi
	# up --services: its TCP daemons' ports and certificates
	if [[ -e $RUN_DIR/services ]]; then
		echo "LAB_SERVICE_PORTS=$SERVICE_PORTS"
		echo "LAB_CERT_WEB=$CERT_DIR/web.crt"
		echo "LAB_CERT_MAIL=$CERT_DIR/mail.crt"
	fi
}

# "PORT FILE" per TLS port of a lab up with --services, by port: the PEM
# certificate that port presents (after STARTTLS, STLS or an SSLRequest for
# 25, 110, 143 and 5432).
cmd_certs() {
	[[ -e $RUN_DIR/services && -r $CERT_DIR/web.crt && -r $CERT_DIR/mail.crt ]] ||
		die "lab $ID is not up with --services (no $CERT_DIR)"
	local port name
	while read -r port name; do
		echo "$port $CERT_DIR/$name.crt"
	done <<<"$CERT_PORTS"
}

case $CMD in
up) cmd_up ;;
down) cmd_down ;;
truth) truth ;;
ruleset) ruleset ;;
info) cmd_info ;;
status) cmd_status ;;
certs) cmd_certs ;;
esac
