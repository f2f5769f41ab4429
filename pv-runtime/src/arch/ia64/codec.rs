//! ia64 bundles: templates and stop bits, 41-bit slots, and an encoder per instruction form the
//! engine writes or checks — nop and break on every unit, IP-relative `br.cond`/`br.call`,
//! `brl.cond`/`brl.call` (imm60 split over the L and X slots), `movl`, `mov b = r`, indirect
//! branches, and the loads and moves of the option 3 sites. Branch encoders refuse targets out
//! of range instead of wrapping. [`decode`] reads every form back, for review tools and tests.
//!
//! Bundle layout (little-endian, 128 bits): template 0-4, slot 0 at 5-45, slot 1 at 46-86,
//! slot 2 at 87-127. An instruction's major opcode is bits 37-40 and its qualifying predicate
//! bits 0-5.

/// A bundle's 16 bytes.
pub type Bundle = [u8; 16];

/// Bundle templates pv uses (the odd code of each pair ends the bundle with a stop).
pub mod template {
    /// MII: slots M, I, I.
    pub const MII: u8 = 0x00;
    /// MI;;I: a stop after slot 1.
    pub const MI_I: u8 = 0x02;
    /// MLX: slot M, then a long instruction in L+X.
    pub const MLX: u8 = 0x04;
    /// MMI: slots M, M, I.
    pub const MMI: u8 = 0x08;
    /// M;;MI: a stop after slot 0.
    pub const M_MI: u8 = 0x0a;
    /// MFI: slots M, F, I.
    pub const MFI: u8 = 0x0c;
    /// MIB: slots M, I, B.
    pub const MIB: u8 = 0x10;
    /// MBB: slots M, B, B.
    pub const MBB: u8 = 0x12;
    /// BBB: slots B, B, B.
    pub const BBB: u8 = 0x16;
    /// MMB: slots M, M, B.
    pub const MMB: u8 = 0x18;
    /// The stop-at-end bit of a template code.
    pub const STOP: u8 = 0x01;
}

/// The unit each slot of a template executes on, `None` for reserved templates.
pub fn units(template: u8) -> Option<[Unit; 3]> {
    use Unit::*;
    Some(match template & !template::STOP {
        0x00 | 0x02 => [M, I, I],
        0x04 => [M, L, X],
        0x08 | 0x0a => [M, M, I],
        0x0c => [M, F, I],
        0x0e => [M, M, F],
        0x10 => [M, I, B],
        0x12 => [M, B, B],
        0x16 => [B, B, B],
        0x18 => [M, M, B],
        0x1c => [M, F, B],
        _ => return None,
    })
}

/// Execution units of slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Memory unit.
    M,
    /// Integer unit.
    I,
    /// Floating-point unit.
    F,
    /// Branch unit.
    B,
    /// The L slot of an MLX bundle: 41 immediate bits of `movl`/`brl`.
    L,
    /// The X slot of an MLX bundle: opcode and the rest of `movl`/`brl`.
    X,
}

/// Packs a template and three 41-bit slots.
pub fn pack(template: u8, slots: [u64; 3]) -> Bundle {
    let mask = (1u128 << 41) - 1;
    let v = (template as u128 & 0x1f)
        | (slots[0] as u128 & mask) << 5
        | (slots[1] as u128 & mask) << 46
        | (slots[2] as u128 & mask) << 87;
    v.to_le_bytes()
}

/// The template and slots of a bundle.
pub fn unpack(b: &Bundle) -> (u8, [u64; 3]) {
    let v = u128::from_le_bytes(*b);
    let slot = |at: u32| ((v >> at) & ((1 << 41) - 1)) as u64;
    ((v & 0x1f) as u8, [slot(5), slot(46), slot(87)])
}

const fn field(value: u64, at: u32, bits: u32) -> u64 {
    (value & ((1 << bits) - 1)) << at
}

const fn get(insn: u64, at: u32, bits: u32) -> u64 {
    (insn >> at) & ((1 << bits) - 1)
}

/// An instruction with major opcode `op`.
const fn major(op: u64) -> u64 {
    field(op, 37, 4)
}

/// `imm21` split into i (bit 36) and imm20a (bits 6-25), as nop and break carry it.
const fn imm21(imm: u32) -> u64 {
    field(imm as u64 >> 20, 36, 1) | field(imm as u64, 6, 20)
}

