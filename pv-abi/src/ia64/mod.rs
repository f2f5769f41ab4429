//! The ia64 pv register ABI as data: the register file by ranges, the pv argument order, what
//! each binding clobbers itself, and Xen/ia64's hyperprivops.
//!
//! Mask bits (contracts, records): r0-r31 → 0-31, b0-b7 → 32-39, p0-p15 → 40-55, and the
//! application registers of [`APP_REGS`] from 56 on. Registers without a bit (stacked r32-r127,
//! rotating p16-p63) can never appear in a contract.

use crate::Binding;

pub mod asm;
pub mod file;
pub mod unit;

/// Register classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// General registers r0-r127: carry values.
    General,
    /// Branch registers b0-b7: call and return targets, never values.
    Branch,
    /// Predicate registers p0-p63: one-bit conditions.
    Predicate,
    /// Application registers pv knows (`ar.*`, see `APP_REGS`).
    Application,
}

impl Class {
    /// The class as named in error messages ("general register", ...).
    pub const fn name(self) -> &'static str {
        match self {
            Class::General => "general register",
            Class::Branch => "branch register",
            Class::Predicate => "predicate",
            Class::Application => "application register",
        }
    }
}

/// What the software conventions let pv do with a register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Caller-saved: a site may clobber it, a callee may use it freely.
    Scratch,
    /// Callee-saved: a site may clobber it (the compiler saves it around the asm), but a C
    /// callee (option 4) must preserve it.
    Preserved,
    /// Never usable: the reason says why.
    Fixed(&'static str),
}

/// A range of numbered registers sharing class and role.
#[derive(Clone, Copy, Debug)]
pub struct Range {
    /// Name prefix: `r`, `b` or `p`.
    pub prefix: char,
    /// First register number of the range.
    pub lo: u8,
    /// Last register number of the range (inclusive).
    pub hi: u8,
    /// Class of every register in the range.
    pub class: Class,
    /// Role of every register in the range.
    pub role: Role,
    /// First mask bit, if registers of this range can be in a contract.
    pub bit: Option<u8>,
}

const fn range(prefix: char, lo: u8, hi: u8, class: Class, role: Role, bit: Option<u8>) -> Range {
    Range {
        prefix,
        lo,
        hi,
        class,
        role,
        bit,
    }
}

use Class::*;
use Role::*;

/// The numbered registers.
pub const RANGES: [Range; 15] = [
    range(
        'r',
        0,
        0,
        General,
        Fixed("r0 is hard-wired to zero"),
        Some(0),
    ),
    range(
        'r',
        1,
        1,
        General,
        Fixed("r1 is gp, the global pointer"),
        Some(1),
    ),
    range('r', 2, 3, General, Scratch, Some(2)),
    range('r', 4, 7, General, Preserved, Some(4)),
    range('r', 8, 11, General, Scratch, Some(8)),
    range(
        'r',
        12,
        12,
        General,
        Fixed("r12 is sp, the stack pointer"),
        Some(12),
    ),
    range(
        'r',
        13,
        13,
        General,
        Fixed("r13 is tp, the thread pointer"),
        Some(13),
    ),
    range('r', 14, 31, General, Scratch, Some(14)),
    range(
        'r',
        32,
        127,
        General,
        Fixed(
            "r32-r127 are stacked registers: a routine patched in at a site cannot allocate them",
        ),
        None,
    ),
    range('b', 0, 0, Branch, Scratch, Some(32)),
    range('b', 1, 5, Branch, Preserved, Some(33)),
    range('b', 6, 7, Branch, Scratch, Some(38)),
    range(
        'p',
        0,
        0,
        Predicate,
        Fixed("p0 is hard-wired to true"),
        Some(40),
    ),
    range('p', 1, 15, Predicate, Scratch, Some(41)),
    range(
        'p',
        16,
        63,
        Predicate,
        Fixed("p16-p63 rotate with loops: pv sites do not touch them"),
        None,
    ),
];

/// Application registers pv knows, with their roles; mask bits 56 + index.
pub const APP_REGS: [(&str, Role); 8] = [
    ("ar.ccv", Scratch),
    (
        "ar.pfs",
        Fixed("ar.pfs is written by br.call; sites that call clobber it implicitly"),
    ),
    ("ar.unat", Preserved),
    ("ar.lc", Preserved),
    ("ar.ec", Preserved),
    ("ar.fpsr", Preserved),
    ("ar.rsc", Fixed("ar.rsc controls the register stack engine")),
    ("ar.bsp", Fixed("ar.bsp is read-only")),
];

