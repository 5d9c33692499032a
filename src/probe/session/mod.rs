//! Banner mode's user-space TCP sessions: the one place in synsweep with
//! per-connection state.
//!
//! A SYN-ACK that the SYN cookie has proven opens a session; we answer it
//! with our own ACK, hold the conversation a `Dialogue` (`service/`) asks
//! for, and close it. Our initial sequence number is the cookie, so a
//! segment that arrives after its session is gone (a late FIN, a
//! retransmission) is still recognised by the cookie alone and answered
//! with a reset, without any lookup of the past. The host kernel owns no
//! socket for these connections; `link::hold` keeps it from resetting
//! them.
//!
//! The table has a fixed capacity (`--max-sessions`, default 2^20): when
//! it is full a new connection is refused with a reset and counted, and its
//! port is reported open without a banner. Every timer of a kind has the
//! same duration, so each kind's timers expire in the order they were set:
//! a FIFO queue per kind is the whole timer wheel, and an entry whose
//! session has moved on (its generation changed) is skipped. Frames are
//! built from per-family templates (`segment.rs`) into an outbox the
//! receive thread flushes after each batch.

pub mod segment;

use crate::cookie::ProbeKind;
use crate::domain::Record;
use crate::link::TxLink;
use crate::probe::Validator;
use crate::service::Banner;
use crate::service::dialogue::{Context, Dialogue, Step};
use crate::service::hello::HelloMap;
use crate::wire::reply::{Reply, TcpSegment, tcp_flags};
use segment::{MAX_DATA, MAX_FRAME, Segment, SegmentWriter};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::IpAddr;
use std::time::Duration;

/// What `--banners` sets.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Sessions open at once, at most.
    pub capacity: usize,
    /// How long a server may stay silent before we speak first.
    pub hello_wait: Duration,
    /// A session's whole life, from the SYN-ACK.
    pub timeout: Duration,
    /// Unacknowledged data is sent again after this long, then after twice
    /// as long, and so on...
    pub rto: Duration,
    /// ...this many times at most (the session's timeout ends it).
    pub max_retransmits: u8,
    pub hellos: HelloMap,
}

impl SessionConfig {
    pub const DEFAULT_CAPACITY: usize = 1 << 20;
    /// After our FIN, how long we stay to acknowledge the server's.
    const LINGER: Duration = Duration::from_secs(2);
}

/// What the sessions did, for the summary and the status line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionStats {
    pub opened: u64,
    /// Refused with a reset because the table was full.
    pub refused: u64,
    /// Ended with what the dialogue came for, or the server's close.
    pub completed: u64,
    /// Ended by `--banner-timeout` (or by retransmissions running out).
    pub timed_out: u64,
    /// Ended by the server's reset.
    pub reset: u64,
    /// Ended because the scan stopped first.
    pub cut_short: u64,
    /// Segments of ours sent again.
    pub retransmits: u64,
    /// Segments for flows of ours that had no session any more, answered
    /// with a reset.
    pub late: u64,
    /// Most sessions open at once.
    pub peak: u64,
    /// Sessions that got any bytes from the server.
    pub with_banner: u64,
}

/// A flow, from our side: the target's address and port, and our port
/// (our address is the run's, per family).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct FlowKey {
    target: IpAddr,
    target_port: u16,
    our_port: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Talking,
    /// Our FIN is out; waiting for the server's.
    Closing,
}

/// One connection: plain data, driven by `Sessions`.
struct Conn {
    generation: u32,
    key: FlowKey,
    /// The open port's result, reported when the session ends.
    record: Record,
    phase: Phase,
    snd_una: u32,
    snd_nxt: u32,
    rcv_nxt: u32,
    /// The server's last timestamp, echoed; `None`: it sent none, and we
    /// send none either.
    ts_recent: Option<u32>,
    /// Data sent and not yet acknowledged, from `snd_una`.
    unacked: Vec<u8>,
    retransmits: u8,
    /// Retransmission timer expiries since data was last acknowledged.
    rto_ticks: u16,
    rto_armed: bool,
    /// The server has sent data, or we have: the hello wait is over.
    spoken: bool,
    peer_fin: bool,
    heard: bool,
    dialogue: Option<Box<Dialogue>>,
}

/// How a session ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Completed,
    TimedOut,
    Reset,
    CutShort,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TimerKind {
    Wait,
    Retransmit,
    Deadline,
    Linger,
}

/// Timers of one duration: they expire in the order they were set.
struct TimerQueue {
    after_ms: u64,
    queue: VecDeque<(u64, u32, u32)>,
}

impl TimerQueue {
    fn new(after: Duration) -> TimerQueue {
        TimerQueue {
            after_ms: after.as_millis() as u64,
            queue: VecDeque::with_capacity(1024),
        }
    }

    fn set(&mut self, now_ms: u64, slot: u32, generation: u32) {
        self.queue
            .push_back((now_ms + self.after_ms, slot, generation));
    }

