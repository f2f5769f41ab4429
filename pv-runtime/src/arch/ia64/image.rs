//! The patch engine for linked ia64 images, on the plan/verify/apply/revert/report model of the
//! x86_64 engine. No ia64 machine runs pv here: the image is memory (a linked executable's
//! sections) that the engine reads and writes through [`Memory`].
//!
//! - Bundle sites (option 1) get a body copied in when it fits, padded with nop bundles.
//! - Branch sites (option 2) get the body when it fits one bundle, else their `br.call` is
//!   retargeted (within ±16 MiB, or refused).
//! - Option 3 sites get the body when it fits, else stay indirect through their slot.
//! - Every slot switches, option 4's included.
//!
//! Every site is verified before any write: it must hold the bytes of the state the engine
//! believes it is in (Linux never checked).

use super::codec::{self, Unit};
use crate::engine::PlanError;
use crate::report::{Outcome, Report};
use crate::site::{RawRecord, RecordError};
use pv_abi::ia64::asm::desc;
use pv_abi::record::{self, FLAG_IA64_LINUX_FORM};
use pv_abi::{Binding, BodyKind};

/// The memory of an image: what the engine reads and writes.
pub trait Memory {
    /// `len` bytes at `addr`, if the image has them.
    fn read(&self, addr: u64, len: usize) -> Option<&[u8]>;
    /// Writes `bytes` at `addr`; `None` if the image does not have them.
    fn write(&mut self, addr: u64, bytes: &[u8]) -> Option<()>;
}

/// Where the engine finds its tables in an image.
#[derive(Clone, Copy, Debug)]
pub struct Tables {
    /// The `pv_sites` section: (address, size).
    pub sites: (u64, u64),
    /// The `pv_intrinsics` section of descriptor blocks: (address, size).
    pub intrinsics: (u64, u64),
}

/// What to patch an image for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Bare metal: native bodies and routines.
    Native,
    /// Xen: Xen bodies and routines.
    Xen,
}

/// The state of an image's sites as far as the engine knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// As assembled: nothing patched yet, or reverted.
    Original,
    /// Patched for a target.
    Patched(Target),
}

/// A descriptor block, read from the image.
#[derive(Clone, Copy, Debug)]
pub struct Descriptor {
    /// Address of the block.
    pub at: u64,
    /// Native routine entry (option 4: its C adapter's function descriptor).
    pub native: u64,
    /// Xen routine entry (option 4: function descriptor).
    pub xen: u64,
    /// Address of the ops slot.
    pub slot: u64,
    /// Address of the Xen body copy, 0 if the Xen body is not a sequence.
    pub xen_body: u64,
    /// Length in bytes of the Xen body copy.
    pub xen_len: u32,
    /// How Xen implements the intrinsic; `None` for a code that is no [`BodyKind`].
    pub xen_kind: Option<BodyKind>,
    /// Address of the NUL-terminated name.
    pub name: u64,
    /// The binding, `None` if the byte is not an RFC option number.
    pub binding: Option<Binding>,
}

fn u64_at(mem: &impl Memory, addr: u64) -> Option<u64> {
    Some(u64::from_le_bytes(mem.read(addr, 8)?.try_into().ok()?))
}

impl Descriptor {
    /// Reads the block at `at`; `None` if the image does not hold it.
    pub fn read(mem: &impl Memory, at: u64) -> Option<Descriptor> {
        let b = mem.read(at, desc::SIZE)?;
        let word = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or_default());
        let half = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap_or_default());
        Some(Descriptor {
            at,
            native: word(desc::NATIVE),
            xen: word(desc::XEN),
            slot: word(desc::SLOT),
            xen_body: word(desc::XEN_BODY),
            xen_len: half(desc::XEN_LEN),
            xen_kind: u8::try_from(half(desc::XEN_KIND))
                .ok()
                .and_then(BodyKind::from_code),
            name: word(desc::NAME),
            binding: Binding::from_number(b[desc::BINDING]),
        })
    }

    /// The intrinsic's name (up to 32 bytes, as stored NUL-terminated).
    pub fn name<'m>(&self, mem: &'m impl Memory) -> &'m str {
        let bytes = (1..=32)
            .rev()
            .find_map(|n| mem.read(self.name, n))
            .unwrap_or(&[]);
        let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
        core::str::from_utf8(&bytes[..end]).unwrap_or("?")
    }

    /// The routine `target` installs.
    pub fn routine(&self, target: Target) -> u64 {
        match target {
            Target::Native => self.native,
            Target::Xen => self.xen,
        }
    }
}

/// Up to 16 bundles.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Bundles {
    buf: [u8; 256],
    len: usize,
}

