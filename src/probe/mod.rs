//! Probe modules: what a probe looks like on the wire and what its replies
//! mean, one module per kind of probe, in the manner of zmap's probe
//! modules. A module builds its constant frame template once per address
//! family, writes a probe's changing fields into a frame, validates a reply
//! by the cookie it carries and classifies it, says what silence means,
//! and tells the capture filter what to let through. It knows nothing of
//! threads, pacing, links or output: that is the engine's, which is
//! generic over the module, so the per-probe path has no dynamic call.

pub mod both;
pub mod neighbor;
pub mod os_hint;
pub mod payloads;
pub mod ping;
pub mod session;
pub mod tcp;
pub mod tcp_flags;
pub mod udp;

use crate::cookie::{CookieKey, Flow, ProbeKind};
use crate::domain::{Family, OsFamily, Protocol, Reason, Record, State};
use crate::link::source::Sources;
use crate::wire::MacAddr;
use crate::wire::reply::Reply;
use crate::wire::template::FrameParams;
use std::net::IpAddr;

/// The TCP scan of a run: SYN, or a flag scan read as nmap reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpScanType {
    /// `-sS`: `tcp::SynScan`.
    Syn,
    /// `-sA -sF -sN -sX -sM -sW`: `tcp_flags::FlagScan`.
    Flags(tcp_flags::Reading),
}

/// What a run scans with: at most one TCP scan type, and UDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanPlan {
    pub tcp: Option<TcpScanType>,
    /// `--scanflags`: the TCP flags to send, read as `tcp` reads replies.
    pub scanflags: Option<u8>,
    pub udp: bool,
}

impl Default for ScanPlan {
    fn default() -> Self {
        ScanPlan {
            tcp: Some(TcpScanType::Syn),
            scanflags: None,
            udp: false,
        }
    }
}

/// `--scan` names and nmap's letters for them.
const SCAN_NAMES: &[(&str, &str)] = &[
    ("syn", "sS"),
    ("ack", "sA"),
    ("fin", "sF"),
    ("null", "sN"),
    ("xmas", "sX"),
    ("maimon", "sM"),
    ("window", "sW"),
    ("udp", "sU"),
];

impl ScanPlan {
    pub const FORMS: &'static str = "syn (-sS), ack (-sA), fin (-sF), null (-sN), xmas (-sX), maimon (-sM), window (-sW), udp (-sU)";

    /// From `--scan` words (each maybe a comma list) and `--scanflags`.
    pub fn parse(words: &[&str], scanflags: Option<u8>) -> Result<ScanPlan, String> {
        use tcp_flags::Reading;
        let mut plan = ScanPlan {
            tcp: None,
            scanflags,
            udp: false,
        };
        for word in words.iter().flat_map(|w| w.split(',')).map(str::trim) {
            let name = SCAN_NAMES
                .iter()
                .find(|(n, letters)| {
                    *n == word || *letters == word || word.strip_prefix('-') == Some(letters)
                })
                .map(|(n, _)| *n)
                .ok_or_else(|| format!("{word:?} is not a scan type: give {}", Self::FORMS))?;
            let tcp = match name {
                "udp" => {
                    plan.udp = true;
                    continue;
                }
                "syn" => TcpScanType::Syn,
                "ack" => TcpScanType::Flags(Reading::Ack),
                "fin" => TcpScanType::Flags(Reading::Fin),
                "null" => TcpScanType::Flags(Reading::Null),
                "xmas" => TcpScanType::Flags(Reading::Xmas),
                "maimon" => TcpScanType::Flags(Reading::Maimon),
                _ => TcpScanType::Flags(Reading::Window),
            };
            match plan.tcp {
                Some(prev) if prev != tcp => {
                    return Err(format!(
                        "{} and {word} are two TCP scan types: one TCP type at a time (UDP may join it)",
                        Self::tcp_name(prev)
                    ));
                }
                _ => plan.tcp = Some(tcp),
            }
        }
        // No type named: SYN, as nmap (with --scanflags, read as SYN too).
        if plan.tcp.is_none() && (!plan.udp || scanflags.is_some()) {
            plan.tcp = Some(TcpScanType::Syn);
        }
        Ok(plan)
    }

