//! The x86_64 pv register ABI as data.
//!
//! A register's mask bit is its hardware encoding (rax = 0 ... r15 = 15); the flags register is
//! bit 16. Masks in site records and descriptors use these bits.

use crate::Binding;

/// What a register may be used for in a declaration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// A general-purpose register: may carry arguments, the result, or be clobbered.
    General,
    /// RFLAGS: every site may clobber it (a site may become a call); never an operand.
    Flags,
}

/// Who preserves a register across an ordinary (System V) call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Saved {
    /// The caller: a C callee may clobber it.
    Caller,
    /// The callee: a C callee preserves it.
    Callee,
    /// Reserved by the compiler or the stack discipline: never an operand or a clobber;
    /// a sequence that needs it saves and restores it itself.
    Reserved(&'static str),
}

/// One register of the x86_64 file.
#[derive(Clone, Copy, Debug)]
pub struct Reg {
    /// Name as written in `reg = "..."` and `clobber = [...]`.
    pub name: &'static str,
    /// Mask bit (hardware encoding for general registers).
    pub bit: u8,
    /// What the register may be used for.
    pub class: Class,
    /// Who preserves it across a C call; for reserved registers, why.
    pub saved: Saved,
}

const fn gpr(name: &'static str, bit: u8, saved: Saved) -> Reg {
    Reg {
        name,
        bit,
        class: Class::General,
        saved,
    }
}

/// The register file, in encoding order.
pub const REGS: [Reg; 17] = [
    gpr("rax", 0, Saved::Caller),
    gpr("rcx", 1, Saved::Caller),
    gpr("rdx", 2, Saved::Caller),
    gpr(
        "rbx",
        3,
        Saved::Reserved(
            "LLVM uses rbx internally; a sequence that needs it (cpuid) saves it itself",
        ),
    ),
    gpr("rsp", 4, Saved::Reserved("it is the stack pointer")),
    gpr("rbp", 5, Saved::Reserved("it is the frame pointer")),
    gpr("rsi", 6, Saved::Caller),
    gpr("rdi", 7, Saved::Caller),
    gpr("r8", 8, Saved::Caller),
    gpr("r9", 9, Saved::Caller),
    gpr("r10", 10, Saved::Caller),
    gpr("r11", 11, Saved::Caller),
    gpr("r12", 12, Saved::Callee),
    gpr("r13", 13, Saved::Callee),
    gpr("r14", 14, Saved::Callee),
    gpr("r15", 15, Saved::Callee),
    Reg {
        name: "rflags",
        bit: 16,
        class: Class::Flags,
        saved: Saved::Caller,
    },
];

/// Mask bit of the flags register.
pub const FLAGS: u64 = 1 << 16;

/// Looks a register up by name.
pub fn reg(name: &str) -> Option<&'static Reg> {
    REGS.iter().find(|r| r.name == name)
}

/// Name of the general register with mask bit `bit`.
pub fn reg_name(bit: u8) -> &'static str {
    REGS.iter().find(|r| r.bit == bit).map_or("?", |r| r.name)
}

/// Mask of a list of register bits.
pub const fn mask(bits: &[u8]) -> u64 {
    let mut m = 0;
    let mut i = 0;
    while i < bits.len() {
        m |= 1 << bits[i];
        i += 1;
    }
    m
}

/// pv argument order after `reg`: the System V order, so an intrinsic declared with
/// `reg = "rdi"` passes its arguments exactly like a C call. `reg` itself is skipped.
pub const PV_ARG_ORDER: [&str; 6] = ["rdi", "rsi", "rdx", "rcx", "r8", "r9"];

/// System V integer argument registers (bits), used by option 4 and by calls of Xen functions.
pub const C_ARGS: [u8; 6] = [7, 6, 2, 1, 8, 9];
/// System V result register (rax).
pub const C_RESULT: u8 = 0;
/// Registers a C callee may clobber (rax rcx rdx rsi rdi r8-r11 and flags).
pub const C_CLOBBERS: u64 = mask(&[0, 1, 2, 6, 7, 8, 9, 10, 11]) | FLAGS;
/// Registers a C callee must preserve that a site contract may still clobber (r12-r15).
pub const C_PRESERVED_USABLE: u64 = mask(&[12, 13, 14, 15]);

