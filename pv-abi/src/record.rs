//! The patch-site record: one per call site, emitted from inside the site's `asm!` into the
//! `pv_sites` section and read by the runtime and by review tools.
//!
//! Layout, version 1 (56 bytes, 8-aligned, little-endian; every address field is PC-relative,
//! `target - address of the field`, so the section needs no dynamic relocation under PIE and a
//! tool can resolve it from the file alone):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 2 | magic `MAGIC` |
//! | 2 | 1 | version `VERSION` |
//! | 3 | 1 | flags (`FLAG_PROBE`, `FLAG_IA64_LINUX_FORM`, Xen kind in bits 2-4) |
//! | 4 | 1 | arch code ([`crate::Arch`]) |
//! | 5 | 1 | binding (RFC option number) |
//! | 6 | 1 | site length in bytes |
//! | 7 | 1 | length of the native body copy |
//! | 8 | 8 | site address, PC-relative |
//! | 16 | 8 | native body copy (in `pv_repl`), PC-relative |
//! | 24 | 8 | intrinsic descriptor, PC-relative |
//! | 32 | 8 | registers the site reads (arch register mask) |
//! | 40 | 8 | registers the site defines (result, argument 0) |
//! | 48 | 8 | registers the site may clobber |

/// Section holding the records; a C identifier so the linker defines `__start_`/`__stop_`.
pub const SITES_SECTION: &str = "pv_sites";
/// Section holding a copy of each site's native body (the bytes `apply(Native)` writes).
pub const REPL_SECTION: &str = "pv_repl";
/// Section holding the intrinsic descriptors (one per x86_64 declaration).
pub const INTRINSICS_SECTION: &str = "pv_intrinsics";
/// Section holding the ops-table slots (8 bytes each), so the engine can check that a slot a
/// descriptor names is one before it switches it.
pub const SLOTS_SECTION: &str = "pv_slots";
/// Section holding ia64 Xen body copies (the bytes `apply(Xen)` copies into sites).
pub const XEN_BODIES_SECTION: &str = "pv_xen_bodies";
/// Section holding ia64 declarations as data (`pv_abi::ia64::asm::Decl`), on any host.
pub const IA64_DECLS_SECTION: &str = "pv_ia64_decls";

/// `"pv"` in little-endian byte order.
pub const MAGIC: u16 = u16::from_le_bytes(*b"pv");
/// Bumped whenever the layout above changes; readers refuse other versions.
pub const VERSION: u8 = 1;
/// Set on the self-test probe site that every intrinsic carries.
pub const FLAG_PROBE: u8 = 1;
/// Set on ia64 option 3 sites in Linux's form (`br.cond b7`, return address in b6).
pub const FLAG_IA64_LINUX_FORM: u8 = 2;
/// Flag bits 2-4 hold the intrinsic's Xen body kind ([`crate::BodyKind`] code), so a tool can
/// plan Xen from the record alone.
pub const XEN_KIND_SHIFT: u8 = 2;
/// Size of one record.
pub const SIZE: usize = 56;
/// Largest site a record can describe (the length field is one byte, the engine buffers 64).
pub const MAX_SITE_LEN: usize = 64;

/// Field offsets, named once for the emitter, the runtime and tools.
pub mod offset {
    /// Magic `"pv"` (2 bytes).
    pub const MAGIC: usize = 0;
    /// Layout version (1 byte).
    pub const VERSION: usize = 2;
    /// Flags: probe, ia64 Linux form, Xen kind (1 byte).
    pub const FLAGS: usize = 3;
    /// Arch code (1 byte).
    pub const ARCH: usize = 4;
    /// Binding, as the RFC option number (1 byte).
    pub const BINDING: usize = 5;
    /// Site length in bytes (1 byte).
    pub const LEN: usize = 6;
    /// Length of the native body copy (1 byte).
    pub const REPL_LEN: usize = 7;
    /// Site address, PC-relative (8 bytes).
    pub const SITE: usize = 8;
    /// Native body copy in `pv_repl`, PC-relative (8 bytes).
    pub const REPL: usize = 16;
    /// Intrinsic descriptor, PC-relative (8 bytes).
    pub const DESC: usize = 24;
    /// Registers the site reads, arch register mask (8 bytes).
    pub const USES: usize = 32;
    /// Registers the site defines: result and argument 0 (8 bytes).
    pub const DEFS: usize = 40;
    /// Registers the site may clobber (8 bytes).
    pub const CLOBBERS: usize = 48;
}
