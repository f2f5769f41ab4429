//! The userland writer: text is never writable and executable at once, and never stops being
//! executable. Each run of adjacent touched pages is rebuilt in a fresh anonymous RW mapping,
//! made RX, and moved over the original with `mremap(MREMAP_FIXED)` — one atomic replacement,
//! two protection calls per run. Instruction fetch is then serialised on every core of the
//! process with `membarrier(PRIVATE_EXPEDITED_SYNC_CORE)`.

use super::{TextWriter, WriteStats};
use std::vec::Vec;
use std::{boxed::Box, fmt, io};

const PAGE: usize = 4096;
const MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE: libc::c_int = 1 << 5;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE: libc::c_int = 1 << 6;

/// Why a commit failed. Runs committed before the failure stay patched; the failing run and
/// those after it are left as they were — each site entirely old or entirely new.
#[derive(Debug)]
pub enum RemapError {
    /// A staged page is not mapped read+execute (only text is patched).
    NotText(usize),
    /// A syscall failed.
    Sys(&'static str, io::Error),
}

impl fmt::Display for RemapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemapError::NotText(p) => {
                write!(f, "page {p:#x} is not mapped r-x; refusing to patch it")
            }
            RemapError::Sys(call, e) => write!(f, "{call}: {e}"),
        }
    }
}

impl std::error::Error for RemapError {}

/// Copy + mremap writer for a running process (see the module docs).
#[derive(Default)]
pub struct RemapWriter {
    /// Shadow copies of the touched pages, sorted by address.
    shadows: Vec<(usize, Box<[u8; PAGE]>)>,
    /// Index of the last shadow written: sites arrive mostly in address order.
    last: usize,
}

impl RemapWriter {
    /// A writer with nothing staged.
    pub fn new() -> Self {
        Self::default()
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

/// Serialises instruction fetch on every core running this process.
fn sync_core() -> Result<(), RemapError> {
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
fn replace_run(start: usize, pages: &[&[u8; PAGE]]) -> Result<(), RemapError> {
    let len = pages.len() * PAGE;
    // SAFETY: a fresh private anonymous mapping, written only within its length, then moved
    // over pages this process maps r-x (checked by the caller) with the same protection.
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
        for (i, page) in pages.iter().enumerate() {
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
    /// The shadow copy of `page`, made on first use.
    fn shadow(&mut self, page: usize) -> &mut [u8; PAGE] {
        if self.shadows.get(self.last).is_none_or(|(p, _)| *p != page) {
            self.last = match self.shadows.binary_search_by_key(&page, |(p, _)| *p) {
                Ok(i) => i,
                Err(i) => {
                    let mut copy = Box::new([0u8; PAGE]);
                    // SAFETY: `page` is a mapped page of text (it holds a site).
                    unsafe {
                        core::ptr::copy_nonoverlapping(page as *const u8, copy.as_mut_ptr(), PAGE)
                    };
                    self.shadows.insert(i, (page, copy));
                    i
                }
            };
        }
        &mut self.shadows[self.last].1
    }
}

impl TextWriter for RemapWriter {
    type Error = RemapError;

    fn stage(&mut self, addr: usize, bytes: &[u8]) -> Result<(), RemapError> {
        // One shadow per page the bytes touch (a site crosses at most one boundary).
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

    fn commit(&mut self) -> Result<WriteStats, RemapError> {
        let shadows = core::mem::take(&mut self.shadows);
        self.last = 0;
        let mut stats = WriteStats::default();
        if shadows.is_empty() {
            return Ok(stats);
        }
        let text = text_ranges()?;
        if let Some((page, _)) = shadows
            .iter()
            .find(|(p, _)| !text.iter().any(|(lo, hi)| lo <= p && p + PAGE <= *hi))
        {
            return Err(RemapError::NotText(*page));
        }
        let mut run: Vec<&[u8; PAGE]> = Vec::new();
        let mut run_start = 0;
        let flush = |start: usize,
                     run: &mut Vec<&[u8; PAGE]>,
                     stats: &mut WriteStats|
         -> Result<(), RemapError> {
            if run.is_empty() {
                return Ok(());
            }
            replace_run(start, run)?;
            stats.pages += run.len();
            stats.runs += 1;
            stats.protection_calls += 2;
            run.clear();
            Ok(())
        };
        for (page, shadow) in &shadows {
            if run.is_empty() || *page != run_start + run.len() * PAGE {
                flush(run_start, &mut run, &mut stats)?;
                run_start = *page;
            }
            run.push(shadow);
        }
        flush(run_start, &mut run, &mut stats)?;
        sync_core()?;
        Ok(stats)
    }
}
