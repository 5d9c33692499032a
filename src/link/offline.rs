//! `--offline`: frames are built and paced exactly as for a real scan, then
//! discarded. It measures the generator alone (permutation, cookie,
//! template) and needs neither root nor a network.

use super::{FrameRx, FrameTx};
use std::io;
use std::time::Duration;

#[derive(Default)]
pub struct OfflineTx {
    buf: Vec<u8>,
    /// Folds in a byte of every frame so the work cannot be optimised away.
    pub digest: u64,
}

impl FrameTx for OfflineTx {
    fn send_batch(
        &mut self,
        count: usize,
        fill: &mut dyn FnMut(usize, &mut [u8]) -> usize,
    ) -> io::Result<()> {
        if self.buf.is_empty() {
            self.buf = vec![0; 256];
        }
        for i in 0..count {
            let len = fill(i, &mut self.buf);
            self.digest = self.digest.rotate_left(5) ^ u64::from(self.buf[len - 1]);
        }
        Ok(())
    }
}

/// Nothing ever arrives offline.
pub struct OfflineRx;

impl FrameRx for OfflineRx {
    fn recv_batch(
        &mut self,
        timeout: Duration,
        _on_frame: &mut dyn FnMut(&[u8], u64),
    ) -> io::Result<usize> {
        std::thread::sleep(timeout.min(Duration::from_millis(50)));
        Ok(0)
    }
}
