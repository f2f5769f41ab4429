//! What a transition did: whether it committed, sites by binding and outcome, refusals with
//! their reasons, bytes, pages and protection calls, slots switched. Fixed-size, so it works
//! before any allocator.

use crate::engine::PlanError;
use crate::site::RecordError;
use core::fmt;
use pv_abi::Binding;

/// What happened to one site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Held the expected bytes; the new ones are written.
    Patched,
    /// Already held the new bytes.
    Unchanged,
    /// Held neither the expected nor the new bytes: refused, left untouched.
    Mismatch,
    /// No bytes could be computed: refused, left untouched.
    Unplannable(PlanError),
}

/// Sites of one binding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Sites of this binding.
    pub sites: usize,
    /// Sites written with new bytes.
    pub patched: usize,
    /// Sites that already held the new bytes.
    pub unchanged: usize,
    /// Sites refused and left untouched.
    pub refused: usize,
}

/// Why a site or record was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The site held neither the expected nor the new bytes.
    Mismatch,
    /// No bytes could be computed for the site.
    Plan(PlanError),
    /// The record itself could not be read.
    Record(RecordError),
    /// An ops slot held this value, the routine of no known state: left alone.
    Slot(u64),
}

/// What became of a transition as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transaction {
    /// A dry run ([`crate::Patcher::verify`]): nothing was written.
    DryRun,
    /// Every planned write and slot switch took effect.
    Committed,
    /// The writer failed; every site and slot holds exactly what it held before.
    RolledBack,
    /// The writer failed and could not restore every byte: the image is torn. Never happens
    /// with a writer that keeps its contract; reported rather than hidden.
    Torn,
    /// Another transition of the image was under way; nothing was planned or written.
    Busy,
}

impl Transaction {
    /// A sentence for reports.
    pub const fn describe(self) -> &'static str {
        match self {
            Transaction::DryRun => "dry run: nothing written",
            Transaction::Committed => "committed",
            Transaction::RolledBack => "rolled back: every site and slot as before",
            Transaction::Torn => "NOT rolled back: the writer could not restore every byte",
            Transaction::Busy => "refused: another transition was under way",
        }
    }
}

/// An intrinsic's name, kept without allocation (truncated to 32 bytes).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Name {
    bytes: [u8; 32],
    len: u8,
}

impl Name {
    /// Keeps `name`, truncated to 32 bytes at a character boundary.
    pub fn new(name: &str) -> Name {
        let mut end = name.len().min(32);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        let mut bytes = [0; 32];
        bytes[..end].copy_from_slice(&name.as_bytes()[..end]);
        Name {
            bytes,
            len: end as u8,
        }
    }

    /// The kept name.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("?")
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// One refused site (or unusable record).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Address of the site, slot or descriptor, or of the record when that could not be read.
    pub addr: u64,
    /// The intrinsic, when the record could be read.
    pub name: Name,
    /// Why it was refused.
    pub reason: Reason,
}

/// How many refusals a report names one by one; the total is always counted.
pub const NAMED_REFUSALS: usize = 16;

/// The outcome of one `verify`, `apply` or `revert`.
#[derive(Clone, Copy, Debug)]
pub struct Report {
    target: Name,
    /// Whether the transition committed.
    pub transaction: Transaction,
    /// Options 1-3, by RFC number - 1.
    pub by_binding: [Counts; 3],
    /// Self-test probe sites among them.
    pub probes: usize,
    /// Option 4 intrinsics: no site, only their slot switches.
    pub calls_only: usize,
    /// Bytes written into sites.
    pub bytes_written: usize,
    /// Text pages whose contents changed, as the writer counts them.
    pub pages: usize,
    /// Protection or mapping changes the writer made.
    pub protection_calls: usize,
    /// Slots that now hold a different routine.
    pub slots_switched: usize,
    /// Alternatives (KVM's hypercall instruction) rewritten for the CPU vendor.
    pub alternatives: usize,
    /// The first `NAMED_REFUSALS` refusals.
    pub refusals: [Option<Refusal>; NAMED_REFUSALS],
    /// Every refusal, named or not.
    pub refused_total: usize,
}

impl Report {
    /// An empty report for a transition to `target`.
    pub fn new(target: &str) -> Self {
        Report {
            target: Name::new(target),
            transaction: Transaction::DryRun,
            by_binding: [Counts::default(); 3],
            probes: 0,
            calls_only: 0,
            bytes_written: 0,
            pages: 0,
            protection_calls: 0,
            slots_switched: 0,
            alternatives: 0,
            refusals: [None; NAMED_REFUSALS],
            refused_total: 0,
        }
    }

