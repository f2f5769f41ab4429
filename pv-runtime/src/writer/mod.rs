//! How patched bytes reach the text. The engine stages every write of a transition, then
//! commits once; a writer must make each commit all-or-nothing per site and serialise
//! instruction fetch before returning. A kernel supplies its own (a `text_poke`-like writer);
//! userland uses [`RemapWriter`].

#[cfg(feature = "std")]
mod remap;
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

/// Writes staged bytes into executable text.
pub trait TextWriter {
    /// Why staging or committing failed.
    type Error: core::fmt::Debug + core::fmt::Display;

    /// Stages `bytes` at `addr`; nothing needs to be visible before [`commit`](Self::commit).
    fn stage(&mut self, addr: usize, bytes: &[u8]) -> Result<(), Self::Error>;

    /// Makes every staged write visible, serialises instruction fetch, and starts afresh.
    fn commit(&mut self) -> Result<WriteStats, Self::Error>;
}
