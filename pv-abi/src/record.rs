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
//!
//! [`FIELDS`] is that table as data, checked at compile time; [`Record::write`] emits a record
//! for either assembler from it, so the x86_64 macro and the ia64 templates share one writer.

use core::fmt::{self, Write};

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
/// Section holding every out-of-line routine pv generates (native routines, backend stubs,
/// option 4 adapters; not the probes, which hold sites): code, so that the engine can refuse a
/// site whose address lies inside one.
pub const ROUTINES_SECTION: &str = "pv_routines";

/// Alternatives: short instructions that the engine chooses by CPU vendor when it patches for
/// a hypervisor, as Linux's `ALTERNATIVE` does (KVM's `vmcall` or `vmmcall`).
///
/// Layout (16 bytes, 8-aligned): the instruction's address, PC-relative (8 bytes); its length
/// (1 byte); its kind (1 byte); padding.
pub mod alternative {
    /// Section holding the alternative records.
    pub const SECTION: &str = "pv_alternatives";
    /// Size of one record.
    pub const SIZE: usize = 16;
    /// Offset of the PC-relative address.
    pub const ADDR: usize = 0;
    /// Offset of the length.
    pub const LEN: usize = 8;
    /// Offset of the kind.
    pub const KIND: usize = 9;
    /// Kind: a hypervisor's hypercall instruction, `vmcall` as compiled (3 bytes).
    pub const HYPERCALL_INSTRUCTION: u8 = 1;
}

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

/// A field of the record, in layout order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// Magic `"pv"`.
    Magic,
    /// Layout version.
    Version,
    /// Flags: probe, ia64 Linux form, Xen kind.
    Flags,
    /// Arch code.
    Arch,
    /// Binding, as the RFC option number.
    Binding,
    /// Site length in bytes.
    Len,
    /// Length of the native body copy.
    ReplLen,
    /// Site address, PC-relative.
    Site,
    /// Native body copy in `pv_repl`, PC-relative.
    Repl,
    /// Intrinsic descriptor, PC-relative.
    Desc,
    /// Registers the site reads, arch register mask.
    Uses,
    /// Registers the site defines: result and argument 0.
    Defs,
    /// Registers the site may clobber.
    Clobbers,
}

impl Field {
    /// The field's name: the `asm!` operand that carries its value in a template.
    pub const fn name(self) -> &'static str {
        match self {
            Field::Magic => "magic",
            Field::Version => "version",
            Field::Flags => "flags",
            Field::Arch => "arch",
            Field::Binding => "binding",
            Field::Len => "len",
            Field::ReplLen => "repl_len",
            Field::Site => "site",
            Field::Repl => "repl",
            Field::Desc => "desc",
            Field::Uses => "uses",
            Field::Defs => "defs",
            Field::Clobbers => "clobbers",
        }
    }
}

/// The layout, written once: every field with its size in bytes, in order. Offsets are the
/// running sums ([`offset_of`]); the emitters, the runtime's parser and tools all derive from
/// this table.
pub const FIELDS: [(Field, usize); 13] = [
    (Field::Magic, 2),
    (Field::Version, 1),
    (Field::Flags, 1),
    (Field::Arch, 1),
    (Field::Binding, 1),
    (Field::Len, 1),
    (Field::ReplLen, 1),
    (Field::Site, 8),
    (Field::Repl, 8),
    (Field::Desc, 8),
    (Field::Uses, 8),
    (Field::Defs, 8),
    (Field::Clobbers, 8),
];

/// Offset of `field`: the sizes of the fields before it.
pub const fn offset_of(field: Field) -> usize {
    let mut at = 0;
    let mut i = 0;
    while i < FIELDS.len() {
        if FIELDS[i].0 as u8 == field as u8 {
            return at;
        }
        at += FIELDS[i].1;
        i += 1;
    }
    panic!("a field missing from FIELDS")
}

// The table must add up: every field naturally aligned (ia64 `data8` would otherwise align it
// silently and shift the rest), every field in it once, in enum order, and the sizes summing
// to `SIZE`, which stays a multiple of the section alignment so records tile the section.
const _: () = {
    let mut at: usize = 0;
    let mut i = 0;
    while i < FIELDS.len() {
        let (field, size) = FIELDS[i];
        assert!(field as usize == i, "FIELDS lists the fields in enum order");
        assert!(
            matches!(size, 1 | 2 | 4 | 8),
            "a field is 1, 2, 4 or 8 bytes"
        );
        assert!(at.is_multiple_of(size), "a field is naturally aligned");
        at += size;
        i += 1;
    }
    assert!(at == SIZE, "the field sizes add up to SIZE");
    assert!(SIZE.is_multiple_of(8), "records tile an 8-aligned section");
};

