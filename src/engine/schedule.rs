//! Which permutation position a transmit thread sends next, retries
//! included.
//!
//! Positions `[0, N)` are dealt round-robin to `stride` slots: slot `k` owns
//! positions `k, k + stride, k + 2 stride, ...`. A slot is one transmit
//! thread of one shard (`slot = shard + shards * thread`), so shards and
//! threads are disjoint by construction and together cover every position.
//!
//! Retries are stateless, in the manner of masscan: at local step `t` a slot
//! sends its `t`-th position (attempt 0), and attempt `r` of position
//! `t - r * gap`. With `gap` chosen as about one second of sending, each
//! retry trails its original by about a second.

/// One frame to send: a permutation position and which attempt it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Send {
    pub position: u64,
    pub attempt: u32,
}

#[derive(Clone, Debug)]
pub struct SendSchedule {
    slot: u64,
    stride: u64,
    /// Positions this slot owns.
    owned: u64,
    retries: u32,
    gap: u64,
    step: u64,
    attempt: u32,
    end_step: u64,
}

impl SendSchedule {
    /// The schedule of slot `slot` of `stride` over `[0, size)`, from its
    /// first position.
    pub fn new(size: u64, slot: u64, stride: u64, retries: u32, gap: u64) -> Self {
        assert!(stride >= 1 && slot < stride);
        let owned = if size > slot {
            (size - slot).div_ceil(stride)
        } else {
            0
        };
        let gap = gap.max(1);
        SendSchedule {
            slot,
            stride,
            owned,
            retries,
            gap,
            step: 0,
            attempt: 0,
            end_step: owned + u64::from(retries) * gap,
        }
    }

    /// Continues from the first position at or after `position` that this
    /// slot owns (a resume): its retries of earlier positions follow as the
    /// schedule has them.
    pub fn skip_to(&mut self, position: u64) {
        self.step = self.step_at(position);
        self.attempt = 0;
    }

    /// The local step of the first position at or after global position
    /// `position` that this slot owns.
    fn step_at(&self, position: u64) -> u64 {
        if position <= self.slot {
            0
        } else {
            (position - self.slot).div_ceil(self.stride)
        }
    }

    /// Frames still to send from the current step on: attempt `r` of local
    /// position `i` goes at step `i + r * gap`.
    pub fn remaining_sends(&self) -> u64 {
        (0..=u64::from(self.retries))
            .map(|r| {
                let first = self.step.saturating_sub(r * self.gap).min(self.owned);
                self.owned - first
            })
            .sum()
    }

    /// Every position owned by this slot below the returned one has had its
    /// first attempt sent.
    pub fn originals_done_below(&self) -> u64 {
        let done = self.step.min(self.owned);
        self.slot + done * self.stride
    }

    #[inline]
    pub fn next_send(&mut self) -> Option<Send> {
        loop {
            if self.step >= self.end_step {
                return None;
            }
            while self.attempt <= self.retries {
                let attempt = self.attempt;
                self.attempt += 1;
                let behind = u64::from(attempt) * self.gap;
                if behind > self.step {
                    break; // later attempts are further behind still
                }
                let local = self.step - behind;
                if local < self.owned {
                    return Some(Send {
                        position: self.slot + local * self.stride,
                        attempt,
                    });
                }
            }
            // Attempt r sends at steps [r·gap, r·gap + owned). When the gap
            // is longer than that (few probes, many retries, a high rate),
            // leap over the empty steps between windows instead of walking
            // them: 66 retries at --rate max are 69 million of them.
            let next = self.step + 1;
            let window = next / self.gap;
            self.step = if next - window * self.gap < self.owned {
                next
            } else {
                (window + 1) * self.gap
            };
            self.attempt = 0;
        }
    }
}

impl Iterator for SendSchedule {
    type Item = Send;
    fn next(&mut self) -> Option<Send> {
        self.next_send()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_position_is_sent_once_per_attempt_across_slots() {
        for size in [1u64, 2, 7, 100, 1000] {
            for stride in [1u64, 2, 3, 7] {
                for retries in [0u32, 1, 3] {
                    for gap in [1u64, 5, 64, 5000] {
                        let mut count = vec![[0u32; 4]; size as usize];
                        let mut total = 0;
                        for slot in 0..stride {
                            let s = SendSchedule::new(size, slot, stride, retries, gap);
                            total += s.remaining_sends();
                            for send in s {
                                assert_eq!(send.position % stride, slot);
                                count[send.position as usize][send.attempt as usize] += 1;
                            }
                        }
                        assert_eq!(total, size * (u64::from(retries) + 1));
                        for c in &count {
                            for (a, &n) in c.iter().enumerate() {
                                let want = u32::from(a as u32 <= retries);
                                assert_eq!(
                                    n, want,
                                    "size {size} stride {stride} r {retries} gap {gap}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn remaining_sends_counts_exactly_what_is_left() {
        for (size, stride, retries, gap) in
            [(100u64, 3u64, 2u32, 7u64), (50, 1, 0, 1), (10, 4, 3, 100)]
        {
            for slot in 0..stride {
                let full = SendSchedule::new(size, slot, stride, retries, gap);
                assert_eq!(
                    full.remaining_sends(),
                    (size - slot).div_ceil(stride) * (u64::from(retries) + 1)
                );
                let steps = full.end_step;
                for start in 0..=steps + 2 {
                    let mut s = SendSchedule::new(size, slot, stride, retries, gap);
                    s.step = start;
                    assert_eq!(
                        s.remaining_sends(),
                        s.clone().count() as u64,
                        "start {start}"
                    );
                }
            }
        }
    }

    #[test]
    fn retries_trail_their_original_by_the_gap() {
        let sends: Vec<Send> = SendSchedule::new(10, 0, 1, 2, 3).collect();
        let at = |pos, attempt| {
            sends
                .iter()
                .position(|s| {
                    *s == Send {
                        position: pos,
                        attempt,
                    }
                })
                .unwrap()
        };
        // Originals in order; attempt r of position p comes after original p + r*gap.
        for p in 0..6u64 {
            assert!(at(p, 1) > at(p + 3, 0));
            assert!(at(p, 1) < at(p + 4, 0));
        }
        assert!(at(0, 2) > at(6, 0));
    }

    #[test]
    fn resuming_at_a_step_continues_where_it_left_off() {
        let full: Vec<Send> = SendSchedule::new(50, 1, 3, 1, 4).collect();
        let mut first = SendSchedule::new(50, 1, 3, 1, 4);
        let head: Vec<Send> = first.by_ref().take(9).collect();
        let watermark = first.originals_done_below();
        let mut resumed = SendSchedule::new(50, 1, 3, 1, 4);
        resumed.skip_to(watermark);
        let mut joined = head.clone();
        joined.extend(resumed);
        // The resumed run repeats at most the partly-sent step, never skips.
        for s in &full {
            assert!(joined.contains(s), "{s:?} lost across the seam");
        }
        assert!(joined.len() - full.len() <= 2);
    }
}
