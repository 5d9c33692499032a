//! The command line: one table of options, and everything made from it.
//!
//! `OPTIONS` is the only place an option is defined. Each row gives its
//! flag names, help text, default, whether it belongs to the scan's
//! identity (what a checkpoint must agree on to resume: which probe goes
//! where, in which order, into which file) and how its effective value is
//! written back as a `name = value` line. From that table come the clap
//! parser, configuration files (`-c`), `--echo`, the checkpoint's saved
//! configuration and the resume identity; so a new option cannot be
//! parsed yet forgotten by any of them.
//!
//! Flag names follow masscan where it has one (`--rate`, `--excludefile`,
//! `--router-mac`, `--adapter`, `-iL`, `-oL`...), and nmap's words for port
//! states and reasons.

use crate::checkpoint::Checkpoint;
use crate::conffile::{self, OptionKind};
use crate::config::{CliError, Config, ResumePoint};
use crate::domain::Protocol;
use crate::engine::rate::Rate;
use crate::targets::grammar::port_list;
use clap::{Arg, ArgAction, ArgMatches};
use std::ffi::OsString;
use std::path::PathBuf;

/// How an option takes its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Takes {
    /// `--name VALUE`, with the value's name for help.
    Value(&'static str),
    /// `--name` alone.
    Switch,
    /// `-f`, `-ff`...: how many times it is given.
    Count,
    /// Positional targets.
    Targets,
}

/// Where an option's value matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Fixes which probe goes where, in which order, into which file: a
    /// checkpoint resumes only a scan that agrees on all of these.
    Identity,
    /// How the scan runs; may differ on resume.
    Run,
    /// Only meaningful on a command line; never in a configuration.
    CommandLine,
}

/// One option: its flags and help, and its value as a configuration line.
pub struct Opt {
    pub name: &'static str,
    pub short: Option<char>,
    /// Other long names (masscan's, mostly), accepted everywhere.
    pub aliases: &'static [&'static str],
    pub takes: Takes,
    /// May be given several times; the values add up.
    pub repeats: bool,
    pub help: &'static str,
    pub scope: Scope,
    pub conflicts: &'static [&'static str],
    /// The option's effective values, as `name = value` lines write them;
    /// none: the line is left out.
    pub effective: fn(&Config) -> Vec<String>,
}

const fn opt(name: &'static str, takes: Takes, scope: Scope, help: &'static str) -> Opt {
    Opt {
        name,
        short: None,
        aliases: &[],
        takes,
        repeats: false,
        help,
        scope,
        conflicts: &[],
        effective: |_| vec![],
    }
}

fn one(v: impl ToString) -> Vec<String> {
    vec![v.to_string()]
}

fn when(on: bool) -> Vec<String> {
    if on { one("true") } else { vec![] }
}

/// `22,80` for one protocol, `T:22,80,U:53` for several.
fn ports_line(c: &Config) -> String {
    let protocols = c.scan.protocols();
    if let [only] = protocols[..] {
        return port_list(&c.space.port_numbers(only));
    }
    protocols
        .iter()
        .map(|p| {
            let prefix = if *p == Protocol::Udp { "U:" } else { "T:" };
            format!("{prefix}{}", port_list(&c.space.port_numbers(*p)))
        })
        .filter(|s| s.len() > 2)
        .collect::<Vec<_>>()
        .join(",")
}

fn paths(p: &[PathBuf]) -> Vec<String> {
    p.iter().map(|p| p.display().to_string()).collect()
}

use Scope::{CommandLine, Identity, Run};
use Takes::{Count, Switch, Targets, Value};

