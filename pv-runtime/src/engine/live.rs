//! The running program as an [`Image`]: pv's sections found through the linker's
//! `__start_`/`__stop_` bounds, and the ranges the engine may read and patch — from the
//! program headers in userland ([`Sections::this_binary`]), as given by a kernel that knows its
//! own layout ([`Sections::new`]).

use super::image::{Image, Section, Span};
use crate::ops::Slot;
use crate::writer::{CommitError, TextWriter, WriteStats};
use core::sync::atomic::{AtomicBool, Ordering};
use pv_abi::Arch;

unsafe extern "Rust" {
    #[link_name = "__start_pv_sites"]
    static SITES_START: [u8; 0];
    #[link_name = "__stop_pv_sites"]
    static SITES_STOP: [u8; 0];
    #[link_name = "__start_pv_repl"]
    static REPL_START: [u8; 0];
    #[link_name = "__stop_pv_repl"]
    static REPL_STOP: [u8; 0];
    #[link_name = "__start_pv_intrinsics"]
    static INTRINSICS_START: [u8; 0];
    #[link_name = "__stop_pv_intrinsics"]
    static INTRINSICS_STOP: [u8; 0];
    #[link_name = "__start_pv_slots"]
    static SLOTS_START: [u8; 0];
    #[link_name = "__stop_pv_slots"]
    static SLOTS_STOP: [u8; 0];
    #[link_name = "__start_pv_alternatives"]
    static ALTERNATIVES_START: [u8; 0];
    #[link_name = "__stop_pv_alternatives"]
    static ALTERNATIVES_STOP: [u8; 0];
    #[link_name = "__start_pv_routines"]
    static ROUTINES_START: [u8; 0];
    #[link_name = "__stop_pv_routines"]
    static ROUTINES_STOP: [u8; 0];
}

// The routines' section holds code, so its anchor is code too: one `int3`, retained.
core::arch::global_asm!(
    ".pushsection pv_routines,\"axR\",@progbits",
    "int3",
    ".popsection"
);

// Anchors keep each section, and so its bounds, defined in a binary that declares nothing.
#[used]
#[unsafe(link_section = "pv_sites")]
static SITES_ANCHOR: [u64; 0] = [];
#[used]
#[unsafe(link_section = "pv_repl")]
static REPL_ANCHOR: [u8; 0] = [];
#[used]
#[unsafe(link_section = "pv_slots")]
static SLOTS_ANCHOR: [Slot; 0] = [];
#[used]
#[unsafe(link_section = "pv_alternatives")]
static ALTERNATIVES_ANCHOR: [u64; 0] = [];

/// The pv sections of the object this copy of the runtime is linked into — the main program,
/// or a shared object that links its own copy, whose `__start_`/`__stop_` bounds are its own:
/// sites, native body copies, descriptors, slots, alternatives, routines.
pub fn linked_tables() -> [Span; 6] {
    [
        span(&raw const SITES_START, &raw const SITES_STOP),
        span(&raw const REPL_START, &raw const REPL_STOP),
        span(&raw const INTRINSICS_START, &raw const INTRINSICS_STOP),
        span(&raw const SLOTS_START, &raw const SLOTS_STOP),
        span(&raw const ALTERNATIVES_START, &raw const ALTERNATIVES_STOP),
        span(&raw const ROUTINES_START, &raw const ROUTINES_STOP),
    ]
}

fn span(start: *const [u8; 0], stop: *const [u8; 0]) -> Span {
    let (start, stop) = (start as u64, stop as u64);
    Span::new(start, stop.saturating_sub(start))
}

/// How many readable ranges an image keeps (program segments).
const MAX_RANGES: usize = 8;

/// This binary's tables and ranges.
#[derive(Clone, Copy, Debug)]
pub struct Sections {
    tables: [Span; 6],
    text: Span,
    readable: [Span; MAX_RANGES],
    ranges: usize,
}

impl Sections {
    /// The tables of this binary, with the ranges given: `text`, the code the engine may patch;
    /// `readable`, everything it may read (at most eight ranges; the tables, the text and the
    /// routines must lie inside them).
    ///
    /// # Safety
    /// Every range given is mapped and readable for as long as the value is used, and `text`
    /// is this binary's code.
    pub unsafe fn new(text: Span, readable: &[Span]) -> Sections {
        // The text first: most reads are of sites.
        let mut ranges = [text; MAX_RANGES];
        let others = readable.iter().filter(|r| **r != text);
        let mut n = 1;
        for (r, given) in ranges[1..].iter_mut().zip(others) {
            *r = *given;
            n += 1;
        }
        Sections {
            tables: linked_tables(),
            text,
            readable: ranges,
            ranges: n,
        }
    }

    /// The tables `tables` names (in the order of [`linked_tables`]) — another object's, such
    /// as a module's — with the ranges given, as for [`new`](Self::new).
    ///
    /// # Safety
    /// As for [`new`](Self::new), and `tables` are that object's pv sections.
    pub unsafe fn with_tables(tables: [Span; 6], text: Span, readable: &[Span]) -> Sections {
        // SAFETY: the caller's promise, which covers `new`'s.
        let mut sections = unsafe { Sections::new(text, readable) };
        sections.tables = tables;
        sections
    }

    /// This program's tables and its loaded segments, from its program headers: executable
    /// ones are text, all of them readable.
    #[cfg(feature = "std")]
    pub fn this_binary() -> Sections {
        let s = segments_of(None).unwrap_or(Segments {
            base: 0,
            text: Span::default(),
            all: [Span::default(); MAX_RANGES],
            n: 0,
            main: true,
        });
        // SAFETY: the main program's loaded segments stay mapped for the process's life.
        unsafe { Sections::new(s.text, &s.all[..s.n]) }
    }
}

