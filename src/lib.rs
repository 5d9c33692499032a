//! synsweep: a stateless, high-rate, asynchronous network scanner.
//!
//! The modules follow the data. `cli` turns arguments into a `config`;
//! `targets` turn that into a probe space over both address families
//! (`net`); `scan` picks the probe module (`probe`), opens the `link` and
//! hands everything to the `engine`, whose transmit threads order the space
//! (`engine::permute`, `engine::schedule`), stamp each probe's `cookie` into
//! a frame the module builds from a `wire` template, paced by
//! `engine::rate`; its receive thread parses replies (`wire::reply`), lets
//! the module validate and classify them by their cookie, reports each
//! result once (`engine::dedup`) in the shared words of `domain`, and the
//! `output` formats write them. `checkpoint` and `conffile` keep and read
//! scans and configurations on disk. `connect` is the scan without raw
//! frames (`--connect`, nmap's -sT): the kernel's TCP stack, driven by one
//! epoll loop, with the same order, pacing, output and checkpoints.

pub mod checkpoint;
pub mod cli;
pub mod conffile;
pub mod config;
pub mod connect;
pub mod cookie;
pub mod domain;
pub mod engine;
pub mod link;
pub mod net;
pub mod output;
pub mod probe;
pub mod scan;
pub mod service;
pub mod targets;
pub mod wire;
