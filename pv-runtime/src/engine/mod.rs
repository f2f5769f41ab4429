//! The patch engine: one transition loop for every architecture and every image, as Linux's
//! `apply_paravirt` is one loop with the architecture at its edges.
//!
//! A transition plans every site (the bytes it must hold for the target, compared with the
//! bytes it holds), stages the writes, verifies every ops slot, commits once, switches the
//! slots, and reports. The architecture enters only through a [`Codec`] (the bytes a site
//! holds in a given state, and how a descriptor is laid out); the image only through
//! [`Image`] (bounded reads, text ranges, slots) and a [`TextWriter`].
//!
//! - **State from the bytes.** A site's state is what its bytes say: original, or patched for
//!   a known target. A site holding the bytes of any known state is moved to the target; one
//!   holding anything else is refused, named in the report and never written. The engine
//!   keeps no belief about the sites, so a site refused once is patched by the next
//!   transition that finds it holding expected bytes again.
//! - **Transactions.** A transition commits whole or leaves every site and slot as it was,
//!   and its [`Report`] says which ([`Transaction`]).
//! - **Bounds.** Every address a record or descriptor names is checked against the image's
//!   ranges before it is read or written; a record must agree with its descriptor.

pub mod image;
pub mod live;

use crate::arch::{ia64::Ia64Codec, x86_64::X86_64Codec};
use crate::ops::{Contract, Routine};
use crate::report::{Outcome, Reason, Report, Transaction};
use crate::site::{self, Field, RawRecord};
use crate::writer::TextWriter;
use core::ops::Deref;
pub use image::{Image, Section, Span};
use pv_abi::record::alternative;
use pv_abi::{Arch, Binding, BodyKind, Hypervisor, Vendor};

/// A backend of the user's: the routine it installs for each intrinsic.
///
/// # Safety
/// Every routine [`routine`](Backend::routine) returns implements its intrinsic under the
/// intrinsic's binding: the declared register contract for options 1-3, the C ABI with the
/// declared signature for option 4. The engine installs them without further checks.
pub unsafe trait Backend {
    /// Name for reports.
    fn name(&self) -> &str;
    /// The routine for the intrinsic `d` describes; `None` keeps the native body.
    fn routine(&self, d: &Descriptor) -> Option<Routine>;
}

/// A guest of a known hypervisor on a CPU of some vendor (which decides KVM's hypercall
/// instruction).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guest {
    /// The hypervisor.
    pub hypervisor: Hypervisor,
    /// The CPU vendor.
    pub vendor: Vendor,
}

/// What to patch for: bare metal, a known hypervisor, or a backend of the user's. No
/// hypervisor is special: each is a [`Guest`] of one row of [`pv_abi::backend`].
#[derive(Clone, Copy)]
pub enum Target<'a> {
    /// Bare metal: the native body inline wherever it fits, else a call of the native routine.
    Native,
    /// A guest of a known hypervisor: each intrinsic's body for it inline where it is a
    /// sequence the image holds and it fits, else a call of its stub.
    Hypervisor(Guest),
    /// A backend of the user's.
    Backend(&'a dyn Backend),
}

impl PartialEq for Target<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.same(other)
    }
}

impl core::fmt::Debug for Target<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

impl Target<'_> {
    /// A Xen PV guest (Xen's hypercalls go through its page, whatever the vendor).
    pub const XEN: Target<'static> = Target::Hypervisor(Guest {
        hypervisor: Hypervisor::Xen,
        vendor: Vendor::Intel,
    });
    /// A Hyper-V guest (its hypercalls go through its page, whatever the vendor).
    pub const HYPERV: Target<'static> = Target::Hypervisor(Guest {
        hypervisor: Hypervisor::HyperV,
        vendor: Vendor::Intel,
    });

    /// A KVM guest on a CPU of `vendor`.
    pub const fn kvm(vendor: Vendor) -> Target<'static> {
        Target::Hypervisor(Guest {
            hypervisor: Hypervisor::Kvm,
            vendor,
        })
    }

    /// The target's name, for reports.
    pub fn name(&self) -> &str {
        match self {
            Target::Native => "native",
            Target::Hypervisor(Guest {
                hypervisor: Hypervisor::Kvm,
                vendor: Vendor::Amd,
            }) => "kvm (vmmcall)",
            Target::Hypervisor(Guest {
                hypervisor: Hypervisor::Kvm,
                vendor: Vendor::Intel,
            }) => "kvm (vmcall)",
            Target::Hypervisor(g) => g.hypervisor.name(),
            Target::Backend(b) => b.name(),
        }
    }

    fn same(&self, other: &Target) -> bool {
        match (self, other) {
            (Target::Native, Target::Native) => true,
            (Target::Hypervisor(a), Target::Hypervisor(b)) => a == b,
            (Target::Backend(a), Target::Backend(b)) => core::ptr::addr_eq(*a, *b),
            _ => false,
        }
    }

    /// The hypercall instruction this target's alternatives hold.
    fn hypercall_instruction(&self) -> [u8; 3] {
        match self {
            Target::Hypervisor(g) if g.hypervisor == Hypervisor::Kvm => g.vendor.hypercall(),
            _ => pv_abi::backend::VMCALL,
        }
    }
}

