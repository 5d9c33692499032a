//! The connect loop: one thread, one epoll (through mio), up to
//! `--max-inflight` non-blocking connects at once.
//!
//! Each turn: start the connects the pacer allows into free slots (retries
//! of timed-out probes first, then the schedule's next positions), wait in
//! epoll until an answer, the next token or the oldest deadline, read what
//! the kernel made of each answer (connected, refused, an ICMP error as an
//! errno), then expire what is overdue. A connect that gets no answer
//! within the adaptive timeout (`timeout.rs`) is tried again, as a new
//! socket, up to `--retries` times, and is then silence: `filtered
//! no-response`, reported only when `--show` asks for filtered ports, as
//! for every other scan. An open port is closed with a reset (SO_LINGER 0)
//! at once, so no TIME_WAIT is left behind; in banner mode it is first
//! handed to the same sans-IO dialogue the user-space sessions use.

use super::slab::{Phase, Slab};
use super::timeout::ConnectTimeout;
use crate::domain::{Protocol, Reason, Record, State, StateSet};
use crate::engine::monitor::{self, ToOutput};
use crate::engine::permute::Permutation;
use crate::engine::rate::{Pacer, Rate, SystemClock};
use crate::engine::schedule::SendSchedule;
use crate::engine::stats::{Counters, Padded};
use crate::engine::{Interrupt, tx};
use crate::link::source::Sources;
use crate::service::Banner;
use crate::service::dialogue::{Context, Dialogue, Step};
use crate::service::hello::HelloMap;
use crate::targets::ProbeSpace;
use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use nix::errno::Errno;
use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, SockaddrStorage, sockopt};
use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

/// At most this many connects are started in one turn, so answers are
/// read between bursts even at an unlimited rate.
const MAX_STARTS_PER_TURN: usize = 1024;
/// The longest epoll wait: Ctrl-C and the watermark are looked at this
/// often when nothing else happens.
const MAX_WAIT: Duration = Duration::from_millis(100);
/// How often the checkpoint's watermark is recomputed (a walk of the
/// table).
const WATERMARK_EVERY_NS: u64 = 100_000_000;

/// Banner mode in a connect scan: what the dialogues need.
pub struct Talk<'a> {
    pub context: &'a Context,
    pub hellos: &'a HelloMap,
    /// How long a server may stay silent before we speak first.
    pub hello_wait: Duration,
    /// A conversation's whole life, from the connect.
    pub timeout: Duration,
}

/// What the loop scans and how.
pub struct Job<'a> {
    pub space: &'a ProbeSpace,
    pub permutation: Permutation,
    /// This shard's positions, first attempts only: retries follow
    /// timeouts, not the clock.
    pub schedule: SendSchedule,
    pub retries: u32,
    pub rate: Rate,
    /// `--max-probes`: connects to start, retries included.
    pub budget: Option<u64>,
    pub show: StateSet,
    pub max_inflight: usize,
    /// `--interface`: bound with SO_BINDTODEVICE.
    pub device: Option<OsString>,
    /// `--source-ip`: each connect binds one of its family's addresses,
    /// picked by the probe's index as raw scans pick theirs.
    pub sources: Sources,
    pub talk: Option<Talk<'a>>,
}

/// What the loop shares with the monitor and the output thread.
pub struct Shared<'a> {
    pub counters: &'a Counters,
    /// Every position of this shard below it is finished and its result
    /// handed to the output.
    pub watermark: &'a Padded,
    pub to_output: SyncSender<ToOutput>,
    pub interrupt: &'a Interrupt,
}

/// How the loop ended.
pub struct LoopReport {
    /// Every probe got its verdict.
    pub completed: bool,
    pub interrupted: bool,
    /// The output thread went away (its error is its own to report).
    pub output_gone: bool,
    /// From the first connect to the last.
    pub send_time: Duration,
    /// Round trips (µs) of answered connects.
    pub rtt_us: Histogram<u64>,
    /// The connect timeout at the end, and connects that ran into it.
    pub final_timeout: Duration,
    pub timeouts: u64,
    pub peak_inflight: usize,
}

/// What became of a connect.
enum Verdict {
    Answer(State, Reason),
    /// No answer we can read: like a timeout.
    Silence,
}

