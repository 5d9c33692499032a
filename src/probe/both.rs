//! A TCP module and a UDP module in one scan (`-sS -sU -p T:22,U:53`):
//! each probe goes to the module of its port's protocol, each reply to the
//! module of the protocol it carries (or quotes). Still one type the engine
//! is generic over, so the choice is a branch, not a dynamic call.

use super::{Capture, ProbeFields, ProbeModule, SourcePorts, Validator, Verdict};
use crate::cookie::{CookieKey, ProbeKind};
use crate::domain::{Protocol, Reason, State};
use crate::wire::reply::{Reply, Transport};
use crate::wire::template::FrameParams;
use std::net::IpAddr;

pub struct Both<T, U> {
    pub tcp: T,
    pub udp: U,
}

impl<T: ProbeModule, U: ProbeModule> ProbeModule for Both<T, U> {
    type Template = (T::Template, U::Template);

    #[inline(always)]
    fn kind(&self, proto: Protocol) -> ProbeKind {
        match proto {
            Protocol::Udp => self.udp.kind(proto),
            _ => self.tcp.kind(proto),
        }
    }

    fn scans(&self) -> Vec<(&'static str, Protocol)> {
        let mut v = self.tcp.scans();
        v.extend(self.udp.scans());
        v
    }

    fn max_frame_len(&self) -> usize {
        self.tcp.max_frame_len().max(self.udp.max_frame_len())
    }

    fn template(&self, params: &FrameParams) -> Self::Template {
        (self.tcp.template(params), self.udp.template(params))
    }

    #[inline(always)]
    fn source_port(
        &self,
        key: &CookieKey,
        ports: SourcePorts,
        index: u64,
        us: IpAddr,
        target: IpAddr,
        proto: Protocol,
        port: u16,
    ) -> u16 {
        match proto {
            Protocol::Udp => self
                .udp
                .source_port(key, ports, index, us, target, proto, port),
            _ => self
                .tcp
                .source_port(key, ports, index, us, target, proto, port),
        }
    }

    #[inline(always)]
    fn write(&self, t: &Self::Template, buf: &mut [u8], p: &ProbeFields) -> usize {
        match p.proto {
            Protocol::Udp => self.udp.write(&t.1, buf, p),
            _ => self.tcp.write(&t.0, buf, p),
        }
    }

    fn classify(&self, reply: &Reply<'_>, v: &Validator) -> Option<Verdict> {
        const IPPROTO_UDP: u8 = 17;
        match reply.transport {
            Transport::Udp(_) => self.udp.classify(reply, v),
            Transport::Unreachable { quoted, .. } if quoted.protocol == IPPROTO_UDP => {
                self.udp.classify(reply, v)
            }
            _ => self.tcp.classify(reply, v),
        }
    }

    fn silence(&self, proto: Protocol) -> (State, Reason) {
        match proto {
            Protocol::Udp => self.udp.silence(proto),
            _ => self.tcp.silence(proto),
        }
    }

    fn capture(&self) -> Capture {
        let (a, b) = (self.tcp.capture(), self.udp.capture());
        Capture {
            tcp: a.tcp || b.tcp,
            udp: a.udp || b.udp,
            icmp: a.icmp || b.icmp,
            arp: a.arp || b.arp,
        }
    }
}
