//! The connection slots: a table of `--max-inflight` slots allocated once,
//! a free list, and two queues threaded through the slots themselves, one
//! per phase, each in the order its connections entered the phase.
//!
//! Every connection of a phase has the same timeout (connect timeout,
//! banner timeout) measured from when it entered the phase, so the oldest
//! is always the first to expire: the head of its queue is the whole timer.
//! Unlinking is O(1) in either queue, and nothing is allocated per
//! connection: a slot's stream, its dialogue and its write buffer come and
//! go, the slot stays.

use crate::service::dialogue::Dialogue;
use mio::net::TcpStream;

/// No slot: the end of a queue.
const NIL: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Free,
    /// connect() is in progress.
    Connecting,
    /// Connected, in banner mode: the dialogue is talking.
    Talking,
}

/// One connection in flight.
pub struct Conn {
    pub phase: Phase,
    pub stream: Option<TcpStream>,
    /// Where in the permutation the probe is, and which attempt this is.
    pub position: u64,
    pub attempt: u32,
    /// The probe's index in the space.
    pub index: u64,
    /// When it entered its phase, ns since the loop started.
    pub since_ns: u64,
    /// Bumped at each use of the slot, so a timer entry of an earlier
    /// connection is told from this one.
    pub generation: u32,
    /// Banner mode.
    pub dialogue: Option<Box<Dialogue>>,
    /// Bytes of the dialogue not yet taken by the socket.
    pub unsent: Vec<u8>,
    /// We spoke (or the server did): the hello wait is over.
    pub spoken: bool,
    /// The server said something.
    pub heard: bool,
    prev: u32,
    next: u32,
}

/// A queue of slots in one phase, oldest first.
#[derive(Clone, Copy, Debug)]
struct Queue {
    head: u32,
    tail: u32,
}

impl Queue {
    const EMPTY: Queue = Queue {
        head: NIL,
        tail: NIL,
    };
}

pub struct Slab {
    slots: Vec<Conn>,
    free: Vec<u32>,
    queues: [Queue; 2],
}

fn queue_of(phase: Phase) -> usize {
    match phase {
        Phase::Connecting => 0,
        Phase::Talking => 1,
        Phase::Free => unreachable!("a free slot is in no queue"),
    }
}

impl Slab {
    pub fn new(capacity: usize) -> Slab {
        let slots = (0..capacity)
            .map(|_| Conn {
                phase: Phase::Free,
                stream: None,
                position: 0,
                attempt: 0,
                index: 0,
                since_ns: 0,
                generation: 0,
                dialogue: None,
                unsent: Vec::new(),
                spoken: false,
                heard: false,
                prev: NIL,
                next: NIL,
            })
            .collect();
        Slab {
            slots,
            // Popped from the end: slot 0 first.
            free: (0..capacity as u32).rev().collect(),
            queues: [Queue::EMPTY; 2],
        }
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    pub fn free_slots(&self) -> usize {
        self.free.len()
    }

    pub fn in_flight(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    pub fn get(&self, slot: u32) -> &Conn {
        &self.slots[slot as usize]
    }

    pub fn get_mut(&mut self, slot: u32) -> &mut Conn {
        &mut self.slots[slot as usize]
    }

    /// Takes a free slot into `phase` (at its queue's tail); `None` when
    /// all are in use.
    pub fn take(&mut self, phase: Phase, now_ns: u64) -> Option<u32> {
        let slot = self.free.pop()?;
        let c = &mut self.slots[slot as usize];
        c.generation = c.generation.wrapping_add(1);
        c.spoken = false;
        c.heard = false;
        self.enter(slot, phase, now_ns);
        Some(slot)
    }

    /// Moves a slot to the tail of `phase`'s queue, its clock restarted.
    pub fn enter(&mut self, slot: u32, phase: Phase, now_ns: u64) {
        self.unlink(slot);
        let q = queue_of(phase);
        let tail = self.queues[q].tail;
        {
            let c = &mut self.slots[slot as usize];
            c.phase = phase;
            c.since_ns = now_ns;
            c.prev = tail;
            c.next = NIL;
        }
        if tail == NIL {
            self.queues[q].head = slot;
        } else {
            self.slots[tail as usize].next = slot;
        }
        self.queues[q].tail = slot;
    }

    /// Gives a slot back; its stream (if still there) is closed.
    pub fn release(&mut self, slot: u32) {
        self.unlink(slot);
        let c = &mut self.slots[slot as usize];
        c.phase = Phase::Free;
        c.stream = None;
        c.dialogue = None;
        c.unsent.clear();
        self.free.push(slot);
    }

    /// The oldest slot of `phase`.
    pub fn oldest(&self, phase: Phase) -> Option<u32> {
        let head = self.queues[queue_of(phase)].head;
        (head != NIL).then_some(head)
    }

    /// The slots in use, in no particular order.
    pub fn busy(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, c)| c.phase != Phase::Free)
            .map(|(i, _)| i as u32)
    }

    fn unlink(&mut self, slot: u32) {
        let (phase, prev, next) = {
            let c = &self.slots[slot as usize];
            (c.phase, c.prev, c.next)
        };
        if phase == Phase::Free {
            return;
        }
        let q = queue_of(phase);
        if prev == NIL {
            self.queues[q].head = next;
        } else {
            self.slots[prev as usize].next = next;
        }
        if next == NIL {
            self.queues[q].tail = prev;
        } else {
            self.slots[next as usize].prev = prev;
        }
        let c = &mut self.slots[slot as usize];
        c.prev = NIL;
        c.next = NIL;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_keep_entry_order_and_unlink_anywhere() {
        let mut s = Slab::new(4);
        let a = s.take(Phase::Connecting, 1).unwrap();
        let b = s.take(Phase::Connecting, 2).unwrap();
        let c = s.take(Phase::Connecting, 3).unwrap();
        let d = s.take(Phase::Connecting, 4).unwrap();
        assert_eq!(s.take(Phase::Connecting, 5), None);
        assert_eq!(s.oldest(Phase::Connecting), Some(a));
        // The middle one moves on; the oldest stays the oldest.
        s.enter(b, Phase::Talking, 10);
        assert_eq!(s.oldest(Phase::Talking), Some(b));
        s.release(a);
        assert_eq!(s.oldest(Phase::Connecting), Some(c));
        s.release(c);
        s.release(d);
        assert_eq!(s.oldest(Phase::Connecting), None);
        assert_eq!((s.in_flight(), s.free_slots()), (1, 3));
        // A slot used again (the last freed first) is a new generation.
        let g = s.get(d).generation;
        let again = s.take(Phase::Connecting, 20).unwrap();
        assert_eq!(again, d);
        assert_eq!(s.get(again).generation, g + 1);
        assert_eq!(s.get(again).since_ns, 20);
    }
}
