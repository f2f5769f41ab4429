//! What the engine patches: an [`Image`] — a running process, a linked ELF file, a kernel's own
//! text — seen only through bounded reads. Every address a record or descriptor names is
//! checked against the image's ranges before it is read or written, so a corrupt record is
//! refused with a reason instead of faulting.

use pv_abi::Arch;

/// A range of addresses, `start..start + len`, with checked arithmetic. `repr(C)` because a
/// module hands its table spans to the main program across an `extern "C"` call
/// ([`crate::module::Tables`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Span {
    /// First address.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
}

impl Span {
    /// The range `start..start + len`.
    pub const fn new(start: u64, len: u64) -> Span {
        Span { start, len }
    }

    /// Whether `addr..addr + len` lies wholly inside this range (no overflow anywhere).
    #[inline]
    pub fn contains(&self, addr: u64, len: u64) -> bool {
        match (addr.checked_sub(self.start), addr.checked_add(len)) {
            (Some(offset), Some(_)) => offset <= self.len && len <= self.len - offset,
            _ => false,
        }
    }

    /// Whether `addr..addr + len` shares a byte with this range.
    #[inline]
    pub fn overlaps(&self, addr: u64, len: u64) -> bool {
        len > 0 && self.len > 0 && addr < self.end() && self.start < addr.saturating_add(len)
    }

    /// One past the last address (saturating).
    pub fn end(&self) -> u64 {
        self.start.saturating_add(self.len)
    }
}

/// The sections of pv's tables (names in [`pv_abi::record`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// `pv_sites`: the site records.
    Sites,
    /// `pv_repl`: the copies of native bodies.
    Repl,
    /// `pv_intrinsics`: the descriptors.
    Intrinsics,
    /// `pv_slots`: the ops-table slots.
    Slots,
    /// `pv_xen_bodies`: copies of Xen sequences (ia64).
    XenBodies,
    /// `pv_alternatives`: instructions chosen by CPU vendor (KVM's hypercall instruction).
    Alternatives,
    /// `pv_routines`: the routines pv generates, where no site may lie.
    Routines,
}

/// An image the engine reads (and, with a [`TextWriter`](crate::writer::TextWriter), patches).
pub trait Image {
    /// The architecture of the image's code.
    fn arch(&self) -> Arch;

    /// Where a section of pv's tables lies; an empty span if the image has none.
    fn section(&self, section: Section) -> Span;

    /// `len` bytes at `addr`, if the image holds all of them; `None` otherwise, never a fault.
    fn read(&self, addr: u64, len: usize) -> Option<&[u8]>;

    /// Whether `addr..addr + len` is code the engine may patch.
    fn is_text(&self, addr: u64, len: usize) -> bool;

    /// The pointer stored at `addr`, as the program sees it once loaded (a file applies its
    /// relocations here).
    fn pointer(&self, addr: u64) -> Option<u64> {
        Some(u64::from_le_bytes(self.read(addr, 8)?.try_into().ok()?))
    }

    /// Stores `value` in the slot at `addr`.
    ///
    /// # Safety
    /// `addr` is an 8-aligned slot inside [`Section::Slots`] (the engine checks both), `value`
    /// implements the slot's intrinsic under its binding's convention, and nothing calls
    /// through the slot while it changes.
    unsafe fn set_slot(&mut self, addr: u64, value: u64);

    /// Takes the image's transition lock: `false` if another transition holds it. An image
    /// borrowed mutably is exclusive already; a running process is not.
    fn lock(&self) -> bool {
        true
    }

    /// Releases the lock [`lock`](Self::lock) took.
    fn unlock(&self) {}
}

#[cfg(test)]
mod tests {
    use super::Span;

    #[test]
    fn span_containment_never_overflows() {
        let s = Span::new(0x1000, 0x100);
        assert!(s.contains(0x1000, 0x100));
        assert!(s.contains(0x10ff, 1));
        assert!(!s.contains(0x10ff, 2));
        assert!(!s.contains(0xfff, 1));
        assert!(!s.contains(u64::MAX, 2));
        assert!(!s.contains(0x1000, u64::MAX));
        assert!(Span::new(u64::MAX - 1, 1).contains(u64::MAX - 1, 1));
        assert!(!Span::new(u64::MAX - 1, 10).contains(u64::MAX, 1));
        assert!(s.overlaps(0xff0, 0x11) && s.overlaps(0x10ff, 5) && !s.overlaps(0x1100, 5));
        assert!(!s.overlaps(0xff0, 0x10) && !s.overlaps(0x1000, 0));
    }
}