/// Every option synsweep has, in the order `--echo` prints them.
pub static OPTIONS: &[Opt] = &[
    Opt {
        aliases: &["target", "targets"],
        repeats: true,
        effective: |c| c.targets.tokens.clone(),
        ..opt(
            "range",
            Targets,
            Identity,
            "Targets: 198.18.4.7, 198.18.4.0/22, 198.18.4.1-198.18.5.20, 2001:2::1, 2001:2::/64, 2001:2::1-2001:2::ff; commas join several",
        )
    },
    Opt {
        repeats: true,
        effective: |c| paths(&c.targets.files),
        ..opt(
            "include-file",
            Value("FILE"),
            Identity,
            "Read targets from FILE (tokens separated by commas or spaces, # comments); masscan's -iL",
        )
    },
    Opt {
        short: Some('p'),
        aliases: &["port"],
        repeats: true,
        effective: |c| {
            if c.scans_ports() {
                one(ports_line(c))
            } else {
                vec![]
            }
        },
        ..opt(
            "ports",
            Value("PORTS"),
            Identity,
            "Ports to probe: 22,80,8000-8100, for every protocol scanned; T: and U: name TCP and UDP ports, e.g. T:22,80,U:53,161",
        )
    },
    Opt {
        repeats: true,
        effective: |c| c.targets.exclude_tokens.clone(),
        ..opt(
            "exclude",
            Value("TARGETS"),
            Identity,
            "Targets to skip, same grammar as targets",
        )
    },
    Opt {
        aliases: &["exclude-file"],
        repeats: true,
        effective: |c| paths(&c.targets.exclude_files),
        ..opt(
            "excludefile",
            Value("FILE"),
            Identity,
            "Read targets to skip from FILE",
        )
    },
    Opt {
        effective: |c| when(c.targets.no_default_excludes),
        ..opt(
            "no-default-excludes",
            Switch,
            Identity,
            "Scan IANA special-purpose blocks (private, documentation, multicast...) even inside wider targets",
        )
    },
    Opt {
        repeats: true,
        effective: |c| one(c.scan.names().join(",")),
        ..opt(
            "scan",
            Value("TYPES"),
            Identity,
            "Scan types, a comma list: one of syn (-sS), ack (-sA), fin (-sF), null (-sN), xmas (-sX), maimon (-sM), window (-sW), and udp (-sU) [default: syn]",
        )
    },
    Opt {
        effective: |c| {
            c.scan
                .scanflags
                .iter()
                .map(|f| format!("{f:#04x}"))
                .collect()
        },
        ..opt(
            "scanflags",
            Value("FLAGS"),
            Identity,
            "Custom TCP flags as nmap's --scanflags: a number or names (SYNFIN, URGPSHFIN); replies are read as the TCP scan type reads them",
        )
    },
    Opt {
        effective: |c| when(c.connect.is_some()),
        ..opt(
            "connect",
            Switch,
            Identity,
            "Scan through the kernel's TCP stack with connect() (nmap's -sT): no root or CAP_NET_RAW needed; a refused port is closed (conn-refused), an ICMP reject filtered as nmap -sT reports it",
        )
    },
    Opt {
        effective: |c| {
            c.connect
                .as_ref()
                .and_then(|o| o.max_inflight)
                .map_or(vec![], one)
        },
        ..opt(
            "max-inflight",
            Value("N"),
            Run,
            "Connect mode: connections in flight at once, at most [default: the open-file limit, raised to its hard limit, less a reserve]",
        )
    },
    Opt {
        repeats: true,
        effective: |c| paths(&c.payload_files),
        ..opt(
            "udp-payloads",
            Value("FILE"),
            Identity,
            "More UDP payloads from FILE, in nmap-payloads format; each payload of a port is a probe of its own",
        )
    },
    Opt {
        effective: |c| when(c.nmap_payloads),
        ..opt(
            "nmap-payloads",
            Switch,
            Identity,
            "More UDP payloads from nmap's /usr/share/nmap/nmap-payloads (Debian's nmap-common), read at run time",
        )
    },
    Opt {
        effective: |c| when(c.banners.is_some()),
        ..opt(
            "banners",
            Switch,
            Identity,
            "Talk to every open TCP port from user space: its banner, TLS certificate and service (nmap's -sV)",
        )
    },
    Opt {
        effective: |c| when(c.os_hints),
        ..opt(
            "os-hints",
            Switch,
            Identity,
            "Guess each open port's OS family (linux, windows, bsd, network-device, unknown) from its SYN-ACK, passively, p0f-style; an `os` field in every format",
        )
    },
    Opt {
        repeats: true,
        effective: |c| c.banners.as_ref().map_or(vec![], |b| b.hello_specs.clone()),
        ..opt(
            "hello",
            Value("PROTOCOL:PORTS"),
            Identity,
            "Speak PROTOCOL on PORTS in banner mode: http, tls, ssh, ftp, smtp, pop3, imap, redis, mysql, postgres, memcached, vnc, rdp, telnet [default: by well-known port]",
        )
    },
    Opt {
        effective: |c| c.banners.as_ref().map_or(vec![], |b| one(b.max_bytes)),
        ..opt(
            "banner-bytes",
            Value("N"),
            Identity,
            "Keep at most N bytes of what each server says [default: 4096]",
        )
    },
    Opt {
        effective: |c| {
            c.banners
                .as_ref()
                .map_or(vec![], |b| one(b.sessions.timeout.as_secs_f64()))
        },
        ..opt(
            "banner-timeout",
            Value("SECS"),
            Run,
            "Longest life of a banner session, from its SYN-ACK; then it is reset [default: 5]",
        )
    },
    Opt {
        effective: |c| {
            c.banners
                .as_ref()
                .map_or(vec![], |b| one(b.sessions.hello_wait.as_secs_f64()))
        },
        ..opt(
            "hello-wait",
            Value("SECS"),
            Run,
            "How long a silent server is given before we speak first [default: 2]",
        )
    },
    Opt {
        effective: |c| {
            c.banners
                .as_ref()
                .map_or(vec![], |b| one(b.sessions.capacity))
        },
        ..opt(
            "max-sessions",
            Value("N"),
            Run,
            "Banner sessions open at once, at most; more are refused with a reset and counted [default: 1048576]",
        )
    },
    Opt {
        effective: |c| {
            c.banners
                .as_ref()
                .and_then(|b| b.service_probes.as_ref())
                .map_or(vec![], |p| one(p.display()))
        },
        ..opt(
            "service-probes",
            Value("FILE"),
            Identity,
            "nmap's service probe database for naming services [default: /usr/share/nmap/nmap-service-probes where present]",
        )
    },
    Opt {
        effective: |c| {
            when(
                c.banners
                    .as_ref()
                    .is_some_and(|b| b.service_probes.is_none()),
            )
        },
        ..opt(
            "no-service-probes",
            Switch,
            Identity,
            "Name services with synsweep's own small matcher only, not nmap's database",
        )
    },
    Opt {
        effective: |c| when(c.discovery.as_ref().is_some_and(|d| !d.then_ports)),
        ..opt(
            "ping",
            Switch,
            Identity,
            "Host discovery only, nmap's -sn: report each host that answers as up (probes: --ping-probe); hosts on this link are found by ARP/ND",
        )
    },
    Opt {
        repeats: true,
        effective: |c| c.discovery.as_ref().map(|d| d.words()).unwrap_or_default(),
        ..opt(
            "ping-probe",
            Value("PROBE"),
            Identity,
            "A discovery probe: echo (-PE), timestamp (-PP), syn:PORTS (-PS), ack:PORTS (-PA), arp (-PR) [default: echo, timestamp, syn:443, ack:80]",
        )
    },
    Opt {
        effective: |c| when(c.discovery.as_ref().is_some_and(|d| d.then_ports)),
        ..opt(
            "ping-first",
            Switch,
            Identity,
            "Discover hosts first, then scan the ports of those found up (memory: 24 bytes a live host)",
        )
    },
    Opt {
        effective: |c| one(c.seed),
        ..opt(
            "seed",
            Value("N"),
            Identity,
            "Seed of the scan order; the same seed repeats the same order",
        )
    },
    Opt {
        effective: |c| one(c.retries),
        ..opt(
            "retries",
            Value("N"),
            Identity,
            "Send each probe N more times, about a second apart [default: 0]",
        )
    },
    Opt {
        effective: |c| {
            if c.shard.count > 1 {
                one(format!("{}/{}", c.shard.index + 1, c.shard.count))
            } else {
                vec![]
            }
        },
        ..opt(
            "shard",
            Value("I/N"),
            Identity,
            "Scan only shard I of N (I from 1); all N shards, with the same --seed, cover every probe once",
        )
    },
    Opt {
        effective: |c| one(format!("{}-{}", c.source_ports.first, c.source_ports.last)),
        ..opt(
            "source-port",
            Value("PORT[-PORT]"),
            Identity,
            "Source ports of probes; keep them out of the kernel's ephemeral range [default: 61000-61255]",
        )
    },
    Opt {
        short: Some('o'),
        effective: |c| {
            c.output
                .path
                .iter()
                .map(|p| p.display().to_string())
                .collect()
        },
        ..opt(
            "output",
            Value("FILE"),
            Identity,
            "Write results to FILE (it appears whole when the scan ends); - is standard output",
        )
    },
    Opt {
        effective: |c| one(c.output.format.name()),
        ..opt(
            "format",
            Value("FORMAT"),
            Identity,
            "Result format: list, ndjson, csv, xml (nmap), grepable (nmap -oG) [default: list]",
        )
    },
    Opt {
        effective: |c| {
            one(match c.rate {
                Rate::PerSecond(r) => r.to_string(),
                Rate::Unlimited => "max".into(),
            })
        },
        ..opt(
            "rate",
            Value("PPS"),
            Run,
            "Packets per second, or max for no limit [default: 100]",
        )
    },
    Opt {
        effective: |c| one(c.wait.as_secs_f64()),
        ..opt(
            "wait",
            Value("SECS"),
            Run,
            "Seconds to keep receiving after the last probe [default: 10; 0 with --offline]",
        )
    },
    Opt {
        conflicts: &["open-only"],
        effective: |c| one(c.show.names().join(",")),
        ..opt(
            "show",
            Value("STATES"),
            Run,
            "States to report: open, closed, filtered, unfiltered, open|filtered, closed|filtered (comma list) or all [default: open]",
        )
    },
    Opt {
        aliases: &["open"],
        ..opt(
            "open-only",
            Switch,
            Run,
            "Report only open ports (masscan's --open-only)",
        )
    },
    opt(
        "list-probes",
        Switch,
        CommandLine,
        "Print the probes in send order, one \"ip port\" per line, and exit (no root, no network)",
    ),
    Opt {
        short: Some('e'),
        aliases: &["adapter"],
        effective: |c| c.link.interface.iter().cloned().collect(),
        ..opt(
            "interface",
            Value("IFACE"),
            Run,
            "Interface to send on (default: the route's)",
        )
    },
    Opt {
        aliases: &["adapter-ip"],
        repeats: true,
        effective: |c| c.link.source.words(),
        ..opt(
            "source-ip",
            Value("IPS"),
            Run,
            "Source addresses of probes: an address, a range a-b, a CIDR block or a comma list, either family (at most 256 per family; each probe's is picked from its index). For one the machine does not own, synsweep answers ARP and neighbour solicitations itself [default: the interface's]",
        )
    },
    Opt {
        effective: |c| {
            c.link
                .source_mac
                .iter()
                .map(crate::wire::format_mac)
                .collect()
        },
        ..opt(
            "source-mac",
            Value("MAC"),
            Run,
            "Ethernet source of our frames, and the MAC our ARP and neighbour answers give [default: the interface's]",
        )
    },
    Opt {
        effective: |c| {
            c.link.router_mac[0]
                .iter()
                .map(crate::wire::format_mac)
                .collect()
        },
        ..opt(
            "router-mac",
            Value("MAC"),
            Run,
            "The next hop's MAC address (default: our own ARP or neighbour solicitation for the gateway); also used for IPv6 unless --router-mac-ipv6 is given",
        )
    },
    Opt {
        effective: |c| match c.link.router_mac {
            [a, Some(b)] if a != Some(b) => one(crate::wire::format_mac(&b)),
            _ => vec![],
        },
        ..opt(
            "router-mac-ipv6",
            Value("MAC"),
            Run,
            "The IPv6 next hop's MAC address, where it differs from --router-mac",
        )
    },
    Opt {
        effective: |c| one(c.ttl),
        ..opt(
            "ttl",
            Value("N"),
            Run,
            "IP TTL (IPv6 hop limit) of probes [default: 64]",
        )
    },
    Opt {
        short: Some('f'),
        conflicts: &["mtu"],
        ..opt(
            "fragment",
            Count,
            CommandLine,
            "Send each IPv4 probe as fragments of 8 bytes of data (-ff: 16), as nmap's -f; --rate counts fragments (frames on the wire). Not with IPv6 targets or --banners",
        )
    },
    Opt {
        effective: |c| c.shaping.fragment.map(one).unwrap_or_default(),
        ..opt(
            "mtu",
            Value("N"),
            Run,
            "Send each IPv4 probe as fragments of N bytes of data (a multiple of 8), as nmap's --mtu; --rate counts fragments",
        )
    },
    Opt {
        effective: |c| match c.shaping.data.len() {
            0 => vec![],
            n => one(n),
        },
        ..opt(
            "data-length",
            Value("N"),
            Run,
            "Append N random bytes (drawn once per run, 0-1400) to every TCP probe and to UDP probes without a payload of their own",
        )
    },
    Opt {
        effective: |c| when(c.shaping.badsum),
        ..opt(
            "badsum",
            Switch,
            Run,
            "Send TCP and UDP probes with a wrong checksum: real stacks drop them, so an answer comes from a firewall or middlebox",
        )
    },
    Opt {
        effective: |c| {
            one(match c.link_kind {
                crate::link::LinkKind::Pnet => "pnet",
                _ => "afpacket",
            })
        },
        ..opt(
            "link",
            Value("KIND"),
            Run,
            "afpacket (Linux: sendmmsg out, TPACKET_V3 ring in, BPF filter) or pnet (portable) [default: afpacket]",
        )
    },
    Opt {
        effective: |c| c.tx_threads_given.iter().map(|n| n.to_string()).collect(),
        ..opt(
            "tx-threads",
            Value("N"),
            Run,
            "Transmit threads (default: one per core beyond the receive thread's)",
        )
    },
    Opt {
        effective: |c| when(c.link_kind == crate::link::LinkKind::Offline),
        ..opt(
            "offline",
            Switch,
            Run,
            "Build and pace frames but send none: measures the generator (no root, no network)",
        )
    },
    Opt {
        effective: |c| c.max_probes.iter().map(|n| n.to_string()).collect(),
        ..opt("max-probes", Value("N"), Run, "Stop after sending N frames")
    },
    Opt {
        effective: |c| when(c.benchmark),
        ..opt(
            "benchmark",
            Switch,
            Run,
            "NIC benchmark: frames and bits per second of each second of the run, and batch send latency",
        )
    },
    Opt {
        short: Some('c'),
        repeats: true,
        ..opt(
            "conf",
            Value("FILE"),
            CommandLine,
            "Read options from FILE: `name = value` lines, as --echo prints them (later options win)",
        )
    },
    opt(
        "echo",
        Switch,
        CommandLine,
        "Print the effective configuration as `name = value` lines and exit",
    ),
    Opt {
        conflicts: &["no-checkpoint"],
        effective: |c| {
            c.checkpoint_given
                .iter()
                .map(|p| p.display().to_string())
                .collect()
        },
        ..opt(
            "checkpoint",
            Value("FILE"),
            Run,
            "Keep a checkpoint here (default: OUTPUT.checkpoint, or synsweep.checkpoint)",
        )
    },
    Opt {
        effective: |c| when(c.no_checkpoint),
        ..opt("no-checkpoint", Switch, Run, "Keep no checkpoint")
    },
    Opt {
        effective: |c| one(c.checkpoint_interval.as_secs_f64()),
        ..opt(
            "checkpoint-interval",
            Value("SECS"),
            Run,
            "Seconds between checkpoints [default: 2]",
        )
    },
    opt(
        "resume",
        Value("FILE"),
        CommandLine,
        "Continue the scan a checkpoint describes (alone, or with the same scan options)",
    ),
    Opt {
        effective: |c| when(c.append),
        ..opt(
            "append",
            Switch,
            Run,
            "Add results to an existing output file instead of replacing it",
        )
    },
    Opt {
        effective: |c| {
            c.status_json
                .iter()
                .map(|p| p.display().to_string())
                .collect()
        },
        ..opt(
            "status-json",
            Value("FILE"),
            Run,
            "Write one JSON progress object per second to FILE (- for standard output)",
        )
    },
];