/// `nop.m imm` (M48, x4 = 1).
pub const fn nop_m(imm: u32) -> u64 {
    imm21(imm) | field(1, 27, 4)
}
/// `break.m imm` (M48): a Xen/ia64 hyperprivop when `imm` is 0x01-0x1a.
pub const fn break_m(imm: u32) -> u64 {
    imm21(imm)
}
/// `nop.i imm` (I18, x6 = 1).
pub const fn nop_i(imm: u32) -> u64 {
    imm21(imm) | field(1, 27, 6)
}
/// `break.i imm` (I19).
pub const fn break_i(imm: u32) -> u64 {
    imm21(imm)
}
/// `nop.b imm` (B9, major opcode 2).
pub const fn nop_b(imm: u32) -> u64 {
    major(2) | imm21(imm)
}
/// `break.b imm` (B9, major opcode 0).
pub const fn break_b(imm: u32) -> u64 {
    imm21(imm)
}
/// `nop.f imm` (F16, x6 = 1).
pub const fn nop_f(imm: u32) -> u64 {
    imm21(imm) | field(1, 27, 6)
}

/// `nop.x imm62` / `break.x imm62` (X5 / X1): the X slot and the L slot
/// (imm62 = L << 21 | i << 20 | imm20a).
pub const fn long_nop_or_break(nop: bool, imm62: u64) -> (u64, u64) {
    let x = field(imm62 >> 20, 36, 1) | field(imm62, 6, 20) | field(nop as u64, 27, 6);
    (x, (imm62 >> 21) & ((1 << 41) - 1))
}

/// `movl r1 = imm64` (X2): the X slot and the L slot.
pub const fn movl(r1: u8, imm: u64) -> (u64, u64) {
    let x = major(6)
        | field(imm >> 63, 36, 1)
        | field(imm >> 7, 27, 9)
        | field(imm >> 16, 22, 5)
        | field(imm >> 21, 21, 1)
        | field(imm, 13, 7)
        | field(r1 as u64, 6, 7);
    (x, (imm >> 22) & ((1 << 41) - 1))
}

/// Branch hints pv writes: `.sptk.many`, no deallocation hint.
const SPTK_MANY: u64 = field(1, 12, 1);

/// `(target - ip) >> 4` if it is bundle-aligned and fits `bits` signed bits.
fn disp(ip: u64, target: u64, bits: u32) -> Option<i64> {
    let d = target.wrapping_sub(ip) as i64;
    let slots = d >> 4;
    let limit = 1i64 << (bits - 1);
    (d & 0xf == 0 && (-limit..limit).contains(&slots)).then_some(slots)
}

/// `br.cond.sptk.many target` (B1) in a bundle at `ip`; ±16 MiB.
pub fn br_cond(ip: u64, target: u64) -> Option<u64> {
    let d = disp(ip, target, 21)? as u64;
    Some(major(4) | field(d >> 20, 36, 1) | field(d, 13, 20) | SPTK_MANY)
}

/// `br.call.sptk.many b1 = target` (B3) in a bundle at `ip`; ±16 MiB.
pub fn br_call(ip: u64, b1: u8, target: u64) -> Option<u64> {
    let d = disp(ip, target, 21)? as u64;
    Some(major(5) | field(d >> 20, 36, 1) | field(d, 13, 20) | SPTK_MANY | field(b1 as u64, 6, 3))
}

/// `brl.cond` / `brl.call b1` (X3 / X4) at `ip`: the X slot and the L slot; the whole
/// 64-bit address space.
fn brl(ip: u64, call: Option<u8>, target: u64) -> Option<(u64, u64)> {
    let d = disp(ip, target, 60)? as u64;
    let op = if call.is_some() { 0xd } else { 0xc };
    let x = major(op)
        | field(d >> 59, 36, 1)
        | field(d, 13, 20)
        | SPTK_MANY
        | field(call.unwrap_or(0) as u64, 6, 3);
    Some((x, field(d >> 20, 2, 39)))
}

/// `brl.cond.sptk.many target` (X3): the X slot and the L slot.
pub fn brl_cond(ip: u64, target: u64) -> Option<(u64, u64)> {
    brl(ip, None, target)
}

/// `brl.call.sptk.many b1 = target` (X4): the X slot and the L slot.
pub fn brl_call(ip: u64, b1: u8, target: u64) -> Option<(u64, u64)> {
    brl(ip, Some(b1), target)
}