/// The `PT_LOAD` segments of one loaded object, from `dl_iterate_phdr`.
#[cfg(feature = "std")]
#[derive(Clone, Copy, Debug)]
pub(crate) struct Segments {
    /// Where the object is loaded (`dlpi_addr`).
    pub base: u64,
    /// Its executable segment.
    pub text: Span,
    /// All its segments (the first `n`).
    pub all: [Span; MAX_RANGES],
    /// How many of `all` are set.
    pub n: usize,
    /// Whether this is the main program (the loader lists it first).
    pub main: bool,
}

/// The segments of the loaded object that holds `addr`, or of the main program for `None`.
#[cfg(feature = "std")]
pub(crate) fn segments_of(addr: Option<u64>) -> Option<Segments> {
    struct Search {
        addr: Option<u64>,
        index: usize,
        found: Option<Segments>,
    }
    unsafe extern "C" fn visit(
        info: *mut libc::dl_phdr_info,
        _: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // `data` is the `Search` below.
        // SAFETY: the loader passes a valid `dl_phdr_info` whose headers it keeps mapped.
        unsafe {
            let (info, search) = (&*info, &mut *(data as *mut Search));
            let main = search.index == 0;
            search.index += 1;
            let headers = core::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize);
            let mut s = Segments {
                base: info.dlpi_addr,
                text: Span::default(),
                all: [Span::default(); MAX_RANGES],
                n: 0,
                main,
            };
            for h in headers.iter().filter(|h| h.p_type == libc::PT_LOAD) {
                let span = Span::new(info.dlpi_addr + h.p_vaddr, h.p_memsz);
                if h.p_flags & libc::PF_X != 0 {
                    s.text = span;
                }
                if s.n < MAX_RANGES {
                    s.all[s.n] = span;
                    s.n += 1;
                }
            }
            let wanted = match search.addr {
                None => main,
                Some(a) => s.all[..s.n].iter().any(|r| r.contains(a, 1)),
            };
            if wanted {
                search.found = Some(s);
                return 1;
            }
        }
        0
    }
    let mut search = Search {
        addr,
        index: 0,
        found: None,
    };
    // SAFETY: `visit` writes only into `search`.
    unsafe { libc::dl_iterate_phdr(Some(visit), (&raw mut search).cast()) };
    search.found
}

impl Image for Sections {
    fn arch(&self) -> Arch {
        Arch::X86_64
    }

    fn section(&self, section: Section) -> Span {
        match section {
            Section::Sites => self.tables[0],
            Section::Repl => self.tables[1],
            Section::Intrinsics => self.tables[2],
            Section::Slots => self.tables[3],
            Section::Alternatives => self.tables[4],
            Section::Routines => self.tables[5],
            Section::XenBodies => Span::default(),
        }
    }

    #[inline(always)]
    fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
        if !self.readable[..self.ranges]
            .iter()
            .any(|r| r.contains(addr, len as u64))
        {
            return None;
        }
        // SAFETY: the range lies in one `new`'s caller promised is mapped and readable.
        Some(unsafe { core::slice::from_raw_parts(addr as usize as *const u8, len) })
    }

    #[inline]
    fn is_text(&self, addr: u64, len: usize) -> bool {
        self.text.contains(addr, len as u64)
    }

    unsafe fn set_slot(&mut self, addr: u64, value: u64) {
        // The caller promises the rest.
        // `pv_slots` holds only `Slot`s.
        // SAFETY: the engine checked that `addr` is an aligned slot of `pv_slots`.
        unsafe { (*(addr as usize as *const Slot)).set_raw(value) }
    }
}

/// Held while a transition of this process runs: one at a time.
static BUSY: AtomicBool = AtomicBool::new(false);

/// This process as a patchable image: its [`Sections`] and a [`TextWriter`] for its text.
pub struct Live<W> {
    sections: Sections,
    writer: W,
}

impl<W: TextWriter> Live<W> {
    /// This program, patched through `writer`.
    #[cfg(feature = "std")]
    pub fn new(writer: W) -> Live<W> {
        Live {
            sections: Sections::this_binary(),
            writer,
        }
    }

    /// The program `sections` describe (a kernel's own), patched through `writer`.
    pub fn with_sections(sections: Sections, writer: W) -> Live<W> {
        Live { sections, writer }
    }

    /// The writer, e.g. to inject a fault.
    pub fn writer(&mut self) -> &mut W {
        &mut self.writer
    }
}

impl<W: TextWriter> Image for Live<W> {
    fn arch(&self) -> Arch {
        self.sections.arch()
    }
    fn section(&self, section: Section) -> Span {
        self.sections.section(section)
    }
    #[inline]
    fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
        self.sections.read(addr, len)
    }
    #[inline]
    fn is_text(&self, addr: u64, len: usize) -> bool {
        self.sections.is_text(addr, len)
    }
    unsafe fn set_slot(&mut self, addr: u64, value: u64) {
        // SAFETY: forwarded contract.
        unsafe { self.sections.set_slot(addr, value) }
    }
    fn lock(&self) -> bool {
        BUSY.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }
    fn unlock(&self) {
        BUSY.store(false, Ordering::Release);
    }
}

impl<W: TextWriter> TextWriter for Live<W> {
    type Error = W::Error;
    unsafe fn stage(&mut self, addr: u64, bytes: &[u8]) -> Result<(), W::Error> {
        // SAFETY: forwarded contract.
        unsafe { self.writer.stage(addr, bytes) }
    }
    fn abort(&mut self) {
        self.writer.abort()
    }
    fn commit(&mut self) -> Result<WriteStats, CommitError<W::Error>> {
        self.writer.commit()
    }
}
