//! Issue 10: a corruption campaign against the patch engine. Records, descriptors, ops slots,
//! body copies and site bytes are corrupted at random (1-4 bytes flipped or overwritten,
//! sometimes with "interesting" values: 0, all ones, small and huge offsets, the addresses of
//! other sites, descriptors, slots and routines), and the engine is run over the result. It
//! must never panic or crash, never write outside the image's code or its slot section, and
//! never patch a site wrongly because of a corrupt record or corrupt site bytes: it refuses
//! them, or does what it would have done anyway.
//!
//! Two halves: the linked ia64 catalogue image (an [`Elf`] in memory), and this very process
//! (x86_64, its own `pv_sites`/`pv_intrinsics`/`pv_slots`/`pv_repl` made writable), the latter
//! in a child process so that a crash is a failed test with the child's stderr, not a dead
//! test harness. Neither half writes anything: the engine runs over [`Recording`], which keeps
//! the writes a transition makes instead of making them.
//!
//! The default run corrupts 100 000 times (40% image, 60% live, which run in parallel and take
//! about as long each: an ia64 iteration costs more) in about half a minute in a debug build. `PV_CORRUPT_N` sets the total, `PV_CORRUPT_SEED` the seed (decimal or `0x`
//! hex; printed by every run, so a failure reproduces). A larger campaign:
//!
//! ```text
//! PV_CORRUPT_N=10000000 cargo test --release --test corruption
//! ```

mod common;

use pv_runtime::abi::record;
use pv_runtime::engine::{Section, Span, descriptor};
use pv_runtime::site::RawRecord;
use pv_runtime::writer::{CommitError, TextWriter, WriteStats};
use pv_runtime::{Arch, Image, Intrinsic, Patcher, Report, Sections, Target};
use std::collections::HashSet;
use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Set in the child's environment: the ignored child test runs only when its parent ran it.
const CHILD_ENV: &str = "PV_CORRUPT_CHILD";
/// The child test, by its exact name.
const CHILD_TEST: &str = "live_engine_corruption_child";
/// The default seed, so that the default run is the same every time.
const DEFAULT_SEED: u64 = 0x5eed_c0ff_ee15_600d;

/// xorshift64*: small, fast, and the same sequence for the same seed everywhere.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform enough in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.below(from.len())]
    }
}

/// The campaign's seed and total iteration count, from the environment.
fn settings() -> (u64, usize) {
    let seed = std::env::var("PV_CORRUPT_SEED").map_or(DEFAULT_SEED, |s| {
        let s = s.trim();
        match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => s.parse(),
        }
        .unwrap_or_else(|e| panic!("PV_CORRUPT_SEED={s}: {e}"))
    });
    let n = std::env::var("PV_CORRUPT_N").map_or(100_000, |s| {
        s.trim()
            .parse()
            .unwrap_or_else(|e| panic!("PV_CORRUPT_N={s}: {e}"))
    });
    (seed, n)
}

/// The image half's share of the total; the live half runs the rest. An iteration over the
/// ia64 image costs about 1.5 times one over this process, so both halves end together.
fn image_share(total: usize) -> usize {
    total * 4 / 10
}

/// An image whose transitions are recorded, not made: reads go to `inner`, every text write
/// committed and every slot switched is kept for the test to check. Nothing is written, so
/// nothing but the corrupted bytes needs restoring after each iteration.
struct Recording<'i, I> {
    inner: &'i I,
    staged: Vec<(u64, Vec<u8>)>,
    text: Vec<(u64, Vec<u8>)>,
    slots: Vec<(u64, u64)>,
}

impl<'i, I: Image> Recording<'i, I> {
    fn new(inner: &'i I) -> Self {
        Recording {
            inner,
            staged: Vec::new(),
            text: Vec::new(),
            slots: Vec::new(),
        }
    }
}