/// What a site or slot holds: as compiled, or patched for a target.
#[derive(Clone, Copy)]
pub enum State<'a> {
    /// As the compiler (or assembler) emitted it.
    Original,
    /// Patched for a target.
    Patched(Target<'a>),
}

impl State<'_> {
    /// The state's name, for reports.
    pub fn name(&self) -> &str {
        match self {
            State::Original => "original",
            State::Patched(t) => t.name(),
        }
    }

    fn same(&self, other: &State) -> bool {
        match (self, other) {
            (State::Original, State::Original) => true,
            (State::Patched(a), State::Patched(b)) => a.same(b),
            _ => false,
        }
    }

    /// The routine the intrinsic's slot holds in this state (and its sites call when they
    /// do not run a body inline).
    #[inline(always)]
    pub fn routine(&self, d: &Descriptor) -> u64 {
        match self {
            State::Original | State::Patched(Target::Native) => d.native,
            State::Patched(Target::Hypervisor(g)) => d.routines[g.hypervisor.index()],
            State::Patched(Target::Backend(b)) => b
                .routine(d)
                .map_or(d.native, |r| r as *const () as usize as u64),
        }
    }

    /// The sequence the state places in sites instead of a call, if it runs one: the native
    /// body, nothing, or a copy of a Xen sequence that the image holds.
    fn body<'i, I: Image + ?Sized>(
        &self,
        image: &'i I,
        d: &Descriptor,
        native: &'i [u8],
    ) -> Option<&'i [u8]> {
        match self {
            State::Original => None,
            State::Patched(Target::Native) => Some(native),
            State::Patched(Target::Hypervisor(g)) => match d.kinds[g.hypervisor.index()] {
                BodyKind::Native => Some(native),
                BodyKind::Nop => Some(&[]),
                BodyKind::Asm | BodyKind::Hyperprivop if g.hypervisor == Hypervisor::Xen => {
                    d.xen_body.and_then(|s| image.read(s.start, s.len as usize))
                }
                BodyKind::Asm | BodyKind::Hyperprivop => None,
                BodyKind::Hypercall | BodyKind::Call => None,
            },
            State::Patched(Target::Backend(b)) => b.routine(d).is_none().then_some(native),
        }
    }
}

/// Why no bytes can be computed for a site or slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// The record or descriptor is for another architecture than the image.
    Arch(Arch),
    /// Option 4 has no sites; a record claiming one is corrupt.
    NoSite,
    /// The body is longer than the site.
    BodyTooLong,
    /// A call target beyond the reach of the site's call (±2 GiB on x86_64, ±16 MiB for an
    /// ia64 `br.call`).
    OutOfRange,
    /// An address the record or descriptor names lies outside the image's ranges for it.
    Outside(Field),
    /// A descriptor field holds a value no descriptor can have.
    Descriptor(&'static str),
    /// The record and its descriptor disagree on this property.
    Disagrees(&'static str),
}

impl core::fmt::Display for PlanError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PlanError::Arch(a) => write!(
                f,
                "an {} record in an image of another architecture",
                a.name()
            ),
            PlanError::NoSite => f.write_str("an option 4 intrinsic has no site"),
            PlanError::BodyTooLong => f.write_str("body longer than the site"),
            PlanError::OutOfRange => f.write_str("call target out of the call's range"),
            PlanError::Outside(field) => write!(f, "the {} lies outside the image", field.name()),
            PlanError::Descriptor(what) => write!(f, "descriptor holds an invalid {what}"),
            PlanError::Disagrees(what) => write!(f, "record and descriptor disagree on the {what}"),
        }
    }
}