    fn pop_due(&mut self, now_ms: u64) -> Option<(u32, u32)> {
        match self.queue.front() {
            Some(&(due, slot, generation)) if due <= now_ms => {
                self.queue.pop_front();
                Some((slot, generation))
            }
            _ => None,
        }
    }
}

/// Frames waiting for the receive thread's next flush.
struct Outbox {
    bytes: Vec<u8>,
    frames: Vec<(usize, usize)>,
}

/// All banner sessions of a run, owned by the receive thread.
pub struct Sessions<'a> {
    config: SessionConfig,
    context: &'a Context,
    validator: &'a Validator,
    kind: ProbeKind,
    writer: SegmentWriter,
    link: TxLink,
    slots: Vec<Option<Conn>>,
    free: Vec<u32>,
    index: HashMap<FlowKey, u32>,
    generation: u32,
    timers: [TimerQueue; 4],
    outbox: Outbox,
    /// The dialogue's next bytes, reused.
    scratch: Vec<u8>,
    done: Vec<Record>,
    stats: SessionStats,
    /// The newest timestamp we have sent: ours never go backwards, though
    /// a frame that waited in the ring while a timer fired arrived before
    /// that timer's time (a server drops a segment whose timestamp is
    /// older than the last it saw: PAWS).
    last_tsval: u32,
}

/// The time, as the sessions read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// Monotonic milliseconds, for the timers.
    pub ms: u64,
    /// Our TCP timestamp: Unix µs, wrapping, the clock the SYN's TSval
    /// runs on, so ours never go backwards, within a session (PAWS) or
    /// from one run to the next (a server in TIME_WAIT takes a new SYN of
    /// the same flow only with a newer timestamp).
    pub tsval: u32,
}

impl Now {
    pub fn at(started: std::time::Instant) -> Now {
        Now {
            ms: started.elapsed().as_millis() as u64,
            tsval: crate::engine::rate::unix_micros() as u32,
        }
    }
}