/// Xen x86_64 hypercall argument registers: rdi, rsi, rdx, r10, r8 (result in rax).
pub const XEN_ARGS: [u8; 5] = [7, 6, 2, 10, 8];
/// Registers a hypercall through the hypercall page may clobber, as pv assumes it: the
/// `syscall`-clobbered rcx and r11, rax, and the argument registers (debug Xen builds
/// deliberately scramble unused argument registers); r9 as well, conservatively.
pub const XEN_CLOBBERS: u64 = C_CLOBBERS;

/// Bytes of `call rel32`: the smallest room a patchable site must have.
pub const CALL_REL32_LEN: usize = 5;
/// Bytes of `call qword ptr [rip + disp32]`: the option 3 site.
pub const CALL_RIP_LEN: usize = 6;

/// What a site of one binding holds as compiled (before any patching).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SiteForm {
    /// The native body itself, inline (option 1).
    Native,
    /// A call instruction of `len` bytes, written as the `asm!` template line `template`, which
    /// names its target as the operand `{native}` (the native routine) or `{slot}` (the ops
    /// slot).
    Call {
        /// The instruction as an `asm!` template line.
        template: &'static str,
        /// Its length in bytes.
        len: usize,
    },
}

/// One binding's x86_64 facts: what its site holds and what every use of it clobbers beyond
/// the declared contract. The macro writes sites and contracts from it and the engine checks
/// site lengths against it, so the two cannot disagree about a binding (ia64's counterpart is
/// [`crate::ia64::BINDINGS`]).
#[derive(Clone, Copy, Debug)]
pub struct BindingRow {
    /// The binding the row describes.
    pub binding: Binding,
    /// The site as compiled; `None` for option 4, which is a plain C call with no site.
    pub site: Option<SiteForm>,
    /// Registers every use clobbers without being declared: flags for a site (any site may
    /// become a call), the C caller-saved set for option 4.
    pub implicit_clobbers: u64,
}

impl BindingRow {
    /// The bytes a site must have: its call's, and never less than a `call rel32`, the call
    /// every site may become.
    pub const fn room(&self) -> usize {
        match self.site {
            Some(SiteForm::Call { len, .. }) if len > CALL_REL32_LEN => len,
            _ => CALL_REL32_LEN,
        }
    }
}

/// The four bindings on x86_64, in RFC order (index = option number - 1).
pub const BINDINGS: [BindingRow; 4] = [
    BindingRow {
        binding: Binding::InlinePatch,
        site: Some(SiteForm::Native),
        implicit_clobbers: FLAGS,
    },
    BindingRow {
        binding: Binding::DirectBranch,
        site: Some(SiteForm::Call {
            template: "call {native}",
            len: CALL_REL32_LEN,
        }),
        implicit_clobbers: FLAGS,
    },
    BindingRow {
        binding: Binding::IndirectBranch,
        site: Some(SiteForm::Call {
            template: "call qword ptr [rip + {slot}]",
            len: CALL_RIP_LEN,
        }),
        implicit_clobbers: FLAGS,
    },
    BindingRow {
        binding: Binding::IndirectCall,
        site: None,
        implicit_clobbers: C_CLOBBERS,
    },
];

/// The row of `binding`.
pub const fn binding(binding: Binding) -> &'static BindingRow {
    &BINDINGS[binding as usize - 1]
}

