//! ia64 assembly templates: one source for the `asm!` the macro emits under
//! `cfg(target_arch = "ia64")` and for the `.S` file the catalogue writer produces. Text goes
//! to any [`core::fmt::Write`]; GNU as must assemble it in explicit mode (`as -x`).
//!
//! Every instruction gets a bundle of its own, with nops in the other slots and a stop right
//! after it: always correct, since dependencies never share an instruction group and
//! instructions that must end a group (`ptc.ga`, `srlz`) do. Sizes are therefore known before
//! assembly: 16 bytes per instruction.

use super::unit::{Unit, unit};
use crate::Binding;
use crate::record::{Dialect, Numbers, Record, Value};
use core::fmt::{self, Write};

/// How Xen implements an ia64 intrinsic.
#[derive(Clone, Copy, Debug)]
pub enum XenBody<'a> {
    /// The native body runs unchanged.
    Native,
    /// Nothing: the site becomes nop bundles.
    Nop,
    /// A replacement sequence under the same contract.
    Asm(&'a str),
    /// `break.m nr`: a hyperprivop with operands in r8, r9, r10, r11, r14.
    Hyperprivop(u32),
    /// A C function, called by the Xen routine (never copied into a site).
    Call(&'a str),
    /// A hypercall, `break 0x1000` with its number in r2, made by the Xen routine: Xen reads
    /// the arguments from the output registers of the routine's frame, so it is never copied
    /// into a site.
    Hypercall(u32, &'a [HypercallArg]),
}

/// An argument of an ia64 hypercall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HypercallArg {
    /// The value of a contract register (mask bit).
    Reg(u8),
    /// An integer constant.
    Const(u64),
}

/// Option 3's two call-site forms on ia64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// The seed's: load the slot into r2, `mov b1 = r2`, `br.call b0 = b1`. Clobbers r2, b0,
    /// b1 and (through `br.call`) ar.pfs; its routines may make C calls.
    Seed,
    /// Linux's `__PARAVIRT_BR`, 5 bundles: the slot holds a function descriptor, the stub
    /// switches gp to the callee's (keeping the caller's in r16) and back, branches with
    /// `br.cond b7` and gets control back through b6. Keeps b0 and ar.pfs (no new register
    /// frame), clobbers r2, r3, r16, r17, b6, b7; its routines end with `br.cond b6` and cannot
    /// call C (they have no frame of their own). Recommended.
    Linux,
}

/// An ia64 declaration as data: what the macro knows, kept in the binary so the `.S` writer
/// can regenerate the same text.
#[derive(Clone, Copy, Debug)]
pub struct Decl<'a> {
    /// The intrinsic's name.
    pub name: &'a str,
    /// Rust module path of the declaration, for comments in the `.S` file.
    pub module: &'a str,
    /// How call sites reach the intrinsic.
    pub binding: Binding,
    /// Only meaningful for option 3.
    pub form: Form,
    /// Mask bits (see [`super`]) of the register carrying each argument, in declaration order.
    pub args: &'a [u8],
    /// Mask bit of `reg`: carries argument 0 (unless overridden) and the result.
    pub carrier: Option<u8>,
    /// Mask of the declared clobbers.
    pub clobbers: u64,
    /// The native sequence, `;`/newline separated.
    pub native: &'a str,
    /// How Xen implements the intrinsic.
    pub xen: XenBody<'a>,
}

/// Layout of the descriptor block the `.S` writer emits per declaration into the
/// `pv_intrinsics` section (the `desc` field of its records points at it). Addresses are
/// absolute: ia64 images are linked at a fixed address.
pub mod desc {
    /// Native routine entry (option 4: its C adapter's function descriptor; option 3 in Linux's
    /// form: the routine's function descriptor, as its slot holds it).
    pub const NATIVE: usize = 0;
    /// Xen routine entry (option 4 and option 3 in Linux's form: function descriptor).
    pub const XEN: usize = 8;
    /// The ops slot.
    pub const SLOT: usize = 16;
    /// The Xen body copy, 0 if the Xen body is not a sequence.
    pub const XEN_BODY: usize = 24;
    /// Length in bytes of the Xen body copy (4 bytes).
    pub const XEN_LEN: usize = 32;
    /// Xen body kind, a [`crate::BodyKind`] code (4 bytes).
    pub const XEN_KIND: usize = 36;
    /// Address of the NUL-terminated name.
    pub const NAME: usize = 40;
    /// The binding (RFC option number), one byte.
    pub const BINDING: usize = 48;
    /// 1 for option 3 in Linux's form, whose NATIVE and XEN name function descriptors
    /// `{entry, gp}`, else 0; one byte, then padding.
    pub const FORM: usize = 49;
    /// Size of one block.
    pub const SIZE: usize = 56;
}