impl<I: Image> Image for Recording<'_, I> {
    fn arch(&self) -> Arch {
        self.inner.arch()
    }
    fn section(&self, section: Section) -> Span {
        self.inner.section(section)
    }
    fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
        self.inner.read(addr, len)
    }
    fn is_text(&self, addr: u64, len: usize) -> bool {
        self.inner.is_text(addr, len)
    }
    fn pointer(&self, addr: u64) -> Option<u64> {
        self.inner.pointer(addr)
    }
    unsafe fn set_slot(&mut self, addr: u64, value: u64) {
        self.slots.push((addr, value));
    }
    fn lock(&self) -> bool {
        self.inner.lock()
    }
    fn unlock(&self) {
        self.inner.unlock()
    }
}

impl<I> TextWriter for Recording<'_, I> {
    type Error = std::convert::Infallible;
    unsafe fn stage(&mut self, addr: u64, bytes: &[u8]) -> Result<(), Self::Error> {
        self.staged.push((addr, bytes.to_vec()));
        Ok(())
    }
    fn abort(&mut self) {
        self.staged.clear();
    }
    fn commit(&mut self) -> Result<WriteStats, CommitError<Self::Error>> {
        self.text.append(&mut self.staged);
        Ok(WriteStats::default())
    }
}

/// The writes a transition made. Two records may name one site (a corrupt site field pointing
/// at a site of the same intrinsic): the same bytes staged twice, counted twice in the report.
#[derive(Default)]
struct Writes {
    text: HashSet<(u64, Vec<u8>)>,
    slots: HashSet<(u64, u64)>,
    /// Bytes staged, duplicates included.
    staged: usize,
}

/// `verify` and `apply(Xen)` over `image` through a [`Recording`]: the apply's report, the
/// dry run's, and what the apply would have written.
fn run<I: Image>(image: &I) -> (Report, Report, Writes) {
    let patcher = Patcher::new();
    let dry = patcher.verify(image, Target::XEN);
    let mut recording = Recording::new(image);
    // SAFETY: the recording writes nothing anywhere; it only keeps what it is given.
    let report = match unsafe { Patcher::new().apply(&mut recording, Target::XEN) } {
        Ok(r) => r,
        Err(f) => panic!("a recording writer cannot fail: {}", f.report),
    };
    let writes = Writes {
        staged: recording.text.iter().map(|(_, b)| b.len()).sum(),
        text: recording.text.into_iter().collect(),
        slots: recording.slots.into_iter().collect(),
    };
    (report, dry, writes)
}

/// Where a corruption lands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Region {
    /// A record in `pv_sites`.
    Record,
    /// A descriptor in `pv_intrinsics`.
    Descriptor,
    /// An ops slot in `pv_slots`.
    Slot,
    /// A native body copy in `pv_repl`.
    Repl,
    /// A Xen body copy in `pv_xen_bodies` (ia64).
    XenBody,
    /// A site's bytes in the text.
    Site,
}

const REGIONS: [Region; 6] = [
    Region::Record,
    Region::Descriptor,
    Region::Slot,
    Region::Repl,
    Region::XenBody,
    Region::Site,
];

/// The clean image, learnt once: where everything is, and what its transition writes.
struct Layout {
    records: Vec<RawRecord>,
    descriptors: Vec<u64>,
    descriptor_size: usize,
    slots: Span,
    text_bodies: Vec<Span>,
    /// Addresses worth pointing a corrupt field at.
    interesting: Vec<u64>,
    clean: Writes,
}