/// Sequence-space comparison: `a` is before `b` (RFC 9293's modular
/// arithmetic).
#[inline]
fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl<'a> Sessions<'a> {
    /// `kind`: the SYN probes' cookie kind, whose sequence numbers our
    /// sessions continue. `link`: a sender of the receive thread's own.
    pub fn new(
        config: SessionConfig,
        context: &'a Context,
        validator: &'a Validator,
        kind: ProbeKind,
        writer: SegmentWriter,
        link: TxLink,
    ) -> Sessions<'a> {
        let timers = [
            TimerQueue::new(config.hello_wait),
            TimerQueue::new(config.rto),
            TimerQueue::new(config.timeout),
            TimerQueue::new(SessionConfig::LINGER),
        ];
        // Reserve address space for the whole table but touch memory only
        // as sessions open: the slab and the index grow on demand.
        let start = config.capacity.min(4096);
        Sessions {
            slots: Vec::with_capacity(start),
            free: Vec::new(),
            index: HashMap::with_capacity(start),
            generation: 0,
            timers,
            outbox: Outbox {
                bytes: Vec::with_capacity(64 * MAX_FRAME),
                frames: Vec::with_capacity(64),
            },
            scratch: Vec::with_capacity(2048),
            done: Vec::new(),
            stats: SessionStats::default(),
            last_tsval: 0,
            config,
            context,
            validator,
            kind,
            writer,
            link,
        }
    }

    pub fn stats(&self) -> SessionStats {
        self.stats
    }

    /// `now`, with a timestamp no older than any we have sent.
    fn monotonic(&mut self, now: Now) -> Now {
        if self.last_tsval == 0 || before(self.last_tsval, now.tsval) {
            self.last_tsval = now.tsval;
        }
        Now {
            tsval: self.last_tsval,
            ..now
        }
    }

    /// Sessions open now.
    pub fn open(&self) -> usize {
        self.index.len()
    }

    /// Results of sessions that ended since the last call.
    pub fn take_done(&mut self) -> std::vec::Drain<'_, Record> {
        self.done.drain(..)
    }

    /// A SYN-ACK the SYN module has validated. `first`: the open port's
    /// result, when this is the first answer of its probe (a session is
    /// opened for it); `None` for a repeat, which re-sends our ACK (ours
    /// was lost) or, when its session is over, resets the flow.
    pub fn syn_ack(
        &mut self,
        reply: &Reply<'_>,
        seg: &TcpSegment<'_>,
        first: Option<Record>,
        now: Now,
    ) {
        let now = self.monotonic(now);
        let key = FlowKey {
            target: reply.src,
            target_port: seg.src_port,
            our_port: seg.dst_port,
        };
        if let Some(&slot) = self.index.get(&key) {
            let conn = self.slots[slot as usize].as_mut().expect("indexed");
            if conn.rcv_nxt == seg.seq.wrapping_add(1) {
                // Our ACK (and any hello with it) went missing.
                Self::send_ack(&self.writer, &mut self.outbox, conn, now);
                Self::resend(&self.writer, &mut self.outbox, conn, now);
            }
            return;
        }
        let Some(record) = first else {
            self.reset(reply.src, seg, now);
            return;
        };
        if self.index.len() >= self.config.capacity {
            self.stats.refused += 1;
            self.reset(reply.src, seg, now);
            self.done.push(record);
            return;
        }
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(None);
                (self.slots.len() - 1) as u32
            }
        };
        self.generation = self.generation.wrapping_add(1);
        let hello = self.config.hellos.for_port(seg.src_port);
        let dialogue = Dialogue::new(self.context, hello, reply.src, seg.src_port);
        let mut conn = Conn {
            generation: self.generation,
            key,
            record,
            phase: Phase::Talking,
            snd_una: seg.ack,
            snd_nxt: seg.ack,
            rcv_nxt: seg.seq.wrapping_add(1),
            ts_recent: seg.ts_val,
            unacked: Vec::new(),
            retransmits: 0,
            rto_ticks: 0,
            rto_armed: false,
            spoken: false,
            peer_fin: false,
            heard: false,
            dialogue: Some(Box::new(dialogue)),
        };
        self.stats.opened += 1;
        self.index.insert(key, slot);
        self.stats.peak = self.stats.peak.max(self.index.len() as u64);
        self.scratch.clear();
        let step = conn
            .dialogue
            .as_mut()
            .expect("a new session has its dialogue")
            .opening(self.context, &mut self.scratch);
        if self.scratch.is_empty() {
            Self::send_ack(&self.writer, &mut self.outbox, &conn, now);
            self.timers[TimerKind::Wait as usize].set(now.ms, slot, conn.generation);
        } else {
            conn.spoken = true;
            self.send_data(slot, &mut conn, now);
        }
        self.timers[TimerKind::Deadline as usize].set(now.ms, slot, conn.generation);
        self.slots[slot as usize] = Some(conn);
        if step == Step::Done {
            self.end(slot, End::Completed, now);
        }
    }

    /// A segment without SYN to one of our ports. `true` when it was a
    /// session's (or a late one of a session that ended); `false` leaves
    /// it to the probe module (a RST answering a probe: a closed port).
    pub fn segment(&mut self, reply: &Reply<'_>, seg: &TcpSegment<'_>, now: Now) -> bool {
        let now = self.monotonic(now);
        let key = FlowKey {
            target: reply.src,
            target_port: seg.src_port,
            our_port: seg.dst_port,
        };
        let Some(&slot) = self.index.get(&key) else {
            return self.late(reply, seg, now);
        };
        let conn = self.slots[slot as usize].as_mut().expect("indexed");
        if seg.flags & tcp_flags::RST != 0 {
            // Only a reset at the edge of what we expect ends the session
            // (RFC 5961's check, without the challenge ACK).
            if seg.seq == conn.rcv_nxt {
                self.end(slot, End::Reset, now);
            }
            return true;
        }
        if seg.flags & tcp_flags::ACK == 0 {
            return true;
        }
        if before(conn.snd_nxt, seg.ack) || before(seg.ack, conn.snd_una) {
            // Acknowledges what we never sent, or long acknowledged data.
            return true;
        }
        let acked = seg.ack.wrapping_sub(conn.snd_una) as usize;
        if acked > 0 {
            let data_acked = acked.min(conn.unacked.len());
            conn.unacked.drain(..data_acked);
            conn.snd_una = seg.ack;
            conn.retransmits = 0;
            conn.rto_ticks = 0;
        }
        // The part of its data we have not had yet.
        let offset = conn.rcv_nxt.wrapping_sub(seg.seq);
        let len = seg.payload.len() as u32;
        let fin = seg.flags & tcp_flags::FIN != 0;
        if (offset as i32) < 0 || offset > len {
            // A gap before it (something was lost): ask again for what is
            // missing; the server retransmits.
            Self::send_ack(&self.writer, &mut self.outbox, conn, now);
            return true;
        }
        let new = &seg.payload[offset as usize..];
        if let Some(ts) = seg.ts_val {
            conn.ts_recent = Some(ts);
        }
        if new.is_empty() && !fin {
            // A pure ACK, or a repeat of data we have: a repeat means our
            // ACK was lost.
            if len > 0 {
                Self::send_ack(&self.writer, &mut self.outbox, conn, now);
            }
            if conn.phase == Phase::Closing && conn.peer_fin && conn.snd_una == conn.snd_nxt {
                self.remove(slot);
            }
            return true;
        }
        conn.rcv_nxt = conn.rcv_nxt.wrapping_add(new.len() as u32);
        if fin {
            conn.rcv_nxt = conn.rcv_nxt.wrapping_add(1);
            conn.peer_fin = true;
        }
        if conn.phase == Phase::Closing {
            Self::send_ack(&self.writer, &mut self.outbox, conn, now);
            if conn.peer_fin {
                self.remove(slot);
            }
            return true;
        }
        if !new.is_empty() {
            conn.spoken = true;
            conn.heard = true;
        }
        self.scratch.clear();
        let step = match conn.dialogue.as_mut() {
            Some(d) if !new.is_empty() => d.received(self.context, new, &mut self.scratch),
            _ => Step::Continue,
        };
        let mut conn = self.slots[slot as usize].take().expect("indexed");
        if self.scratch.is_empty() || conn.peer_fin {
            Self::send_ack(&self.writer, &mut self.outbox, &conn, now);
        } else {
            self.send_data(slot, &mut conn, now);
        }
        let peer_fin = conn.peer_fin;
        self.slots[slot as usize] = Some(conn);
        if step == Step::Done || peer_fin {
            self.end(slot, End::Completed, now);
        }
        true
    }

    /// Runs the timers that are due.
    pub fn tick(&mut self, now: Now) {
        let now = self.monotonic(now);
        for kind in [
            TimerKind::Wait,
            TimerKind::Retransmit,
            TimerKind::Deadline,
            TimerKind::Linger,
        ] {
            while let Some((slot, generation)) = self.timers[kind as usize].pop_due(now.ms) {
                let live =
                    matches!(&self.slots[slot as usize], Some(c) if c.generation == generation);
                if live {
                    self.expire(kind, slot, now);
                }
            }
        }
    }

    /// Ends every session (the scan is over): each open port is reported
    /// with what it has said so far, and each flow is reset.
    pub fn end_all(&mut self, now: Now) {
        let now = self.monotonic(now);
        let slots: Vec<u32> = self.index.values().copied().collect();
        for slot in slots {
            let talking =
                matches!(&self.slots[slot as usize], Some(c) if c.phase == Phase::Talking);
            if talking {
                self.end(slot, End::CutShort, now);
            } else {
                self.remove_with_reset(slot, now);
            }
        }
    }

    /// Sends what the sessions wrote since the last flush.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.outbox.frames.is_empty() {
            return Ok(());
        }
        let (bytes, frames) = (&self.outbox.bytes, &self.outbox.frames);
        self.link.send_batch(frames.len(), |i, buf| {
            let (start, len) = frames[i];
            buf[..len].copy_from_slice(&bytes[start..start + len]);
            len
        })?;
        self.outbox.bytes.clear();
        self.outbox.frames.clear();
        Ok(())
    }

    fn expire(&mut self, kind: TimerKind, slot: u32, now: Now) {
        let conn = self.slots[slot as usize].as_mut().expect("live");
        match kind {
            TimerKind::Wait => {
                if conn.spoken || conn.phase != Phase::Talking {
                    return;
                }
                self.scratch.clear();
                let step = conn
                    .dialogue
                    .as_mut()
                    .map_or(Step::Done, |d| d.quiet(self.context, &mut self.scratch));
                let mut conn = self.slots[slot as usize].take().expect("live");
                if !self.scratch.is_empty() {
                    conn.spoken = true;
                    self.send_data(slot, &mut conn, now);
                }
                self.slots[slot as usize] = Some(conn);
                if step == Step::Done {
                    self.end(slot, End::Completed, now);
                }
            }
            TimerKind::Retransmit => {
                conn.rto_armed = false;
                if conn.snd_una == conn.snd_nxt {
                    return;
                }
                // Every timer of the queue has one duration, so backing off
                // is sending again only on the 1st, 2nd, 4th, 8th... expiry:
                // RTO, 2 RTO, 4 RTO apart. The session's deadline ends it.
                conn.rto_ticks = conn.rto_ticks.saturating_add(1);
                if conn.rto_ticks.is_power_of_two()
                    && conn.retransmits < self.config.max_retransmits
                {
                    conn.retransmits += 1;
                    self.stats.retransmits += 1;
                    Self::resend(&self.writer, &mut self.outbox, conn, now);
                }
                conn.rto_armed = true;
                let g = conn.generation;
                self.timers[TimerKind::Retransmit as usize].set(now.ms, slot, g);
            }
            TimerKind::Deadline => {
                if conn.phase == Phase::Talking {
                    self.end(slot, End::TimedOut, now);
                }
            }
            TimerKind::Linger => self.remove_with_reset(slot, now),
        }
    }

    /// The session has what it came for (or cannot get more): its result
    /// goes out, with the banner; a session that completed closes with a
    /// FIN and lingers for the server's, any other is reset.
    fn end(&mut self, slot: u32, how: End, now: Now) {
        let conn = self.slots[slot as usize].as_mut().expect("live");
        let findings = conn.dialogue.take().map(|d| d.finish()).unwrap_or_default();
        conn.unacked = Vec::new();
        let mut record = conn.record.clone();
        if conn.heard {
            self.stats.with_banner += 1;
        }
        record.banner = Some(Box::new(Banner { findings, id: None }));
        self.done.push(record);
        match how {
            End::Completed => self.stats.completed += 1,
            End::TimedOut => self.stats.timed_out += 1,
            End::Reset => self.stats.reset += 1,
            End::CutShort => self.stats.cut_short += 1,
        }
        match how {
            End::Completed => {
                conn.snd_una = conn.snd_nxt;
                Self::send(
                    &self.writer,
                    &mut self.outbox,
                    conn,
                    tcp_flags::FIN | tcp_flags::ACK,
                    &[],
                    now,
                );
                conn.snd_nxt = conn.snd_nxt.wrapping_add(1);
                conn.phase = Phase::Closing;
                let g = conn.generation;
                self.timers[TimerKind::Linger as usize].set(now.ms, slot, g);
            }
            End::Reset => self.remove(slot),
            End::TimedOut | End::CutShort => self.remove_with_reset(slot, now),
        }
    }

    fn remove_with_reset(&mut self, slot: u32, now: Now) {
        if let Some(conn) = &self.slots[slot as usize] {
            Self::send(
                &self.writer,
                &mut self.outbox,
                conn,
                tcp_flags::RST | tcp_flags::ACK,
                &[],
                now,
            );
        }
        self.remove(slot);
    }

    fn remove(&mut self, slot: u32) {
        if let Some(conn) = self.slots[slot as usize].take() {
            self.index.remove(&conn.key);
            self.free.push(slot);
        }
    }

    /// A segment of no session: if the cookie says the flow is ours (it
    /// acknowledges at most what a session could have sent), its session
    /// has ended, and a reset tells the server so.
    fn late(&mut self, reply: &Reply<'_>, seg: &TcpSegment<'_>, now: Now) -> bool {
        if seg.flags & tcp_flags::RST != 0 || seg.flags & tcp_flags::ACK == 0 {
            return false;
        }
        let iss = self
            .validator
            .cookie(self.kind, reply.dst, seg.dst_port, reply.src, seg.src_port)
            as u32;
        // A session sends hellos of a few KiB at most, and a FIN.
        if seg.ack.wrapping_sub(iss.wrapping_add(1)) > 1 << 16 {
            return false;
        }
        self.stats.late += 1;
        self.reset(reply.src, seg, now);
        true
    }

    /// Resets the flow `seg` belongs to (RFC 9293: the reset takes its
    /// sequence number from the segment's acknowledgment).
    fn reset(&mut self, target: IpAddr, seg: &TcpSegment<'_>, _now: Now) {
        let ack = seg
            .seq
            .wrapping_add(seg.payload.len() as u32)
            .wrapping_add(u32::from(
                seg.flags & (tcp_flags::SYN | tcp_flags::FIN) != 0,
            ));
        let s = Segment {
            dst: target,
            src_port: seg.dst_port,
            dst_port: seg.src_port,
            seq: seg.ack,
            ack,
            flags: tcp_flags::RST | tcp_flags::ACK,
            timestamps: None,
            data: &[],
        };
        Self::push(&self.writer, &mut self.outbox, &s);
    }

    /// Sends `scratch` as new data of `conn`, in segments of `MAX_DATA`.
    fn send_data(&mut self, slot: u32, conn: &mut Conn, now: Now) {
        for chunk in self.scratch.chunks(MAX_DATA) {
            Self::send(
                &self.writer,
                &mut self.outbox,
                conn,
                tcp_flags::PSH | tcp_flags::ACK,
                chunk,
                now,
            );
            conn.snd_nxt = conn.snd_nxt.wrapping_add(chunk.len() as u32);
        }
        conn.unacked.extend_from_slice(&self.scratch);
        if !conn.rto_armed {
            conn.rto_armed = true;
            self.timers[TimerKind::Retransmit as usize].set(now.ms, slot, conn.generation);
        }
    }

    /// Sends everything unacknowledged again, from `snd_una`.
    fn resend(writer: &SegmentWriter, outbox: &mut Outbox, conn: &Conn, now: Now) {
        let mut seq = conn.snd_una;
        for chunk in conn.unacked.chunks(MAX_DATA) {
            let s = Segment {
                seq,
                ..Self::segment_of(conn, tcp_flags::PSH | tcp_flags::ACK, chunk, now)
            };
            Self::push(writer, outbox, &s);
            seq = seq.wrapping_add(chunk.len() as u32);
        }
    }

    fn send_ack(writer: &SegmentWriter, outbox: &mut Outbox, conn: &Conn, now: Now) {
        Self::send(writer, outbox, conn, tcp_flags::ACK, &[], now);
    }

    fn send(
        writer: &SegmentWriter,
        outbox: &mut Outbox,
        conn: &Conn,
        flags: u8,
        data: &[u8],
        now: Now,
    ) {
        Self::push(writer, outbox, &Self::segment_of(conn, flags, data, now));
    }

    fn segment_of<'d>(conn: &Conn, flags: u8, data: &'d [u8], now: Now) -> Segment<'d> {
        Segment {
            dst: conn.key.target,
            src_port: conn.key.our_port,
            dst_port: conn.key.target_port,
            seq: conn.snd_nxt,
            ack: conn.rcv_nxt,
            flags,
            timestamps: conn.ts_recent.map(|echo| (now.tsval, echo)),
            data,
        }
    }

    fn push(writer: &SegmentWriter, outbox: &mut Outbox, s: &Segment<'_>) {
        let start = outbox.bytes.len();
        outbox.bytes.resize(start + MAX_FRAME, 0);
        let len = writer.write(&mut outbox.bytes[start..], s);
        outbox.bytes.truncate(start + len);
        if len > 0 {
            outbox.frames.push((start, len));
        }
    }
}

