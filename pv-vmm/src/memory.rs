//! The guest's RAM: one anonymous mapping, registered with KVM at guest-physical 0, read and
//! written by the monitor with bounds checks, and guest-virtual addresses translated by walking
//! the guest's own page tables (what Xen does with a PV guest's hypercall pointers).

use std::io;

/// Guest RAM: `size` bytes at guest-physical address 0.
pub struct Memory {
    base: *mut u8,
    size: usize,
}

// SAFETY: the mapping is owned by this value; the monitor reads and writes it from one thread
// at a time (the vCPU thread, or the caller after the run).
unsafe impl Send for Memory {}

impl Memory {
    /// Maps `size` bytes of zeroed anonymous memory.
    pub fn new(size: usize) -> io::Result<Memory> {
        // SAFETY: a fresh private anonymous mapping; unmapped in `drop`.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Memory {
            base: base.cast(),
            size,
        })
    }

    /// Host address of guest-physical 0, for `KVM_SET_USER_MEMORY_REGION`.
    pub fn host_base(&self) -> u64 {
        self.base as u64
    }

    /// Size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    fn range(&self, gpa: u64, len: usize) -> Option<usize> {
        let start = usize::try_from(gpa).ok()?;
        (start.checked_add(len)? <= self.size).then_some(start)
    }

    /// Copies guest-physical `gpa..gpa + to.len()` into `to`; `None` outside RAM.
    pub fn read(&self, gpa: u64, to: &mut [u8]) -> Option<()> {
        let start = self.range(gpa, to.len())?;
        // SAFETY: inside the mapping (checked above); plain bytes.
        unsafe { std::ptr::copy_nonoverlapping(self.base.add(start), to.as_mut_ptr(), to.len()) };
        Some(())
    }

    /// Copies `from` to guest-physical `gpa`; `None` outside RAM.
    pub fn write(&mut self, gpa: u64, from: &[u8]) -> Option<()> {
        let start = self.range(gpa, from.len())?;
        // SAFETY: inside the mapping (checked above); plain bytes.
        unsafe { std::ptr::copy_nonoverlapping(from.as_ptr(), self.base.add(start), from.len()) };
        Some(())
    }

    /// The little-endian u64 at guest-physical `gpa`.
    pub fn read_u64(&self, gpa: u64) -> Option<u64> {
        let mut b = [0; 8];
        self.read(gpa, &mut b)?;
        Some(u64::from_le_bytes(b))
    }

    /// Translates guest-virtual `va` through the 4-level page tables at `cr3` (Intel SDM vol.
    /// 3A, "4-Level Paging": 512-entry tables, PS bit 7 for 1 GiB and 2 MiB pages, P bit 0).
    /// `None` for a non-canonical address, a not-present entry or a table outside RAM.
    pub fn translate(&self, cr3: u64, va: u64) -> Option<u64> {
        let canonical = (va as i64) << 16 >> 16 == va as i64;
        if !canonical {
            return None;
        }
        const FRAME: u64 = 0x000f_ffff_ffff_f000;
        let mut table = cr3 & FRAME;
        for level in (1..=4).rev() {
            let shift = 12 + 9 * (level - 1);
            let entry = self.read_u64(table + (va >> shift & 511) * 8)?;
            if entry & 1 == 0 {
                return None;
            }
            let large = entry & 1 << 7 != 0 && (level == 2 || level == 3);
            if large || level == 1 {
                let offset = va & ((1u64 << shift) - 1);
                return Some((entry & FRAME & !((1u64 << shift) - 1)) + offset);
            }
            table = entry & FRAME;
        }
        None
    }

    /// Copies `len` bytes at guest-virtual `va` (through `cr3`), page by page.
    pub fn read_virt(&self, cr3: u64, va: u64, len: usize) -> Option<Vec<u8>> {
        let mut out = vec![0; len];
        let mut done = 0;
        while done < len {
            let at = va.checked_add(done as u64)?;
            let chunk = (4096 - (at & 4095) as usize).min(len - done);
            self.read(self.translate(cr3, at)?, &mut out[done..done + chunk])?;
            done += chunk;
        }
        Some(out)
    }

    /// Writes `from` at guest-virtual `va` (through `cr3`), page by page; all or nothing.
    pub fn write_virt(&mut self, cr3: u64, va: u64, from: &[u8]) -> Option<()> {
        let mut pieces = Vec::new();
        let mut done = 0;
        while done < from.len() {
            let at = va.checked_add(done as u64)?;
            let chunk = (4096 - (at & 4095) as usize).min(from.len() - done);
            let gpa = self.translate(cr3, at)?;
            self.range(gpa, chunk)?;
            pieces.push((gpa, done, chunk));
            done += chunk;
        }
        for (gpa, at, len) in pieces {
            self.write(gpa, &from[at..at + len])?;
        }
        Some(())
    }
}

impl Drop for Memory {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, no longer used.
        unsafe { libc::munmap(self.base.cast(), self.size) };
    }
}