const ABOUT: &str = "A stateless, high-rate scanner of IPv4 and IPv6 networks";
const AFTER_HELP: &str = "Examples:\n  synsweep 198.18.0.0/20 -p 22,80,443 --rate 100000 --interface sswlab0\n  synsweep 2001:2::1000/116 198.18.0.0/24 -p 1-1024 --show all --format ndjson -o results.ndjson\n  synsweep -iL hitlist.txt -p 443 --rate 50000 -oX results.xml\n  synsweep 198.18.0.0/24 -p 80 --seed 7 --list-probes\n  synsweep -c scan.conf --shard 2/4 --seed 7 -o part2.csv --format csv\n  synsweep --resume results.csv.checkpoint\n\nmasscan spellings also work: -iL FILE, -oL/-oJ/-oD/-oC/-oX/-oG FILE, --adapter, --adapter-ip, --open-only.";

/// The clap parser, built from the table.
pub fn command() -> clap::Command {
    let mut cmd = clap::Command::new("synsweep")
        .version(env!("CARGO_PKG_VERSION"))
        .about(ABOUT)
        .after_help(AFTER_HELP)
        .args_override_self(true)
        .max_term_width(100);
    for o in OPTIONS {
        let mut a = Arg::new(o.name).help(o.help);
        match o.takes {
            Targets => {
                a = a
                    .value_name("TARGET")
                    .num_args(0..)
                    .action(ArgAction::Append);
            }
            Value(v) => {
                a = a
                    .long(o.name)
                    .value_name(v)
                    .num_args(1)
                    .action(if o.repeats {
                        ArgAction::Append
                    } else {
                        ArgAction::Set
                    });
            }
            Switch => a = a.long(o.name).action(ArgAction::SetTrue),
            Count => a = a.long(o.name).action(ArgAction::Count),
        }
        if let Some(s) = o.short {
            a = a.short(s);
        }
        if !o.aliases.is_empty() && o.takes != Targets {
            a = a.visible_aliases(o.aliases.iter().copied());
        }
        if !o.conflicts.is_empty() {
            a = a.conflicts_with_all(o.conflicts.iter().copied());
        }
        cmd = cmd.arg(a);
    }
    cmd
}

