//! The validated configuration of a run: everything the pipeline needs,
//! with every user-supplied value already checked.

use crate::link::{LinkKind, LinkOptions};
use crate::output::OutputSpec;
use crate::rate::Rate;
use crate::rx::PortState;
use crate::targets::ProbeSpace;
use crate::tx::SourcePorts;
use std::path::PathBuf;
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
    /// Permutation seed (drawn at random when not given).
    pub seed: u64,
    /// The user chose the seed.
    pub seed_given: bool,
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
    pub shard: Shard,
    /// Where to keep the checkpoint; `None`: no checkpoint.
    pub checkpoint: Option<PathBuf>,
    pub checkpoint_interval: Duration,
    /// Where a resumed scan starts.
    pub resume: Option<ResumePoint>,
    /// Continue the output file instead of replacing it.
    pub append: bool,
    /// One JSON object per second here (`-`: standard output).
    pub status_json: Option<PathBuf>,
    /// The effective configuration, `name = value` lines (seed included).
    pub effective: Vec<String>,
    /// Hash of the lines of `effective` that fix which probe goes where, in
    /// which order, to which file (see `cli::IDENTITY`).
    pub identity_hash: u64,
    /// As typed, for output headers.
    pub command_line: String,
}

/// Shard `index` (from 0) of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

/// Where a resumed scan picks up, from its checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResumePoint {
    /// Every position of this shard below it was sent and answered.
    pub position: u64,
    /// Counters of the runs before.
    pub sent: u64,
    pub found: [u64; 3],
}
