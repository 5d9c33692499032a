//! The receive path's judge, with and without `--os-hints`: how long a
//! SYN-ACK takes from frame to verdict (parse, addressed-to-us check,
//! cookie, classification, and the OS guess when asked).
//!
//!   cargo run --release --example judge [-- --frames 4096 --rounds 400 --runs 7]
//!
//! `--only off|on --shape linux|odd` runs one mode once, for counting
//! instructions (callgrind: the difference between two `--rounds` values,
//! divided by the frames added, leaves start-up out).
//!
//! No network: the frames are built in memory, each a valid answer to one
//! of our probes (its cookie checks), in two shapes: the lab's Linux
//! (the first row of the table matches) and an odd one that no row
//! matches (every row is tried). Modes alternate, best of several runs
//! each, so a busy neighbour on the machine shows as noise, not as a
//! difference.

use etherparse::{PacketBuilder, TcpOptionElement};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;
use synsweep::cookie::CookieKey;
use synsweep::engine::rx::judge;
use synsweep::probe::tcp::SynScan;
use synsweep::probe::{SourcePorts, Validator};

const US: Ipv4Addr = Ipv4Addr::new(198, 19, 255, 1);

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| {
            v.parse().unwrap_or_else(|_| {
                eprintln!("judge: {name}: {v:?} is not a number");
                std::process::exit(2)
            })
        })
}

/// `n` SYN-ACKs from distinct targets, each acknowledging its cookie.
fn frames(v: &Validator, n: usize, linux: bool) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let target = Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + i as u32);
            let sport = 61000 + (i % 256) as u16;
            let seq = v.cookie(SynScan::KIND, IpAddr::V4(US), sport, IpAddr::V4(target), 80) as u32;
            let options = if linux {
                vec![
                    TcpOptionElement::MaximumSegmentSize(1460),
                    TcpOptionElement::Noop,
                    TcpOptionElement::Noop,
                    TcpOptionElement::Timestamp(7, 9),
                ]
            } else {
                vec![
                    TcpOptionElement::Timestamp(7, 9),
                    TcpOptionElement::Noop,
                    TcpOptionElement::Noop,
                    TcpOptionElement::MaximumSegmentSize(1460),
                ]
            };
            let mut f = Vec::new();
            PacketBuilder::ethernet2([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1])
                .ipv4(target.octets(), US.octets(), 64)
                .tcp(80, sport, 1, if linux { 65160 } else { 1337 })
                .syn()
                .ack(seq.wrapping_add(1))
                .options(&options)
                .expect("options fit")
                .write(&mut f, &[])
                .expect("a frame");
            f
        })
        .collect()
}

/// Nanoseconds per frame of `rounds` passes over `frames`.
fn time(m: &SynScan, v: &Validator, frames: &[Vec<u8>], rounds: usize) -> f64 {
    let start = Instant::now();
    let mut open = 0usize;
    for _ in 0..rounds {
        for f in frames {
            open += judge(black_box(m), v, black_box(f)).is_some() as usize;
        }
    }
    let ns = start.elapsed().as_nanos() as f64;
    assert_eq!(open, rounds * frames.len(), "every frame validates");
    ns / (rounds * frames.len()) as f64
}

fn main() {
    let n = arg("--frames", 4096);
    let rounds = arg("--rounds", 400);
    let runs = arg("--runs", 7);
    let v = Validator::new(
        CookieKey::random(),
        [Some(IpAddr::V4(US)), None],
        SourcePorts {
            first: 61000,
            last: 61255,
        },
    );
    let plain = SynScan::default();
    let hinting = SynScan {
        os_hints: true,
        ..SynScan::default()
    };
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if let Some(only) = value("--only") {
        let m = if only == "on" { &hinting } else { &plain };
        let fs = frames(&v, n, value("--shape").as_deref() != Some("odd"));
        println!("{:.1} ns per SYN-ACK", time(m, &v, &fs, rounds));
        return;
    }
    println!(
        "judge: ns per SYN-ACK, best of {runs} runs of {rounds} x {n} frames (lower is better)"
    );
    for (shape, linux) in [
        ("linux (first row matches)", true),
        ("odd (no row matches)", false),
    ] {
        let fs = frames(&v, n, linux);
        let (mut off, mut on) = (f64::MAX, f64::MAX);
        for _ in 0..runs {
            off = off.min(time(&plain, &v, &fs, rounds));
            on = on.min(time(&hinting, &v, &fs, rounds));
        }
        println!(
            "{shape:28} without --os-hints {off:6.1}   with {on:6.1}   difference {:+5.1} ({:+.1}%)",
            on - off,
            (on - off) / off * 100.0
        );
    }
}
