//! Patching the guest's own text: its layout from the linker script's symbols, the engine's
//! `apply` and `revert` through the kernel writer, the report on the console, and the revert
//! check against a copy of the text taken before patching.

use crate::console::{self, dec, fail, hex, puts};
use crate::writer::KernelWriter;
use pv_runtime::engine::Span;
use pv_runtime::engine::{Cause, Failure, PlanError};
use pv_runtime::report::{Reason, Report, Transaction};
use pv_runtime::{Binding, Live, Patcher, Sections, Target};

unsafe extern "C" {
    static __pv_guest_text_start: [u8; 0];
    static __pv_guest_text_end: [u8; 0];
    static __pv_guest_end: [u8; 0];
}

/// Where the image starts (link.ld).
const IMAGE_START: u64 = 0x10_0000;
/// Room for the copy of the text (the text is about half of it; checked at run time).
const COPY_MAX: usize = 96 * 1024;
/// Option 4 intrinsics whose slots the report follows.
const OPTION4_MAX: usize = 32;

/// The text as it was before patching (`.noinit`: written before it is read).
#[unsafe(link_section = ".noinit.pv_guest_text_copy")]
static mut TEXT_COPY: [u8; COPY_MAX] = [0; COPY_MAX];

/// The text the engine may patch: every function, the hypercall pages and pv's routines.
fn text() -> Span {
    let start = (&raw const __pv_guest_text_start) as u64;
    let end = (&raw const __pv_guest_text_end) as u64;
    Span::new(start, end - start)
}

/// The guest's image as the engine sees it: the text, and everything loaded as readable.
fn image() -> Live<KernelWriter> {
    let end = (&raw const __pv_guest_end) as u64;
    let all = Span::new(IMAGE_START, end - IMAGE_START);
    // The image (text, data, bss) is loaded and identity-mapped for the guest's whole run.
    // SAFETY: as above, and `text()` is its code.
    let sections = unsafe { Sections::new(text(), &[all]) };
    // One image, and so one writer, exists at a time: `apply` and `revert` each make one and
    // drop it before returning.
    // SAFETY: as above.
    let writer = unsafe { KernelWriter::take() };
    Live::with_sections(sections, writer)
}

/// Step 4: copies the text for the revert check; returns its length.
pub fn copy_text() -> usize {
    let t = text();
    let len = t.len as usize;
    if len > COPY_MAX {
        fail("the text is larger than the copy buffer");
    }
    // SAFETY: `t` is mapped text; the copy is a static only this module touches, on one CPU.
    unsafe {
        core::ptr::copy_nonoverlapping(t.start as *const u8, (&raw mut TEXT_COPY).cast::<u8>(), len)
    };
    len
}

/// The option 4 intrinsics' slots and the routines they hold now.
fn option4_slots() -> ([(usize, u64); OPTION4_MAX], usize) {
    let mut slots = [(0, 0); OPTION4_MAX];
    let mut n = 0;
    for i in pv_runtime::intrinsics() {
        if i.binding == Binding::IndirectCall && n < OPTION4_MAX {
            slots[n] = (i.slot.addr(), i.slot.get() as usize as u64);
            n += 1;
        }
    }
    (slots, n)
}

/// A static description of why a site or slot was refused (the engine's reasons are
/// `Display`, which would bring `core::fmt` in).
fn reason(r: &Reason) -> &'static str {
    match r {
        Reason::Mismatch => "holds the bytes of no known state",
        Reason::Record(_) => "the record cannot be read",
        Reason::Slot(_) => "the slot holds the routine of no known state",
        Reason::Plan(e) => match e {
            PlanError::Arch(_) => "a record of another architecture",
            PlanError::NoSite => "an option 4 intrinsic has no site",
            PlanError::BodyTooLong => "body longer than the site",
            PlanError::OutOfRange => "call target out of the call's range",
            PlanError::Outside(_) => "an address lies outside the image",
            PlanError::Descriptor(_) => "the descriptor holds an invalid field",
            PlanError::Disagrees(_) => "record and descriptor disagree",
        },
    }
}