/// The parsed options, read by name.
pub struct Args(ArgMatches);

impl Args {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get_one::<String>(name).map(String::as_str)
    }

    pub fn get_all(&self, name: &str) -> Vec<&str> {
        self.0
            .get_many::<String>(name)
            .map(|v| v.map(String::as_str).collect())
            .unwrap_or_default()
    }

    pub fn flag(&self, name: &str) -> bool {
        self.0.get_flag(name)
    }

    /// How many times a `Count` option was given.
    pub fn count(&self, name: &str) -> u8 {
        self.0.get_count(name)
    }
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    Scan(Box<Config>),
    /// --help / --version / --echo text, to print and exit 0.
    Print(String),
}

/// masscan's two-letter flags, which clap cannot express, spelled out.
fn expand_masscan_flags(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut out = Vec::new();
    for a in args {
        match a.to_str() {
            Some("-iL") => out.push("--include-file".into()),
            Some("-oL") => out.extend(["--format=list".into(), "--output".into()]),
            Some("-oJ") | Some("-oD") => out.extend(["--format=ndjson".into(), "--output".into()]),
            Some("-oC") => out.extend(["--format=csv".into(), "--output".into()]),
            Some("-oX") => out.extend(["--format=xml".into(), "--output".into()]),
            Some("-oG") => out.extend(["--format=grepable".into(), "--output".into()]),
            // nmap's scan types.
            Some(s @ ("-sS" | "-sA" | "-sF" | "-sN" | "-sX" | "-sM" | "-sW" | "-sU")) => {
                out.push(format!("--scan={}", &s[1..]).into())
            }
            // nmap's discovery: -sn, and -PE -PP -PR -PS[ports] -PA[ports];
            // -Pn (no discovery) is what synsweep does unless asked.
            Some("-sn") => out.push("--ping".into()),
            Some("-sV") => out.push("--banners".into()),
            Some("-sT") => out.push("--connect".into()),
            Some("-Pn") => {}
            Some("-PE") => out.push("--ping-probe=echo".into()),
            Some("-PP") => out.push("--ping-probe=timestamp".into()),
            Some("-PR") => out.push("--ping-probe=arp".into()),
            Some(s) if s.starts_with("-PS") || s.starts_with("-PA") => {
                let name = if s.starts_with("-PS") { "syn" } else { "ack" };
                let ports = &s[3..];
                out.push(if ports.is_empty() {
                    format!("--ping-probe={name}").into()
                } else {
                    format!("--ping-probe={name}:{ports}").into()
                });
            }
            _ => out.push(a),
        }
    }
    out
}