/// The largest site any codec writes (ia64: 15 bundles).
pub const MAX_BYTES: usize = 240;

/// A site's bytes, built in place: the engine keeps two and reuses them for every site.
#[derive(Clone)]
pub struct Buf {
    bytes: [u8; MAX_BYTES],
    len: usize,
}

impl Default for Buf {
    fn default() -> Self {
        Buf {
            bytes: [0; MAX_BYTES],
            len: 0,
        }
    }
}

impl Deref for Buf {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl core::fmt::Debug for Buf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.iter().try_for_each(|b| write!(f, "{b:02x} "))
    }
}

impl Buf {
    /// `head`, then the codec's padding up to `len` bytes.
    #[inline(always)]
    pub fn set(
        &mut self,
        head: &[u8],
        len: usize,
        pad: impl FnOnce(&mut [u8]),
    ) -> Result<(), PlanError> {
        if head.len() > len || len > MAX_BYTES {
            return Err(PlanError::BodyTooLong);
        }
        copy_short(&mut self.bytes[..head.len()], head);
        pad(&mut self.bytes[head.len()..len]);
        self.len = len;
        Ok(())
    }
}

/// `dst.copy_from_slice(src)` without a call for the few bytes most sites hold: two
/// overlapping word copies.
#[inline(always)]
fn copy_short(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    if dst.len() != n {
        return dst.copy_from_slice(src);
    }
    match n {
        0 => {}
        1..4 => dst.iter_mut().zip(src).for_each(|(d, s)| *d = *s),
        4..8 => {
            dst[..4].copy_from_slice(&src[..4]);
            dst[n - 4..].copy_from_slice(&src[n - 4..]);
        }
        8..=16 => {
            dst[..8].copy_from_slice(&src[..8]);
            dst[n - 8..].copy_from_slice(&src[n - 8..]);
        }
        _ => dst.copy_from_slice(src),
    }
}

/// `a == b` without a call for the few bytes most sites hold: two overlapping word compares.
#[inline(always)]
fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if b.len() != n {
        return false;
    }
    let word = |s: &[u8], o: usize| u64::from_le_bytes(s[o..o + 8].try_into().unwrap_or([0; 8]));
    let half = |s: &[u8], o: usize| u32::from_le_bytes(s[o..o + 4].try_into().unwrap_or([0; 4]));
    match n {
        4..8 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        _ => a == b,
    }
}

/// What a descriptor says of an intrinsic, read from an image and checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Descriptor {
    /// Address of the descriptor.
    pub at: u64,
    /// Where the intrinsic's name lies (UTF-8, at most 64 bytes are read).
    pub name: Span,
    /// How call sites reach the intrinsic.
    pub binding: Binding,
    /// The contract callers see, where the descriptor carries one (x86_64).
    pub contract: Option<Contract>,
    /// The native routine (option 4: its C adapter, or on ia64 its function descriptor).
    pub native: u64,
    /// Each hypervisor's routine, by [`Hypervisor`] index; the native one where it runs the
    /// native body.
    pub routines: [u64; 3],
    /// The ops slot.
    pub slot: u64,
    /// What each hypervisor's body is, by [`Hypervisor`] index.
    pub kinds: [BodyKind; 3],
    /// A copy of the Xen sequence the image holds (ia64), to place in sites.
    pub xen_body: Option<Span>,
    /// Whether `native` and `routines` are addresses of function descriptors `{entry, gp}`
    /// that sites reach through their slot (ia64 option 3 in Linux's form, whose slot holds a
    /// function descriptor as Linux's `pv_cpu_ops` members do); the slot still holds exactly
    /// one of them.
    pub fdesc: bool,
}

impl Descriptor {
    /// The intrinsic's name, or `?` where the image does not hold valid UTF-8 there.
    pub fn name<'i, I: Image + ?Sized>(&self, image: &'i I) -> &'i str {
        image
            .read(self.name.start, self.name.len.min(64) as usize)
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or("?")
    }

    /// Where `routine` (`native` or one of `routines`) starts: itself, or the entry its
    /// function descriptor names.
    pub fn entry<I: Image + ?Sized>(&self, image: &I, routine: u64) -> Option<u64> {
        if self.fdesc {
            image.pointer(routine)
        } else {
            Some(routine)
        }
    }
}