/// `br.cond.sptk.few b2` (B4, indirect; `sptk` is 0 in its 2-bit whether field, `.few` a 0
/// prefetch bit): the hints of Linux's `__PARAVIRT_BR` (arch/ia64/include/asm/paravirt_privop.h),
/// the only indirect `br.cond` pv writes.
pub const fn br_cond_indirect(b2: u8) -> u64 {
    field(0x20, 27, 6) | field(b2 as u64, 13, 3)
}

/// `br.call.sptk.many b1 = b2` (B5, indirect; its `sptk` hint is 1 in a 3-bit field).
pub const fn br_call_indirect(b1: u8, b2: u8) -> u64 {
    major(1) | field(1, 32, 3) | field(b2 as u64, 13, 3) | SPTK_MANY | field(b1 as u64, 6, 3)
}

/// `mov b1 = r2` (I21; its whether-hint field says "none", 1).
pub const fn mov_to_br(b1: u8, r2: u8) -> u64 {
    field(7, 33, 3) | field(1, 20, 2) | field(r2 as u64, 13, 7) | field(b1 as u64, 6, 3)
}

/// `ld8 r1 = [r3]` (M1).
pub const fn ld8(r1: u8, r3: u8) -> u64 {
    major(4) | field(3, 30, 6) | field(r3 as u64, 20, 7) | field(r1 as u64, 6, 7)
}

/// `ld8 r1 = [r3], imm9` (M3: the address register post-incremented by a signed 9-bit
/// immediate, s at bit 36, i at 27, imm7b at 13-19), if `imm` fits.
pub fn ld8_inc(r1: u8, r3: u8, imm: i64) -> Option<u64> {
    (-(1 << 8)..(1 << 8)).contains(&imm).then(|| {
        let i = imm as u64;
        major(5)
            | field(i >> 8, 36, 1)
            | field(3, 30, 6)
            | field(i >> 7, 27, 1)
            | field(r3 as u64, 20, 7)
            | field(i, 13, 7)
            | field(r1 as u64, 6, 7)
    })
}

/// `mov r1 = ip` (I25).
pub const fn mov_from_ip(r1: u8) -> u64 {
    field(0x30, 27, 6) | field(r1 as u64, 6, 7)
}

/// `adds r1 = imm14, r3` (A4), if `imm` fits 14 signed bits.
pub fn adds(r1: u8, imm: i64, r3: u8) -> Option<u64> {
    (-(1 << 13)..(1 << 13)).contains(&imm).then(|| {
        let i = imm as u64;
        major(8)
            | field(i >> 13, 36, 1)
            | field(2, 34, 2)
            | field(i >> 7, 27, 6)
            | field(r3 as u64, 20, 7)
            | field(i, 13, 7)
            | field(r1 as u64, 6, 7)
    })
}

/// One instruction in a bundle of its own with a stop right after it, exactly as the
/// templates of `pv_abi::ia64::asm::bundle` lay it out.
pub fn alone(unit: Unit, insn: u64) -> Bundle {
    use template::*;
    match unit {
        Unit::M => pack(M_MI | STOP, [insn, nop_m(0), nop_i(0)]),
        Unit::I => pack(MI_I | STOP, [nop_m(0), insn, nop_i(0)]),
        Unit::F => pack(MFI | STOP, [nop_m(0), insn, nop_i(0)]),
        Unit::B => pack(MIB | STOP, [nop_m(0), nop_i(0), insn]),
        Unit::L | Unit::X => pack(MLX | STOP, [nop_m(0), 0, insn]),
    }
}

/// A long instruction (X slot, L slot) in an MLX bundle with a stop.
pub fn alone_long((x, l): (u64, u64)) -> Bundle {
    pack(template::MLX | template::STOP, [nop_m(0), l, x])
}

/// The bundle that pads sites: `nop.m 0 ;; nop.m 0; nop.i 0 ;;`.
pub fn nop_bundle() -> Bundle {
    alone(Unit::M, nop_m(0))
}