    fn tcp_name(t: TcpScanType) -> &'static str {
        use tcp_flags::Reading;
        match t {
            TcpScanType::Syn => "syn",
            TcpScanType::Flags(Reading::Ack) => "ack",
            TcpScanType::Flags(Reading::Fin) => "fin",
            TcpScanType::Flags(Reading::Null) => "null",
            TcpScanType::Flags(Reading::Xmas) => "xmas",
            TcpScanType::Flags(Reading::Maimon) => "maimon",
            TcpScanType::Flags(Reading::Window) => "window",
            TcpScanType::Flags(Reading::Syn) => "syn",
        }
    }

    /// The `--scan` words that give this plan back.
    pub fn names(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = self.tcp.map(Self::tcp_name).into_iter().collect();
        if self.udp {
            v.push("udp");
        }
        v
    }

    /// What silence means, per protocol scanned.
    pub fn silences(&self) -> Vec<(Protocol, State)> {
        let mut v = Vec::new();
        match self.tcp {
            Some(TcpScanType::Syn) if self.scanflags.is_none() => {
                v.push((Protocol::Tcp, tcp::SILENCE.0))
            }
            Some(TcpScanType::Syn) => v.push((Protocol::Tcp, tcp_flags::Reading::Syn.silence().0)),
            Some(TcpScanType::Flags(r)) => v.push((Protocol::Tcp, r.silence().0)),
            None => {}
        }
        if self.udp {
            v.push((Protocol::Udp, udp::SILENCE.0));
        }
        v
    }

    /// The protocols scanned, in port-list order.
    pub fn protocols(&self) -> Vec<Protocol> {
        let mut v = Vec::new();
        if self.tcp.is_some() {
            v.push(Protocol::Tcp);
        }
        if self.udp {
            v.push(Protocol::Udp);
        }
        v
    }
}

/// What changes from one probe to the next; the engine fills it in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeFields {
    /// Our address for this probe: one of the scan's sources in `dst`'s
    /// family.
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: Protocol,
    pub src_port: u16,
    pub dst_port: u16,
    /// Which of the port's probes this is (UDP: which payload).
    pub variant: u16,
    /// The flow's cookie (see `cookie.rs`); the module decides which of
    /// its bits go where.
    pub cookie: u64,
    /// Send time, Unix microseconds (wrapping): for protocols that can
    /// carry a timestamp the target echoes.
    pub tsval: u32,
}

/// The inclusive range of source ports probes use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourcePorts {
    pub first: u16,
    pub last: u16,
}

impl SourcePorts {
    pub fn count(&self) -> u64 {
        u64::from(self.last - self.first) + 1
    }

    #[inline]
    pub fn contains(&self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }

    /// Derived from the probe index, so every retry of a probe uses the same
    /// port and a stateful middlebox sees one flow, not several. The low 32
    /// bits of the index are plenty to spread ports and divide cheaper.
    #[inline]
    pub fn for_index(&self, index: u64) -> u16 {
        let count = u32::from(self.last - self.first) + 1;
        self.first + (index as u32 % count) as u16
    }
}

/// Our side of every flow: the per-run key, our addresses in each family
/// and our source ports. Replies are checked against this alone.
#[derive(Clone, Debug)]
pub struct Validator {
    key: CookieKey,
    sources: Sources,
    ports: SourcePorts,
    /// Bytes our TCP probes carry after their header (`--data-length`).
    tcp_data: u32,
}

impl Validator {
    /// With one source address per family.
    pub fn new(key: CookieKey, sources: [Option<IpAddr>; 2], ports: SourcePorts) -> Self {
        Validator::for_sources(key, Sources::of(sources), ports)
    }

    /// With every source address the scan sends from.
    pub fn for_sources(key: CookieKey, sources: Sources, ports: SourcePorts) -> Self {
        Validator {
            key,
            sources,
            ports,
            tcp_data: 0,
        }
    }

    /// Our TCP probes carry `bytes` after their header: a RST to one
    /// acknowledges them too (RFC 9293: SEG.SEQ + SEG.LEN).
    pub fn with_tcp_data(mut self, bytes: usize) -> Self {
        self.tcp_data = bytes as u32;
        self
    }

    /// Bytes our TCP probes carry after their header.
    #[inline]
    pub fn tcp_data(&self) -> u32 {
        self.tcp_data
    }

    pub fn key(&self) -> &CookieKey {
        &self.key
    }

    pub fn ports(&self) -> SourcePorts {
        self.ports
    }

    /// Our (first) address in `family`, if the scan has targets there.
    #[inline]
    pub fn source(&self, family: Family) -> Option<IpAddr> {
        self.sources.first(family)
    }

    /// Is `addr` one of our source addresses?
    #[inline]
    pub fn is_ours(&self, addr: IpAddr) -> bool {
        self.sources.contains(addr)
    }