/// The recommended multi-byte nops (Intel SDM), index = length - 1. Both the macro (initial
/// padding) and the engine (padding after patching) use exactly these, so a pristine site and
/// a re-planned one compare byte for byte.
pub const NOPS: [&[u8]; 9] = [
    &[0x90],
    &[0x66, 0x90],
    &[0x0f, 0x1f, 0x00],
    &[0x0f, 0x1f, 0x40, 0x00],
    &[0x0f, 0x1f, 0x44, 0x00, 0x00],
    &[0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00],
    &[0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00],
    &[0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
    &[0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
];

/// Fills `buf` with the fewest nops from [`NOPS`] (longest first). Inlined: the engine pads
/// every site it plans, mostly with nothing or one nop.
#[inline]
pub fn fill_nops(buf: &mut [u8]) {
    let mut rest = buf;
    while !rest.is_empty() {
        let n = rest.len().min(NOPS.len());
        // Byte by byte: at most nine, where a call of `memcpy` would cost more.
        for (to, from) in rest[..n].iter_mut().zip(NOPS[n - 1]) {
            *to = *from;
        }
        rest = &mut rest[n..];
    }
}

/// The value of a `.fill 1, n, value` directive that emits the `n`-byte `nop` (bytes beyond
/// the fourth must be zero). Both GNU as and LLVM take a `.fill` value as an 8-byte
/// little-endian number of which only the low 4 bytes can be given, and emit its first `n`
/// bytes: so a nop of up to 4 bytes, or a longer one ending in zeros, is one integer.
pub const fn fill_value(nop: &[u8]) -> u32 {
    assert!(nop.len() <= 8, "a .fill unit is at most 8 bytes");
    let mut value = 0;
    let mut i = 0;
    while i < nop.len() {
        if i < 4 {
            value |= (nop[i] as u32) << (8 * i);
        } else {
            assert!(nop[i] == 0, "a .fill value has only 4 non-zero bytes");
        }
        i += 1;
    }
    value
}

/// Padding of a site shorter than [`CALL_REL32_LEN`], by its length `k` (the index): the
/// `.fill` value of the one nop of `CALL_REL32_LEN - k` bytes that [`fill_nops`] writes there.
/// A nop that could not be written so fails the build here.
pub const CALL_PADDING: [u32; CALL_REL32_LEN] = {
    let mut values = [0; CALL_REL32_LEN];
    let mut k = 0;
    while k < CALL_REL32_LEN {
        values[k] = fill_value(NOPS[CALL_REL32_LEN - k - 1]);
        k += 1;
    }
    values
};

/// Every name of each general register (64/32/16/8-bit), by mask bit: what a sequence may
/// write through.
pub const ALIASES: [&[&str]; 16] = [
    &["rax", "eax", "ax", "al", "ah"],
    &["rcx", "ecx", "cx", "cl", "ch"],
    &["rdx", "edx", "dx", "dl", "dh"],
    &["rbx", "ebx", "bx", "bl", "bh"],
    &["rsp", "esp", "sp", "spl"],
    &["rbp", "ebp", "bp", "bpl"],
    &["rsi", "esi", "si", "sil"],
    &["rdi", "edi", "di", "dil"],
    &["r8", "r8d", "r8w", "r8b"],
    &["r9", "r9d", "r9w", "r9b"],
    &["r10", "r10d", "r10w", "r10b"],
    &["r11", "r11d", "r11w", "r11b"],
    &["r12", "r12d", "r12w", "r12b"],
    &["r13", "r13d", "r13w", "r13b"],
    &["r14", "r14d", "r14w", "r14b"],
    &["r15", "r15d", "r15w", "r15b"],
];

/// The general register (mask bit) an operand names, if it is one.
pub fn gpr_of(operand: &str) -> Option<u8> {
    let operand = operand.trim();
    ALIASES
        .iter()
        .position(|names| names.contains(&operand))
        .map(|b| b as u8)
}

/// Registers instructions write without naming them, by mnemonic (Intel SDM vol. 2, each
/// instruction's "Operation").
pub const IMPLICIT_WRITES: [(&str, &[u8]); 23] = [
    ("rdtsc", &[0, 2]),
    ("rdtscp", &[0, 1, 2]),
    ("cpuid", &[0, 1, 2, 3]),
    ("rdmsr", &[0, 2]),
    ("rdpmc", &[0, 2]),
    ("rdpkru", &[0, 2]),
    ("xgetbv", &[0, 2]),
    ("cqo", &[2]),
    ("cdq", &[2]),
    ("cwd", &[2]),
    ("cdqe", &[0]),
    ("cwde", &[0]),
    ("cbw", &[0]),
    ("lahf", &[0]),
    ("syscall", &[1, 11]),
    ("xlatb", &[0]),
    ("xlat", &[0]),
    ("loop", &[1]),
    ("loope", &[1]),
    ("loopz", &[1]),
    ("loopne", &[1]),
    ("loopnz", &[1]),
    ("cmpxchg16b", &[0, 2]),
];

/// String instructions and the registers they write; under a `rep` prefix also rcx.
pub const STRING_WRITES: [(&str, &[u8]); 25] = [
    ("lodsb", &[0, 6]),
    ("lodsw", &[0, 6]),
    ("lodsd", &[0, 6]),
    ("lodsq", &[0, 6]),
    ("stosb", &[7]),
    ("stosw", &[7]),
    ("stosd", &[7]),
    ("stosq", &[7]),
    ("movsb", &[6, 7]),
    ("movsw", &[6, 7]),
    ("movsq", &[6, 7]),
    ("cmpsb", &[6, 7]),
    ("cmpsw", &[6, 7]),
    ("cmpsd", &[6, 7]),
    ("cmpsq", &[6, 7]),
    ("scasb", &[7]),
    ("scasw", &[7]),
    ("scasd", &[7]),
    ("scasq", &[7]),
    ("insb", &[7]),
    ("insw", &[7]),
    ("insd", &[7]),
    ("outsb", &[6]),
    ("outsw", &[6]),
    ("outsd", &[6]),
];

/// Instructions that write their first operand (when it is a general register) and no other
/// operand; `cmov*` and `set*` are matched by prefix. `movsd` here is the SSE move (with
/// operands), the string `movsd` has none.
pub const WRITES_FIRST: [&str; 42] = [
    "mov", "movabs", "movzx", "movsx", "movsxd", "lea", "add", "sub", "adc", "sbb", "and", "or",
    "xor", "not", "neg", "inc", "dec", "shl", "sal", "shr", "sar", "rol", "ror", "rcl", "rcr",
    "shld", "shrd", "bswap", "pop", "popcnt", "lzcnt", "tzcnt", "bsf", "bsr", "bts", "btr", "btc",
    "rdrand", "rdseed", "in", "andn", "movd",
];

/// Instructions that write no general register at all (flags, memory or machine state only).
pub const WRITES_NONE: [&str; 37] = [
    "cmp", "test", "bt", "push", "pushfq", "popfq", "out", "nop", "pause", "ud2", "int3", "cli",
    "sti", "hlt", "invlpg", "invpcid", "lidt", "lgdt", "lldt", "ltr", "lmsw", "clts", "wrmsr",
    "wbinvd", "invd", "wrpkru", "xsetbv", "mfence", "lfence", "sfence", "vmcall", "vmmcall",
    "swapgs", "jmp", "call", "ret", "clflush",
];

/// The general registers (mask) `insn` writes, or `None` when the table does not know the
/// instruction: then the byte check (`pv-sites --check`, from iced-x86's instruction info)
/// decides, and the macro reports nothing. Conditional writes count (`cmpxchg` may write rax):
/// the register may change. rsp is included where an instruction moves the stack.
pub fn writes(insn: &str) -> Option<u64> {
    let mut rest = insn.trim();
    let mut rep = false;
    loop {
        let (word, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let is = |w: &str| word.eq_ignore_ascii_case(w);
        if is("rep") || is("repe") || is("repz") || is("repne") || is("repnz") {
            rep = true;
        } else if !is("lock") {
            return writes_one(word, tail.trim(), rep);
        }
        rest = tail.trim_start();
    }
}

fn find<'t>(table: &'t [(&str, &[u8])], mnemonic: &str) -> Option<&'t [u8]> {
    table
        .iter()
        .find(|(m, _)| m.eq_ignore_ascii_case(mnemonic))
        .map(|(_, r)| *r)
}

fn writes_one(mnemonic: &str, operands: &str, rep: bool) -> Option<u64> {
    let operand = |i: usize| {
        operands
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .nth(i)
    };
    let count = operands.split(',').filter(|o| !o.trim().is_empty()).count();
    let reg = |i: usize| operand(i).and_then(gpr_named).map_or(0, |b| 1 << b);
    let bits = |b: &[u8]| b.iter().fold(0u64, |m, r| m | 1 << r);
    let is = |w: &str| mnemonic.eq_ignore_ascii_case(w);
    let stack = 1 << 4;
    // String instructions (the string `movsd` has no operands; with them it is SSE's move).
    let string = match find(&STRING_WRITES, mnemonic) {
        Some(r) => Some(bits(r)),
        None if is("movsd") && count == 0 => Some(bits(&[6, 7])),
        None => None,
    };
    if let Some(mask) = string {
        return Some(mask | if rep { bits(&[1]) } else { 0 });
    }
    if let Some(r) = find(&IMPLICIT_WRITES, mnemonic) {
        return Some(bits(r));
    }
    let listed = |table: &[&str]| table.iter().any(|m| is(m));
    let starts = |p: &str| {
        mnemonic.len() > p.len()
            && mnemonic
                .get(..p.len())
                .is_some_and(|m| m.eq_ignore_ascii_case(p))
    };
    Some(if listed(&["push", "pushfq", "popfq", "call", "ret"]) {
        stack
    } else if is("pop") {
        stack | reg(0)
    } else if listed(&["mul", "div", "idiv", "imul"]) && count == 1 {
        // One operand: rdx:rax (or ax alone for a byte operand) gets the result.
        let byte = operand(0).is_some_and(|o| {
            o.get(..4).is_some_and(|w| w.eq_ignore_ascii_case("byte")) || is_byte_register(o)
        });
        if byte { bits(&[0]) } else { bits(&[0, 2]) }
    } else if is("imul") {
        reg(0)
    } else if is("xchg") || is("xadd") {
        reg(0) | reg(1)
    } else if is("cmpxchg") {
        reg(0) | bits(&[0])
    } else if is("cmpxchg8b") {
        bits(&[0, 2])
    } else if is("enter") || is("leave") {
        stack | bits(&[5])
    } else if listed(&WRITES_FIRST) || starts("cmov") || starts("set") {
        reg(0)
    } else if listed(&WRITES_NONE) || starts("j") {
        0
    } else {
        return None;
    })
}

/// The general register (mask bit) an operand names, in any case.
fn gpr_named(operand: &str) -> Option<u8> {
    ALIASES
        .iter()
        .position(|names| names.iter().any(|n| n.eq_ignore_ascii_case(operand)))
        .map(|b| b as u8)
}

/// Byte registers: a one-operand `mul`/`div` of one writes only ax.
fn is_byte_register(operand: &str) -> bool {
    ALIASES
        .iter()
        .any(|names| names[3..].iter().any(|n| n.eq_ignore_ascii_case(operand)))
}
/// Instructions that need CPL 0 (or IOPL), with why: what a deprivileged kernel cannot run
/// natively (Intel SDM vol. 3A §2.8 "System instruction summary", §5.9 "Privileged
/// instructions"; the I/O and interrupt-flag instructions are IOPL-sensitive, §19.5).
pub const PRIVILEGED: [(&str, &str); 30] = [
    ("cli", "it clears the interrupt flag"),
    ("sti", "it sets the interrupt flag"),
    ("hlt", "it halts the CPU"),
    ("in", "it reads an I/O port"),
    ("ins", "it reads an I/O port"),
    ("insb", "it reads an I/O port"),
    ("insw", "it reads an I/O port"),
    ("insd", "it reads an I/O port"),
    ("out", "it writes an I/O port"),
    ("outs", "it writes an I/O port"),
    ("outsb", "it writes an I/O port"),
    ("outsw", "it writes an I/O port"),
    ("outsd", "it writes an I/O port"),
    ("rdmsr", "it reads a model-specific register"),
    ("wrmsr", "it writes a model-specific register"),
    ("rdpmc", "it reads a performance counter"),
    ("lgdt", "it loads the GDT"),
    ("lidt", "it loads the IDT"),
    ("lldt", "it loads the LDT"),
    ("ltr", "it loads the task register"),
    ("lmsw", "it writes cr0"),
    ("clts", "it writes cr0"),
    ("invlpg", "it flushes a TLB entry"),
    ("invpcid", "it flushes TLB entries"),
    ("invd", "it invalidates the caches"),
    ("wbinvd", "it writes back and invalidates the caches"),
    ("swapgs", "it swaps the gs base"),
    ("sysret", "it returns to user mode"),
    ("xsetbv", "it writes an extended control register"),
    ("mov", "it moves to or from a control or debug register"),
];

/// Why `insn` needs CPL 0, if it does. `mov` counts only with a control or debug register
/// operand.
pub fn privileged(insn: &str) -> Option<&'static str> {
    let mnemonic = crate::sequence::mnemonic(insn);
    let (_, why) = PRIVILEGED
        .iter()
        .find(|(m, _)| m.eq_ignore_ascii_case(mnemonic))?;
    if !mnemonic.eq_ignore_ascii_case("mov") {
        return Some(why);
    }
    let operands = insn.split_once(mnemonic).map_or("", |(_, rest)| rest);
    let special = |o: &str| {
        let o = o.trim();
        o.len() >= 3
            && (o[..2].eq_ignore_ascii_case("cr") || o[..2].eq_ignore_ascii_case("dr"))
            && o[2..].chars().all(|c| c.is_ascii_digit())
    };
    operands.split(',').any(special).then_some(why)
}