impl Layout {
    fn learn<I: Image>(image: &I) -> Layout {
        let records: Vec<RawRecord> = pv_runtime::site::records(image)
            .map(|r| r.expect("the clean image's records decode"))
            .collect();
        assert!(!records.is_empty(), "the image has sites to corrupt");
        let descriptor_size = match image.arch() {
            Arch::X86_64 => size_of::<Intrinsic>(),
            Arch::Ia64 => pv_runtime::abi::ia64::asm::desc::SIZE,
        };
        let section = image.section(Section::Intrinsics);
        let descriptors: Vec<u64> = (0..section.len / descriptor_size as u64)
            .map(|i| section.start + i * descriptor_size as u64)
            .collect();
        let mut interesting = vec![0, u64::MAX];
        let mut text_bodies = Vec::new();
        for &at in &descriptors {
            let d = descriptor(image, at).expect("the clean image's descriptors check");
            interesting.extend([at, d.native, d.routines[0], d.slot, d.name.start]);
            if let Some(body) = d.xen_body.filter(|b| b.len > 0) {
                interesting.push(body.start);
                text_bodies.push(body);
            }
        }
        for r in &records {
            interesting.extend([r.at, r.site, r.repl, r.desc]);
        }
        for s in [
            Section::Sites,
            Section::Repl,
            Section::Intrinsics,
            Section::Slots,
        ] {
            let span = image.section(s);
            interesting.extend([span.start, span.end(), span.end().wrapping_sub(8)]);
        }
        for r in &records {
            // The site's neighbourhood: just before it and just past its end.
            interesting.extend([r.site.wrapping_sub(1), r.site + r.len as u64]);
        }
        let (report, dry, clean) = run(image);
        assert_eq!(report.refused_total, 0, "the clean image: {report}");
        assert_eq!(dry.refused_total, 0, "the clean image: {dry}");
        assert!(!clean.text.is_empty(), "the clean transition writes sites");
        Layout {
            records,
            descriptors,
            descriptor_size,
            slots: image.section(Section::Slots),
            text_bodies,
            interesting,
            clean,
        }
    }

    /// The bytes a corruption of `region` may touch, picked at random.
    fn target(&self, rng: &mut Rng, image: &impl Image, region: Region) -> Span {
        let r = self.records[rng.below(self.records.len())];
        match region {
            Region::Record => Span::new(r.at, record::SIZE as u64),
            Region::Descriptor => Span::new(
                self.descriptors[rng.below(self.descriptors.len())],
                self.descriptor_size as u64,
            ),
            Region::Slot => {
                let n = self.slots.len / 8;
                Span::new(self.slots.start + 8 * rng.below(n as usize) as u64, 8)
            }
            Region::Repl if r.repl_len > 0 => Span::new(r.repl, r.repl_len as u64),
            Region::Repl => image.section(Section::Repl),
            Region::XenBody => self.text_bodies[rng.below(self.text_bodies.len())],
            Region::Site => Span::new(r.site, r.len as u64),
        }
    }