/// An architecture's side of the engine: where a descriptor's fields are and what a site
/// holds in each state. One implementation per architecture, nothing else varies.
pub trait Codec {
    /// The architecture this codec encodes.
    const ARCH: Arch;
    /// Bytes between consecutive descriptors in [`Section::Intrinsics`].
    const DESCRIPTOR_SIZE: u64;

    /// Reads the descriptor at `at` (already checked to be one of the section's), checking
    /// every field and every address it names.
    fn descriptor<I: Image + ?Sized>(image: &I, at: u64) -> Result<Descriptor, PlanError>;

    /// Writes into `out` the bytes of the site of `r` (whose native body is `native`) in
    /// `shape`.
    fn encode(
        r: &RawRecord,
        d: &Descriptor,
        native: &[u8],
        shape: Shape,
        out: &mut Buf,
    ) -> Result<(), PlanError>;
}

/// What a site's bytes are to be.
#[derive(Clone, Copy, Debug)]
pub enum Shape<'b> {
    /// As compiled: the native body, or a call of the native routine or through the slot.
    Original,
    /// Patched: `inline` if it fits, else a call of `routine`.
    Patched {
        /// The routine the state installs.
        routine: u64,
        /// The sequence to place instead of a call, if the state runs one.
        inline: Option<&'b [u8]>,
    },
}

/// Reads and checks the descriptor at `at` with the image's codec.
pub fn descriptor<I: Image + ?Sized>(image: &I, at: u64) -> Result<Descriptor, PlanError> {
    match image.arch() {
        Arch::X86_64 => checked_descriptor::<X86_64Codec, I>(image, at),
        Arch::Ia64 => checked_descriptor::<Ia64Codec, I>(image, at),
    }
}

/// Writes into `out` the bytes the site of `r` holds in `state`: what the engine compares and
/// writes, and what tools show.
pub fn site_bytes<I: Image + ?Sized>(
    image: &I,
    r: &RawRecord,
    state: &State,
    out: &mut Buf,
) -> Result<Descriptor, PlanError> {
    match image.arch() {
        Arch::X86_64 => bytes_in::<X86_64Codec, I>(image, r, state, out),
        Arch::Ia64 => bytes_in::<Ia64Codec, I>(image, r, state, out),
    }
}

fn checked_descriptor<C: Codec, I: Image + ?Sized>(
    image: &I,
    at: u64,
) -> Result<Descriptor, PlanError> {
    let section = image.section(Section::Intrinsics);
    let aligned = at
        .checked_sub(section.start)
        .is_some_and(|o| o.is_multiple_of(C::DESCRIPTOR_SIZE));
    if !aligned || !section.contains(at, C::DESCRIPTOR_SIZE) {
        return Err(PlanError::Outside(Field::Descriptor));
    }
    let d = C::descriptor(image, at)?;
    let slots = image.section(Section::Slots);
    if !slots.contains(d.slot, 8) || !(d.slot - slots.start).is_multiple_of(8) {
        return Err(PlanError::Outside(Field::Slot));
    }
    if image
        .read(d.name.start, d.name.len.min(64) as usize)
        .is_none()
    {
        return Err(PlanError::Outside(Field::Name));
    }
    // Routines that sites call must be code, or function descriptors (data) whose entries are
    // code; option 4's are called as C functions (on ia64 through function descriptors the
    // linker made), so they must at least be in the image.
    let routine_ok = |r: u64| {
        if d.binding.has_site() {
            let whole = !d.fdesc || image.read(r, 16).is_some();
            whole && d.entry(image, r).is_some_and(|e| image.is_text(e, 1))
        } else {
            image.read(r, 1).is_some()
        }
    };
    if !routine_ok(d.native) || !d.routines.iter().all(|r| routine_ok(*r)) {
        return Err(PlanError::Outside(Field::Routine));
    }
    if let Some(body) = d.xen_body
        && !image
            .section(Section::XenBodies)
            .contains(body.start, body.len)
    {
        return Err(PlanError::Outside(Field::XenBody));
    }
    Ok(d)
}