/// One ia64 register as the ABI sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reg {
    /// Register class.
    pub class: Class,
    /// What the conventions let a site do with it.
    pub role: Role,
    /// Mask bit, if the register can be in a contract.
    pub bit: Option<u8>,
}

/// Looks a register up by name: `r0`-`r127`, `b0`-`b7`, `p0`-`p63`, or an [`APP_REGS`] name.
/// Predicates p1-p5 are preserved by the C convention, so they get that role here.
pub fn reg(name: &str) -> Option<Reg> {
    if let Some(i) = APP_REGS.iter().position(|(n, _)| *n == name) {
        return Some(Reg {
            class: Application,
            role: APP_REGS[i].1,
            bit: Some(56 + i as u8),
        });
    }
    let mut chars = name.chars();
    let prefix = chars.next()?;
    let digits = chars.as_str();
    if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    let n: u8 = digits.parse().ok()?;
    let r = RANGES
        .iter()
        .find(|r| r.prefix == prefix && (r.lo..=r.hi).contains(&n))?;
    let role = if prefix == 'p' && (1..=5).contains(&n) {
        Preserved
    } else {
        r.role
    };
    Some(Reg {
        class: r.class,
        role,
        bit: r.bit.map(|b| b + (n - r.lo)),
    })
}

/// Every register name pv knows (for "did you mean").
pub fn names() -> impl Iterator<Item = Name> {
    let numbered = RANGES
        .iter()
        .flat_map(|r| (r.lo..=r.hi).map(move |n| Name::numbered(r.prefix, n)));
    numbered.chain(APP_REGS.iter().map(|(n, _)| Name::from_str(n)))
}

/// A register name without allocation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Name {
    buf: [u8; 12],
    len: u8,
}

impl Name {
    fn from_str(s: &str) -> Name {
        let mut buf = [0; 12];
        let len = s.len().min(12);
        buf[..len].copy_from_slice(&s.as_bytes()[..len]);
        Name {
            buf,
            len: len as u8,
        }
    }

    fn numbered(prefix: char, n: u8) -> Name {
        let mut buf = [0; 12];
        buf[0] = prefix as u8;
        let mut len = 1;
        for d in [n / 100, n / 10 % 10, n % 10]
            .iter()
            .skip_while(|d| **d == 0)
            .chain(if n == 0 { Some(&0) } else { None })
        {
            buf[len] = b'0' + d;
            len += 1;
        }
        Name {
            buf,
            len: len as u8,
        }
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len as usize]).unwrap_or("?")
    }
}

