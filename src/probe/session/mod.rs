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
use crate::service::dialogue::{Context, Dialogue, Step};
use crate::service::hello::HelloMap;
use crate::service::Banner;
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
    /// Unacknowledged data is sent again after this long...
    pub rto: Duration,
    /// ...this many times at most.
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
        let Some(mut record) = first else {
            self.reset(reply.src, seg, now);
            return;
        };
        if self.index.len() >= self.config.capacity {
            self.stats.refused += 1;
            self.reset(reply.src, seg, now);
            self.done.push(record);
            return;
        }
        record.banner = None;
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
        for kind in [
            TimerKind::Wait,
            TimerKind::Retransmit,
            TimerKind::Deadline,
            TimerKind::Linger,
        ] {
            while let Some((slot, generation)) = self.timers[kind as usize].pop_due(now.ms) {
                let live = matches!(&self.slots[slot as usize], Some(c) if c.generation == generation);
                if live {
                    self.expire(kind, slot, now);
                }
            }
        }
    }

    /// Ends every session (the scan is over): each open port is reported
    /// with what it has said so far, and each flow is reset.
    pub fn end_all(&mut self, now: Now) {
        let slots: Vec<u32> = self.index.values().copied().collect();
        for slot in slots {
            let talking = matches!(&self.slots[slot as usize], Some(c) if c.phase == Phase::Talking);
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
                if conn.retransmits >= self.config.max_retransmits {
                    self.end(slot, End::TimedOut, now);
                    return;
                }
                conn.retransmits += 1;
                self.stats.retransmits += 1;
                Self::resend(&self.writer, &mut self.outbox, conn, now);
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
        let findings = conn
            .dialogue
            .take()
            .map(|d| d.finish())
            .unwrap_or_default();
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
        let iss = self.validator.cookie(
            self.kind,
            reply.dst,
            seg.dst_port,
            reply.src,
            seg.src_port,
        ) as u32;
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
            .wrapping_add(u32::from(seg.flags & (tcp_flags::SYN | tcp_flags::FIN) != 0));
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
