//! The patch engine: for every site, the bytes it must hold now and the bytes it will hold
//! after a transition (plan), a comparison with what it does hold (verify), then one staged
//! batch handed to a [`TextWriter`] (apply, revert) and a [`Report`].
//!
//! A site is in one of two states the engine can compute from the record alone: *original*
//! (as the compiler emitted it) or *patched for a target*. A site holding anything else is
//! refused and reported, and never written; every other site is still patched.

use crate::arch::x86_64 as codec;
use crate::ops::{Intrinsic, Routine, intrinsics};
use crate::report::{Outcome, Report};
use crate::site::{RawRecord, Site, sites};
use crate::writer::TextWriter;
use core::ops::Deref;
use pv_abi::record::MAX_SITE_LEN;
use pv_abi::{Arch, Binding, BodyKind};

/// A backend of the user's: the routine it installs for each intrinsic.
pub trait Backend {
    /// Name for reports.
    fn name(&self) -> &str;
    /// The routine for `intrinsic`, under its binding's convention (the declared register
    /// contract for options 1-3, the C ABI for option 4); `None` keeps the native routine.
    fn routine(&self, intrinsic: &Intrinsic) -> Option<Routine>;
}

/// What to patch for.
#[derive(Clone, Copy)]
pub enum Target<'a> {
    /// Bare metal: the native body inline wherever it fits, else a direct call to it.
    Native,
    /// Xen PV: a direct call to each Xen stub (inline where Xen runs the native body).
    Xen,
    /// A backend of the user's.
    Backend(&'a dyn Backend),
}

impl Target<'_> {
    /// The target's name, for reports.
    pub fn name(&self) -> &str {
        match self {
            Target::Native => "native",
            Target::Xen => "xen",
            Target::Backend(b) => b.name(),
        }
    }

    /// The routine this target installs for `i` (its slot, and the call target of its sites).
    pub fn routine(&self, i: &Intrinsic) -> Routine {
        match self {
            Target::Native => i.native,
            Target::Xen => i.xen,
            Target::Backend(b) => b.routine(i).unwrap_or(i.native),
        }
    }

    /// Bytes to place in the site instead of a call, when the target runs a fixed sequence.
    fn inline<'s>(&self, site: &Site) -> Option<&'s [u8]> {
        let native = Some(site.native_body());
        match (self, site.intrinsic.xen_kind) {
            (Target::Native, _) | (Target::Xen, BodyKind::Native) => native,
            (Target::Xen, BodyKind::Nop) => Some(&[]),
            (Target::Backend(b), _) if b.routine(site.intrinsic).is_none() => native,
            _ => None,
        }
    }
}

/// The state of the sites, as far as the engine knows.
#[derive(Clone, Copy)]
pub enum State<'a> {
    /// As the compiler emitted them.
    Original,
    /// Patched for a target.
    Patched(Target<'a>),
}

/// Why no bytes can be computed for a site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// The record is for another architecture than this engine patches.
    Arch(Arch),
    /// Option 4 has no sites; a record claiming one is corrupt.
    NoSite,
    /// The native body is longer than the site.
    BodyTooLong,
    /// A call target beyond the reach of the site's call (±2 GiB on x86_64, ±16 MiB for an
    /// ia64 `br.call`).
    OutOfRange,
    /// An address the record or descriptor names is outside the image.
    Unreadable,
}

impl core::fmt::Display for PlanError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PlanError::Arch(a) => {
                write!(f, "an {} site cannot be patched on this machine", a.name())
            }
            PlanError::NoSite => f.write_str("an option 4 intrinsic has no site"),
            PlanError::BodyTooLong => f.write_str("native body longer than the site"),
            PlanError::OutOfRange => f.write_str("call target out of the call's range"),
            PlanError::Unreadable => f.write_str("record names an address outside the image"),
        }
    }
}

/// A site's bytes (at most [`MAX_SITE_LEN`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Bytes {
    buf: [u8; MAX_SITE_LEN],
    len: usize,
}

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl core::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for b in self.iter() {
            write!(f, "{b:02x} ")?;
        }
        Ok(())
    }
}

impl Bytes {
    /// `head`, then nops up to `len`.
    #[inline]
    fn padded(head: &[u8], len: usize) -> Result<Bytes, PlanError> {
        if head.len() > len {
            return Err(PlanError::BodyTooLong);
        }
        let mut buf = [0; MAX_SITE_LEN];
        buf[..head.len()].copy_from_slice(head);
        codec::fill_nops(&mut buf[head.len()..len]);
        Ok(Bytes { buf, len })
    }
}

/// What a site's bytes are to be: as compiled (a call of the native routine or through the
/// slot, or the native body), or patched (the `inline` bytes if they fit, else a call of
/// `routine`).
#[derive(Clone, Copy, Debug)]
pub enum Shape<'b> {
    /// As compiled.
    Original {
        /// Address of the native routine (option 2 calls it).
        native: u64,
        /// Address of the ops slot (option 3 calls through it).
        slot: u64,
    },
    /// Patched for a target.
    Patched {
        /// Address of the routine the target installs.
        routine: u64,
        /// Bytes to place instead of a call, if the target runs a fixed sequence.
        inline: Option<&'b [u8]>,
    },
}