/// The module enclosing the one `path` names: a declaration's data lives in a module of its
/// own (`…::__pv_ia64_name`), whose `module_path!()` this turns into the declaring module's.
pub const fn enclosing(path: &str) -> &str {
    let bytes = path.as_bytes();
    let mut i = bytes.len();
    while i >= 2 {
        if bytes[i - 1] == b':' && bytes[i - 2] == b':' {
            let (head, _) = bytes.split_at(i - 2);
            // A prefix ending before an ASCII `::` is still UTF-8.
            if let Ok(head) = core::str::from_utf8(head) {
                return head;
            }
        }
        i -= 1;
    }
    path
}

pub use crate::sequence::instructions;

/// Bytes a sequence occupies: one bundle per instruction.
pub fn size(text: &str) -> usize {
    instructions(text).count() * 16
}

/// The first instruction of a sequence whose unit pv does not know.
pub fn unknown_unit(text: &str) -> Option<&str> {
    instructions(text).find(|i| unit(i).is_none())
}

/// One instruction in a bundle of its own, with a stop right after it (templates M;;MI,
/// MI;;I, MIB and MLX, each with a stop at the end too; MFI has no mid-bundle stop, so an F
/// instruction is followed by a nop first).
pub fn bundle(w: &mut impl Write, insn: &str) -> fmt::Result {
    // (template, slots) where "" is the instruction itself, followed by a stop.
    let (template, slots): (&str, &[&str]) = match unit(insn).unwrap_or(Unit::M) {
        Unit::M | Unit::A => (".mmi", &["", "nop.m 0", "nop.i 0"]),
        Unit::I => (".mii", &["nop.m 0", "", "nop.i 0"]),
        Unit::F => (".mfi", &["nop.m 0", "=", "nop.i 0"]),
        Unit::B => (".mib", &["nop.m 0", "nop.i 0", ""]),
        Unit::X => (".mlx", &["nop.m 0", ""]),
    };
    write!(w, "{{ {template}")?;
    let last = slots.len() - 1;
    for (i, slot) in slots.iter().enumerate() {
        match *slot {
            // The bundle's own stop follows the last slot.
            "" if i < last => write!(w, "\n\t{insn} ;;")?,
            "" | "=" => write!(w, "\n\t{insn}")?,
            nop => write!(w, "\n\t{nop}")?,
        }
    }
    w.write_str(" ;;\n}\n")
}

/// Marks the start of a code fragment that never follows the previous one in execution (a
/// routine, a site, a copied body), so that gas's dependency checker does not pair them.
pub fn fragment(w: &mut impl Write) -> fmt::Result {
    w.write_str("\t.serialize.data\n\t.serialize.instruction\n")
}

/// A bundle of nops: what pads a site.
pub fn nop_bundle(w: &mut impl Write) -> fmt::Result {
    bundle(w, "nop.m 0")
}

/// Each instruction of `text` in its own bundle.
pub fn bundles(w: &mut impl Write, text: &str) -> fmt::Result {
    instructions(text).try_for_each(|i| bundle(w, i))
}