impl core::fmt::Display for Name {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::fmt::Debug for Name {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Name of the register with mask bit `bit`.
pub fn reg_name(bit: u8) -> Name {
    match bit {
        0..=31 => Name::numbered('r', bit),
        32..=39 => Name::numbered('b', bit - 32),
        40..=55 => Name::numbered('p', bit - 40),
        _ => APP_REGS
            .get((bit as usize).wrapping_sub(56))
            .map_or(Name::from_str("?"), |(n, _)| Name::from_str(n)),
    }
}

/// An instruction as written, without its qualifying predicate: (mnemonic, operands).
/// `None` for a predicate without its `)`.
pub fn parts(insn: &str) -> Option<(&str, &str)> {
    let insn = insn.trim();
    let insn = match insn.strip_prefix('(') {
        Some(rest) => rest.split_once(')')?.1.trim(),
        None => insn,
    };
    Some(insn.split_once(char::is_whitespace).unwrap_or((insn, "")))
}

/// The registers (mask bits) one instruction, as written, changes: the operands left of `=`
/// (`gp`, `sp` and `tp` are r1, r12 and r13), a base register post-incremented (`[r2],8`,
/// `st1 [r8]=r0,-1`),
/// and the predicates `mov pr=r,mask` names with a literal mask. Writes to r0 and p0 are
/// architectural no-ops (`cmp.ne p6,p0=...`). This is the macro's reading of the text;
/// `pv-sites --check` reads the bytes with the ia64 interpreter's own table, and
/// `tests/contract_check.rs` compares the two on every instruction of the catalogue.
pub fn writes(insn: &str) -> u64 {
    let Some((_, operands)) = parts(insn) else {
        return 0;
    };
    let (dst, src) = operands.split_once('=').unwrap_or(("", operands));
    // A load's base (`ld8 r3=[r2],8`) or a store's (`st1 [r8]=r0,-1`), post-incremented.
    let post_increment = src
        .split_once("],")
        .and_then(|(base, _)| base.trim().strip_prefix('['))
        .or_else(|| {
            let base = dst.trim().strip_prefix('[')?.strip_suffix(']')?;
            src.contains(',').then_some(base.trim())
        });
    let mut mask = 0;
    let names = dst
        .split(',')
        .map(str::trim)
        .filter(|d| !d.starts_with('['))
        .chain(post_increment);
    for name in names {
        let name = match name {
            "gp" => "r1",
            "sp" => "r12",
            "tp" => "r13",
            "r0" | "p0" => continue,
            // `mov pr=r2,mask17`: bit n of the mask selects pn (p1-p15 have mask bits).
            "pr" => {
                let lit = src.rsplit(',').next().unwrap_or("").trim();
                let value = match lit.strip_prefix("0x") {
                    Some(hex) => i64::from_str_radix(hex, 16).ok(),
                    None => lit.parse::<i64>().ok(),
                };
                if let Some(v) = value {
                    mask |= ((v as u64) >> 1 & 0x7fff) << 41;
                }
                continue;
            }
            other => other,
        };
        if let Some(bit) = reg(name).and_then(|r| r.bit) {
            mask |= 1 << bit;
        }
    }
    mask
}

/// Whether `name` is an ia64 register.
pub fn is_reg(name: &str) -> bool {
    reg(name).is_some()
}

/// pv argument order: argument 0 and the result in r8, then r9, r10, r11, r14 — the registers
/// Xen hyperprivops take their operands in. (setreg: value in r8, register number in r9.)
pub const PV_ARG_ORDER: [&str; 5] = ["r8", "r9", "r10", "r11", "r14"];

/// The four bindings on ia64 (option 3 in the seed's form).
pub const BINDINGS: [crate::BindingAbi; 4] = {
    use crate::{Binding, BindingAbi};
    const C_SCRATCH: &[&str] = &[
        "r2", "r3", "r8", "r9", "r10", "r11", "r14", "r15", "r16", "r17", "r18", "r19", "r20",
        "r21", "r22", "r23", "r24", "r25", "r26", "r27", "r28", "r29", "r30", "r31", "b0", "b6",
        "b7", "p6", "p7", "p8", "p9", "p10", "p11", "p12", "p13", "p14", "p15", "ar.ccv", "ar.pfs",
    ];
    const fn b(
        binding: Binding,
        own_clobbers: &'static [&'static str],
        own_reason: &'static str,
        implicit_clobbers: &'static [&'static str],
    ) -> BindingAbi {
        BindingAbi {
            binding,
            own_clobbers,
            own_reason,
            implicit_clobbers,
        }
    }
    [
        // Native bundles, nop bundles up to the Xen body's size.
        b(Binding::InlinePatch, &[], "", &[]),
        b(
            Binding::DirectBranch,
            &["b0"],
            "option 2's `br.call b0 = native` writes b0",
            &["ar.pfs"],
        ),
        b(
            Binding::IndirectBranch,
            &["r2", "b0", "b1"],
            "option 3 loads the function pointer into r2, moves it to b1 and does `br.call b0 = b1`",
            &["ar.pfs"],
        ),
        // A C-ABI call through the slot's function descriptor; the compiler's own set.
        b(Binding::IndirectCall, &[], "", C_SCRATCH),
    ]
};

/// Option 3 in Linux's form (see [`asm::Form::Linux`]): Linux's five bundles, which branch
/// with `br.cond b7` and return through b6. Its clobbers are Linux's `PARAVIRT_REG_CLOBBERS`
/// r2, r3, r16, r17 and `PARAVIRT_BR_CLOBBERS` b6, b7 (arch/ia64/include/asm/paravirt_privop.h);
/// gp is switched and restored, so it is not one.
pub const LINUX_FORM: crate::BindingAbi = crate::BindingAbi {
    binding: Binding::IndirectBranch,
    own_clobbers: &["r2", "r3", "r16", "r17", "b6", "b7"],
    own_reason: "option 3 in Linux's form loads the function descriptor's address into r2, its entry into r3 and b7, keeps gp in r16 and computes the return address in r17 and b6",
    implicit_clobbers: &[],
};

/// A binding's call-site sequence on ia64 in `form`.
pub fn abi(binding: Binding, form: asm::Form) -> &'static crate::BindingAbi {
    match (binding, form) {
        (Binding::IndirectBranch, asm::Form::Linux) => &LINUX_FORM,
        _ => &BINDINGS[binding as usize - 1],
    }
}

/// What a binding's own call-site sequence clobbers on ia64.
pub fn own_clobbers(binding: Binding, form: asm::Form) -> &'static [&'static str] {
    abi(binding, form).own_clobbers
}

/// Registers every site of a binding that calls clobbers without being declared (the
/// compiler is told; like flags on x86_64). Option 4's C-call set is the compiler's own.
pub fn implicit_clobbers(binding: Binding, form: asm::Form) -> &'static [&'static str] {
    match binding {
        Binding::IndirectCall => &[],
        _ => abi(binding, form).implicit_clobbers,
    }
}