/// The record's site and native body, checked against the image; its descriptor, checked
/// and agreeing with it.
#[inline(always)]
fn site_parts<'i, 'c, C: Codec, I: Image + ?Sized>(
    image: &'i I,
    r: &RawRecord,
    cache: &'c mut Cache,
) -> Result<(&'i [u8], &'i [u8], &'c Descriptor), PlanError> {
    if r.arch != C::ARCH {
        return Err(PlanError::Arch(r.arch));
    }
    if !image.is_text(r.site, r.len) {
        return Err(PlanError::Outside(Field::Site));
    }
    let current = image
        .read(r.site, r.len)
        .ok_or(PlanError::Outside(Field::Site))?;
    if !image
        .section(Section::Repl)
        .contains(r.repl, r.repl_len as u64)
    {
        return Err(PlanError::Outside(Field::Body));
    }
    let native = image
        .read(r.repl, r.repl_len)
        .ok_or(PlanError::Outside(Field::Body))?;
    let d = cache.get::<C, I>(image, r.desc)?;
    if d.binding != r.binding {
        return Err(PlanError::Disagrees("binding"));
    }
    let contract = Contract {
        uses: r.uses,
        defs: r.defs,
        clobbers: r.clobbers,
    };
    if d.contract.is_some_and(|c| c != contract) {
        return Err(PlanError::Disagrees("register contract"));
    }
    // A site never lies in pv's routines, whose code holds native bodies too: a record whose
    // site field was bent onto one would have the engine patch a routine.
    if image
        .section(Section::Routines)
        .overlaps(r.site, r.len as u64)
    {
        return Err(PlanError::Outside(Field::Site));
    }
    // The native routine is the native body followed by a return: a record whose descriptor
    // field names another intrinsic (one that agrees on binding and contract) is caught here.
    if !d
        .entry(image, d.native)
        .and_then(|entry| image.read(entry, native.len()))
        .is_some_and(|routine| same(routine, native))
    {
        return Err(PlanError::Disagrees("native body"));
    }
    Ok((current, native, d))
}

#[inline(always)]
fn encode_state<C: Codec, I: Image + ?Sized>(
    image: &I,
    r: &RawRecord,
    d: &Descriptor,
    native: &[u8],
    state: &State,
    out: &mut Buf,
) -> Result<(), PlanError> {
    let shape = match state {
        State::Original => Shape::Original,
        State::Patched(_) => Shape::Patched {
            routine: state.routine(d),
            inline: state.body(image, d, native),
        },
    };
    C::encode(r, d, native, shape, out)
}

fn bytes_in<C: Codec, I: Image + ?Sized>(
    image: &I,
    r: &RawRecord,
    state: &State,
    out: &mut Buf,
) -> Result<Descriptor, PlanError> {
    let mut cache = Cache::default();
    let (_, native, d) = site_parts::<C, I>(image, r, &mut cache)?;
    encode_state::<C, I>(image, r, d, native, state, out)?;
    Ok(*d)
}

/// The last few descriptors read: consecutive sites mostly name a handful of intrinsics.
#[derive(Default)]
struct Cache {
    entries: [Option<(u64, Result<Descriptor, PlanError>)>; 8],
}

impl Cache {
    #[inline(always)]
    fn get<C: Codec, I: Image + ?Sized>(
        &mut self,
        image: &I,
        at: u64,
    ) -> Result<&Descriptor, PlanError> {
        let entry = &mut self.entries[(at / C::DESCRIPTOR_SIZE) as usize % 8];
        if entry.as_ref().is_none_or(|(a, _)| *a != at) {
            *entry = Some((at, checked_descriptor::<C, I>(image, at)));
        }
        match entry {
            Some((_, d)) => d.as_ref().map_err(|e| *e),
            None => Err(PlanError::Outside(Field::Descriptor)),
        }
    }
}

/// Plans one alternative: `Some(address)` if its instruction is to change, `None` if it holds
/// `instruction` already, or why it is refused (with the address to name).
fn plan_alternative<I: Image + ?Sized>(
    image: &I,
    at: u64,
    instruction: &[u8; 3],
) -> Result<Option<u64>, (u64, Reason)> {
    let outside = |field| (at, Reason::Plan(PlanError::Outside(field)));
    let record = image
        .read(at, alternative::SIZE)
        .ok_or(outside(Field::Record))?;
    let rel = u64::from_le_bytes(
        record[alternative::ADDR..alternative::ADDR + 8]
            .try_into()
            .unwrap_or_default(),
    );
    let addr = at.wrapping_add(rel);
    if record[alternative::LEN] != 3
        || record[alternative::KIND] != alternative::HYPERCALL_INSTRUCTION
    {
        return Err((at, Reason::Plan(PlanError::Descriptor("alternative"))));
    }
    if !image.is_text(addr, 3) {
        return Err(outside(Field::Site));
    }
    match image.read(addr, 3) {
        Some(current) if current == instruction => Ok(None),
        Some(current)
            if current == pv_abi::backend::VMCALL || current == pv_abi::backend::VMMCALL =>
        {
            Ok(Some(addr))
        }
        _ => Err((addr, Reason::Mismatch)),
    }
}