/// The bytes of the x86_64 site `r` (whose native body is `body`) in `shape`: one function
/// for the live engine and for tools reading a file.
pub fn encode(r: &RawRecord, body: &[u8], shape: Shape) -> Result<Bytes, PlanError> {
    if r.arch != Arch::X86_64 {
        return Err(PlanError::Arch(r.arch));
    }
    let (at, len) = (r.site as usize, r.len);
    let call = |target: u64| {
        codec::call_rel32(at, target as usize)
            .ok_or(PlanError::OutOfRange)
            .and_then(|c| Bytes::padded(&c, len))
    };
    match shape {
        Shape::Original { native, slot } => match r.binding {
            Binding::InlinePatch => Bytes::padded(body, len),
            Binding::DirectBranch => call(native),
            Binding::IndirectBranch => codec::call_rip(at, slot as usize)
                .ok_or(PlanError::OutOfRange)
                .and_then(|c| Bytes::padded(&c, len)),
            Binding::IndirectCall => Err(PlanError::NoSite),
        },
        Shape::Patched { routine, inline } => match inline {
            Some(body) if body.len() <= len => Bytes::padded(body, len),
            _ => call(routine),
        },
    }
}

/// The bytes `site` holds in `state`.
pub fn bytes(site: &Site, state: &State) -> Result<Bytes, PlanError> {
    let i = site.intrinsic;
    let shape = match state {
        State::Original => Shape::Original {
            native: i.native as usize as u64,
            slot: i.slot.addr() as u64,
        },
        State::Patched(target) => Shape::Patched {
            routine: target.routine(i) as usize as u64,
            inline: target.inline(site),
        },
    };
    encode(&site.record, site.native_body(), shape)
}

/// What a transition does to one site.
#[derive(Clone, Copy)]
pub struct SitePlan {
    /// The site being planned.
    pub site: Site,
    /// The bytes it will hold.
    pub new: Result<Bytes, PlanError>,
    /// What the transition does to the site.
    pub outcome: Outcome,
}

/// Plans the transition of `site` from `from` to `to`: it is patched only if it holds exactly
/// the bytes `from` gives it.
pub fn plan_site(site: Site, from: &State, to: &State) -> SitePlan {
    let expected = bytes(&site, from);
    let new = bytes(&site, to);
    let outcome = Outcome::of(Some(site.current()), expected.as_deref(), new.as_deref());
    SitePlan { site, new, outcome }
}

/// Drives transitions and remembers the state the sites are in.
pub struct Patcher<'a> {
    state: State<'a>,
}

impl Default for Patcher<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> Patcher<'a> {
    /// A patcher for a binary whose sites are as the compiler emitted them.
    pub const fn new() -> Self {
        Patcher {
            state: State::Original,
        }
    }

    /// The state the engine believes the sites are in.
    pub fn state(&self) -> State<'a> {
        self.state
    }

    /// The plan of every site for a transition to `to`, without writing anything.
    pub fn plan(
        &self,
        to: State<'a>,
    ) -> impl Iterator<Item = Result<SitePlan, (usize, crate::site::RecordError)>> + 'a {
        let from = self.state;
        sites().map(move |s| s.map(|s| plan_site(s, &from, &to)))
    }

    /// Dry run of `apply(to)`: the report it would give, with nothing written.
    pub fn verify(&self, to: Target<'a>) -> Report {
        let mut report = Report::new(to.name());
        for plan in self.plan(State::Patched(to)) {
            report.count(&plan);
        }
        report
    }

    /// Patches every site and switches every slot to `target`.
    pub fn apply<W: TextWriter>(
        &mut self,
        target: Target<'a>,
        writer: &mut W,
    ) -> Result<Report, W::Error> {
        self.transition(State::Patched(target), target.name(), writer)
    }

    /// Restores every site to its original bytes and every slot to the native routine.
    pub fn revert<W: TextWriter>(&mut self, writer: &mut W) -> Result<Report, W::Error> {
        self.transition(State::Original, "original", writer)
    }

    fn transition<W: TextWriter>(
        &mut self,
        to: State<'a>,
        name: &str,
        writer: &mut W,
    ) -> Result<Report, W::Error> {
        let mut report = Report::new(name);
        for plan in self.plan(to) {
            report.count(&plan);
            if let Ok(SitePlan {
                site,
                new: Ok(new),
                outcome: Outcome::Patched,
                ..
            }) = plan
            {
                writer.stage(site.addr(), &new)?;
                report.bytes_written += new.len();
            }
        }
        let stats = writer.commit()?;
        report.pages = stats.pages;
        report.protection_calls = stats.protection_calls;
        for i in intrinsics() {
            let routine = match to {
                State::Original => i.native,
                State::Patched(t) => t.routine(i),
            };
            if i.slot.get() as usize != routine as usize {
                // SAFETY: `routine` implements `i` under its binding's convention (the target's
                // promise), and patching runs single-threaded.
                unsafe { i.slot.set(routine) };
                report.slots_switched += 1;
            }
        }
        report.calls_only = intrinsics()
            .iter()
            .filter(|i| !i.binding.has_site())
            .count();
        self.state = to;
        Ok(report)
    }
}