#[cfg(test)]
impl Sessions<'_> {
    /// Every frame flushed so far, in order (a memory link only).
    fn sent(&mut self) -> Vec<Vec<u8>> {
        self.flush().unwrap();
        match &mut self.link {
            TxLink::Memory(m) => std::mem::take(&mut m.frames),
            _ => panic!("tests send into memory"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookie::CookieKey;
    use crate::domain::{Protocol, Reason, State};
    use crate::link::memory::MemoryTx;
    use crate::probe::SourcePorts;
    use crate::probe::tcp::SynScan;
    use crate::service::hello::HelloMap;
    use crate::wire::reply::{Transport, parse_frame};
    use crate::wire::template::FrameParams;
    use etherparse::{PacketBuilder, TcpOptionElement};

    const US: &str = "198.19.255.1";
    const THEM: &str = "198.18.0.9";
    const OUR_PORT: u16 = 61000;
    const SERVER_ISN: u32 = 5000;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    struct Bench {
        validator: Validator,
        context: Context,
    }

    impl Bench {
        fn new() -> Bench {
            Bench {
                validator: Validator::new(
                    CookieKey::from_keys(7, 11),
                    [Some(ip(US)), None],
                    SourcePorts {
                        first: OUR_PORT,
                        last: OUR_PORT + 9,
                    },
                ),
                context: Context::new(4096),
            }
        }

        fn sessions(&self, capacity: usize) -> Sessions<'_> {
            let config = SessionConfig {
                capacity,
                hello_wait: Duration::from_millis(1000),
                timeout: Duration::from_millis(5000),
                rto: Duration::from_millis(300),
                max_retransmits: 2,
                hellos: HelloMap::new(),
            };
            let params = FrameParams {
                src_mac: [2, 0, 0, 0, 0, 1],
                dst_mac: [2, 0, 0, 0, 0, 2],
                src: ip(US),
                ttl: 64,
            };
            Sessions::new(
                config,
                &self.context,
                &self.validator,
                SynScan::KIND,
                SegmentWriter::new([Some(params), None]),
                TxLink::Memory(MemoryTx::new(MAX_FRAME)),
            )
        }

        /// Our initial sequence number towards `port`: the SYN's cookie.
        fn iss(&self, port: u16) -> u32 {
            self.validator
                .cookie(SynScan::KIND, ip(US), OUR_PORT, ip(THEM), port) as u32
        }
    }

    /// A segment from the server: `seq` and `ack` absolute.
    fn from_server(port: u16, seq: u32, ack: u32, flags: u8, data: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1]).ipv4(
            [198, 18, 0, 9],
            [198, 19, 255, 1],
            61,
        );
        let mut b = b
            .tcp(port, OUR_PORT, seq, 65160)
            .options(&[TcpOptionElement::Timestamp(777, 1)])
            .unwrap();
        if flags & tcp_flags::ACK != 0 {
            b = b.ack(ack);
        }
        if flags & tcp_flags::SYN != 0 {
            b = b.syn();
        }
        if flags & tcp_flags::FIN != 0 {
            b = b.fin();
        }
        if flags & tcp_flags::RST != 0 {
            b = b.rst();
        }
        if flags & tcp_flags::PSH != 0 {
            b = b.psh();
        }
        let mut out = Vec::new();
        b.write(&mut out, data).unwrap();
        out
    }

    fn now(ms: u64) -> Now {
        Now {
            ms,
            tsval: 1_000_000 + ms as u32,
        }
    }

    fn open_record(port: u16) -> Record {
        crate::probe::Verdict::new(
            ip(THEM),
            Protocol::Tcp,
            port,
            State::Open,
            Reason::SynAck,
            61,
        )
        .record(1)
    }

    /// What one of our frames says: (seq, ack, flags, data).
    fn read(frame: &[u8]) -> (u32, u32, u8, Vec<u8>) {
        let r = parse_frame(frame).unwrap();
        assert_eq!(r.src, ip(US));
        assert_eq!(r.dst, ip(THEM));
        let Transport::Tcp(t) = r.transport else {
            panic!("not TCP")
        };
        assert_eq!(t.src_port, OUR_PORT);
        (t.seq, t.ack, t.flags, t.payload.to_vec())
    }

    fn feed(s: &mut Sessions<'_>, frame: &[u8], at: Now, first: bool) -> bool {
        let r = parse_frame(frame).unwrap();
        let Transport::Tcp(seg) = r.transport else {
            panic!()
        };
        if seg.flags & tcp_flags::SYN != 0 {
            s.syn_ack(&r, &seg, first.then(|| open_record(seg.src_port)), at);
            true
        } else {
            s.segment(&r, &seg, at)
        }
    }

    /// The SYN-ACK of `port` (server ISN `isn`), a first answer: opens a
    /// session.
    fn open(s: &mut Sessions<'_>, b: &Bench, port: u16, isn: u32, at: Now) {
        let syn_ack = from_server(port, isn, b.iss(port) + 1, SYN_ACK, b"");
        feed(s, &syn_ack, at, true);
    }

    const ACK: u8 = tcp_flags::ACK;
    const PSH_ACK: u8 = tcp_flags::PSH | tcp_flags::ACK;
    const FIN_ACK: u8 = tcp_flags::FIN | tcp_flags::ACK;
    const RST_ACK: u8 = tcp_flags::RST | tcp_flags::ACK;
    const SYN_ACK: u8 = tcp_flags::SYN | tcp_flags::ACK;

    #[test]
    fn http_session_from_syn_ack_to_fin() {
        let b = Bench::new();
        let mut s = b.sessions(16);
        let iss = b.iss(80);
        open(&mut s, &b, 80, SERVER_ISN, now(0));
        // A client-first protocol: the hello rides on our first ACK.
        let sent = s.sent();
        assert_eq!(sent.len(), 1);
        let (seq, ack, flags, hello) = read(&sent[0]);
        assert_eq!((seq, ack, flags), (iss + 1, SERVER_ISN + 1, PSH_ACK));
        assert!(hello.starts_with(b"GET / HTTP/1.1\r\n"), "{hello:?}");
        let n = hello.len() as u32;
        let response = b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n\r\n";
        let data = from_server(80, SERVER_ISN + 1, iss + 1 + n, PSH_ACK, response);
        assert!(feed(&mut s, &data, now(10), false));
        // The headers are all the dialogue wants: ACK, then FIN.
        let sent = s.sent();
        let got: Vec<_> = sent.iter().map(|f| read(f)).collect();
        let after = SERVER_ISN + 1 + response.len() as u32;
        assert_eq!(
            got,
            [
                (iss + 1 + n, after, ACK, vec![]),
                (iss + 1 + n, after, FIN_ACK, vec![])
            ]
        );
        let done: Vec<Record> = s.take_done().collect();
        assert_eq!(done.len(), 1);
        let banner = done[0].banner.as_ref().unwrap();
        assert_eq!(banner.findings.reply, response);
        assert_eq!((done[0].port, done[0].state), (80, State::Open));
        // The server's FIN, acknowledging ours, ends the linger.
        let fin = from_server(80, after, iss + 2 + n, FIN_ACK, b"");
        assert!(feed(&mut s, &fin, now(20), false));
        assert_eq!(read(&s.sent()[0]), (iss + 2 + n, after + 1, ACK, vec![]));
        assert_eq!(s.open(), 0);
        // Anything later of that flow is recognised by its cookie and reset.
        assert!(feed(&mut s, &fin, now(30), false));
        assert_eq!(
            read(&s.sent()[0]),
            (iss + 2 + n, after + 1, RST_ACK, vec![])
        );
        assert_eq!(s.stats().late, 1);
        // A segment whose acknowledgment no session of ours could draw is
        // not ours: left to the probe module.
        let stranger = from_server(80, after, iss.wrapping_add(1 << 20), ACK, b"x");
        assert!(!feed(&mut s, &stranger, now(40), false));
        assert!(s.sent().is_empty());
        let st = s.stats();
        assert_eq!((st.opened, st.completed, st.with_banner), (1, 1, 1));
    }

    #[test]
    fn server_first_greeting_and_the_hello_wait() {
        let b = Bench::new();
        let mut s = b.sessions(16);
        let iss = b.iss(22);
        open(&mut s, &b, 22, SERVER_ISN, now(0));
        // SSH speaks first: a bare ACK, and we wait.
        assert_eq!(read(&s.sent()[0]), (iss + 1, SERVER_ISN + 1, ACK, vec![]));
        s.tick(now(999));
        assert!(s.sent().is_empty());
        // The greeting arrives in two pieces.
        let g = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n";
        let d1 = from_server(22, SERVER_ISN + 1, iss + 1, PSH_ACK, &g[..10]);
        feed(&mut s, &d1, now(1000), false);
        assert_eq!(read(&s.sent()[0]), (iss + 1, SERVER_ISN + 11, ACK, vec![]));
        // The wait ran out, but the server has spoken: nothing is sent.
        s.tick(now(1001));
        assert!(s.sent().is_empty());
        let d2 = from_server(22, SERVER_ISN + 11, iss + 1, PSH_ACK, &g[10..]);
        feed(&mut s, &d2, now(1002), false);
        let got: Vec<_> = s.sent().iter().map(|f| read(f).2).collect();
        assert_eq!(got, [ACK, FIN_ACK]);
        let done: Vec<Record> = s.take_done().collect();
        assert_eq!(done[0].banner.as_ref().unwrap().findings.greeting, g);
        // No answer to our FIN: after the linger the flow is reset.
        s.tick(now(1002 + 2000));
        assert_eq!(read(&s.sent()[0]).2, RST_ACK);
        assert_eq!(s.open(), 0);
    }

    #[test]
    fn a_silent_server_gets_our_hello_after_the_wait() {
        let b = Bench::new();
        let mut s = b.sessions(16);
        let iss = b.iss(22);
        open(&mut s, &b, 22, SERVER_ISN, now(0));
        s.sent();
        s.tick(now(1000));
        let (seq, _, flags, data) = read(&s.sent()[0]);
        assert_eq!((seq, flags), (iss + 1, PSH_ACK));
        assert!(data.starts_with(b"SSH-2.0-"), "{data:?}");
    }

    #[test]
    fn lost_segments_are_sent_again_and_gaps_asked_for() {
        let b = Bench::new();
        let mut s = b.sessions(16);
        let iss = b.iss(80);
        let syn_ack = from_server(80, SERVER_ISN, iss + 1, SYN_ACK, b"");
        feed(&mut s, &syn_ack, now(0), true);
        let hello = read(&s.sent()[0]);
        // The SYN-ACK again: our ACK and hello were lost; both go again.
        feed(&mut s, &syn_ack, now(50), false);
        let again: Vec<_> = s.sent().iter().map(|f| read(f)).collect();
        assert_eq!(again.len(), 2);
        assert_eq!(again[0].2, ACK);
        assert_eq!(again[1], hello);
        // Unacknowledged: the hello is retransmitted after the RTO...
        s.tick(now(300));
        assert_eq!(read(&s.sent()[0]), hello);
        // ...and a segment beyond a gap draws an ACK of what we have.
        let n = hello.3.len() as u32;
        let ahead = from_server(80, SERVER_ISN + 101, iss + 1 + n, PSH_ACK, b"later");
        feed(&mut s, &ahead, now(310), false);
        assert_eq!(
            read(&s.sent()[0]),
            (iss + 1 + n, SERVER_ISN + 1, ACK, vec![])
        );
        // It acknowledged the hello: no more retransmissions.
        s.tick(now(900));
        assert!(s.sent().is_empty());
        assert_eq!(s.stats().retransmits, 1);
    }

    #[test]
    fn retransmissions_back_off_and_the_deadline_resets() {
        let b = Bench::new();
        let mut s = b.sessions(16);
        open(&mut s, &b, 80, SERVER_ISN, now(0));
        s.sent();
        // The RTO is 300 ms: resent at 300 and 600, then the next would be
        // at 1200, past the two retransmissions allowed.
        for (at, resent) in [(300, 1), (600, 1), (900, 0), (1200, 0), (2400, 0)] {
            s.tick(now(at));
            assert_eq!(s.sent().len(), resent, "at {at} ms");
        }
        // The deadline (5 s) ends it with a reset.
        s.tick(now(5000));
        assert_eq!(read(&s.sent()[0]).2, RST_ACK);
        let done: Vec<Record> = s.take_done().collect();
        assert_eq!(done.len(), 1);
        assert_eq!(s.stats().timed_out, 1);
        // A server-first session that hears nothing ends at the deadline.
        open(&mut s, &b, 22, SERVER_ISN, now(1000));
        s.tick(now(2000));
        s.tick(now(6000));
        let flags: Vec<u8> = s.sent().iter().map(|f| read(f).2).collect();
        assert_eq!(flags.last(), Some(&RST_ACK));
        assert_eq!(s.open(), 0);
    }

    #[test]
    fn a_full_table_refuses_with_a_reset_and_reports_the_port() {
        let b = Bench::new();
        let mut s = b.sessions(1);
        let iss22 = b.iss(22);
        open(&mut s, &b, 80, SERVER_ISN, now(0));
        s.sent();
        open(&mut s, &b, 22, 9, now(1));
        assert_eq!(read(&s.sent()[0]), (iss22 + 1, 10, RST_ACK, vec![]));
        let done: Vec<Record> = s.take_done().collect();
        assert_eq!((done[0].port, done[0].banner.is_none()), (22, true));
        assert_eq!(s.stats().refused, 1);
        // The server's reset ends a session at once, quietly.
        let rst = from_server(80, SERVER_ISN + 1, 0, tcp_flags::RST, b"");
        assert!(feed(&mut s, &rst, now(2), false));
        assert!(s.sent().is_empty());
        assert_eq!((s.open(), s.stats().reset), (0, 1));
        // end_all reports and resets whatever is still open.
        open(&mut s, &b, 22, 9, now(3));
        s.take_done().count();
        s.end_all(now(4));
        assert_eq!(s.take_done().count(), 1);
        assert_eq!(read(s.sent().last().unwrap()).2, RST_ACK);
    }
}