/// Field offsets, named once for the emitter, the runtime and tools (from [`FIELDS`]).
pub mod offset {
    use super::{Field, offset_of};
    /// Magic `"pv"` (2 bytes).
    pub const MAGIC: usize = offset_of(Field::Magic);
    /// Layout version (1 byte).
    pub const VERSION: usize = offset_of(Field::Version);
    /// Flags: probe, ia64 Linux form, Xen kind (1 byte).
    pub const FLAGS: usize = offset_of(Field::Flags);
    /// Arch code (1 byte).
    pub const ARCH: usize = offset_of(Field::Arch);
    /// Binding, as the RFC option number (1 byte).
    pub const BINDING: usize = offset_of(Field::Binding);
    /// Site length in bytes (1 byte).
    pub const LEN: usize = offset_of(Field::Len);
    /// Length of the native body copy (1 byte).
    pub const REPL_LEN: usize = offset_of(Field::ReplLen);
    /// Site address, PC-relative (8 bytes).
    pub const SITE: usize = offset_of(Field::Site);
    /// Native body copy in `pv_repl`, PC-relative (8 bytes).
    pub const REPL: usize = offset_of(Field::Repl);
    /// Intrinsic descriptor, PC-relative (8 bytes).
    pub const DESC: usize = offset_of(Field::Desc);
    /// Registers the site reads, arch register mask (8 bytes).
    pub const USES: usize = offset_of(Field::Uses);
    /// Registers the site defines: result and argument 0 (8 bytes).
    pub const DEFS: usize = offset_of(Field::Defs);
    /// Registers the site may clobber (8 bytes).
    pub const CLOBBERS: usize = offset_of(Field::Clobbers);
}

/// What an emitter puts into one field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// A number the emitter knows.
    Int(u64),
    /// An expression only the assembler can evaluate (a label difference), written as is.
    Expr(&'a str),
    /// A symbol whose PC-relative address the field holds: written `symbol - .`.
    PcRel(&'a str),
}

/// The assembler a record is written for; it chooses only the directive spellings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// GNU as syntax as LLVM's x86_64 assembler reads it (inside `asm!`).
    X86_64,
    /// GNU as for ia64 (`.S` files, and `asm!` templates under `cfg(target_arch = "ia64")`).
    Ia64,
}

impl Dialect {
    /// The directive emitting `size`-byte integers.
    pub const fn data(self, size: usize) -> &'static str {
        match (self, size) {
            (Dialect::X86_64, 1) => ".byte",
            (Dialect::X86_64, 2) => ".short",
            (Dialect::X86_64, 4) => ".long",
            (Dialect::X86_64, _) => ".quad",
            (Dialect::Ia64, 1) => "\tdata1",
            (Dialect::Ia64, 2) => "\tdata2",
            (Dialect::Ia64, 4) => "\tdata4",
            (Dialect::Ia64, _) => "\tdata8",
        }
    }

    /// The directive aligning to 8 bytes (ia64's `.align` counts bytes; `.balign` says so
    /// on x86_64, where `.align`'s meaning depends on the object format).
    pub const fn align8(self) -> &'static str {
        match self {
            Dialect::X86_64 => ".balign 8",
            Dialect::Ia64 => "\t.align 8",
        }
    }
}

/// How the record's [`Value::Int`] fields are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Numbers {
    /// As numbers: a `.S` file.
    Literal,
    /// As `{name}` (the [`Field::name`]) operands of an `asm!` template, so that an expansion
    /// says what each number is; the template's author binds each to `const` [`Record::value`].
    Operands,
}

/// One site's record: the values of the fields that differ between sites. Magic and version
/// are the constants above.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    /// `FLAG_*` bits and the Xen body kind.
    pub flags: u8,
    /// The site's architecture.
    pub arch: crate::Arch,
    /// The site's binding.
    pub binding: crate::Binding,
    /// Site length: a number, or the label difference the assembler computes.
    pub len: Value<'a>,
    /// Length of the native body copy, likewise.
    pub repl_len: Value<'a>,
    /// The site's label.
    pub site: &'a str,
    /// The native body copy's label.
    pub repl: &'a str,
    /// The descriptor's symbol.
    pub desc: &'a str,
    /// Registers the site reads.
    pub uses: u64,
    /// Registers the site defines.
    pub defs: u64,
    /// Registers the site may clobber.
    pub clobbers: u64,
}

