//! The userland writer: text is never writable and executable at once, and never stops being
//! executable. Each run of adjacent touched pages is rebuilt in a fresh anonymous RW mapping,
//! made RX, and moved over the original with `mremap(MREMAP_FIXED)` — one atomic replacement,
//! two protection calls per run. Instruction fetch is then serialised on every core of the
//! process with `membarrier(PRIVATE_EXPEDITED_SYNC_CORE)`.
//!
//! A commit is a transaction: each touched page is staged with a copy of what it held, and if
//! a later run, or the serialisation, fails, every run already replaced is replaced again by
//! its copy. Whatever could fail before the first replacement (the text check, registering
//! for `membarrier`) is done first.

use super::{CommitError, Fault, Faults, TextWriter, WriteStats};
use std::vec::Vec;
use std::{boxed::Box, fmt, io};

const PAGE: usize = 4096;
const MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE: libc::c_int = 1 << 5;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE: libc::c_int = 1 << 6;

/// Why staging or a commit failed.
#[derive(Debug)]
pub enum RemapError {
    /// A staged page is not mapped read+execute (only text is patched).
    NotText(usize),
    /// A syscall failed.
    Sys(&'static str, io::Error),
    /// A failure injected with [`RemapWriter::inject`].
    Injected(Fault),
}

impl fmt::Display for RemapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemapError::NotText(p) => {
                write!(f, "page {p:#x} is not mapped r-x; refusing to patch it")
            }
            RemapError::Sys(call, e) => write!(f, "{call}: {e}"),
            RemapError::Injected(fault) => write!(f, "injected failure: {fault:?}"),
        }
    }
}

impl std::error::Error for RemapError {}

/// One touched page: what it will hold, and what it held when first staged.
struct Shadow {
    page: usize,
    new: Box<[u8; PAGE]>,
    old: Box<[u8; PAGE]>,
}

/// Copy + mremap writer for a running process (see the module docs).
#[derive(Default)]
pub struct RemapWriter {
    /// The touched pages, sorted by address.
    shadows: Vec<Shadow>,
    /// Index of the last shadow written: sites arrive mostly in address order.
    last: usize,
    faults: Faults,
}

impl RemapWriter {
    /// A writer with nothing staged.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the writer fail once at `fault`, as a failing system would: for tests that prove
    /// a failed commit leaves every byte as it was.
    pub fn inject(&mut self, fault: Fault) {
        self.faults.inject(fault);
    }
}

fn sys(call: &'static str, ret: libc::c_long) -> Result<libc::c_long, RemapError> {
    if ret < 0 {
        Err(RemapError::Sys(call, io::Error::last_os_error()))
    } else {
        Ok(ret)
    }
}

/// The r-x mappings of this process, from `/proc/self/maps`.
fn text_ranges() -> Result<Vec<(usize, usize)>, RemapError> {
    let maps = std::fs::read_to_string("/proc/self/maps")
        .map_err(|e| RemapError::Sys("read /proc/self/maps", e))?;
    Ok(maps
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (range, perms) = (fields.next()?, fields.next()?);
            let (lo, hi) = range.split_once('-')?;
            perms
                .starts_with("r-x")
                .then(|| {
                    Some((
                        usize::from_str_radix(lo, 16).ok()?,
                        usize::from_str_radix(hi, 16).ok()?,
                    ))
                })
                .flatten()
        })
        .collect())
}

/// Registers the process for [`sync_core`]: done before any page is replaced, so that a
/// kernel without it refuses the commit while nothing has changed yet.
fn register_sync_core() -> Result<(), RemapError> {
    // SAFETY: membarrier takes no pointers.
    unsafe {
        sys(
            "membarrier(register)",
            libc::syscall(
                libc::SYS_membarrier,
                MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE,
                0,
                0,
            ),
        )?;
    }
    Ok(())
}

/// Serialises instruction fetch on every core running this process.
fn sync_core() -> Result<(), RemapError> {
    // SAFETY: membarrier takes no pointers.
    unsafe {
        sys(
            "membarrier(sync_core)",
            libc::syscall(
                libc::SYS_membarrier,
                MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE,
                0,
                0,
            ),
        )?;
    }
    Ok(())
}