    /// Corrupts `bytes` (which lie at `at`, in `region`): 1-4 bytes flipped or overwritten,
    /// or an aligned word replaced by an interesting value (PC-relative in a record's
    /// address fields, as the linker would have written it).
    fn corrupt(&self, rng: &mut Rng, bytes: &mut [u8], at: u64, region: Region) {
        const BYTES: [u8; 12] = [0, 0xff, 1, 2, 3, 4, 0x7f, 0x80, 16, 56, 64, 240];
        let mode = rng.below(if bytes.len() >= 8 { 4 } else { 2 });
        match mode {
            0 => {
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(bytes.len());
                    bytes[i] ^= (rng.next() as u8).max(1);
                }
            }
            1 => {
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(bytes.len());
                    bytes[i] = if rng.below(2) == 0 {
                        rng.pick(&BYTES)
                    } else {
                        rng.next() as u8
                    };
                }
            }
            _ => {
                let o = 8 * rng.below(bytes.len() / 8);
                let value = match rng.below(3) {
                    0 => rng.pick(&[
                        0,
                        u64::MAX,
                        1,
                        8,
                        (-8i64) as u64,
                        1 << 31,
                        1 << 32,
                        i64::MAX as u64,
                        1 << 63,
                    ]),
                    _ => {
                        let target = rng
                            .pick(&self.interesting)
                            .wrapping_add(rng.below(33) as u64)
                            .wrapping_sub(16);
                        // Pointed exactly at the address, most of the time.
                        let target = if rng.below(2) == 0 {
                            rng.pick(&self.interesting)
                        } else {
                            target
                        };
                        let relative = [record::offset::SITE, record::offset::REPL]
                            .into_iter()
                            .chain([record::offset::DESC])
                            .any(|f| f == o);
                        if region == Region::Record && relative {
                            target.wrapping_sub(at + o as u64)
                        } else {
                            target
                        }
                    }
                };
                bytes[o..o + 8].copy_from_slice(&value.to_le_bytes());
            }
        }
    }

    /// Checks what a transition over the corrupt image did: every text write in the code,
    /// every slot write an aligned slot, and (`strict`) every write one the clean image's
    /// transition makes. The violation, if any.
    fn check<I: Image>(
        &self,
        image: &I,
        region: Region,
        writes: &Writes,
        report: &Report,
        dry: &Report,
    ) -> Option<String> {
        for (addr, bytes) in &writes.text {
            // The image's code ranges come from its headers, which no corruption touches.
            if !image.is_text(*addr, bytes.len()) {
                return Some(format!(
                    "text write outside the code at {addr:#x}: {bytes:02x?}"
                ));
            }
        }
        for (addr, value) in &writes.slots {
            if !self.slots.contains(*addr, 8) || !(addr - self.slots.start).is_multiple_of(8) {
                return Some(format!(
                    "slot write outside pv_slots at {addr:#x} = {value:#x}"
                ));
            }
        }
        if report.refused_total != dry.refused_total {
            return Some(format!("verify and apply disagree:\n{dry}\n{report}"));
        }
        if report.bytes_written != writes.staged {
            return Some(format!("the report miscounts the bytes written: {report}"));
        }
        // A corrupt record or site must be refused, or planned exactly as the clean one.
        // Descriptor routine fields can only be checked to lie in the text (any address in
        // it could be a routine), and slots and body copies are what the target installs,
        // so corrupting those may legitimately change the writes, within the bounds above.
        if matches!(region, Region::Record | Region::Site) {
            if let Some((addr, bytes)) = writes.text.difference(&self.clean.text).next() {
                return Some(format!(
                    "a write the clean transition does not make, at {addr:#x}: {bytes:02x?}"
                ));
            }
            if let Some((addr, value)) = writes.slots.difference(&self.clean.slots).next() {
                return Some(format!(
                    "a slot switch the clean transition does not make: {addr:#x} = {value:#x}"
                ));
            }
        }
        None
    }
}

/// Per-region tallies of a campaign.
#[derive(Default)]
struct Tally {
    iterations: [usize; 6],
    refusals: [usize; 6],
    refused_runs: [usize; 6],
    writes: [usize; 6],
}

impl Tally {
    fn add(&mut self, region: Region, report: &Report, writes: &Writes) {
        let i = REGIONS.iter().position(|r| *r == region).unwrap_or(0);
        self.iterations[i] += 1;
        self.refusals[i] += report.refused_total;
        self.refused_runs[i] += usize::from(report.refused_total > 0);
        self.writes[i] += writes.text.len() + writes.slots.len();
    }

    fn total(&self) -> usize {
        self.iterations.iter().sum()
    }

    /// One line: iterations, runs with a refusal, refusals and writes per region.
    fn summary(&self, half: &str, seed: u64) -> String {
        let mut line = format!(
            "{half} corruption: {} iterations, seed {seed:#x};",
            self.total()
        );
        for (i, r) in REGIONS.iter().enumerate() {
            if self.iterations[i] > 0 {
                let _ = write!(
                    line,
                    " {r:?} {} ({} refused, {} refusals, {} writes);",
                    self.iterations[i], self.refused_runs[i], self.refusals[i], self.writes[i]
                );
            }
        }
        line
    }
}