impl Decl<'_> {
    /// The Xen body as bundles, if it is a sequence (a C call is not).
    pub fn xen_text(&self, w: &mut impl Write) -> Option<fmt::Result> {
        match self.xen {
            XenBody::Native => Some(bundles(w, self.native)),
            XenBody::Nop => Some(Ok(())),
            XenBody::Asm(text) => Some(bundles(w, text)),
            XenBody::Hyperprivop(nr) => Some(bundle(w, &hex("break.m ", nr))),
            XenBody::Call(_) | XenBody::Hypercall(..) => None,
        }
    }

    /// Bytes of the Xen body, if it is a sequence.
    pub fn xen_size(&self) -> Option<usize> {
        match self.xen {
            XenBody::Native => Some(size(self.native)),
            XenBody::Nop => Some(0),
            XenBody::Asm(text) => Some(size(text)),
            XenBody::Hyperprivop(_) => Some(16),
            XenBody::Call(_) | XenBody::Hypercall(..) => None,
        }
    }

    /// What the Xen body is.
    pub fn xen_kind(&self) -> crate::BodyKind {
        use crate::BodyKind;
        match self.xen {
            XenBody::Native => BodyKind::Native,
            XenBody::Nop => BodyKind::Nop,
            XenBody::Asm(_) => BodyKind::Asm,
            XenBody::Hyperprivop(_) => BodyKind::Hyperprivop,
            XenBody::Call(_) => BodyKind::Call,
            XenBody::Hypercall(..) => BodyKind::Hypercall,
        }
    }

    /// Whether this is option 3 in Linux's form.
    pub fn linux_form(&self) -> bool {
        self.binding == Binding::IndirectBranch && self.form == Form::Linux
    }

    /// How this declaration's routines return to the site.
    pub fn ret(&self) -> &'static str {
        if self.linux_form() {
            "br.cond.sptk.many b6"
        } else {
            "br.ret.sptk.many b0"
        }
    }

    /// Bytes of this declaration's call site.
    pub fn site_size(&self) -> usize {
        match self.binding {
            Binding::InlinePatch => size(self.native).max(self.xen_size().unwrap_or(0)).max(16),
            Binding::DirectBranch => 16,
            Binding::IndirectBranch if self.linux_form() => LINUX_STUB_BUNDLES * 16,
            Binding::IndirectBranch => 4 * 16,
            Binding::IndirectCall => 0,
        }
    }

    /// The call site, padded with nop bundles to [`Decl::site_size`], and its record: the
    /// text of a `.S` file.
    pub fn site(&self, w: &mut impl Write, s: &Symbols, probe: bool) -> fmt::Result {
        self.site_as(w, s, probe, Numbers::Literal)
    }

    /// [`Decl::site`], with the record's numbers written as `numbers` says: an `asm!`
    /// template takes them as `const` operands bound to [`Decl::record`]'s values.
    pub fn site_as(
        &self,
        w: &mut impl Write,
        s: &Symbols,
        probe: bool,
        numbers: Numbers,
    ) -> fmt::Result {
        fragment(w)?;
        writeln!(w, "{}", s.site.0)?;
        let used = match self.binding {
            Binding::InlinePatch => {
                bundles(w, self.native)?;
                size(self.native)
            }
            Binding::DirectBranch => {
                bundle(w, &concat("br.call.sptk.many b0=", s.native))?;
                16
            }
            Binding::IndirectBranch if self.linux_form() => {
                linux_stub(w, s.slot)?;
                LINUX_STUB_BUNDLES * 16
            }
            Binding::IndirectBranch => {
                bundle(w, &concat("movl r2=", s.slot))?;
                bundle(w, "ld8 r2=[r2]")?;
                bundle(w, "mov b1=r2")?;
                bundle(w, "br.call.sptk.many b0=b1")?;
                4 * 16
            }
            Binding::IndirectCall => return Ok(()),
        };
        for _ in used / 16..self.site_size() / 16 {
            nop_bundle(w)?;
        }
        self.copy_and_record(w, s, probe, numbers)
    }

    /// The site's record (layout in [`crate::record`]).
    pub fn record<'s>(&self, s: &Symbols<'s>, probe: bool) -> Record<'s> {
        use crate::record::{FLAG_IA64_LINUX_FORM, FLAG_PROBE, XEN_KIND_SHIFT};
        let flag = |set: bool, bit: u8| if set { bit } else { 0 };
        Record {
            flags: flag(probe, FLAG_PROBE)
                | flag(self.linux_form(), FLAG_IA64_LINUX_FORM)
                | (self.xen_kind() as u8) << XEN_KIND_SHIFT,
            arch: crate::Arch::Ia64,
            binding: self.binding,
            len: Value::Int(self.site_size() as u64),
            repl_len: Value::Int(size(self.native) as u64),
            site: s.site.1,
            repl: s.repl.1,
            desc: s.desc,
            uses: self.args.iter().fold(0u64, |m, b| m | 1 << b),
            defs: self.carrier.map_or(0, |b| 1u64 << b),
            clobbers: self.clobbers | self.implicit_clobbers(),
        }
    }

    /// The copy of the site's native body in `pv_repl`, then its record.
    fn copy_and_record(
        &self,
        w: &mut impl Write,
        s: &Symbols,
        probe: bool,
        numbers: Numbers,
    ) -> fmt::Result {
        writeln!(w, ".pushsection {},\"aR\"", crate::record::REPL_SECTION)?;
        writeln!(w, "\t.align 16\n{}", s.repl.0)?;
        fragment(w)?;
        bundles(w, self.native)?;
        writeln!(w, ".popsection")?;
        self.record(s, probe).write(w, Dialect::Ia64, numbers)
    }

    /// The binding's own and implicit clobbers, as a mask.
    pub fn implicit_clobbers(&self) -> u64 {
        Self::implicit_mask(self.binding, self.form)
    }

    /// A binding's own and implicit clobbers, as a mask.
    pub fn implicit_mask(binding: Binding, form: Form) -> u64 {
        super::own_clobbers(binding, form)
            .iter()
            .chain(super::implicit_clobbers(binding, form))
            .filter_map(|r| super::reg(r).and_then(|r| r.bit))
            .fold(0, |m, b| m | 1 << b)
    }
}

