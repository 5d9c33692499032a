//! The validated configuration of a run: everything the pipeline needs,
//! with every user-supplied value already checked.

use crate::link::{LinkKind, LinkOptions};
use crate::output::OutputSpec;
use crate::rate::Rate;
use crate::rx::PortState;
use crate::targets::ProbeSpace;
use crate::tx::SourcePorts;
use std::sync::Arc;
use std::time::Duration;

/// Which states are written out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Show([bool; 3]);

impl Show {
    pub const OPEN_ONLY: Show = Show([true, false, false]);

    pub fn new(states: &[PortState]) -> Show {
        let mut s = [false; 3];
        for &st in states {
            s[st as usize] = true;
        }
        Show(s)
    }

    #[inline]
    pub fn contains(&self, s: PortState) -> bool {
        self.0[s as usize]
    }

    pub fn names(&self) -> Vec<&'static str> {
        PortState::ALL
            .into_iter()
            .filter(|s| self.contains(*s))
            .map(|s| s.as_str())
            .collect()
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub space: Arc<ProbeSpace>,
    /// Permutation seed; `None` draws one at random.
    pub seed: Option<u64>,
    pub rate: Rate,
    pub retries: u32,
    pub wait: Duration,
    pub show: Show,
    pub output: OutputSpec,
    pub list_probes: bool,
    pub link: LinkOptions,
    pub link_kind: LinkKind,
    /// Transmit threads, each with its own socket and slice of the order.
    pub tx_threads: u32,
    /// Stop after this many frames (all attempts counted).
    pub max_probes: Option<u64>,
    /// Report frames and bits per second of the run and batch latency.
    pub benchmark: bool,
    pub source_ports: SourcePorts,
    pub ttl: u8,
}