/// An instruction pv recognises, as [`decode`] reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insn {
    /// `nop.<unit> imm`.
    Nop(Unit, u64),
    /// `break.<unit> imm`.
    Break(Unit, u64),
    /// IP-relative branch; `call` holds the return branch register.
    Branch {
        /// Return branch register for `br.call`/`brl.call`, `None` for `.cond`.
        call: Option<u8>,
        /// Absolute target address.
        target: u64,
        /// `brl` (X unit) rather than `br`.
        long: bool,
    },
    /// Indirect branch through `b2`; `call` holds the return branch register (`br.call` is
    /// `.sptk.many`, `br.cond` `.sptk.few`).
    BranchIndirect {
        /// Return branch register for `br.call`, `None` for `br.cond`.
        call: Option<u8>,
        /// Branch register holding the target.
        b2: u8,
    },
    /// `movl r1 = imm`.
    Movl {
        /// Destination general register.
        r1: u8,
        /// The 64-bit immediate.
        imm: u64,
    },
    /// `mov b1 = r2`.
    MovToBr {
        /// Destination branch register.
        b1: u8,
        /// Source general register.
        r2: u8,
    },
    /// `ld8 r1 = [r3]`.
    Ld8 {
        /// Destination general register.
        r1: u8,
        /// Address register.
        r3: u8,
    },
    /// `ld8 r1 = [r3], imm`: post-incremented by a signed 9-bit immediate.
    Ld8Inc {
        /// Destination general register.
        r1: u8,
        /// Address register, incremented by `imm` after the load.
        r3: u8,
        /// Signed 9-bit increment.
        imm: i64,
    },
    /// `mov r1 = ip`.
    MovFromIp {
        /// Destination general register.
        r1: u8,
    },
    /// `adds r1 = imm, r3`.
    Adds {
        /// Destination general register.
        r1: u8,
        /// Signed 14-bit immediate.
        imm: i64,
        /// Source general register.
        r3: u8,
    },
    /// The L slot of an MLX bundle (part of the long instruction after it).
    Long,
    /// Anything else, with its unit and raw bits.
    Other(Unit, u64),
}

fn sign_extend(v: u64, bits: u32) -> i64 {
    ((v << (64 - bits)) as i64) >> (64 - bits)
}

fn decode_slot(unit: Unit, insn: u64, long: u64, ip: u64) -> Insn {
    let op = get(insn, 37, 4);
    let qp = get(insn, 0, 6);
    let imm21 = get(insn, 36, 1) << 20 | get(insn, 6, 20);
    let r1 = get(insn, 6, 7) as u8;
    let other = Insn::Other(unit, insn);
    if qp != 0 {
        return other;
    }
    match (unit, op) {
        (Unit::M, 0) if get(insn, 31, 5) == 0 && get(insn, 27, 4) == 1 => Insn::Nop(unit, imm21),
        (Unit::M, 0) if get(insn, 26, 10) == 0 => Insn::Break(unit, imm21),
        (Unit::M, 4) if get(insn, 30, 7) == 3 && get(insn, 13, 7) == 0 && get(insn, 27, 3) == 0 => {
            Insn::Ld8 {
                r1,
                r3: get(insn, 20, 7) as u8,
            }
        }
        (Unit::M, 5) if get(insn, 30, 6) == 3 && get(insn, 28, 2) == 0 => Insn::Ld8Inc {
            r1,
            r3: get(insn, 20, 7) as u8,
            imm: sign_extend(
                get(insn, 36, 1) << 8 | get(insn, 27, 1) << 7 | get(insn, 13, 7),
                9,
            ),
        },
        (Unit::I | Unit::F, 0) if get(insn, 33, 3) == 0 && get(insn, 27, 6) == 1 => {
            Insn::Nop(unit, imm21)
        }
        (Unit::I | Unit::F, 0) if get(insn, 26, 10) == 0 => Insn::Break(unit, imm21),
        (Unit::I, 0) if get(insn, 33, 3) == 0 && get(insn, 27, 6) == 0x30 => Insn::MovFromIp { r1 },
        (Unit::I, 0) if get(insn, 33, 3) == 7 && get(insn, 22, 1) == 0 => Insn::MovToBr {
            b1: get(insn, 6, 3) as u8,
            r2: get(insn, 13, 7) as u8,
        },
        (Unit::M | Unit::I, 8) if get(insn, 34, 2) == 2 => {
            let imm = get(insn, 36, 1) << 13 | get(insn, 27, 6) << 7 | get(insn, 13, 7);
            Insn::Adds {
                r1,
                imm: sign_extend(imm, 14),
                r3: get(insn, 20, 7) as u8,
            }
        }
        (Unit::B, 2) => Insn::Nop(unit, imm21),
        (Unit::B, 0) if get(insn, 27, 6) == 0 => Insn::Break(unit, imm21),
        // Only the hints pv writes (`.sptk.few`, no deallocation hint): another `br.cond b2`
        // is shown raw rather than with hints it does not carry.
        (Unit::B, 0)
            if get(insn, 27, 6) == 0x20
                && get(insn, 6, 3) == 0
                && get(insn, 12, 1) == 0
                && get(insn, 33, 3) == 0 =>
        {
            Insn::BranchIndirect {
                call: None,
                b2: get(insn, 13, 3) as u8,
            }
        }
        (Unit::B, 1) => Insn::BranchIndirect {
            call: Some(get(insn, 6, 3) as u8),
            b2: get(insn, 13, 3) as u8,
        },
        (Unit::B, 4 | 5) => {
            let d = sign_extend(get(insn, 36, 1) << 20 | get(insn, 13, 20), 21);
            let call = (op == 5).then_some(get(insn, 6, 3) as u8);
            Insn::Branch {
                call,
                target: ip.wrapping_add((d << 4) as u64),
                long: false,
            }
        }
        (Unit::X, 0) if get(insn, 27, 6) <= 1 => {
            let imm = long << 21 | get(insn, 36, 1) << 20 | get(insn, 6, 20);
            if get(insn, 27, 6) == 1 {
                Insn::Nop(unit, imm)
            } else {
                Insn::Break(unit, imm)
            }
        }
        (Unit::X, 6) => {
            let imm = get(insn, 36, 1) << 63
                | long << 22
                | get(insn, 21, 1) << 21
                | get(insn, 22, 5) << 16
                | get(insn, 27, 9) << 7
                | get(insn, 13, 7);
            Insn::Movl { r1, imm }
        }
        (Unit::X, 0xc | 0xd) => {
            let d = sign_extend(
                get(insn, 36, 1) << 59 | get(long, 2, 39) << 20 | get(insn, 13, 20),
                60,
            );
            let call = (op == 0xd).then_some(get(insn, 6, 3) as u8);
            Insn::Branch {
                call,
                target: ip.wrapping_add((d << 4) as u64),
                long: true,
            }
        }
        _ => other,
    }
}

