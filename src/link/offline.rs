//! `--offline`: frames are built and paced exactly as for a real scan, then
//! discarded. It measures the generator alone (permutation, cookie,
//! template) and needs neither root nor a network.

use std::io;
use std::time::Duration;

pub struct OfflineTx {
    buf: Vec<u8>,
    /// Folds in a byte of every frame so the work cannot be optimised away.
    pub digest: u64,
}

impl OfflineTx {
    pub fn new(max_frame_len: usize) -> Self {
        OfflineTx {
            // Slots as AF_PACKET sizes them, so the generator does the same work.
            buf: vec![0; max_frame_len.max(1).next_multiple_of(64)],
            digest: 0,
        }
    }

    #[inline]
    pub fn send_batch<F: FnMut(usize, &mut [u8]) -> usize>(
        &mut self,
        count: usize,
        mut fill: F,
    ) -> io::Result<()> {
        for i in 0..count {
            let len = fill(i, &mut self.buf);
            self.digest = self.digest.rotate_left(5) ^ u64::from(self.buf[len - 1]);
        }
        Ok(())
    }
}

/// Nothing ever arrives offline.
pub struct OfflineRx;

impl OfflineRx {
    pub fn recv_batch<F: FnMut(&[u8], u64)>(
        &mut self,
        timeout: Duration,
        _on_frame: F,
    ) -> io::Result<usize> {
        std::thread::sleep(timeout.min(Duration::from_millis(50)));
        Ok(0)
    }
}
