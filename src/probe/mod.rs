//! Probe modules: what a probe looks like on the wire and what its replies
//! mean, one module per kind of probe, in the manner of zmap's probe
//! modules. A module builds its constant frame template once per address
//! family, writes a probe's changing fields into a frame, validates a reply
//! by the cookie it carries and classifies it, says what silence means,
//! and tells the capture filter what to let through. It knows nothing of
//! threads, pacing, links or output: that is the engine's, which is
//! generic over the module, so the per-probe path has no dynamic call.

pub mod tcp;

use crate::cookie::{CookieKey, Flow, ProbeKind};
use crate::domain::{Family, Protocol, Reason, Record, State};
use crate::wire::reply::Reply;
use crate::wire::template::FrameParams;
use std::net::IpAddr;

/// The scan types, by their `--scan` names; each is one probe module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanType {
    /// TCP SYN (`-sS`): `tcp::SynScan`.
    Syn,
}

impl ScanType {
    pub const NAMES: &'static [&'static str] = &["syn"];

    pub fn name(&self) -> &'static str {
        match self {
            ScanType::Syn => "syn",
        }
    }

    pub fn from_name(s: &str) -> Option<ScanType> {
        match s {
            "syn" | "sS" => Some(ScanType::Syn),
            _ => None,
        }
    }
}

/// What changes from one probe to the next; the engine fills it in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeFields {
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
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

/// Our side of every flow: the per-run key, our address in each family
/// and our source ports. Replies are checked against this alone.
#[derive(Clone, Debug)]
pub struct Validator {
    key: CookieKey,
    sources: [Option<IpAddr>; 2],
    ports: SourcePorts,
}

impl Validator {
    pub fn new(key: CookieKey, sources: [Option<IpAddr>; 2], ports: SourcePorts) -> Self {
        Validator {
            key,
            sources,
            ports,
        }
    }

    pub fn key(&self) -> &CookieKey {
        &self.key
    }

    pub fn ports(&self) -> SourcePorts {
        self.ports
    }

    /// Our address in `family`, if the scan has targets there.
    #[inline]
    pub fn source(&self, family: Family) -> Option<IpAddr> {
        self.sources[family as usize]
    }

    /// Is `addr` one of our source addresses?
    #[inline]
    pub fn is_ours(&self, addr: IpAddr) -> bool {
        self.sources[Family::of(&addr) as usize] == Some(addr)
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
}

impl Verdict {
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
}

/// One kind of probe. See the module comment; docs/design.md walks a
/// probe and its reply through it.
pub trait ProbeModule: Send + Sync {
    /// Mixed into every cookie: a reply to another kind of probe (or to
    /// another run) can never validate as this one's.
    const KIND: ProbeKind;
    /// The scan type's name, as `--echo` and nmap XML's `scaninfo` print it.
    const NAME: &'static str;

    /// The constant part of this module's frames for one address family.
    type Template: Send + Sync;

    /// The transport this module's ports belong to.
    fn protocol(&self) -> Protocol;

    /// The longest frame `write` produces.
    fn max_frame_len(&self) -> usize;

    /// Builds the template once per family, from the link's addresses.
    fn template(&self, params: &FrameParams) -> Self::Template;

    /// Writes one probe into `buf` (at least `max_frame_len` bytes) from the
    /// template of `p.dst`'s family; returns the frame length.
    fn write(&self, template: &Self::Template, buf: &mut [u8], p: &ProbeFields) -> usize;

    /// `Some` only for a reply to one of this module's probes, checked by
    /// the cookie it carries, with the state and reason it means.
    fn classify(&self, reply: &Reply<'_>, validator: &Validator) -> Option<Verdict>;

    /// The state and reason of a probe that drew no reply at all.
    fn silence(&self) -> (State, Reason);

    /// What the capture filter must pass for `classify` to see its replies.
    fn capture(&self) -> Capture;
}