/// What a transition does to one slot.
enum SlotPlan {
    /// Holds the target's routine already.
    Unchanged,
    /// Holds the routine of a known state: switch to this one.
    Switch(u64),
    /// Holds a value of no known state: refused, left alone.
    Foreign(u64),
}

fn plan_slot<I: Image + ?Sized>(image: &I, d: &Descriptor, to: &State, from: &[State]) -> SlotPlan {
    let new = to.routine(d);
    match image.pointer(d.slot) {
        Some(v) if v == new => SlotPlan::Unchanged,
        Some(v) if from.iter().any(|s| s.routine(d) == v) => SlotPlan::Switch(new),
        v => SlotPlan::Foreign(v.unwrap_or(0)),
    }
}

/// Why a transition did not commit.
#[derive(Debug)]
pub enum Cause<E> {
    /// Another transition of the same image was under way; nothing was done.
    Busy,
    /// The writer failed; the report says whether every byte was restored.
    Writer(E),
}

/// A transition that did not commit: its report (with [`Report::transaction`] saying what
/// was left) and why.
#[derive(Debug)]
pub struct Failure<E> {
    /// What was planned, and what happened.
    pub report: Report,
    /// Why it did not commit.
    pub cause: Cause<E>,
}

impl<E: core::fmt::Display> core::fmt::Display for Failure<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match &self.cause {
            Cause::Busy => f.write_str("another transition of this image is under way")?,
            Cause::Writer(e) => write!(f, "the text writer failed: {e}")?,
        }
        write!(f, " ({})", self.report.transaction.describe())
    }
}

/// Drives transitions. It keeps no belief about the sites: only the last backend of the
/// user's it applied, so that sites patched for it are recognised, and the last state it
/// committed, which it tries first when it reads a site's state from its bytes.
#[derive(Default)]
pub struct Patcher<'a> {
    backend: Option<&'a dyn Backend>,
    last: Option<State<'a>>,
}

impl<'a> Patcher<'a> {
    /// A patcher.
    pub const fn new() -> Self {
        Patcher {
            backend: None,
            last: None,
        }
    }

    /// Dry run of `apply(to)`: the report it would give, with nothing written.
    pub fn verify<I: Image>(&self, image: &I, to: Target<'a>) -> Report {
        let mut dry = DryRun(image);
        // SAFETY: a dry run stages into nothing and switches no slot.
        let result = unsafe { self.run(&mut dry, State::Patched(to)) };
        let mut report = match result {
            Ok(r) => r,
            Err(f) => f.report,
        };
        if report.transaction != Transaction::Busy {
            report.transaction = Transaction::DryRun;
        }
        report
    }