/// The first line of a clap error, without its "error: " prefix.
fn clap_one_line(e: &clap::Error) -> String {
    let text = e.to_string();
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid arguments");
    first.trim_start_matches("error: ").to_string()
}

/// How an option is written in a configuration file (`None`: it cannot be).
pub fn option_kind(name: &str) -> Option<OptionKind> {
    let o = OPTIONS
        .iter()
        .find(|o| o.name == name || o.aliases.contains(&name))?;
    Some(match (o.scope, o.takes) {
        (CommandLine, _) => return None,
        (_, Targets) => OptionKind::Target,
        (_, Switch | Count) => OptionKind::Switch,
        (_, Value(_)) => OptionKind::Value,
    })
}

/// Replaces every `-c FILE` / `--conf FILE` by the options in FILE, in
/// place, so that options after it override the file's.
fn expand_conf_files(args: Vec<OsString>) -> Result<Vec<OsString>, CliError> {
    let mut out = Vec::with_capacity(args.len());
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let path = match a.to_str() {
            Some("-c") | Some("--conf") => match it.next() {
                Some(p) => PathBuf::from(p),
                None => {
                    return Err(CliError(format!(
                        "{} needs a file name",
                        a.to_string_lossy()
                    )));
                }
            },
            Some(s) if s.starts_with("--conf=") => PathBuf::from(&s["--conf=".len()..]),
            _ => {
                out.push(a);
                continue;
            }
        };
        let text = conffile::read(&path).map_err(|e| CliError(e.to_string()))?;
        let expanded =
            conffile::to_args(&text, &path, &option_kind).map_err(|e| CliError(e.to_string()))?;
        out.extend(expanded.into_iter().map(OsString::from));
    }
    Ok(out)
}