/// Runs `n` iterations over `image`: corrupt a region, run the engine, check, restore.
/// `poke` writes bytes into the image and returns what they replaced. Returns the tally.
fn campaign<I: Image>(
    image: &mut I,
    poke: fn(&mut I, u64, &[u8]) -> Vec<u8>,
    layout: &Layout,
    regions: &[Region],
    seed: u64,
    n: usize,
) -> Tally {
    let mut rng = Rng::new(seed);
    let mut tally = Tally::default();
    for iteration in 0..n {
        let region = rng.pick(regions);
        let span = layout.target(&mut rng, &*image, region);
        let old = image
            .read(span.start, span.len as usize)
            .expect("the clean image holds every target")
            .to_vec();
        let mut new = old.clone();
        layout.corrupt(&mut rng, &mut new, span.start, region);
        poke(image, span.start, &new);
        let outcome = catch_unwind(AssertUnwindSafe(|| run(&*image)));
        let repro = || {
            format!(
                "seed {seed:#x}, iteration {iteration}, {region:?} at {:#x}: {old:02x?} -> {new:02x?}",
                span.start
            )
        };
        let (report, dry, writes) = match outcome {
            Ok(r) => r,
            Err(_) => panic!("the engine panicked on a corrupt image ({})", repro()),
        };
        // A record whose descriptor field names another intrinsic that agrees with it on the
        // binding and contract is refused too: its native body copy is not that intrinsic's
        // native routine (found by this campaign: seed 0x5eedc0ffee15600d, iteration 629 of
        // the ia64 image, once patched the site with the other intrinsic's Xen body).
        if let Some(violation) = layout.check(&*image, region, &writes, &report, &dry) {
            panic!("{violation}\n({})\n{report}", repro());
        }
        tally.add(region, &report, &writes);
        let put_back = poke(image, span.start, &old);
        assert_eq!(put_back, new, "{}: restored", repro());
    }
    tally
}

/// The image half: the linked ia64 catalogue, corrupted in every region, engine over it.
#[test]
fn image_engine_refuses_or_ignores_corruption() {
    let (seed, total) = settings();
    let n = image_share(total);
    println!("image corruption: seed {seed:#x} (PV_CORRUPT_SEED), {n} iterations");
    let started = std::time::Instant::now();
    let (_dir, mut elf) = common::ia64::catalogue("corruption");
    let original = elf.bytes().to_vec();
    let layout = Layout::learn(&elf);
    assert!(!layout.text_bodies.is_empty(), "the image holds Xen bodies");
    fn poke(elf: &mut pv_sites::elf::Elf, at: u64, bytes: &[u8]) -> Vec<u8> {
        elf.poke(at, bytes).expect("the target lies in the file")
    }
    let tally = campaign(&mut elf, poke, &layout, &REGIONS, seed, n);
    println!("{}", tally.summary("image", seed));
    println!("image corruption: {:?}", started.elapsed());
    assert_eq!(tally.total(), n);
    assert!(
        elf.bytes() == &original[..],
        "every corrupted byte put back"
    );
    for (i, region) in REGIONS.iter().enumerate() {
        assert!(
            n < 1000 || tally.iterations[i] > 0,
            "{region:?} was never corrupted"
        );
    }
    let refused: usize = tally.refused_runs.iter().sum();
    assert!(
        n < 1000 || refused > 0,
        "some corruption must have been refused"
    );
}

/// Links some intrinsics into this binary, so that it has sites to corrupt.
fn call_some_intrinsics() {
    std::hint::black_box(pv::x86_64::rdtsc());
    std::hint::black_box(pv::x86_64::save_fl());
    let mut regs = pv::x86_64::CpuidRegs::default();
    // SAFETY: a valid pointer; cpuid runs natively in userland.
    unsafe { pv::x86_64::cpuid(std::hint::black_box(&mut regs)) };
    std::hint::black_box(regs);
}