impl core::ops::Deref for Bundles {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl core::fmt::Debug for Bundles {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} bundles", self.len / 16)
    }
}

impl Bundles {
    /// `head`, then nop bundles up to `len`.
    fn padded(head: &[u8], len: usize) -> Result<Bundles, PlanError> {
        if head.len() > len || len > 256 || !head.len().is_multiple_of(16) {
            return Err(PlanError::BodyTooLong);
        }
        let mut buf = [0; 256];
        buf[..head.len()].copy_from_slice(head);
        for at in (head.len()..len).step_by(16) {
            buf[at..at + 16].copy_from_slice(&codec::nop_bundle());
        }
        Ok(Bundles { buf, len })
    }

    fn of(bundles: &[codec::Bundle], len: usize) -> Result<Bundles, PlanError> {
        let mut head = [0u8; 256];
        let n = bundles.len() * 16;
        for (i, b) in bundles.iter().enumerate() {
            head[i * 16..i * 16 + 16].copy_from_slice(b);
        }
        Self::padded(&head[..n], len)
    }
}

/// The bytes a site holds in `state`.
pub fn bytes(
    mem: &impl Memory,
    r: &RawRecord,
    d: &Descriptor,
    state: State,
) -> Result<Bundles, PlanError> {
    let len = r.len;
    let native_body = mem.read(r.repl, r.repl_len).ok_or(PlanError::Unreadable)?;
    let call = |routine: u64| codec::br_call(r.site, 0, routine).ok_or(PlanError::OutOfRange);
    let original = || -> Result<Bundles, PlanError> {
        match r.binding {
            Binding::InlinePatch => Bundles::padded(native_body, len),
            Binding::DirectBranch => Bundles::of(&[codec::alone(Unit::B, call(d.native)?)], len),
            Binding::IndirectBranch => {
                let load = [
                    codec::alone_long(codec::movl(2, d.slot)),
                    codec::alone(Unit::M, codec::ld8(2, 2)),
                ];
                if r.flags & FLAG_IA64_LINUX_FORM != 0 {
                    let adds = codec::adds(17, 64, 17).ok_or(PlanError::OutOfRange)?;
                    Bundles::of(
                        &[
                            load[0],
                            load[1],
                            codec::alone(Unit::I, codec::mov_to_br(7, 2)),
                            codec::alone(Unit::I, codec::mov_from_ip(17)),
                            codec::alone(Unit::M, adds),
                            codec::alone(Unit::I, codec::mov_to_br(6, 17)),
                            codec::alone(Unit::B, codec::br_cond_indirect(7)),
                        ],
                        len,
                    )
                } else {
                    let branch = [
                        codec::alone(Unit::I, codec::mov_to_br(1, 2)),
                        codec::alone(Unit::B, codec::br_call_indirect(0, 1)),
                    ];
                    Bundles::of(&[load[0], load[1], branch[0], branch[1]], len)
                }
            }
            Binding::IndirectCall => Err(PlanError::NoSite),
        }
    };
    let State::Patched(target) = state else {
        return original();
    };
    let body: Option<&[u8]> = match (target, d.xen_kind) {
        (Target::Native, _) | (Target::Xen, Some(BodyKind::Native)) => Some(native_body),
        (Target::Xen, Some(BodyKind::Nop)) => Some(&[]),
        (Target::Xen, Some(BodyKind::Asm | BodyKind::Hyperprivop)) => Some(
            mem.read(d.xen_body, d.xen_len as usize)
                .ok_or(PlanError::Unreadable)?,
        ),
        _ => None,
    };
    match (body, r.binding) {
        (Some(body), _) if body.len() <= len => Bundles::padded(body, len),
        (_, Binding::DirectBranch) => {
            Bundles::of(&[codec::alone(Unit::B, call(d.routine(target))?)], len)
        }
        (_, Binding::IndirectBranch) => original(),
        _ => Err(PlanError::BodyTooLong),
    }
}

/// What a transition does to one site.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// The site's record.
    pub record: RawRecord,
    /// The descriptor block the record points at.
    pub descriptor: Descriptor,
    /// The bytes the site will hold, or why they cannot be planned.
    pub new: Result<Bundles, PlanError>,
    /// What the transition does to the site.
    pub outcome: Outcome,
}

/// The record at `at`, decoded.
fn record_at(mem: &impl Memory, at: u64) -> Result<RawRecord, (u64, RecordError)> {
    let bytes: &[u8; record::SIZE] = mem
        .read(at, record::SIZE)
        .and_then(|b| b.try_into().ok())
        .ok_or((at, RecordError::Magic(0)))?;
    RawRecord::parse(bytes, at).map_err(|e| (at, e))
}