    #[inline]
    pub fn our_port(&self, port: u16) -> bool {
        self.ports.contains(port)
    }

    /// The cookie of a probe of `kind` sent from `ours:our_port` to
    /// `target:target_port`.
    #[inline]
    pub fn cookie(
        &self,
        kind: ProbeKind,
        ours: IpAddr,
        our_port: u16,
        target: IpAddr,
        target_port: u16,
    ) -> u64 {
        self.key.cookie(
            kind,
            &Flow {
                src: ours,
                dst: target,
                src_port: our_port,
                dst_port: target_port,
            },
        )
    }
}

/// A reply that passed validation, before it is stamped with a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The probed address (for an ICMP error: the one its quote names).
    pub addr: IpAddr,
    pub proto: Protocol,
    pub port: u16,
    pub state: State,
    pub reason: Reason,
    pub ttl: u8,
    /// Our timestamp echoed back, for the round-trip time.
    pub ts_echo: Option<u32>,
    /// The host's MAC, when the reply is a neighbour's (ARP, ND).
    pub mac: Option<MacAddr>,
    /// The passive OS guess from a SYN-ACK (`--os-hints`).
    pub os: Option<OsFamily>,
}

impl Verdict {
    /// A reply's reading, with no timestamp echo and no MAC (set those
    /// fields after, where a reply carries them).
    pub fn new(
        addr: IpAddr,
        proto: Protocol,
        port: u16,
        state: State,
        reason: Reason,
        ttl: u8,
    ) -> Verdict {
        Verdict {
            addr,
            proto,
            port,
            state,
            reason,
            ttl,
            ts_echo: None,
            mac: None,
            os: None,
        }
    }

    /// The result line for this reply, stamped with its arrival time.
    pub fn record(&self, ts: u64) -> Record {
        Record {
            ip: self.addr,
            proto: self.proto,
            port: self.port,
            state: self.state,
            reason: self.reason,
            ttl: self.ttl,
            ts,
            mac: self.mac,
            banner: None,
            os: self.os,
        }
    }
}

/// What the capture filter must let through to the receive path, beyond
/// "addressed to one of our source addresses".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capture {
    /// TCP segments to our source ports.
    pub tcp: bool,
    /// UDP datagrams to our source ports.
    pub udp: bool,
    /// ICMP and ICMPv6 (errors quoting our probes; echo replies).
    pub icmp: bool,
    /// ARP replies to our IPv4 address.
    pub arp: bool,
}

/// One kind of probe. See the module comment; docs/design.md walks a
/// probe and its reply through it.
pub trait ProbeModule: Send + Sync {
    /// The constant part of this module's frames for one address family.
    type Template: Send + Sync;

    /// Mixed into the cookie of every probe of `proto`: a reply to another
    /// kind of probe (or to another run) can never validate as this one's.
    /// Fixed for a run.
    fn kind(&self, proto: Protocol) -> ProbeKind;

    /// Each protocol it probes, with its scan type's word as nmap XML's
    /// `scaninfo` prints it.
    fn scans(&self) -> Vec<(&'static str, Protocol)>;

    /// The longest frame `write` produces.
    fn max_frame_len(&self) -> usize;

    /// Builds the template once per family, from the link's addresses.
    fn template(&self, params: &FrameParams) -> Self::Template;

    /// The source port of a probe to `target:port` (`index` its place in
    /// the probe space): by default from the index, so every retry of a
    /// probe uses the same port; a module without a sequence number has
    /// the cookie choose it.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)] // everything a choice may hash
    fn source_port(
        &self,
        _key: &CookieKey,
        ports: SourcePorts,
        index: u64,
        _us: IpAddr,
        _target: IpAddr,
        _proto: Protocol,
        _port: u16,
    ) -> u16 {
        ports.for_index(index)
    }

    /// Writes one probe into `buf` (at least `max_frame_len` bytes) from the
    /// template of `p.dst`'s family; returns the frame length.
    fn write(&self, template: &Self::Template, buf: &mut [u8], p: &ProbeFields) -> usize;

    /// `Some` only for a reply to one of this module's probes, checked by
    /// the cookie it carries, with the state and reason it means.
    fn classify(&self, reply: &Reply<'_>, validator: &Validator) -> Option<Verdict>;

    /// The state and reason of a probe of `proto` that drew no reply.
    fn silence(&self, proto: Protocol) -> (State, Reason);

    /// What the capture filter must pass for `classify` to see its replies.
    fn capture(&self) -> Capture;
}