impl<'a> Record<'a> {
    /// What `field` holds in this record.
    pub fn value(&self, field: Field) -> Value<'a> {
        match field {
            Field::Magic => Value::Int(MAGIC as u64),
            Field::Version => Value::Int(VERSION as u64),
            Field::Flags => Value::Int(self.flags as u64),
            Field::Arch => Value::Int(self.arch as u64),
            Field::Binding => Value::Int(self.binding as u64),
            Field::Len => self.len,
            Field::ReplLen => self.repl_len,
            Field::Site => Value::PcRel(self.site),
            Field::Repl => Value::PcRel(self.repl),
            Field::Desc => Value::PcRel(self.desc),
            Field::Uses => Value::Int(self.uses),
            Field::Defs => Value::Int(self.defs),
            Field::Clobbers => Value::Int(self.clobbers),
        }
    }

    /// The record in `SITES_SECTION`, one directive per run of equally sized fields; a
    /// PC-relative field gets a directive of its own, so that its `.` is its own address.
    pub fn write(&self, w: &mut impl Write, dialect: Dialect, numbers: Numbers) -> fmt::Result {
        writeln!(w, ".pushsection {SITES_SECTION},\"aR\"")?;
        writeln!(w, "{}", dialect.align8())?;
        let mut open: Option<usize> = None;
        for (field, size) in FIELDS {
            let value = self.value(field);
            let pc_rel = matches!(value, Value::PcRel(_));
            match open {
                Some(s) if s == size && !pc_rel => w.write_str(", ")?,
                Some(_) => write!(w, "\n{} ", dialect.data(size))?,
                None => write!(w, "{} ", dialect.data(size))?,
            }
            open = if pc_rel { Some(0) } else { Some(size) };
            match (value, numbers) {
                (Value::Int(_), Numbers::Operands) => write!(w, "{{{}}}", field.name())?,
                (Value::Int(n), Numbers::Literal) if size == 1 => write!(w, "{n}")?,
                (Value::Int(n), Numbers::Literal) => write!(w, "{n:#x}")?,
                (Value::Expr(e), _) => w.write_str(e)?,
                (Value::PcRel(symbol), _) => write!(w, "{symbol} - .")?,
            }
        }
        w.write_str("\n.popsection\n")
    }
}

#[cfg(test)]
mod tests {
    use super::{Dialect, Numbers, Record, Value, offset};
    use crate::{Arch, Binding};
    use core::fmt::{self, Write};

    /// A fixed buffer: pv-abi has no allocator.
    struct Text([u8; 512], usize);

    impl Write for Text {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let end = self.1 + s.len();
            let free = self.0.get_mut(self.1..end).ok_or(fmt::Error)?;
            free.copy_from_slice(s.as_bytes());
            self.1 = end;
            Ok(())
        }
    }

    fn write(dialect: Dialect, numbers: Numbers) -> Text {
        let record = Record {
            flags: 12,
            arch: Arch::Ia64,
            binding: Binding::InlinePatch,
            len: Value::Int(16),
            repl_len: Value::Expr("2f - 1f"),
            site: "s",
            repl: "r",
            desc: "d",
            uses: 0x100,
            defs: 0x100,
            clobbers: 0,
        };
        let mut text = Text([0; 512], 0);
        record.write(&mut text, dialect, numbers).unwrap();
        text
    }

    #[test]
    fn offsets_are_the_documented_layout() {
        let documented = [0, 2, 3, 4, 5, 6, 7, 8, 16, 24, 32, 40, 48];
        let derived = [
            offset::MAGIC,
            offset::VERSION,
            offset::FLAGS,
            offset::ARCH,
            offset::BINDING,
            offset::LEN,
            offset::REPL_LEN,
            offset::SITE,
            offset::REPL,
            offset::DESC,
            offset::USES,
            offset::DEFS,
            offset::CLOBBERS,
        ];
        assert_eq!(derived, documented);
    }

    #[test]
    fn one_writer_two_dialects() {
        let ia64 = write(Dialect::Ia64, Numbers::Literal);
        assert_eq!(
            core::str::from_utf8(&ia64.0[..ia64.1]).unwrap(),
            ".pushsection pv_sites,\"aR\"\n\t.align 8\n\tdata2 0x7670\n\
             \tdata1 1, 12, 2, 1, 16, 2f - 1f\n\tdata8 s - .\n\tdata8 r - .\n\tdata8 d - .\n\
             \tdata8 0x100, 0x100, 0x0\n.popsection\n"
        );
        let x86 = write(Dialect::X86_64, Numbers::Operands);
        assert_eq!(
            core::str::from_utf8(&x86.0[..x86.1]).unwrap(),
            ".pushsection pv_sites,\"aR\"\n.balign 8\n.short {magic}\n\
             .byte {version}, {flags}, {arch}, {binding}, {len}, 2f - 1f\n.quad s - .\n\
             .quad r - .\n.quad d - .\n.quad {uses}, {defs}, {clobbers}\n.popsection\n"
        );
    }
}
