//! How patched bytes reach the text. The engine stages every write of a transition, then
//! commits once. A writer's contract, which every implementation (a kernel's own included)
//! keeps:
//!
//! - [`stage`](TextWriter::stage) makes nothing visible; it is `unsafe` because what it is
//!   given will be written into code.
//! - [`abort`](TextWriter::abort) drops everything staged; nothing was written.
//! - [`commit`](TextWriter::commit) makes every staged write visible, serialises instruction
//!   fetch on every CPU that may run the code, and starts afresh — or fails with every byte as
//!   it was before the first stage, and says so ([`CommitError::restored`]); a writer that
//!   cannot restore says that instead of hiding it.
//!
//! A kernel supplies its own writer (interrupts off, CR0.WP cleared around the writes, then
//! serialised: the same contract); userland uses [`RemapWriter`].

#[cfg(feature = "std")]
mod quiesce;
#[cfg(feature = "std")]
mod remap;
#[cfg(feature = "std")]
pub use quiesce::{QuiesceError, QuiesceStats, Quiesced, park_signal};
#[cfg(feature = "std")]
pub use remap::{RemapError, RemapWriter};

/// What a commit did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Pages whose contents changed.
    pub pages: usize,
    /// Runs of adjacent pages replaced together.
    pub runs: usize,
    /// Syscalls (or page-table updates) that changed a protection or a mapping.
    pub protection_calls: usize,
}

/// A commit that failed.
#[derive(Debug)]
pub struct CommitError<E> {
    /// Why.
    pub error: E,
    /// Whether every byte is as it was before the first stage. `false` means a torn image:
    /// the writer could not undo what it had done, and the engine reports it as such.
    pub restored: bool,
}

/// Writes staged bytes into executable text.
pub trait TextWriter {
    /// Why staging or committing failed.
    type Error: core::fmt::Debug + core::fmt::Display;

    /// Stages `bytes` at `addr`; nothing is visible before [`commit`](Self::commit).
    ///
    /// # Safety
    /// `addr..addr + bytes.len()` is code that this writer may replace; `bytes` are whole
    /// instructions, correct in every context that reaches them; from the commit until the
    /// code is next changed, nothing executes a partly written copy of it (no other thread
    /// runs it, or returns into it, while it changes).
    unsafe fn stage(&mut self, addr: u64, bytes: &[u8]) -> Result<(), Self::Error>;

    /// Drops everything staged; nothing was written.
    fn abort(&mut self);

    /// Makes every staged write visible at once and serialises instruction fetch; on error,
    /// leaves every byte as it was and says whether it could ([`CommitError::restored`]).
    fn commit(&mut self) -> Result<WriteStats, CommitError<Self::Error>>;
}

/// A failure to inject into a writer, so tests can prove that every transition commits whole
/// or leaves every byte as it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The `k`-th call of `stage` (from 0) fails.
    Stage(usize),
    /// The `k`-th step of the commit (from 0) fails: a run of pages replaced, or a write.
    Step(usize),
    /// Serialising instruction fetch after the last step fails.
    Serialise,
}

/// Counts a writer's stages and commit steps and fires the injected [`Fault`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    fault: Option<Fault>,
    stages: usize,
}

impl Faults {
    /// Fires `fault` once, when its point is reached.
    pub fn inject(&mut self, fault: Fault) {
        *self = Faults {
            fault: Some(fault),
            stages: 0,
        };
    }

    /// The fault that fails this stage, if any.
    pub fn stage(&mut self) -> Option<Fault> {
        self.stages += 1;
        self.fire(Fault::Stage(self.stages - 1))
    }

    /// The fault that fails commit step `k`, if any.
    pub fn step(&mut self, k: usize) -> Option<Fault> {
        self.fire(Fault::Step(k))
    }

    /// The fault that fails serialising, if any.
    pub fn serialise(&mut self) -> Option<Fault> {
        self.fire(Fault::Serialise)
    }

    /// A new transaction starts: stages count from 0 again.
    pub fn restart(&mut self) {
        self.stages = 0;
    }

    fn fire(&mut self, point: Fault) -> Option<Fault> {
        if self.fault == Some(point) {
            self.fault = None;
            return Some(point);
        }
        None
    }
}