    /// The target the report is for.
    pub fn target(&self) -> &str {
        self.target.as_str()
    }

    /// All sites of options 1-3.
    pub fn total(&self) -> Counts {
        self.by_binding
            .iter()
            .fold(Counts::default(), |a, c| Counts {
                sites: a.sites + c.sites,
                patched: a.patched + c.patched,
                unchanged: a.unchanged + c.unchanged,
                refused: a.refused + c.refused,
            })
    }

    /// The refusals named one by one.
    pub fn refused(&self) -> impl Iterator<Item = &Refusal> {
        self.refusals.iter().flatten()
    }

    /// Names one refusal (the first [`NAMED_REFUSALS`]) and counts it.
    pub fn refuse(&mut self, addr: u64, name: &str, reason: Reason) {
        if let Some(free) = self.refusals.iter_mut().find(|r| r.is_none()) {
            *free = Some(Refusal {
                addr,
                name: Name::new(name),
                reason,
            });
        }
        self.refused_total += 1;
    }

    /// Counts one site and what happened to it; the reason if it was refused, for the caller
    /// to name with [`refuse`](Self::refuse).
    #[inline]
    pub fn site(&mut self, binding: Binding, probe: bool, outcome: Outcome) -> Option<Reason> {
        let counts = &mut self.by_binding[(binding as usize).clamp(1, 3) - 1];
        counts.sites += 1;
        self.probes += usize::from(probe);
        let reason = match outcome {
            Outcome::Patched => {
                counts.patched += 1;
                return None;
            }
            Outcome::Unchanged => {
                counts.unchanged += 1;
                return None;
            }
            Outcome::Mismatch => Reason::Mismatch,
            Outcome::Unplannable(e) => Reason::Plan(e),
        };
        counts.refused += 1;
        Some(reason)
    }

    /// Marks the transition as not committed: nothing it planned was written.
    pub fn rolled_back(&mut self, how: Transaction) {
        self.transaction = how;
        self.bytes_written = 0;
        self.slots_switched = 0;
        self.alternatives = 0;
        self.pages = 0;
        self.protection_calls = 0;
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Mismatch => f.write_str("site holds unexpected bytes (left untouched)"),
            Reason::Plan(e) => write!(f, "{e}"),
            Reason::Record(e) => write!(f, "{e}"),
            Reason::Slot(v) => write!(
                f,
                "ops slot holds {v:#x}, the routine of no known state (left alone)"
            ),
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "patch report for target `{}`: {}",
            self.target(),
            self.transaction.describe()
        )?;
        match crate::POLICY {
            Some(b) => writeln!(
                f,
                "  binding policy: every x86_64 intrinsic forced to `{}` (--cfg pv_binding)",
                b.name()
            )?,
            None => writeln!(f, "  binding policy: each declaration's own")?,
        }
        writeln!(
            f,
            "  {:<18} {:>6} {:>8} {:>10} {:>8}",
            "binding", "sites", "patched", "unchanged", "refused"
        )?;
        for (i, c) in self.by_binding.iter().enumerate() {
            let name = Binding::ALL[i].name();
            writeln!(
                f,
                "  {:<18} {:>6} {:>8} {:>10} {:>8}",
                name, c.sites, c.patched, c.unchanged, c.refused
            )?;
        }
        let t = self.total();
        writeln!(
            f,
            "  {:<18} {:>6} {:>8} {:>10} {:>8}",
            "total", t.sites, t.patched, t.unchanged, t.refused
        )?;
        writeln!(
            f,
            "  {} probe sites; {} option-4 intrinsics (slot only); {} slots switched; {} hypercall instructions chosen by CPU vendor",
            self.probes, self.calls_only, self.slots_switched, self.alternatives
        )?;
        writeln!(
            f,
            "  {} bytes written on {} pages with {} protection calls",
            self.bytes_written, self.pages, self.protection_calls
        )?;
        for r in self.refused() {
            writeln!(
                f,
                "  refused {:#x} ({}): {}",
                r.addr,
                r.name.as_str(),
                r.reason
            )?;
        }
        if self.refused_total > NAMED_REFUSALS {
            writeln!(
                f,
                "  ... and {} more refusals",
                self.refused_total - NAMED_REFUSALS
            )?;
        }
        Ok(())
    }
}
