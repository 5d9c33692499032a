//! The exact record of answered probes: a bit per probe index, set when a
//! probe's first valid reply is reported. It is what dedup consults, and
//! at the end of a completed scan every base probe (variant 0) whose bit is
//! clear is reported with the module's silence (`filtered`, or
//! `open|filtered`, reason `no-response`): no table of sent probes is ever
//! kept.
//!
//! The bits live in a memory map: anonymous for a scan without a
//! checkpoint, else a file beside the checkpoint (`CHECKPOINT.answered`),
//! so a scan killed and resumed still knows what was answered before.
//! Pages are touched only where answers land, so a sparse scan costs far
//! less than its size; the limit is `MAX_PROBES` probes (a 16 GiB map).

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;
use std::ptr::NonNull;

/// The most probes the record covers: 2^37 bits, 16 GiB of map.
pub const MAX_PROBES: u64 = 1 << 37;

pub struct Answered {
    words: NonNull<u64>,
    /// Words in the map.
    len: usize,
    bits: u64,
    /// Keeps a file-backed map's file open (for `sync`).
    file: Option<File>,
}

// SAFETY: the map is owned by this struct alone (unmapped in Drop) and is
// only reached through `&self`/`&mut self`; moving it between threads moves
// that ownership.
unsafe impl Send for Answered {}

fn map(len_bytes: usize, file: Option<&File>) -> io::Result<NonNull<u64>> {
    use std::os::fd::AsRawFd;
    let (flags, fd) = match file {
        Some(f) => (libc::MAP_SHARED, f.as_raw_fd()),
        None => (
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
        ),
    };
    // SAFETY: a fresh mapping of `len_bytes` (non-zero) bytes, of the file
    // (already that long) or anonymous memory; nothing else refers to it.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len_bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            flags,
            fd,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    NonNull::new(p.cast()).ok_or_else(|| io::Error::other("mmap returned null"))
}

impl Answered {
    fn words_for(bits: u64) -> usize {
        bits.div_ceil(64).max(1) as usize
    }

    /// A record of `bits` probes in memory, all clear.
    pub fn in_memory(bits: u64) -> io::Result<Answered> {
        assert!(bits <= MAX_PROBES);
        let len = Self::words_for(bits);
        Ok(Answered {
            words: map(len * 8, None)?,
            len,
            bits,
            file: None,
        })
    }

    /// A record of `bits` probes kept in `path`: a new one, all clear
    /// (`fresh`), or the one a resumed scan left there.
    pub fn in_file(path: &Path, bits: u64, fresh: bool) -> io::Result<Answered> {
        assert!(bits <= MAX_PROBES);
        let len = Self::words_for(bits);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(fresh)
            .open(path)?;
        let have = file.metadata()?.len();
        if !fresh && have != (len * 8) as u64 {
            return Err(io::Error::other(format!(
                "{} holds {have} bytes, not the {} of this scan's {bits} probes",
                path.display(),
                len * 8
            )));
        }
        file.set_len((len * 8) as u64)?;
        Ok(Answered {
            words: map(len * 8, Some(&file))?,
            len,
            bits,
            file: Some(file),
        })
    }

    fn slice(&self) -> &[u64] {
        // SAFETY: the map holds `len` words, lives as long as `self`, and
        // is written only through `&mut self`.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr(), self.len) }
    }

    fn slice_mut(&mut self) -> &mut [u64] {
        // SAFETY: as `slice`, and `&mut self` makes this the only access.
        unsafe { std::slice::from_raw_parts_mut(self.words.as_ptr(), self.len) }
    }

    pub fn bits(&self) -> u64 {
        self.bits
    }

    #[inline]
    pub fn get(&self, index: u64) -> bool {
        debug_assert!(index < self.bits);
        self.slice()[(index / 64) as usize] & (1 << (index % 64)) != 0
    }

    /// Sets bit `index`; true if it was clear.
    #[inline]
    pub fn set(&mut self, index: u64) -> bool {
        debug_assert!(index < self.bits);
        let w = &mut self.slice_mut()[(index / 64) as usize];
        let fresh = *w & (1 << (index % 64)) == 0;
        *w |= 1 << (index % 64);
        fresh
    }

    pub fn clear(&mut self, index: u64) {
        self.slice_mut()[(index / 64) as usize] &= !(1 << (index % 64));
    }

    /// Writes a file-backed record to disk.
    pub fn sync(&self) -> io::Result<()> {
        if self.file.is_none() {
            return Ok(());
        }
        // SAFETY: the whole live mapping, which MS_SYNC only reads.
        let r = unsafe { libc::msync(self.words.as_ptr().cast(), self.len * 8, libc::MS_SYNC) };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for Answered {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping `map` returned, at its length.
        unsafe {
            libc::munmap(self.words.as_ptr().cast(), self.len * 8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_set_and_read_back_in_memory_and_in_a_file() {
        let mut a = Answered::in_memory(1000).unwrap();
        assert!(a.set(0) && a.set(999) && !a.set(999));
        assert!(a.get(0) && a.get(999) && !a.get(500));
        a.clear(999);
        assert!(!a.get(999));
        let dir = std::env::temp_dir().join(format!("synsweep-answered-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.answered");
        {
            let mut f = Answered::in_file(&path, 1 << 20, true).unwrap();
            for i in (0..1 << 20).step_by(997) {
                f.set(i);
            }
            f.sync().unwrap();
        }
        // Reopened (a resume): the bits are still there.
        let f = Answered::in_file(&path, 1 << 20, false).unwrap();
        assert!((0..1 << 20).all(|i| f.get(i) == (i % 997 == 0)));
        drop(f);
        let e = Answered::in_file(&path, 1 << 21, false)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("not the 262144 of this scan's 2097152 probes"),
            "{e}"
        );
        // A big record costs nothing until written.
        let big = Answered::in_memory(MAX_PROBES).unwrap();
        assert!(!big.get(MAX_PROBES - 1));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