#[cfg(test)]
mod tests {
    #[test]
    fn binding_rows_are_in_rfc_order_and_agree_on_sites() {
        for (row, binding) in super::BINDINGS.iter().zip(crate::Binding::ALL) {
            assert_eq!(row.binding, binding);
            assert_eq!(super::binding(binding).binding, binding);
            assert_eq!(row.site.is_some(), binding.has_site());
        }
    }

    use super::{CALL_PADDING, CALL_REL32_LEN, NOPS, fill_nops, fill_value, privileged};

    #[test]
    fn privileged_instructions_are_known_by_mnemonic_and_operand() {
        for insn in [
            "cli",
            "STI",
            "hlt",
            "out 0x80, al",
            "in al, dx",
            "wrmsr",
            "lidt [rdi]",
        ] {
            assert!(privileged(insn).is_some(), "{insn}");
        }
        for insn in [
            "mov rax, cr3",
            "mov cr4, rdi",
            "mov dr7, rax",
            "MOV RAX, CR0",
        ] {
            assert!(privileged(insn).is_some(), "{insn}");
        }
        for insn in [
            "mov rax, rcx",
            "mov crx, rax",
            "rdtsc",
            "cpuid",
            "lea rax, [rax + 1]",
        ] {
            assert!(privileged(insn).is_none(), "{insn}");
        }
    }