/// The three instructions of the bundle at `ip`, or `None` for a reserved template.
pub fn decode(b: &Bundle, ip: u64) -> Option<[Insn; 3]> {
    let (template, slots) = unpack(b);
    let u = units(template)?;
    Some([
        decode_slot(u[0], slots[0], 0, ip),
        if u[1] == Unit::L {
            Insn::Long
        } else {
            decode_slot(u[1], slots[1], 0, ip)
        },
        decode_slot(u[2], slots[2], slots[1], ip),
    ])
}

impl core::fmt::Display for Insn {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let unit = |u: &Unit| match u {
            Unit::M => "m",
            Unit::I => "i",
            Unit::F => "f",
            Unit::B => "b",
            Unit::L | Unit::X => "x",
        };
        match self {
            Insn::Nop(u, imm) => write!(f, "nop.{} {imm:#x}", unit(u)),
            Insn::Break(u, imm) => write!(f, "break.{} {imm:#x}", unit(u)),
            Insn::Branch {
                call: Some(b),
                target,
                long,
            } => {
                write!(
                    f,
                    "{}.call.sptk.many b{b}={target:#x}",
                    if *long { "brl" } else { "br" }
                )
            }
            Insn::Branch {
                call: None,
                target,
                long,
            } => {
                write!(
                    f,
                    "{}.cond.sptk.many {target:#x}",
                    if *long { "brl" } else { "br" }
                )
            }
            Insn::BranchIndirect { call: Some(b1), b2 } => {
                write!(f, "br.call.sptk.many b{b1}=b{b2}")
            }
            Insn::BranchIndirect { call: None, b2 } => write!(f, "br.cond.sptk.few b{b2}"),
            Insn::Movl { r1, imm } => write!(f, "movl r{r1}={imm:#x}"),
            Insn::MovToBr { b1, r2 } => write!(f, "mov b{b1}=r{r2}"),
            Insn::Ld8 { r1, r3 } => write!(f, "ld8 r{r1}=[r{r3}]"),
            Insn::Ld8Inc { r1, r3, imm } => write!(f, "ld8 r{r1}=[r{r3}],{imm}"),
            Insn::MovFromIp { r1 } => write!(f, "mov r{r1}=ip"),
            Insn::Adds { r1, imm, r3 } => write!(f, "adds r{r1}={imm},r{r3}"),
            Insn::Long => f.write_str("(long)"),
            Insn::Other(u, bits) => write!(f, "?{} {bits:#013x}", unit(u)),
        }
    }
}