/// The addresses of an image's records.
fn record_addrs(t: &Tables) -> impl Iterator<Item = u64> + use<> {
    let (start, size) = t.sites;
    (start..start + size).step_by(record::SIZE)
}

/// The records of an image, decoded; unusable ones come with their address.
pub fn records<'m, M: Memory>(
    mem: &'m M,
    t: &Tables,
) -> impl Iterator<Item = Result<RawRecord, (u64, RecordError)>> + 'm {
    record_addrs(t).map(move |at| record_at(mem, at))
}

/// Plans one site's transition and compares with what it holds.
fn plan_site(
    mem: &impl Memory,
    r: RawRecord,
    from: State,
    to: State,
) -> Result<Plan, (u64, RecordError)> {
    let descriptor = Descriptor::read(mem, r.desc).ok_or((r.at, RecordError::Magic(0)))?;
    let expected = bytes(mem, &r, &descriptor, from);
    let new = bytes(mem, &r, &descriptor, to);
    let outcome = Outcome::of(mem.read(r.site, r.len), expected.as_deref(), new.as_deref());
    Ok(Plan {
        record: r,
        descriptor,
        new,
        outcome,
    })
}

/// Drives transitions of one image and remembers its state.
#[derive(Clone, Copy, Debug)]
pub struct Patcher {
    state: State,
    tables: Tables,
}

impl Patcher {
    /// A patcher for an image whose sites are as assembled.
    pub const fn new(tables: Tables) -> Self {
        Patcher {
            state: State::Original,
            tables,
        }
    }

    /// The state the engine believes the sites are in.
    pub fn state(&self) -> State {
        self.state
    }

    /// The plan of every site for a transition to `to`, without writing.
    pub fn plan<'m, M: Memory>(
        &self,
        mem: &'m M,
        to: State,
    ) -> impl Iterator<Item = Result<Plan, (u64, RecordError)>> + 'm {
        let from = self.state;
        records(mem, &self.tables).map(move |r| r.and_then(|r| plan_site(mem, r, from, to)))
    }

    /// Dry run of `apply(target)`.
    pub fn verify(&self, mem: &impl Memory, target: Target) -> Report {
        let mut report = Report::new(name(State::Patched(target)));
        for plan in self.plan(mem, State::Patched(target)) {
            count(&mut report, mem, &plan);
        }
        report
    }

    /// Patches every site and switches every slot to `target`.
    pub fn apply(&mut self, mem: &mut impl Memory, target: Target) -> Report {
        self.transition(mem, State::Patched(target))
    }

    /// Restores every site and slot.
    pub fn revert(&mut self, mem: &mut impl Memory) -> Report {
        self.transition(mem, State::Original)
    }

    /// Each site is verified, then written if it held the expected bytes; a refused site is
    /// never written. Then every slot switches.
    fn transition(&mut self, mem: &mut impl Memory, to: State) -> Report {
        let mut report = Report::new(name(to));
        for at in record_addrs(&self.tables) {
            let plan = record_at(&*mem, at).and_then(|r| plan_site(&*mem, r, self.state, to));
            count(&mut report, &*mem, &plan);
            if let Ok(Plan {
                record,
                new: Ok(new),
                outcome: Outcome::Patched,
                ..
            }) = plan
                && mem.write(record.site, &new).is_some()
            {
                report.bytes_written += new.len();
            }
        }
        let (start, size) = self.tables.intrinsics;
        for at in (start..start + size).step_by(desc::SIZE) {
            let Some(d) = Descriptor::read(&*mem, at) else {
                continue;
            };
            let routine = match to {
                State::Original | State::Patched(Target::Native) => d.native,
                State::Patched(Target::Xen) => d.xen,
            };
            if u64_at(&*mem, d.slot) != Some(routine)
                && mem.write(d.slot, &routine.to_le_bytes()).is_some()
            {
                report.slots_switched += 1;
            }
            report.calls_only += usize::from(d.binding == Some(Binding::IndirectCall));
        }
        self.state = to;
        report
    }
}

fn name(state: State) -> &'static str {
    match state {
        State::Original => "original",
        State::Patched(Target::Native) => "native",
        State::Patched(Target::Xen) => "xen",
    }
}

fn count(report: &mut Report, mem: &impl Memory, plan: &Result<Plan, (u64, RecordError)>) {
    match plan {
        Ok(p) => report.site(
            p.record.site as usize,
            p.descriptor.name(mem),
            p.record.binding,
            p.record.probe,
            p.outcome,
        ),
        Err((at, e)) => report.bad_record(*at as usize, *e),
    }
}