    /// What `.fill 1, size, value` emits: the first `size` bytes of `value` as an 8-byte
    /// little-endian number whose high 4 bytes are zero (GNU as manual; LLVM's `MCFillFragment`
    /// does the same for a value that fits in 32 bits).
    fn fill(size: usize, value: u32) -> [u8; 8] {
        let mut bytes = u64::from(value).to_le_bytes();
        bytes[size..].fill(0xcc);
        bytes
    }

    /// `nop` followed by the filler [`fill`] puts after its `size` bytes.
    fn padded(nop: &[u8]) -> [u8; 8] {
        let mut bytes = [0xcc; 8];
        bytes[..nop.len()].copy_from_slice(nop);
        bytes
    }

    #[test]
    fn call_padding_emits_exactly_the_engines_nops() {
        for (k, value) in CALL_PADDING.iter().enumerate() {
            let mut buf = [0; CALL_REL32_LEN];
            let nops = &mut buf[..CALL_REL32_LEN - k];
            fill_nops(nops);
            assert_eq!(fill(nops.len(), *value), padded(nops), "site of {k} bytes");
        }
    }

    #[test]
    fn fill_value_round_trips_every_representable_nop() {
        let representable = |n: &&&[u8]| n.len() <= 8 && n.iter().skip(4).all(|b| *b == 0);
        for nop in NOPS.iter().filter(representable) {
            assert_eq!(fill(nop.len(), fill_value(nop)), padded(nop));
        }
    }
}