fn parse_args(argv: Vec<OsString>) -> Result<Result<Args, String>, CliError> {
    match command().try_get_matches_from(argv) {
        Ok(m) => Ok(Ok(Args(m))),
        Err(e) => {
            use clap::error::ErrorKind::*;
            match e.kind() {
                DisplayHelp | DisplayVersion | DisplayHelpOnMissingArgumentOrSubcommand => {
                    Ok(Err(e.to_string()))
                }
                _ => Err(CliError(clap_one_line(&e))),
            }
        }
    }
}

/// The effective configuration of `c`, as `name = value` lines.
pub fn effective_lines(c: &Config) -> Vec<String> {
    lines_of(c, |_| true)
}

fn lines_of(c: &Config, keep: impl Fn(&Opt) -> bool) -> Vec<String> {
    OPTIONS
        .iter()
        .filter(|o| o.scope != CommandLine && keep(o))
        .flat_map(|o| {
            (o.effective)(c)
                .into_iter()
                .map(move |v| format!("{} = {}", o.name, conffile::render_value(&v)))
        })
        .collect()
}

/// The lines of a saved configuration that name an identity option.
fn identity_lines(config: &[String]) -> Vec<String> {
    config
        .iter()
        .filter(|l| {
            l.split_once(" = ").is_some_and(|(name, _)| {
                OPTIONS
                    .iter()
                    .any(|o| o.name == name && o.scope == Identity)
            })
        })
        .cloned()
        .collect()
}

/// A configuration from parsed options, its effective lines and identity.
fn config(a: &Args, command_line: String) -> Result<Config, CliError> {
    let mut c = Config::from_args(a, command_line)?;
    c.effective = effective_lines(&c);
    c.identity_hash = crate::checkpoint::config_hash(&identity_lines(&c.effective));
    Ok(c)
}

pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, CliError> {
    let argv: Vec<OsString> = args.into_iter().collect();
    let command_line = argv
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let argv = expand_conf_files(expand_masscan_flags(argv))?;
    let a = match parse_args(argv.clone())? {
        Ok(a) => a,
        Err(text) => return Ok(Command::Print(text)),
    };
    let Some(cp_path) = a.get("resume").map(PathBuf::from) else {
        let config = config(&a, command_line)?;
        return Ok(if a.flag("echo") {
            Command::Print(echo_text(&config))
        } else {
            Command::Scan(Box::new(config))
        });
    };

    // Resuming: the checkpoint's configuration first, the command line on
    // top of it, and the part that decides which probe goes where must be
    // the checkpoint's own.
    let cp = Checkpoint::read(&cp_path).map_err(|e| CliError(e.to_string()))?;
    let alone = ["range", "include-file", "ports"]
        .iter()
        .all(|name| a.get_all(name).is_empty());
    let a = if alone {
        let saved = conffile::to_args(&cp.config.join("\n"), &cp_path, &option_kind)
            .map_err(|e| CliError(format!("checkpoint {}: {e}", cp_path.display())))?;
        let mut merged = vec![argv[0].clone()];
        merged.extend(saved.into_iter().map(OsString::from));
        merged.extend(argv[1..].iter().cloned());
        match parse_args(merged)? {
            Ok(a) => a,
            Err(text) => return Ok(Command::Print(text)),
        }
    } else {
        a
    };
    let mut config = config(&a, command_line)?;
    let differs = |detail: String| {
        CliError(format!(
            "--resume {}: the checkpoint belongs to a different scan ({detail}); resume with `synsweep --resume {}` alone to use its configuration",
            cp_path.display(),
            cp_path.display()
        ))
    };
    if config.identity_hash != cp.config_hash {
        let theirs = identity_lines(&cp.config);
        let ours = identity_lines(&config.effective);
        let first_diff = ours
            .iter()
            .zip(theirs.iter())
            .find(|(x, y)| x != y)
            .map(|(x, y)| format!("`{x}` here, `{y}` in the checkpoint"))
            .unwrap_or_else(|| "the options differ in number".into());
        return Err(differs(first_diff));
    }
    if config.space.digest() != cp.space_digest {
        return Err(differs(
            "the same options name other targets now: a target or exclude file has changed".into(),
        ));
    }
    config.resume = Some(ResumePoint {
        position: cp.position,
        sent: cp.sent,
        found: cp.found,
    });
    // The resumed run keeps the same checkpoint file unless told otherwise.
    if config.checkpoint_given.is_none() && !config.no_checkpoint {
        config.checkpoint = Some(cp_path);
    }
    Ok(if a.flag("echo") {
        Command::Print(echo_text(&config))
    } else {
        Command::Scan(Box::new(config))
    })
}