/// Prints one `report` line.
fn counts(binding: &str, patched: usize, unchanged: usize, refused: usize) {
    puts("report ");
    puts(binding);
    puts(" patched=");
    dec(patched as u64);
    puts(" unchanged=");
    dec(unchanged as u64);
    puts(" refused=");
    dec(refused as u64);
    puts("\n");
}

/// Prints the report: a line per binding, a line per refusal.
fn print(report: &Report, before: &([(usize, u64); OPTION4_MAX], usize)) {
    for (name, c) in ["inline_patch", "direct_branch", "indirect_branch"]
        .iter()
        .zip(report.by_binding.iter())
    {
        counts(name, c.patched, c.unchanged, c.refused);
    }
    // Option 4 has no sites: its slots are what a transition switches.
    let (slots, n) = before;
    let refused_slot = |addr: usize| {
        report
            .refused()
            .any(|r| matches!(r.reason, Reason::Slot(_)) && r.addr == addr as u64)
    };
    let (mut patched, mut unchanged, mut refused) = (0, 0, 0);
    for (addr, old) in &slots[..*n] {
        // SAFETY: `addr` is a slot of `pv_slots`, read as the engine reads it.
        let now = unsafe { core::ptr::read_volatile(*addr as *const u64) };
        if refused_slot(*addr) {
            refused += 1;
        } else if now != *old {
            patched += 1;
        } else {
            unchanged += 1;
        }
    }
    counts("indirect_call", patched, unchanged, refused);
    for r in report.refused() {
        puts("refused ");
        puts(r.name.as_str());
        puts(" at ");
        hex(r.addr);
        puts(": ");
        puts(reason(&r.reason));
        puts("\n");
    }
}

/// Reports a transition that did not commit, and stops.
fn failed(what: &str, f: &Failure<crate::writer::WriterError>) -> ! {
    puts("pv-guest: ");
    puts(what);
    puts(" did not commit: ");
    puts(match &f.cause {
        Cause::Busy => "another transition was under way",
        Cause::Writer(e) => e.describe(),
    });
    puts(" (");
    puts(f.report.transaction.describe());
    puts(")\n");
    console::exit(console::FAILURE)
}

/// Step 5 and 6: patches every site for `target` and prints the report. The patcher is kept
/// for the revert: it knows the state it committed (a KVM guest's vendor among it).
pub fn apply(target: Target<'static>) -> Patcher<'static> {
    let before = option4_slots();
    let mut image = image();
    let mut patcher = Patcher::new();
    // One CPU, before any workload runs: nothing executes a site or calls through a slot
    // while the engine changes it, and pv's routines keep their contracts.
    // SAFETY: as above; `image` describes this kernel's own code and tables.
    match unsafe { patcher.apply(&mut image, target) } {
        Ok(report) if report.transaction == Transaction::Committed => {
            print(&report, &before);
            patcher
        }
        Ok(_) => fail("apply: the transaction did not commit"),
        Err(f) => failed("apply", &f),
    }
}

/// Step 8: restores every site and slot, then compares the text with the copy.
pub fn revert(mut patcher: Patcher<'static>, len: usize) {
    let mut image = image();
    // SAFETY: as for `apply`: one CPU, nothing runs a site while it changes.
    match unsafe { patcher.revert(&mut image) } {
        Ok(report) if report.transaction == Transaction::Committed => {}
        Ok(_) => fail("revert: the transaction did not commit"),
        Err(f) => failed("revert", &f),
    }
    let t = text();
    // SAFETY: both are `len` readable bytes: the text, and the copy taken of it.
    let copy = unsafe { core::slice::from_raw_parts((&raw const TEXT_COPY).cast::<u8>(), len) };
    // SAFETY: as above.
    let now = unsafe { core::slice::from_raw_parts(t.start as *const u8, len) };
    if now == copy {
        puts("revert ok text=identical\n");
        return;
    }
    let at = now.iter().zip(copy).position(|(a, b)| a != b).unwrap_or(0);
    puts("revert text differs at ");
    hex(t.start + at as u64);
    puts("\n");
    console::exit(console::FAILURE)
}
