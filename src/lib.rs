//! synsweep: a stateless, high-rate, asynchronous TCP SYN scanner.
//!
//! The modules follow the data: `cli` turns arguments into a `Config`;
//! `targets` into a probe space; `permute` and `schedule` order it; `tx`
//! turns positions into frames (`cookie`, `wire::template`) paced by `rate`
//! onto the `link`; `rx` validates what comes back (`wire::reply`,
//! `cookie`), `dedup` reports each result once, and `output` writes it.
//! `scan` runs the threads; `stats` counts.

pub mod checkpoint;
pub mod cli;
pub mod conffile;
pub mod config;
pub mod cookie;
pub mod dedup;
pub mod link;
pub mod monitor;
pub mod output;
pub mod permute;
pub mod rate;
pub mod rx;
pub mod scan;
pub mod schedule;
pub mod stats;
pub mod targets;
pub mod tx;
pub mod wire;