    /// Patches every site and switches every slot of `image` to `to`, in one transaction.
    ///
    /// # Safety
    /// `image` describes memory that is this image's code and tables, as its records say;
    /// until this returns, no thread executes a site or a routine being replaced, returns
    /// into one, or calls through a slot; the routines the target installs honour their
    /// intrinsics' contracts (pv's own do; a [`Backend`] promises it).
    #[expect(
        clippy::result_large_err,
        reason = "the report is the answer either way, and no_std has no Box to put it in"
    )]
    pub unsafe fn apply<M: Image + TextWriter>(
        &mut self,
        image: &mut M,
        to: Target<'a>,
    ) -> Result<Report, Failure<M::Error>> {
        // SAFETY: the caller's promise.
        let result = unsafe { self.run(image, State::Patched(to)) };
        if result.is_ok() {
            self.last = Some(State::Patched(to));
            if let Target::Backend(b) = to {
                self.backend = Some(b);
            }
        }
        result
    }

    /// Restores every site to its original bytes and every slot to the native routine.
    ///
    /// # Safety
    /// As for [`apply`](Self::apply).
    #[expect(
        clippy::result_large_err,
        reason = "the report is the answer either way, and no_std has no Box to put it in"
    )]
    pub unsafe fn revert<M: Image + TextWriter>(
        &mut self,
        image: &mut M,
    ) -> Result<Report, Failure<M::Error>> {
        // SAFETY: the caller's promise.
        let result = unsafe { self.run(image, State::Original) };
        if result.is_ok() {
            self.last = Some(State::Original);
        }
        result
    }

    /// The states a site or slot may be found in besides `to`, the last one committed first.
    fn others(&self, to: &State<'a>) -> ([State<'a>; 7], usize) {
        let mut all = [State::Original; 7];
        let mut n = 0;
        let vendor = match to {
            State::Patched(Target::Hypervisor(g)) => g.vendor,
            _ => Vendor::Intel,
        };
        let guest = |hypervisor| {
            Some(State::Patched(Target::Hypervisor(Guest {
                hypervisor,
                vendor,
            })))
        };
        let known = [
            self.last,
            Some(State::Original),
            Some(State::Patched(Target::Native)),
            guest(Hypervisor::Xen),
            guest(Hypervisor::Kvm),
            guest(Hypervisor::HyperV),
            self.backend.map(|b| State::Patched(Target::Backend(b))),
        ];
        for s in known.into_iter().flatten().filter(|s| !s.same(to)) {
            if n < all.len() && !all[..n].iter().any(|a| a.same(&s)) {
                all[n] = s;
                n += 1;
            }
        }
        (all, n)
    }

    /// # Safety
    /// As for [`apply`](Self::apply).
    #[expect(
        clippy::result_large_err,
        reason = "the report is the answer either way, and no_std has no Box to put it in"
    )]
    unsafe fn run<M: Image + TextWriter>(
        &self,
        image: &mut M,
        to: State<'a>,
    ) -> Result<Report, Failure<M::Error>> {
        let mut report = Report::new(to.name());
        if !image.lock() {
            report.transaction = Transaction::Busy;
            return Err(Failure {
                report,
                cause: Cause::Busy,
            });
        }
        // SAFETY: the caller's promise.
        let result = unsafe {
            match image.arch() {
                Arch::X86_64 => self.transition::<X86_64Codec, M>(image, to, &mut report),
                Arch::Ia64 => self.transition::<Ia64Codec, M>(image, to, &mut report),
            }
        };
        image.unlock();
        match result {
            Ok(()) => Ok(report),
            Err(e) => Err(Failure {
                report,
                cause: Cause::Writer(e),
            }),
        }
    }

    /// The one transition loop.
    ///
    /// # Safety
    /// As for [`apply`](Self::apply).
    unsafe fn transition<C: Codec, M: Image + TextWriter>(
        &self,
        image: &mut M,
        to: State<'a>,
        report: &mut Report,
    ) -> Result<(), M::Error> {
        let (others, n) = self.others(&to);
        let from = &others[..n];
        let mut cache = Cache::default();
        let (mut new, mut old) = (Buf::default(), Buf::default());
        let sites = image.section(Section::Sites);
        for i in 0..sites.len / pv_abi::record::SIZE as u64 {
            let r = match site::record(&*image, sites.start + i * pv_abi::record::SIZE as u64) {
                Ok(r) => r,
                Err((at, e)) => {
                    report.refuse(at, "?", Reason::Record(e));
                    continue;
                }
            };
            let outcome = plan_site::<C, M>(&*image, &r, &to, from, &mut cache, &mut new, &mut old);
            if let Some(reason) = report.site(r.binding, r.probe, outcome) {
                let name = cache
                    .get::<C, M>(&*image, r.desc)
                    .map_or("?", |d| d.name(&*image));
                report.refuse(r.site, name, reason);
            }
            if outcome == Outcome::Patched {
                // `plan_site` checked that the site lies in the image's text and holds the bytes
                // of a known state, which `new` replaces whole.
                // SAFETY: as checked; the caller promises that nothing executes the site meanwhile.
                if let Err(e) = unsafe { image.stage(r.site, &new) } {
                    image.abort();
                    report.rolled_back(Transaction::RolledBack);
                    return Err(e);
                }
                report.bytes_written += new.len();
            }
        }
        let instruction = match to {
            State::Original => pv_abi::backend::VMCALL,
            State::Patched(t) => t.hypercall_instruction(),
        };
        let alternatives = image.section(Section::Alternatives);
        for i in 0..alternatives.len / alternative::SIZE as u64 {
            let at = alternatives.start + i * alternative::SIZE as u64;
            match plan_alternative(&*image, at, &instruction) {
                Ok(None) => {}
                Ok(Some(addr)) => {
                    // `plan_alternative` checked that the instruction lies in the image's text and
                    // is one of the two it may be, which `instruction` (of the same length)
                    // replaces whole.
                    // SAFETY: as checked; the caller promises that nothing runs it meanwhile.
                    if let Err(e) = unsafe { image.stage(addr, &instruction) } {
                        image.abort();
                        report.rolled_back(Transaction::RolledBack);
                        return Err(e);
                    }
                    report.alternatives += 1;
                    report.bytes_written += instruction.len();
                }
                Err((addr, reason)) => report.refuse(addr, "hypercall instruction", reason),
            }
        }
        let descriptors = image.section(Section::Intrinsics);
        let each = |i| descriptors.start + i * C::DESCRIPTOR_SIZE;
        let count = descriptors.len / C::DESCRIPTOR_SIZE;
        for at in (0..count).map(each) {
            match cache.get::<C, M>(&*image, at).copied() {
                Err(e) => report.refuse(at, "?", Reason::Plan(e)),
                Ok(d) => {
                    report.calls_only += usize::from(!d.binding.has_site());
                    match plan_slot(&*image, &d, &to, from) {
                        SlotPlan::Unchanged => {}
                        SlotPlan::Switch(_) => report.slots_switched += 1,
                        SlotPlan::Foreign(v) => {
                            report.refuse(d.slot, d.name(&*image), Reason::Slot(v))
                        }
                    }
                }
            }
        }
        match image.commit() {
            Ok(stats) => {
                report.pages = stats.pages;
                report.protection_calls = stats.protection_calls;
            }
            Err(e) => {
                report.rolled_back(if e.restored {
                    Transaction::RolledBack
                } else {
                    Transaction::Torn
                });
                return Err(e.error);
            }
        }
        for at in (0..count).map(each) {
            if let Ok(d) = cache.get::<C, M>(&*image, at).copied()
                && let SlotPlan::Switch(v) = plan_slot(&*image, &d, &to, from)
            {
                // `checked_descriptor` put the slot inside the slot section, aligned; `v` is the
                // target's routine for it.
                // SAFETY: as checked; the caller promises nothing calls through the slot meanwhile.
                unsafe { image.set_slot(d.slot, v) };
            }
        }
        report.transaction = Transaction::Committed;
        Ok(())
    }
}