/// Bundles of option 3 in Linux's form ([`Form::Linux`]): Linux's `__PARAVIRT_BR`.
pub const LINUX_STUB_BUNDLES: usize = 5;

/// Option 3 in Linux's form: `__PARAVIRT_BR` of arch/ia64/include/asm/paravirt_privop.h (2009),
/// bundle for bundle, hand-packed as Linux has it rather than one instruction per
/// bundle. The slot holds the address of a function descriptor `{entry, gp}`; the stub loads
/// it, keeps the caller's gp in r16, branches with `br.cond` (no new frame: b0 and ar.pfs are
/// kept) to the entry with the callee's gp, the return address (`1f`, 3 bundles after the
/// `mov r17 = ip` bundle `1b`) in b6, and restores gp when the routine returns there. A
/// numeric label is local to the site in `asm!` and in a `.S` file alike.
fn linux_stub(w: &mut impl Write, slot: &str) -> fmt::Result {
    writeln!(w, "{{ .mlx\n\tnop.m 0\n\tmovl r2={slot} ;;\n}}")?;
    w.write_str(concat!(
        "1:\n",
        "{ .mii\n\tld8 r2=[r2]\n\tmov r17=ip\n\tmov r16=gp ;;\n}\n",
        "{ .mii\n\tld8 r3=[r2],8\n\tadds r17=1f-1b,r17 ;;\n\tmov b7=r3\n}\n",
        "{ .mib\n\tld8 gp=[r2]\n\tmov b6=r17\n\tbr.cond.sptk.few b7\n}\n",
        "1:\n",
        "{ .mii\n\tmov gp=r16\n\tnop.i 0\n\tnop.i 0 ;;\n}\n",
    ))
}

/// The symbols a site's text defines and refers to. Labels come as (definition, reference):
/// `("772:", "772b")` inside `asm!`, `(".Lpv3:", ".Lpv3")` in a `.S` file.
pub struct Symbols<'a> {
    /// Label of the call site.
    pub site: (&'a str, &'a str),
    /// Label of the native body copy in `pv_repl`.
    pub repl: (&'a str, &'a str),
    /// The native routine, target of option 2's `br.call`.
    pub native: &'a str,
    /// The ops slot option 3 loads.
    pub slot: &'a str,
    /// The intrinsic's descriptor block, named by the record.
    pub desc: &'a str,
}

/// `prefix` followed by `name`, without allocating: a fixed buffer large enough for pv's
/// generated names.
pub(crate) fn concat(prefix: &str, name: &str) -> Buf {
    let mut b = Buf::default();
    let _ = write!(b, "{prefix}{name}");
    b
}

pub(crate) fn hex(prefix: &str, n: u32) -> Buf {
    let mut b = Buf::default();
    let _ = write!(b, "{prefix}{n:#x}");
    b
}

/// A small stack string for one instruction or symbol.
pub(crate) struct Buf {
    bytes: [u8; 160],
    len: usize,
}

impl Default for Buf {
    fn default() -> Self {
        Buf {
            bytes: [0; 160],
            len: 0,
        }
    }
}

impl Write for Buf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > self.bytes.len() {
            return Err(fmt::Error);
        }
        self.bytes[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl fmt::Display for Buf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

/// One formatted instruction in a bundle of its own.
pub(crate) fn bundle_fmt(w: &mut impl Write, insn: fmt::Arguments) -> fmt::Result {
    let mut buf = Buf::default();
    buf.write_fmt(insn)?;
    bundle(w, &buf)
}

impl core::ops::Deref for Buf {
    type Target = str;
    fn deref(&self) -> &str {
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}