/// A Xen/ia64 hyperprivop: `break` with the number as immediate, operands in r8, r9, r10,
/// r11, r14, result in r8.
#[derive(Clone, Copy, Debug)]
pub struct Hyperprivop {
    /// Name as written in `xen = hyperprivop(name)`.
    pub name: &'static str,
    /// `HYPERPRIVOP_*` number: the `break` immediate.
    pub nr: u32,
    /// Operands it takes (r8, r9, ...).
    pub args: u8,
    /// Whether it returns a value in r8.
    pub result: bool,
}

const fn hp(name: &'static str, nr: u32, args: u8, result: bool) -> Hyperprivop {
    Hyperprivop {
        name,
        nr,
        args,
        result,
    }
}

/// `HYPERPRIVOP_*` (xen/include/public/arch-ia64.h), 0x01-0x1a.
pub const HYPERPRIVOPS: [Hyperprivop; 26] = [
    hp("rfi", 0x01, 0, false),
    hp("rsm_dt", 0x02, 0, false),
    hp("ssm_dt", 0x03, 0, false),
    hp("cover", 0x04, 0, false),
    hp("itc_d", 0x05, 1, false),
    hp("itc_i", 0x06, 1, false),
    hp("ssm_i", 0x07, 0, false),
    hp("get_ivr", 0x08, 0, true),
    hp("get_tpr", 0x09, 0, true),
    hp("set_tpr", 0x0a, 1, false),
    hp("eoi", 0x0b, 0, false),
    hp("set_itm", 0x0c, 1, false),
    hp("thash", 0x0d, 1, true),
    hp("ptc_ga", 0x0e, 2, false),
    hp("itr_d", 0x0f, 2, false),
    hp("get_rr", 0x10, 1, true),
    hp("set_rr", 0x11, 2, false),
    hp("set_kr", 0x12, 2, false),
    hp("fc", 0x13, 1, false),
    hp("get_cpuid", 0x14, 1, true),
    hp("get_pmd", 0x15, 1, true),
    hp("get_eflag", 0x16, 0, true),
    hp("set_eflag", 0x17, 1, false),
    hp("rsm_be", 0x18, 0, false),
    hp("get_psr", 0x19, 0, true),
    hp("set_rr0_to_rr4", 0x1a, 5, false),
];

/// Looks a hyperprivop up by name.
pub fn hyperprivop(name: &str) -> Option<&'static Hyperprivop> {
    HYPERPRIVOPS.iter().find(|h| h.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_bits() {
        for bit in (0..56).chain(56..56 + APP_REGS.len() as u8) {
            let name = reg_name(bit);
            assert_eq!(reg(name.as_str()).and_then(|r| r.bit), Some(bit), "{name}");
        }
        assert_eq!(reg_name(0).as_str(), "r0");
        assert_eq!(reg_name(14).as_str(), "r14");
        assert_eq!(Name::numbered('r', 127).as_str(), "r127");
        assert_eq!(Name::numbered('r', 100).as_str(), "r100");
    }

    #[test]
    fn roles_follow_the_software_conventions() {
        assert!(matches!(reg("r0").unwrap().role, Role::Fixed(_)));
        assert!(matches!(reg("r32").unwrap().role, Role::Fixed(_)));
        assert_eq!(reg("r4").unwrap().role, Role::Preserved);
        assert_eq!(reg("r8").unwrap().role, Role::Scratch);
        assert_eq!(reg("b0").unwrap().role, Role::Scratch);
        assert_eq!(reg("b1").unwrap().role, Role::Preserved);
        assert_eq!(reg("p3").unwrap().role, Role::Preserved);
        assert_eq!(reg("p6").unwrap().role, Role::Scratch);
        assert_eq!(reg("ar.ccv").unwrap().class, Class::Application);
        assert!(reg("r128").is_none() && reg("b8").is_none() && reg("r01").is_none());
        assert_eq!(names().count(), 128 + 8 + 64 + APP_REGS.len());
    }

    #[test]
    fn binding_table_is_indexed_by_binding_and_names_registers() {
        for form in [asm::Form::Seed, asm::Form::Linux] {
            for b in Binding::ALL {
                let abi = abi(b, form);
                assert_eq!(abi.binding, b);
                for r in abi.own_clobbers.iter().chain(abi.implicit_clobbers) {
                    assert!(is_reg(r), "{r}");
                }
                assert_eq!(
                    abi.own_clobbers.is_empty(),
                    abi.own_reason.is_empty(),
                    "{b:?}"
                );
            }
        }
    }
}
