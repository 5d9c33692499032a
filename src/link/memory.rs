//! Links in memory, for tests and tools: a sender that keeps every frame it
//! is given, and a receiver that plays back a list of frames once.

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

/// Keeps every frame sent through it.
pub struct MemoryTx {
    slot: usize,
    pub frames: Vec<Vec<u8>>,
}

impl MemoryTx {
    pub fn new(max_frame_len: usize) -> Self {
        MemoryTx {
            slot: max_frame_len,
            frames: Vec::new(),
        }
    }

    pub fn send_batch<F: FnMut(usize, &mut [u8]) -> usize>(
        &mut self,
        count: usize,
        mut fill: F,
    ) -> io::Result<()> {
        for i in 0..count {
            let mut buf = vec![0u8; self.slot];
            let n = fill(i, &mut buf);
            buf.truncate(n);
            self.frames.push(buf);
        }
        Ok(())
    }
}

/// Hands out the frames it was given, `batch` at a time, each with its
/// arrival time; then nothing.
pub struct MemoryRx {
    pub frames: VecDeque<(Vec<u8>, u64)>,
    pub batch: usize,
}

impl MemoryRx {
    pub fn recv_batch<F: FnMut(&[u8], u64)>(
        &mut self,
        timeout: Duration,
        mut on_frame: F,
    ) -> io::Result<usize> {
        if self.frames.is_empty() {
            std::thread::sleep(timeout.min(Duration::from_millis(5)));
            return Ok(0);
        }
        let n = self.batch.min(self.frames.len());
        for (frame, at) in self.frames.iter().take(n) {
            on_frame(frame, *at);
        }
        self.frames.drain(..n);
        Ok(n)
    }
}
