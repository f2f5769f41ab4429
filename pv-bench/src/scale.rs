//! The patch-engine scaling measurement: verify (every site planned and compared, nothing
//! written), apply and revert over every site of the binary (Xen, so every site is written),
//! timed; bytes, pages and protection calls from the report; the heap the engine and writer
//! allocate, counted by [`Counting`], against what a page copy needs.

use pv_runtime::writer::RemapWriter;
use pv_runtime::{Live, Patcher, Target};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// The system allocator, counting the bytes requested: the scale binaries install it.
pub struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        ALLOCATED.fetch_add(new, Ordering::Relaxed);
        // SAFETY: forwarded.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

fn median(mut v: Vec<u128>) -> u128 {
    v.sort();
    v[v.len() / 2]
}

/// Measures this binary's sites `rounds` times and prints one Markdown row.
pub fn run(label: &str, rounds: usize) {
    let patcher = &mut Patcher::new();
    let (mut verify, mut apply, mut revert) = (vec![], vec![], vec![]);
    let mut report = None;
    let mut heap = 0;
    for _ in 0..rounds {
        let image = Live::new(RemapWriter::new());
        let t = Instant::now();
        let dry = patcher.verify(&image, Target::XEN);
        verify.push(t.elapsed().as_nanos());
        assert_eq!(dry.refused_total, 0, "{dry}");
        let mut image = Live::new(RemapWriter::new());
        let before = ALLOCATED.load(Ordering::Relaxed);
        let t = Instant::now();
        // SAFETY: the scale binaries run no other thread, and no site runs while patching.
        let r = unsafe { patcher.apply(&mut image, Target::XEN) }.expect("apply");
        apply.push(t.elapsed().as_nanos());
        heap = ALLOCATED.load(Ordering::Relaxed) - before;
        let t = Instant::now();
        // SAFETY: as above.
        unsafe { patcher.revert(&mut image) }.expect("revert");
        revert.push(t.elapsed().as_nanos());
        report = Some(r);
    }
    let r = report.expect("at least one round");
    let sites = r.total().sites as u128;
    let per = |v: Vec<u128>| {
        let m = median(v);
        format!("{:.2} ms | {:.1}", m as f64 / 1e6, m as f64 / sites as f64)
    };
    // Each touched page costs two page copies (what it will hold, what it held).
    let beyond_pages = heap.saturating_sub(r.pages * 2 * 4096);
    println!(
        "| {label} | {sites} | {} | {} | {} | {} | {} | {:.2} | {:.1} |",
        per(verify),
        per(apply),
        per(revert),
        r.bytes_written,
        r.pages,
        r.protection_calls as f64 / r.pages.max(1) as f64,
        beyond_pages as f64 / sites as f64,
    );
}