/// Replaces the `pages.len()` pages at `start` with `pages`, never W+X.
fn replace_run<'p>(
    start: usize,
    pages: impl ExactSizeIterator<Item = &'p [u8; PAGE]>,
) -> Result<(), RemapError> {
    let len = pages.len() * PAGE;
    // It is moved over pages this process maps r-x (checked by the caller), with that protection.
    // SAFETY: a fresh private anonymous mapping, written only within its length.
    unsafe {
        let fresh = libc::mmap(
            core::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if fresh == libc::MAP_FAILED {
            return Err(RemapError::Sys("mmap", io::Error::last_os_error()));
        }
        for (i, page) in pages.enumerate() {
            core::ptr::copy_nonoverlapping(page.as_ptr(), fresh.cast::<u8>().add(i * PAGE), PAGE);
        }
        let result = sys(
            "mprotect",
            libc::mprotect(fresh, len, libc::PROT_READ | libc::PROT_EXEC) as libc::c_long,
        )
        .and_then(|_| {
            let moved = libc::mremap(
                fresh,
                len,
                len,
                libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
                start as *mut libc::c_void,
            );
            if moved == libc::MAP_FAILED {
                Err(RemapError::Sys("mremap", io::Error::last_os_error()))
            } else {
                Ok(())
            }
        });
        if result.is_err() {
            libc::munmap(fresh, len);
        }
        result
    }
}

impl RemapWriter {
    /// The shadow of `page`, made on first use.
    fn shadow(&mut self, page: usize) -> &mut [u8; PAGE] {
        if self.shadows.get(self.last).is_none_or(|s| s.page != page) {
            self.last = match self.shadows.binary_search_by_key(&page, |s| s.page) {
                Ok(i) => i,
                Err(i) => {
                    let mut old = Box::new([0u8; PAGE]);
                    // The caller of `stage` promised that the bytes staged into it are code this
                    // writer may replace.
                    // SAFETY: `page` is a mapped page of text.
                    unsafe {
                        core::ptr::copy_nonoverlapping(page as *const u8, old.as_mut_ptr(), PAGE)
                    };
                    let new = old.clone();
                    self.shadows.insert(i, Shadow { page, new, old });
                    i
                }
            };
        }
        &mut self.shadows[self.last].new
    }

    /// The runs of adjacent shadows: (first shadow, number of pages).
    fn runs(&self) -> Vec<(usize, usize)> {
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for (i, s) in self.shadows.iter().enumerate() {
            match runs.last_mut() {
                Some((first, n)) if self.shadows[*first].page + *n * PAGE == s.page => *n += 1,
                _ => runs.push((i, 1)),
            }
        }
        runs
    }

    /// Replaces run `(first, n)` by its new pages, or by its old ones.
    fn replace(&self, (first, n): (usize, usize), old: bool) -> Result<(), RemapError> {
        let shadows = &self.shadows[first..first + n];
        let pages = shadows.iter().map(|s| if old { &*s.old } else { &*s.new });
        replace_run(shadows[0].page, pages)
    }

    /// Puts back the runs already replaced; whether all of them were.
    fn undo(&self, runs: &[(usize, usize)]) -> bool {
        let restored = runs.iter().all(|r| self.replace(*r, true).is_ok());
        // Best effort: the failure being undone may have been the serialisation itself.
        let _ = sync_core();
        restored
    }
}

impl TextWriter for RemapWriter {
    type Error = RemapError;

    unsafe fn stage(&mut self, addr: u64, bytes: &[u8]) -> Result<(), RemapError> {
        if let Some(fault) = self.faults.stage() {
            return Err(RemapError::Injected(fault));
        }
        let addr = addr as usize;
        // One shadow per page the bytes touch.
        let mut done = 0;
        while done < bytes.len() {
            let at = addr + done;
            let page = at & !(PAGE - 1);
            let n = (PAGE - (at - page)).min(bytes.len() - done);
            let shadow = self.shadow(page);
            shadow[at - page..at - page + n].copy_from_slice(&bytes[done..done + n]);
            done += n;
        }
        Ok(())
    }

    fn abort(&mut self) {
        self.shadows.clear();
        self.last = 0;
        self.faults.restart();
    }

    fn commit(&mut self) -> Result<WriteStats, CommitError<RemapError>> {
        let result = self.transact();
        self.abort();
        result
    }
}

impl RemapWriter {
    fn transact(&mut self) -> Result<WriteStats, CommitError<RemapError>> {
        let untouched = |error| CommitError {
            error,
            restored: true,
        };
        let mut stats = WriteStats::default();
        if self.shadows.is_empty() {
            return Ok(stats);
        }
        let text = text_ranges().map_err(untouched)?;
        if let Some(s) = self.shadows.iter().find(|s| {
            !text
                .iter()
                .any(|(lo, hi)| *lo <= s.page && s.page + PAGE <= *hi)
        }) {
            return Err(untouched(RemapError::NotText(s.page)));
        }
        register_sync_core().map_err(untouched)?;
        let runs = self.runs();
        for (k, run) in runs.iter().enumerate() {
            let replaced = match self.faults.step(k) {
                Some(fault) => Err(RemapError::Injected(fault)),
                None => self.replace(*run, false),
            };
            if let Err(error) = replaced {
                return Err(CommitError {
                    error,
                    restored: self.undo(&runs[..k]),
                });
            }
            stats.pages += run.1;
            stats.runs += 1;
            stats.protection_calls += 2;
        }
        let serialised = match self.faults.serialise() {
            Some(fault) => Err(RemapError::Injected(fault)),
            None => sync_core(),
        };
        if let Err(error) = serialised {
            return Err(CommitError {
                error,
                restored: self.undo(&runs),
            });
        }
        Ok(stats)
    }
}