/// `--echo`: the effective configuration, readable back with `-c`. A seed
/// the user did not choose is left out, so each run draws its own.
fn echo_text(c: &Config) -> String {
    let mut s = format!("# synsweep {} configuration\n", env!("CARGO_PKG_VERSION"));
    for line in &c.effective {
        if line.starts_with("seed = ") && !c.seed_given {
            continue;
        }
        s.push_str(line);
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{State, StateSet};
    use crate::output::FormatKind;
    use crate::probe::SourcePorts;
    use std::net::IpAddr;
    use std::time::Duration;

    fn run(args: &str) -> Result<Config, String> {
        let v: Vec<OsString> = std::iter::once("synsweep")
            .chain(args.split_whitespace())
            .map(OsString::from)
            .collect();
        match parse(v) {
            Ok(Command::Scan(c)) => Ok(*c),
            Ok(Command::Print(_)) => Err("printed".into()),
            Err(e) => Err(e.0),
        }
    }

    #[test]
    fn defaults_and_masscan_spellings() {
        let c = run("198.18.0.0/24 -p 80").unwrap();
        assert_eq!(c.rate, Rate::PerSecond(100.0));
        assert_eq!(c.wait, Duration::from_secs(10));
        assert_eq!(c.show, StateSet::OPEN_ONLY);
        assert_eq!(c.output.format, FormatKind::List);
        assert_eq!(
            c.source_ports,
            SourcePorts {
                first: 61000,
                last: 61255
            }
        );
        let c = run("198.18.0.0/24 --port 80 -oJ out.json --adapter sswlab0 --adapter-ip 198.19.255.1 --rate max").unwrap();
        assert_eq!(c.output.format, FormatKind::Ndjson);
        assert_eq!(c.output.path, Some(PathBuf::from("out.json")));
        assert_eq!(c.link.interface.as_deref(), Some("sswlab0"));
        assert_eq!(
            c.link.source.first(crate::domain::Family::V4),
            Some("198.19.255.1".parse::<IpAddr>().unwrap())
        );
        assert_eq!(c.rate, Rate::Unlimited);
        let c = run("198.18.0.0/24 -p 80 --show closed,filtered,open|filtered --router-mac 02:00:00:00:00:09")
            .unwrap();
        assert!(!c.show.contains(State::Open) && c.show.contains(State::OpenFiltered));
        assert_eq!(c.link.router_mac, [Some([2, 0, 0, 0, 0, 9]); 2]);
        let c = run("2001:2::/120 -p 80 --source-ip 2001:2::1,198.19.255.1 --router-mac-ipv6 02:00:00:00:00:06 --offline").unwrap();
        assert_eq!(
            c.link.source.first(crate::domain::Family::V6),
            Some("2001:2::1".parse::<IpAddr>().unwrap())
        );
        assert_eq!(c.link.router_mac, [None, Some([2, 0, 0, 0, 0, 6])]);
        assert_eq!(c.wait, Duration::ZERO, "offline waits for nothing");
    }

    #[test]
    fn every_bad_value_is_one_line_naming_it() {
        let cases = [
            ("-p 80", "no targets given"),
            ("198.18.0.0/24", "no ports given"),
            (
                "198.18.0.0/33 -p 80",
                r#"target: bad target "198.18.0.0/33""#,
            ),
            ("2001:2::/129 -p 80", r#"target: bad target "2001:2::/129""#),
            ("198.18.0.0/24 -p 80,x", r#"--ports: bad port list "x""#),
            (
                "198.18.0.0/24 -p 80 --exclude 1.2.3",
                r#"--exclude: bad target "1.2.3""#,
            ),
            (
                "198.18.0.0/24 -p 80 --rate fast",
                r#"--rate: "fast" is not a rate"#,
            ),
            (
                "198.18.0.0/24 -p 80 --rate 0",
                r#"--rate: "0" is not a rate"#,
            ),
            ("198.18.0.0/24 -p 80 --rate -5", "unexpected argument '-5'"),
            (
                "198.18.0.0/24 -p 80 --wait soon",
                r#"--wait: "soon" is not a time"#,
            ),
            (
                "198.18.0.0/24 -p 80 --show open,shut",
                r#"--show: "shut" is not a port state"#,
            ),
            (
                "198.18.0.0/24 -p 80 --source-port 0",
                r#"--source-port: "0" is not a port or range"#,
            ),
            ("198.18.0.0/24 -p 80 --source-port 9-8", "--source-port"),
            (
                "198.18.0.0/24 -p 80 --source-ip 300.1.1.1",
                r#"--source-ip: "300.1.1.1" is not a source address"#,
            ),
            (
                "198.18.0.0/24 -p 80 --source-ip 198.19.0.0/16",
                r#"--source-ip: "198.19.0.0/16" makes 65536 IPv4 source addresses: give at most 256 per family"#,
            ),
            (
                "198.18.0.0/24 -p 80 --router-mac 02:00",
                r#"--router-mac: "02:00" is not a MAC address"#,
            ),
            (
                "198.18.0.0/24 -p 80 --ttl 0",
                "--ttl: 0 is out of range: give 1-255",
            ),
            (
                "198.18.0.0/24 -p 80 --ttl 256",
                r#"--ttl: "256" is not a number: give 1-255"#,
            ),
            (
                "198.18.0.0/24 -p 80 --retries 1000",
                "--retries: 1000 is out of range: give 0-100",
            ),
            (
                "198.18.0.0/24 -p 80 --tx-threads 0",
                "--tx-threads: 0 is out of range: give 1-64",
            ),
            (
                "198.18.0.0/24 -p 80 --max-probes 0",
                "--max-probes: 0 is out of range",
            ),
            (
                "198.18.0.0/24 -p 80 --format xls",
                r#"--format: "xls" is not a format: give list, ndjson, csv, xml, grepable"#,
            ),
            (
                "198.18.0.0/24 -p 80 --scan connect",
                r#"--scan: "connect" is not a scan type: give syn (-sS), ack (-sA)"#,
            ),
            (
                "198.18.0.0/24 -p 80 --link tun",
                r#"--link: "tun" is not a link kind"#,
            ),
            (
                "198.18.0.0/24 -p 80 --bogus",
                "unexpected argument '--bogus'",
            ),
            (
                "198.18.0.0/24 -p 80 -iL /nonexistent/t.txt",
                "cannot read /nonexistent/t.txt: ",
            ),
            (
                "192.168.0.0/16 -p 80 --exclude 192.168.0.0/16",
                "nothing left to scan",
            ),
            (
                "2001:2::/64 -p 80,443",
                "the probe space is too large: 2^64.0 hosts x 2 ports",
            ),
            ("198.18.0.0/24 -p 80 --shard 2/3", "--shard needs --seed"),
            ("198.18.0.0/24 -p 80 --shard 0/3 --seed 1", "counts from 0"),
            ("198.18.0.0/24 -p 80 --append", "--append needs -o FILE"),
            (
                "198.18.0.0/24 -p 80 --status-json -",
                "--status-json -: standard output already carries",
            ),
            (
                "198.18.0.0/24 -p 80 --checkpoint-interval 0",
                "--checkpoint-interval",
            ),
            (
                "198.18.0.0/24 -p 80 --show open --open-only",
                "cannot be used with",
            ),
        ];
        for (args, want) in cases {
            let e = run(args).unwrap_err();
            assert!(e.contains(want), "{args:?}: got {e:?}");
            assert!(!e.contains('\n'), "{args:?}: not one line: {e:?}");
        }
    }

    #[test]
    fn every_option_has_one_row_and_identity_is_declared_there() {
        let mut names: Vec<&str> = OPTIONS
            .iter()
            .flat_map(|o| std::iter::once(o.name).chain(o.aliases.iter().copied()))
            .collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n, "a name defined twice");
        // The clap parser knows exactly the table's options.
        let cmd = command();
        assert_eq!(cmd.get_arguments().count(), OPTIONS.len());
        // Every identity option writes a line whenever it holds a value
        // (discovery alone, -sn, scans no ports: a run of its own).
        let c = run("198.18.0.0/24 -iL /dev/null -p 80 --exclude 198.18.0.1 --excludefile /dev/null --no-default-excludes --seed 3 --retries 1 --shard 1/2 --source-port 100-200 -o x.csv --format csv --scanflags SYNFIN -sU --udp-payloads /dev/null --nmap-payloads -PE").unwrap();
        let ping = run("198.18.0.0/24 -sn").unwrap();
        let banners = run("198.18.0.0/24 -p 80 --banners --hello http:8000 --banner-bytes 100 --service-probes /dev/null").unwrap();
        let own_matcher = run("198.18.0.0/24 -p 80 -sV --no-service-probes --os-hints").unwrap();
        let connect = run("198.18.0.0/24 -p 80 -sT --max-inflight 10").unwrap();
        let lines: Vec<&String> = c
            .effective
            .iter()
            .chain(&ping.effective)
            .chain(&banners.effective)
            .chain(&own_matcher.effective)
            .chain(&connect.effective)
            .collect();
        for o in OPTIONS.iter().filter(|o| o.scope == Identity) {
            assert!(
                lines
                    .iter()
                    .any(|l| l.starts_with(&format!("{} = ", o.name))),
                "identity option {} left out of {lines:?}",
                o.name,
            );
        }
    }

    #[test]
    fn echo_round_trips_through_a_configuration_file() {
        let dir = std::env::temp_dir().join(format!("synsweep-echo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A '#' in a value once read back as a comment (found by fuzzing).
        let args = "198.18.0.0/24 2001:2::1000/120 -p 22,80 --seed 5 --rate 5000 --show all --source-ip 2001:2::1 --router-mac 02:00:00:00:00:01 --router-mac-ipv6 02:00:00:00:00:02 --tx-threads 2 --offline -o scan#1.csv";
        let mut argv: Vec<OsString> = std::iter::once("synsweep")
            .chain(args.split_whitespace())
            .map(OsString::from)
            .collect();
        argv.extend(["--status-json", "./a\t#b"].map(OsString::from));
        let Ok(Command::Scan(c)) = parse(argv) else {
            panic!("parses")
        };
        let text = echo_text(&c);
        let conf = dir.join("scan.conf");
        std::fs::write(&conf, &text).unwrap();
        let again = run(&format!("-c {}", conf.display())).unwrap();
        assert_eq!(again.effective, c.effective, "{text}");
        assert_eq!(again.identity_hash, c.identity_hash);
        assert!(text.contains("range = 2001:2::1000/120\n"), "{text}");
        assert_eq!(again.output.path, Some(PathBuf::from("scan#1.csv")));
        assert_eq!(again.status_json, Some(PathBuf::from("./a\t#b")));
        assert!(
            text.contains(
                "show = open,closed,filtered,unfiltered,open|filtered,closed|filtered,up\n"
            )
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn help_and_version_print() {
        assert!(
            matches!(parse(["synsweep", "--help"].map(OsString::from)), Ok(Command::Print(t)) if t.contains("--rate") && t.contains("--router-mac-ipv6"))
        );
        assert!(matches!(
            parse(["synsweep", "--version"].map(OsString::from)),
            Ok(Command::Print(_))
        ));
    }
}