/// nmap -sT's reading of connect()'s errno, measured on the lab
/// (docs/lab.md): ICMP port unreachable is a refusal like a reset;
/// administratively prohibited is EHOSTUNREACH from IPv4 and EACCES from
/// IPv6.
fn verdict_of(err: &io::Error) -> Verdict {
    use Reason::*;
    use State::*;
    match err.raw_os_error() {
        Some(libc::ECONNREFUSED) | Some(libc::ECONNRESET) => Verdict::Answer(Closed, ConnRefused),
        Some(libc::EHOSTUNREACH) | Some(libc::EHOSTDOWN) | Some(libc::ENONET) => {
            Verdict::Answer(Filtered, HostUnreach)
        }
        Some(libc::ENETUNREACH) => Verdict::Answer(Filtered, NetUnreach),
        Some(libc::ENOPROTOOPT) => Verdict::Answer(Filtered, ProtoUnreach),
        Some(libc::EACCES) | Some(libc::EPERM) => Verdict::Answer(Filtered, AdminProhibited),
        _ => Verdict::Silence,
    }
}

/// A connect that cannot start for want of a resource (descriptors,
/// buffers, local ports): tried again once some connects have ended.
fn out_of_resources(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EMFILE)
            | Some(libc::ENFILE)
            | Some(libc::ENOBUFS)
            | Some(libc::ENOMEM)
            | Some(libc::EADDRNOTAVAIL)
            | Some(libc::EAGAIN)
    )
}