/// Plans one site: `Patched` (with the new bytes in `new`) if it holds the bytes of a known
/// state, `Unchanged` if it holds the target's already, else a refusal.
#[inline(always)]
fn plan_site<C: Codec, I: Image + ?Sized>(
    image: &I,
    r: &RawRecord,
    to: &State,
    from: &[State],
    cache: &mut Cache,
    new: &mut Buf,
    old: &mut Buf,
) -> Outcome {
    let mut plan = || -> Result<Outcome, PlanError> {
        let (current, native, d) = site_parts::<C, I>(image, r, cache)?;
        encode_state::<C, I>(image, r, d, native, to, new)?;
        if same(current, new) {
            return Ok(Outcome::Unchanged);
        }
        for state in from {
            if encode_state::<C, I>(image, r, d, native, state, old).is_ok() && same(current, old) {
                return Ok(Outcome::Patched);
            }
        }
        Ok(Outcome::Mismatch)
    };
    plan().unwrap_or_else(Outcome::Unplannable)
}

/// An image seen for a dry run: reads go through, writes go nowhere.
struct DryRun<'i, I>(&'i I);

impl<I: Image> Image for DryRun<'_, I> {
    fn arch(&self) -> Arch {
        self.0.arch()
    }
    fn section(&self, section: Section) -> Span {
        self.0.section(section)
    }
    fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
        self.0.read(addr, len)
    }
    fn is_text(&self, addr: u64, len: usize) -> bool {
        self.0.is_text(addr, len)
    }
    fn pointer(&self, addr: u64) -> Option<u64> {
        self.0.pointer(addr)
    }
    unsafe fn set_slot(&mut self, _: u64, _: u64) {}
    fn lock(&self) -> bool {
        self.0.lock()
    }
    fn unlock(&self) {
        self.0.unlock()
    }
}

impl<I> TextWriter for DryRun<'_, I> {
    type Error = core::convert::Infallible;
    unsafe fn stage(&mut self, _: u64, _: &[u8]) -> Result<(), Self::Error> {
        Ok(())
    }
    fn abort(&mut self) {}
    fn commit(
        &mut self,
    ) -> Result<crate::writer::WriteStats, crate::writer::CommitError<Self::Error>> {
        Ok(crate::writer::WriteStats::default())
    }
}