/// The live half: runs [`live_engine_corruption_child`] in a process of its own and asserts
/// that it exited cleanly (a crash is a signal death, reported with the child's output) after
/// the expected number of iterations.
#[test]
fn live_engine_survives_corruption_in_a_child() {
    call_some_intrinsics();
    let (seed, total) = settings();
    let n = total - image_share(total);
    let started = std::time::Instant::now();
    let out = std::process::Command::new(std::env::current_exe().expect("this test binary"))
        .args(["--exact", CHILD_TEST, "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(CHILD_ENV, "1")
        .env("PV_CORRUPT_SEED", format!("{seed:#x}"))
        .env("PV_CORRUPT_N", total.to_string())
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("live corruption (child): {:?}", started.elapsed());
    assert!(
        out.status.success(),
        "the child failed ({}, signal {:?}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status,
        std::os::unix::process::ExitStatusExt::signal(&out.status)
    );
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("live corruption:"))
        .unwrap_or_else(|| panic!("no summary from the child:\n{stdout}\n{stderr}"));
    println!("{summary}");
    assert!(
        summary.starts_with(&format!("live corruption: {n} iterations, seed {seed:#x};")),
        "the child ran every iteration: {summary}"
    );
}

/// Makes the pages holding `span` readable and writable. They are data pages (pv's tables),
/// never text: checked byte by byte against what `image` calls text.
fn make_writable(image: &Sections, span: Span) {
    if span.len == 0 {
        return;
    }
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    let start = span.start & !(page - 1);
    let end = span.end().div_ceil(page) * page;
    assert!(
        (start..end).all(|a| !image.is_text(a, 1)),
        "{span:x?} shares a page with the text"
    );
    // They are data, not text (checked above); adding write permission changes no byte.
    // SAFETY: the pages are mapped: they hold this binary's tables.
    let rc = unsafe {
        libc::mprotect(
            start as usize as *mut libc::c_void,
            (end - start) as usize,
            libc::PROT_READ | libc::PROT_WRITE,
        )
    };
    assert_eq!(
        rc,
        0,
        "mprotect {start:#x}..{end:#x}: {}",
        std::io::Error::last_os_error()
    );
}

/// Writes `bytes` into this process's tables at `at`; what was there.
fn poke_live(_: &mut Sections, at: u64, bytes: &[u8]) -> Vec<u8> {
    let place = at as usize as *mut u8;
    let mut old = vec![0; bytes.len()];
    for (i, (o, b)) in old.iter_mut().zip(bytes).enumerate() {
        // Nothing reads them as Rust values while they are corrupt: the child calls no intrinsic
        // and uses neither `intrinsics()` nor `sites()`; the engine reads them as bytes. Volatile,
        // since these are statics the compiler believes immutable.
        // SAFETY: `at..at + len` lies in pv's tables, whose pages `make_writable` made writable.
        unsafe {
            *o = place.add(i).read_volatile();
            place.add(i).write_volatile(*b);
        }
    }
    old
}

/// The child of [`live_engine_survives_corruption_in_a_child`]: corrupts this process's own
/// records, descriptors, slots and body copies, runs the engine over them through a
/// [`Recording`], checks the same properties as the image half, restores, and prints its
/// summary. Runs only when its parent set [`CHILD_ENV`].
#[test]
#[ignore = "run by live_engine_survives_corruption_in_a_child, in a process of its own"]
fn live_engine_corruption_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        println!(
            "{CHILD_TEST} runs only as the child of live_engine_survives_corruption_in_a_child"
        );
        return;
    }
    call_some_intrinsics();
    let (seed, total) = settings();
    let n = total - image_share(total);
    let mut image = Sections::this_binary();
    for s in [
        Section::Sites,
        Section::Intrinsics,
        Section::Slots,
        Section::Repl,
    ] {
        make_writable(&image, image.section(s));
    }
    let layout = Layout::learn(&image);
    let snapshot = tables(&image);
    let regions = [
        Region::Record,
        Region::Descriptor,
        Region::Slot,
        Region::Repl,
    ];
    let tally = campaign(&mut image, poke_live, &layout, &regions, seed, n);
    assert!(tables(&image) == snapshot, "every corrupted byte put back");
    assert!(n < 1000 || tally.refused_runs.iter().sum::<usize>() > 0);
    // On a line of its own: the harness prints the test's name before it.
    println!("\n{}", tally.summary("live", seed));
}

/// The bytes of pv's tables in this process.
fn tables(image: &Sections) -> Vec<u8> {
    [
        Section::Sites,
        Section::Intrinsics,
        Section::Slots,
        Section::Repl,
    ]
    .iter()
    .flat_map(|s| {
        let span = image.section(*s);
        image
            .read(span.start, span.len as usize)
            .unwrap_or(&[])
            .to_vec()
    })
    .collect()
}