/// A non-blocking socket with connect() under way to `target`.
fn start_connect(
    target: SocketAddr,
    device: Option<&OsString>,
    source: Option<IpAddr>,
) -> io::Result<TcpStream> {
    let family = match target {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let fd = socket::socket(
        family,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    if let Some(d) = device {
        socket::setsockopt(&fd, sockopt::BindToDevice, d)?;
    }
    if let Some(ip) = source {
        socket::bind(
            fd.as_raw_fd(),
            &SockaddrStorage::from(SocketAddr::new(ip, 0)),
        )?;
    }
    match socket::connect(fd.as_raw_fd(), &SockaddrStorage::from(target)) {
        Ok(()) | Err(Errno::EINPROGRESS) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(TcpStream::from_std(std::net::TcpStream::from(fd)))
}

/// Closes with a reset: no FIN exchange, no TIME_WAIT.
fn reset(stream: TcpStream) {
    let abort = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // Without it the close is merely graceful: nothing to report.
    let _ = socket::setsockopt(&stream, sockopt::Linger, &abort);
    drop(stream);
}

pub struct ConnectLoop<'a> {
    job: Job<'a>,
    shared: Shared<'a>,
    poll: Poll,
    events: Events,
    slab: Slab,
    timeout: ConnectTimeout,
    pacer: Pacer<SystemClock>,
    /// Timed-out probes to try again, and probes that could not start.
    again: VecDeque<(u64, u32)>,
    /// Banner mode: (slot, generation) of conversations in the order they
    /// began; each is due its hello after `hello_wait`.
    hello_due: VecDeque<(u32, u32)>,
    started: Instant,
    /// Unix seconds, once per turn.
    ts: u64,
    rtt_us: Histogram<u64>,
    /// Connects started, all attempts.
    starts: u64,
    schedule_done: bool,
    stopping: bool,
    output_gone: bool,
    timeouts: u64,
    peak: usize,
    /// Counts published to `Counters` once per turn.
    tally: Tally,
    read_buf: Box<[u8]>,
    /// The turn's events: (slot, readable, writable, error or hang-up).
    ready: Vec<(u32, bool, bool, bool)>,
    out_scratch: Vec<u8>,
    last_start_ns: u64,
}

#[derive(Default)]
struct Tally {
    sent: u64,
    answered: u64,
    found: [u64; State::COUNT],
}

impl<'a> ConnectLoop<'a> {
    pub fn new(job: Job<'a>, shared: Shared<'a>) -> io::Result<Self> {
        let n = job.max_inflight;
        let pacer = Pacer::new(job.rate, MAX_STARTS_PER_TURN, SystemClock::new());
        Ok(ConnectLoop {
            poll: Poll::new()?,
            events: Events::with_capacity(n.clamp(64, 4096)),
            slab: Slab::new(n),
            timeout: ConnectTimeout::default(),
            pacer,
            again: VecDeque::with_capacity(n),
            hello_due: VecDeque::with_capacity(if job.talk.is_some() { n } else { 0 }),
            started: Instant::now(),
            ts: monitor::unix_now(),
            rtt_us: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("constant histogram bounds"),
            starts: 0,
            schedule_done: false,
            stopping: false,
            output_gone: false,
            timeouts: 0,
            peak: 0,
            tally: Tally::default(),
            read_buf: vec![0; 16 * 1024].into_boxed_slice(),
            ready: Vec::with_capacity(n.clamp(64, 4096)),
            out_scratch: Vec::with_capacity(1024),
            last_start_ns: 0,
            job,
            shared,
        })
    }

    fn now_ns(&self) -> u64 {
        self.started.elapsed().as_nanos() as u64
    }

    /// Runs the scan to its end (or Ctrl-C's).
    pub fn run(mut self) -> io::Result<LoopReport> {
        self.started = Instant::now();
        let mut next_watermark = 0;
        let mut interrupted = false;
        loop {
            let presses = self.shared.interrupt.presses();
            if presses >= 1 && !self.stopping {
                // Stop starting; the connects in flight get their verdicts.
                interrupted = true;
                self.stopping = true;
            }
            if presses >= 2 || self.output_gone {
                break;
            }
            let now = self.now_ns();
            if !self.stopping {
                self.start_some(now)?;
            }
            if self.slab.in_flight() == 0 && (self.stopping || self.nothing_left()) {
                break;
            }
            let wait = self.wait_for(self.now_ns());
            match self.poll.poll(&mut self.events, Some(wait)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            self.ts = monitor::unix_now();
            let now = self.now_ns();
            self.answers(now);
            self.expire(now);
            self.publish();
            if now >= next_watermark {
                self.shared.watermark.set(self.low_watermark());
                next_watermark = now + WATERMARK_EVERY_NS;
            }
        }
        self.publish();
        let completed = !interrupted && !self.output_gone && self.nothing_left();
        if completed {
            self.shared
                .watermark
                .set(self.job.schedule.originals_done_below());
        }
        Ok(LoopReport {
            completed,
            interrupted,
            output_gone: self.output_gone,
            send_time: Duration::from_nanos(self.last_start_ns),
            rtt_us: self.rtt_us,
            final_timeout: self.timeout.timeout(),
            timeouts: self.timeouts,
            peak_inflight: self.peak,
        })
    }

    /// No probe is left to start.
    fn nothing_left(&self) -> bool {
        self.again.is_empty() && (self.schedule_done || self.out_of_budget())
    }

    fn out_of_budget(&self) -> bool {
        self.job.budget.is_some_and(|b| self.starts >= b)
    }

    /// Starts what the pacer and the free slots allow.
    fn start_some(&mut self, now: u64) -> io::Result<()> {
        let room = self.slab.free_slots().min(MAX_STARTS_PER_TURN);
        if room == 0 || self.nothing_left() {
            return Ok(());
        }
        let mut tokens = self.pacer.take_ready(room);
        while tokens > 0 && !self.out_of_budget() {
            let (position, attempt) = match self.again.pop_front() {
                Some(p) => p,
                None => match self.job.schedule.next_send() {
                    Some(s) => (s.position, 0),
                    None => {
                        self.schedule_done = true;
                        break;
                    }
                },
            };
            if !self.start(position, attempt, now)? {
                break; // out of descriptors or ports: wait for some to end
            }
            tokens -= 1;
        }
        self.peak = self.peak.max(self.slab.in_flight());
        Ok(())
    }

    /// Starts one connect; `false` when it could not for want of a
    /// resource (it is queued again).
    fn start(&mut self, position: u64, attempt: u32, now: u64) -> io::Result<bool> {
        let index = self.job.permutation.apply(position);
        let p = self.job.space.probe(index);
        let target = SocketAddr::new(p.addr, p.port);
        let sources = &self.job.sources;
        let source = match p.addr {
            IpAddr::V4(_) if !sources.v4.is_empty() => Some(IpAddr::V4(sources.pick_v4(index))),
            IpAddr::V6(_) if !sources.v6.is_empty() => Some(IpAddr::V6(sources.pick_v6(index))),
            _ => None,
        };
        let stream = match start_connect(target, self.job.device.as_ref(), source) {
            Ok(s) => s,
            // With nothing in flight, nothing will free the resource:
            // waiting would be forever (a --source-ip not ours, a limit
            // too low).
            Err(e) if out_of_resources(&e) && self.slab.in_flight() == 0 => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("connect to {target}: {e}"),
                ));
            }
            Err(e) if out_of_resources(&e) => {
                self.again.push_front((position, attempt));
                return Ok(false);
            }
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => {
                return Err(io::Error::new(e.kind(), format!("--interface: {e}")));
            }
            Err(e) => {
                // Refused before any packet left (no route, on loopback
                // at once...): that is the answer.
                self.starts += 1;
                self.tally.sent += 1;
                self.last_start_ns = now;
                self.settle(index, verdict_of(&e), None, attempt, position);
                return Ok(true);
            }
        };
        let Some(slot) = self.slab.take(Phase::Connecting, now) else {
            self.again.push_front((position, attempt));
            return Ok(false);
        };
        let mut stream = stream;
        self.poll.registry().register(
            &mut stream,
            Token(slot as usize),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let c = self.slab.get_mut(slot);
        c.stream = Some(stream);
        c.position = position;
        c.attempt = attempt;
        c.index = index;
        self.starts += 1;
        self.tally.sent += 1;
        self.last_start_ns = now;
        Ok(true)
    }

    /// How long epoll may sleep: until the next token (when there is
    /// something to start and room for it), the oldest deadline, or
    /// `MAX_WAIT`.
    fn wait_for(&self, now: u64) -> Duration {
        let mut wait = MAX_WAIT.as_nanos() as u64;
        if !self.stopping && self.slab.free_slots() > 0 && !self.nothing_left() {
            wait = wait.min(self.pacer.next_in_ns());
        }
        if let Some(s) = self.slab.oldest(Phase::Connecting) {
            let due = self.slab.get(s).since_ns + self.timeout.timeout_us() * 1000;
            wait = wait.min(due.saturating_sub(now));
        }
        if let Some(t) = &self.job.talk {
            if let Some(s) = self.slab.oldest(Phase::Talking) {
                let due = self.slab.get(s).since_ns + t.timeout.as_nanos() as u64;
                wait = wait.min(due.saturating_sub(now));
            }
            if let Some(&(s, _)) = self.hello_due.front() {
                let due = self.slab.get(s).since_ns + t.hello_wait.as_nanos() as u64;
                wait = wait.min(due.saturating_sub(now));
            }
        }
        Duration::from_nanos(wait)
    }

    /// Reads what each ready socket has to say.
    fn answers(&mut self, now: u64) {
        // The events are copied out first: handling one may end its slot,
        // and no slot is taken again before the next turn, so a token
        // always names the connection epoll meant.
        let mut ready = std::mem::take(&mut self.ready);
        ready.clear();
        ready.extend(self.events.iter().map(|e| {
            (
                e.token().0 as u32,
                e.is_readable(),
                e.is_writable(),
                e.is_error() || e.is_write_closed() || e.is_read_closed(),
            )
        }));
        for &(slot, readable, writable, ended) in &ready {
            match self.slab.get(slot).phase {
                Phase::Free => {}
                Phase::Connecting => {
                    if writable || ended || readable {
                        self.connect_done(slot, now);
                    }
                }
                Phase::Talking => self.converse(slot, readable, writable || ended, now),
            }
        }
        self.ready = ready;
    }

    /// A connecting socket became ready: connected, or refused.
    fn connect_done(&mut self, slot: u32, now: u64) {
        let c = self.slab.get(slot);
        let stream = c.stream.as_ref().expect("a connecting slot has its socket");
        let outcome = match stream.take_error() {
            Ok(Some(e)) | Err(e) => Err(e),
            Ok(None) => match stream.peer_addr() {
                Ok(_) => Ok(()),
                // Not yet: a spurious wake-up.
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(e) => Err(e),
            },
        };
        let rtt_us = now.saturating_sub(c.since_ns) / 1000;
        let (index, attempt, position) = (c.index, c.attempt, c.position);
        let verdict = match &outcome {
            Ok(()) => Verdict::Answer(State::Open, Reason::SynAck),
            Err(e) => verdict_of(e),
        };
        if matches!(verdict, Verdict::Answer(..)) {
            self.timeout.sample(rtt_us.max(1));
            let _ = self.rtt_us.record(rtt_us.max(1));
        }
        if outcome.is_ok() && self.job.talk.is_some() {
            self.begin_talk(slot, now);
            return;
        }
        let stream = self.slab.get_mut(slot).stream.take();
        self.slab.release(slot);
        if let Some(s) = stream {
            reset(s);
        }
        self.settle(index, verdict, None, attempt, position);
    }

    /// The verdict of a probe whose connect is over: a result, or (silence
    /// with retries left) another attempt.
    fn settle(
        &mut self,
        index: u64,
        verdict: Verdict,
        banner: Option<Box<Banner>>,
        attempt: u32,
        position: u64,
    ) {
        let (state, reason) = match verdict {
            Verdict::Answer(s, r) => {
                self.tally.answered += 1;
                (s, r)
            }
            Verdict::Silence if attempt < self.job.retries && !self.stopping => {
                self.again.push_back((position, attempt + 1));
                return;
            }
            Verdict::Silence => (State::Filtered, Reason::NoResponse),
        };
        self.tally.found[state.index()] += 1;
        if !self.job.show.contains(state) {
            return;
        }
        let p = self.job.space.probe(index);
        let record = Record {
            ip: p.addr,
            proto: Protocol::Tcp,
            port: p.port,
            state,
            reason,
            ttl: 0,
            ts: self.ts,
            mac: None,
            os: None,
            banner,
        };
        if self
            .shared
            .to_output
            .send(ToOutput::Record(record))
            .is_err()
        {
            self.output_gone = true;
        }
    }

    /// Banner mode: an open port's conversation begins.
    fn begin_talk(&mut self, slot: u32, now: u64) {
        let t = self.job.talk.as_ref().expect("banner mode");
        let (context, hellos) = (t.context, t.hellos);
        self.slab.enter(slot, Phase::Talking, now);
        let c = self.slab.get_mut(slot);
        let p = self.job.space.probe(c.index);
        let mut dialogue = Dialogue::new(context, hellos.for_port(p.port), p.addr, p.port);
        self.out_scratch.clear();
        let step = dialogue.opening(context, &mut self.out_scratch);
        c.dialogue = Some(Box::new(dialogue));
        if !self.out_scratch.is_empty() {
            c.spoken = true;
        }
        let generation = c.generation;
        self.hello_due.push_back((slot, generation));
        self.after_step(slot, step);
        // The greeting may have come with the connect's own wake-up, and
        // epoll (edge-triggered) will not report it again.
        if self.slab.get(slot).phase == Phase::Talking {
            self.converse(slot, true, false, now);
        }
    }

    /// Sends what the dialogue wrote into `out_scratch` and ends the
    /// conversation if it is done.
    fn after_step(&mut self, slot: u32, step: Step) {
        let c = self.slab.get_mut(slot);
        c.unsent.extend_from_slice(&self.out_scratch);
        self.out_scratch.clear();
        let failed = Self::flush(c).is_err();
        if step == Step::Done || failed {
            self.end_talk(slot);
        }
    }

    fn flush(c: &mut super::slab::Conn) -> io::Result<()> {
        let Some(stream) = c.stream.as_mut() else {
            return Ok(());
        };
        while !c.unsent.is_empty() {
            match stream.write(&c.unsent) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    c.unsent.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Banner mode: the socket of a conversation is ready.
    fn converse(&mut self, slot: u32, readable: bool, writable: bool, _now: u64) {
        if writable && Self::flush(self.slab.get_mut(slot)).is_err() {
            self.end_talk(slot);
            return;
        }
        if !readable {
            return;
        }
        let context = self.job.talk.as_ref().expect("banner mode").context;
        loop {
            let c = self.slab.get_mut(slot);
            let Some(stream) = c.stream.as_mut() else {
                return;
            };
            let n = match stream.read(&mut self.read_buf) {
                Ok(0) => {
                    // The server closed: what it said is all there is.
                    self.end_talk(slot);
                    return;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.end_talk(slot);
                    return;
                }
            };
            c.spoken = true;
            c.heard = true;
            let dialogue = c
                .dialogue
                .as_mut()
                .expect("a talking slot has its dialogue");
            self.out_scratch.clear();
            let step = dialogue.received(context, &self.read_buf[..n], &mut self.out_scratch);
            self.after_step(slot, step);
            if self.slab.get(slot).phase != Phase::Talking {
                return;
            }
        }
    }

    /// Banner mode: the conversation is over; the open port is reported
    /// with what was heard, and the connection reset.
    fn end_talk(&mut self, slot: u32) {
        let c = self.slab.get_mut(slot);
        let findings = c.dialogue.take().map(|d| d.finish()).unwrap_or_default();
        let stream = c.stream.take();
        let (index, attempt, position) = (c.index, c.attempt, c.position);
        self.slab.release(slot);
        if let Some(s) = stream {
            reset(s);
        }
        self.settle(
            index,
            Verdict::Answer(State::Open, Reason::SynAck),
            Some(Box::new(Banner { findings, id: None })),
            attempt,
            position,
        );
    }

    /// Ends what is overdue: connects past the timeout, conversations past
    /// theirs, and silent servers' hello waits.
    fn expire(&mut self, now: u64) {
        let timeout_ns = self.timeout.timeout_us() * 1000;
        while let Some(slot) = self.slab.oldest(Phase::Connecting) {
            let c = self.slab.get(slot);
            if now < c.since_ns + timeout_ns {
                break;
            }
            let (index, attempt, position) = (c.index, c.attempt, c.position);
            // An ICMP error that came while connect() still held the
            // socket is kept as a soft error, with no wake-up (measured:
            // IPv6 rejects through the lab's veth); SO_ERROR gives it.
            let soft = c
                .stream
                .as_ref()
                .and_then(|s| s.take_error().ok().flatten());
            let verdict = soft.map_or(Verdict::Silence, |e| verdict_of(&e));
            self.slab.release(slot);
            if matches!(verdict, Verdict::Silence) {
                self.timeouts += 1;
            }
            self.settle(index, verdict, None, attempt, position);
        }
        let Some(t) = &self.job.talk else {
            return;
        };
        let (talk_ns, hello_ns, context) = (
            t.timeout.as_nanos() as u64,
            t.hello_wait.as_nanos() as u64,
            t.context,
        );
        while let Some(&(slot, generation)) = self.hello_due.front() {
            let c = self.slab.get_mut(slot);
            let live = c.phase == Phase::Talking && c.generation == generation;
            if live && now < c.since_ns + hello_ns {
                break;
            }
            self.hello_due.pop_front();
            if !live || c.spoken {
                continue;
            }
            c.spoken = true;
            let dialogue = c
                .dialogue
                .as_mut()
                .expect("a talking slot has its dialogue");
            self.out_scratch.clear();
            let step = dialogue.quiet(context, &mut self.out_scratch);
            self.after_step(slot, step);
        }
        while let Some(slot) = self.slab.oldest(Phase::Talking) {
            if now < self.slab.get(slot).since_ns + talk_ns {
                break;
            }
            self.end_talk(slot);
        }
    }

    /// Every position below this is finished: the lowest one still in
    /// flight or waiting to be tried again, else the schedule's next.
    fn low_watermark(&self) -> u64 {
        let in_flight = self.slab.busy().map(|s| self.slab.get(s).position);
        let waiting = self.again.iter().map(|&(p, _)| p);
        in_flight
            .chain(waiting)
            .min()
            .unwrap_or(u64::MAX)
            .min(self.job.schedule.originals_done_below())
    }

    fn publish(&mut self) {
        let c = self.shared.counters;
        let t = &mut self.tally;
        c.sent.add(t.sent);
        c.received.add(t.answered);
        c.valid.add(t.answered);
        for (to, n) in c.found.iter().zip(t.found) {
            to.add(n);
        }
        *t = Tally::default();
    }
}

/// The latency histogram the summary expects from transmit threads: connect
/// mode has no batches.
pub fn no_batches() -> Histogram<u64> {
    tx::latency_histogram()
}
