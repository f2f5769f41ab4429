//! The kernel's text writer, keeping pv-runtime's `TextWriter` contract
//! (`pv-runtime/src/writer/mod.rs`): `stage` makes nothing visible, `abort` drops what was
//! staged, `commit` makes every staged write visible at once and serialises instruction fetch.
//!
//! Writes are staged in a fixed-size buffer (no allocator); a stage that does not fit fails
//! with nothing written, so a transition either commits whole or leaves the text as it was.
//! The commit runs with interrupts off and CR0.WP cleared around the byte writes (so it would
//! also write text mapped read-only: Intel SDM Vol. 3A, "Control Registers", WP = 0 lets
//! ring 0 write read-only pages), restores CR0 and the flags, then executes `cpuid`, a
//! serialising instruction: the SDM's procedure for code that modifies itself on one
//! processor (Vol. 3A, "Handling Self- and Cross-Modifying Code": a serialising instruction
//! between the write and the execution of the modified code; "Serializing Instructions" lists
//! `cpuid`). The guest runs one CPU, so there is no other processor to synchronise.

use core::cell::UnsafeCell;
use pv_runtime::writer::{CommitError, TextWriter, WriteStats};

/// Staged bytes, all writes together.
const POOL: usize = 8192;
/// Staged writes.
const WRITES: usize = 512;

/// Why staging failed.
#[derive(Debug)]
pub enum WriterError {
    /// The staging buffer is full.
    Full,
}

impl core::fmt::Display for WriterError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.describe())
    }
}

impl WriterError {
    /// A static description, for the console (which does not use `core::fmt`).
    pub fn describe(&self) -> &'static str {
        match self {
            WriterError::Full => "the kernel writer's staging buffer is full",
        }
    }
}

/// One staged write: `len` bytes from `pool[offset..]` go to `addr`.
#[derive(Clone, Copy)]
struct Write {
    addr: u64,
    offset: usize,
    len: usize,
}

/// Every transition's writes, staged: one area for the kernel, in `.noinit` (its counts are
/// reset when a writer takes it, the rest is written before it is read).
struct Staging {
    pool: [u8; POOL],
    used: usize,
    writes: [Write; WRITES],
    count: usize,
}

/// The staging area, behind a cell: only the one [`KernelWriter`] touches it.
struct Area(UnsafeCell<Staging>);

// SAFETY: the guest runs one CPU, and `KernelWriter::take` hands the area to one writer at a
// time.
unsafe impl Sync for Area {}

#[unsafe(link_section = ".noinit.pv_guest_staging")]
static STAGING: Area = Area(UnsafeCell::new(Staging {
    pool: [0; POOL],
    used: 0,
    writes: [Write {
        addr: 0,
        offset: 0,
        len: 0,
    }; WRITES],
    count: 0,
}));

/// The kernel writer: a handle on the staging area, small enough to move around (the engine's
/// image owns it by value).
pub struct KernelWriter {
    s: &'static mut Staging,
}

impl KernelWriter {
    /// The writer, with nothing staged.
    ///
    /// # Safety
    /// At most one `KernelWriter` exists at a time (the guest makes one per transition).
    pub unsafe fn take() -> Self {
        // SAFETY: the caller promises no other writer, so no other reference to the area.
        let s = unsafe { &mut *STAGING.0.get() };
        s.used = 0;
        s.count = 0;
        KernelWriter { s }
    }
}

impl TextWriter for KernelWriter {
    type Error = WriterError;

    unsafe fn stage(&mut self, addr: u64, bytes: &[u8]) -> Result<(), WriterError> {
        if self.s.count == WRITES || POOL - self.s.used < bytes.len() {
            return Err(WriterError::Full);
        }
        self.s.pool[self.s.used..self.s.used + bytes.len()].copy_from_slice(bytes);
        self.s.writes[self.s.count] = Write {
            addr,
            offset: self.s.used,
            len: bytes.len(),
        };
        self.s.used += bytes.len();
        self.s.count += 1;
        Ok(())
    }

    fn abort(&mut self) {
        self.s.used = 0;
        self.s.count = 0;
    }

    fn commit(&mut self) -> Result<WriteStats, CommitError<WriterError>> {
        let mut stats = WriteStats::default();
        let mut last_page = u64::MAX;
        let flags: u64;
        let cr0: u64;
        // Saves the flags and masks interrupts, then reads CR0; both are restored below.
        // SAFETY: ring 0; nothing else runs meanwhile.
        unsafe {
            core::arch::asm!("pushfq", "pop {f}", "cli", f = out(reg) flags, options(nomem));
            core::arch::asm!("mov {}, cr0", out(reg) cr0, options(nomem, nostack));
        }
        // WP is CR0 bit 16.
        // SAFETY: clearing WP only lets ring 0 write read-only pages; restored below.
        unsafe {
            core::arch::asm!("mov cr0, {}", in(reg) cr0 & !(1 << 16), options(nomem, nostack))
        };
        for w in &self.s.writes[..self.s.count] {
            let page = w.addr >> 12;
            if page != last_page {
                stats.pages += 1;
                last_page = page;
            }
            for (i, b) in self.s.pool[w.offset..w.offset + w.len].iter().enumerate() {
                // `stage`'s caller promised that the range is code this writer may replace,
                // and nothing runs it while it changes (interrupts are off, one CPU).
                // SAFETY: as promised; a volatile write so each byte reaches memory here.
                unsafe { core::ptr::write_volatile((w.addr as usize + i) as *mut u8, *b) };
            }
        }
        // Restores CR0 and the saved flags (IF as it was), then serialises instruction fetch
        // with `cpuid` (rbx saved around it: LLVM reserves it).
        // SAFETY: restores exactly what was saved above.
        unsafe {
            core::arch::asm!("mov cr0, {}", in(reg) cr0, options(nomem, nostack));
            core::arch::asm!("push {f}", "popfq", f = in(reg) flags, options(nomem));
            core::arch::asm!(
                "push rbx", "xor eax, eax", "xor ecx, ecx", "cpuid", "pop rbx",
                out("eax") _, out("ecx") _, out("edx") _,
            );
        }
        self.abort();
        Ok(stats)
    }
}
