//! Which execution unit an ia64 instruction needs, from its text (lower-case mnemonics, as GNU
//! as writes them): what decides the bundle template it is placed in. Covers the instructions
//! pv sequences use; anything else is reported (by the macro, at compile time), never guessed.

/// An instruction's unit type. A (ALU) instructions run on an M or an I slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Memory unit: loads, stores, cache and TLB ops, moves to and from psr, cr and indirect register files.
    M,
    /// Integer unit: shifts, deposits, moves to and from branch registers, `ip`, `pr`, ar.pfs/lc/ec.
    I,
    /// ALU instruction (`add`, `cmp`, register `mov`, ...): fits an M or an I slot.
    A,
    /// Branch unit: `br`, `rfi`, `cover`.
    B,
    /// Floating-point unit.
    F,
    /// Long (`movl`, `brl`): the L and X slots of an MLX bundle.
    X,
}

const M: &[&str] = &[
    "ld1",
    "ld2",
    "ld4",
    "ld8",
    "st1",
    "st2",
    "st4",
    "st8",
    "ldf",
    "stf",
    "fc",
    "thash",
    "ttag",
    "ptc",
    "ptr",
    "ssm",
    "rsm",
    "sum",
    "rum",
    "srlz",
    "sync",
    "itc",
    "itr",
    "mf",
    "alloc",
    "probe",
    "lfetch",
    "flushrs",
    "loadrs",
    "invala",
    "cmpxchg1",
    "cmpxchg2",
    "cmpxchg4",
    "cmpxchg8",
    "fetchadd4",
    "fetchadd8",
    "xchg1",
    "xchg2",
    "xchg4",
    "xchg8",
    "getf",
    "setf",
    "tak",
    "tpa",
];
const I: &[&str] = &[
    "dep", "extr", "shl", "shr", "shrp", "sxt1", "sxt2", "sxt4", "zxt1", "zxt2", "zxt4", "czx1",
    "czx2", "mux1", "mux2", "popcnt", "tbit", "tnat",
];
const A: &[&str] = &[
    "add", "adds", "addl", "sub", "and", "andcm", "or", "xor", "shladd", "cmp", "cmp4",
];
const B: &[&str] = &["br", "rfi", "cover", "clrrrb", "bsw", "epc"];
const X: &[&str] = &["movl", "brl"];
const F: &[&str] = &[
    "fma", "fms", "fnma", "fadd", "fsub", "fmpy", "fnorm", "fmerge", "fcvt", "fsetc", "fclrf",
    "fchkf", "fcmp", "fclass", "fmin", "fmax", "frcpa", "frsqrta", "fpack", "fswap", "fmix",
    "fsxt", "fand", "for", "fxor", "fselect", "fabs", "fneg",
];

/// Application registers an I unit moves (ar.pfs, ar.lc, ar.ec); the others are M-unit.
const I_UNIT_ARS: &[&str] = &["ar.pfs", "ar.lc", "ar.ec"];

/// The unit `insn` needs, if pv knows it.
pub fn unit(insn: &str) -> Option<Unit> {
    // A qualifying predicate does not change the unit.
    let (mnemonic, operands) = super::parts(insn)?;
    let base = mnemonic.split('.').next().unwrap_or("");
    if base == "nop" || base == "break" {
        return match mnemonic.split('.').nth(1) {
            Some("m") | None => Some(Unit::M),
            Some("i") => Some(Unit::I),
            Some("b") => Some(Unit::B),
            Some("f") => Some(Unit::F),
            Some("x") => Some(Unit::X),
            _ => None,
        };
    }
    if base == "mov" {
        return Some(mov_unit(operands));
    }
    let within = |set: &[&str]| set.contains(&base) || set.contains(&mnemonic);
    if within(X) {
        Some(Unit::X)
    } else if within(M) || (base.starts_with("ld") && base != "ldfp") || base.starts_with("st") {
        Some(Unit::M)
    } else if within(I) {
        Some(Unit::I)
    } else if within(A)
        || base.starts_with("padd")
        || base.starts_with("psub")
        || base.starts_with("pcmp")
    {
        Some(Unit::A)
    } else if within(B) {
        Some(Unit::B)
    } else if within(F) {
        Some(Unit::F)
    } else {
        None
    }
}

/// `mov` is many instructions; the operands decide.
fn mov_unit(ops: &str) -> Unit {
    let (dst, src) = ops
        .split_once('=')
        .map_or((ops.trim(), ""), |(d, s)| (d.trim(), s.trim()));
    let indirect = [
        "cpuid[", "pmd[", "pmc[", "rr[", "ibr[", "dbr[", "pkr[", "msr[",
    ];
    let is_b = |s: &str| s.len() == 2 && s.starts_with('b') && s.as_bytes()[1].is_ascii_digit();
    if indirect
        .iter()
        .any(|i| dst.starts_with(i) || src.starts_with(i))
        || dst.starts_with("psr")
        || src.starts_with("psr")
        || dst.starts_with("cr.")
        || src.starts_with("cr.")
    {
        Unit::M
    } else if let Some(ar) = [dst, src].into_iter().find(|s| s.starts_with("ar.")) {
        if I_UNIT_ARS.contains(&ar) {
            Unit::I
        } else {
            Unit::M
        }
    } else if is_b(dst) || is_b(src) || src == "ip" || src == "pr" || dst.starts_with("pr") {
        Unit::I
    } else if dst.starts_with('f') {
        Unit::F
    } else {
        Unit::A
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_of_the_instructions_linux_used() {
        let cases = [
            ("mov r8=cpuid[r8]", Unit::M),
            ("mov r8 = psr", Unit::M),
            ("mov rr[r8]=r9", Unit::M),
            ("thash r8=r8", Unit::M),
            ("fc r8", Unit::M),
            ("ptc.ga r8,r9", Unit::M),
            ("(p6) ssm psr.i", Unit::M),
            ("rsm psr.i", Unit::M),
            ("srlz.d", Unit::M),
            ("mov r8=ar.itc", Unit::M),
            ("mov r8=ar.pfs", Unit::I),
            ("mov b6=r17", Unit::I),
            ("mov r17=ip", Unit::I),
            ("cmp.ne p6,p7=r8,r0", Unit::A),
            ("and r8=r8,r9", Unit::A),
            ("mov r8=r9", Unit::A),
            ("movl r2=0x1234", Unit::X),
            ("brl.call.sptk.many b0=x", Unit::X),
            ("br.call.sptk.many b0=x", Unit::B),
            ("break.m 0x14", Unit::M),
            ("break 0x1000", Unit::M),
            ("nop.b 0", Unit::B),
            ("ld8 r2=[r2]", Unit::M),
            ("st1 [r8]=r9", Unit::M),
            ("dep r8=r9,r8,0,4", Unit::I),
        ];
        for (insn, expect) in cases {
            assert_eq!(unit(insn), Some(expect), "{insn}");
        }
        assert_eq!(unit("fma.s1 f6=f7,f8,f9"), Some(Unit::F));
        assert_eq!(unit("frobnicate r8"), None);
        assert_eq!(unit("zap r8"), None);
    }
}
