//! Instructions of the subset pv emits, decoded from their 41-bit slots. Every encoding is
//! written from the Itanium Architecture Software Developer's Manual, vol. 3 (rev. 2.3),
//! chapter 4 "Instruction Formats"; the section of each format is named beside its case.
//! Nothing here comes from pv's own encoder: `tests/ia64_sim.rs` compares the text these
//! print with GNU objdump for every bundle of the linked catalogue.

use crate::bundle::Unit;
use std::fmt;

/// A decoded instruction: its qualifying predicate and what it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    /// Qualifying predicate (p0: always).
    pub qp: u8,
    /// The operation.
    pub op: Op,
}

/// Memory access sizes in bytes.
pub type Size = u8;

/// A register or an immediate operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Src {
    /// General register.
    Reg(u8),
    /// Sign-extended immediate.
    Imm(i64),
}

/// Two-operand integer operations (A1, A3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alu {
    /// `add r1=r2,r3`.
    Add,
    /// `add r1=r2,r3,1`.
    AddOne,
    /// `sub r1=a,r3`.
    Sub,
    /// `sub r1=r2,r3,1`.
    SubOne,
    /// `and`.
    And,
    /// `andcm`: a & !r3.
    Andcm,
    /// `or`.
    Or,
    /// `xor`.
    Xor,
}

/// Compare relations (A6, A8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rel {
    /// Equal.
    Eq,
    /// Signed less than.
    Lt,
    /// Unsigned less than.
    Ltu,
}

/// Indirect register files (M42, M43).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum File {
    /// Region registers, indexed by bits 61-63 of the address.
    Rr,
    /// Data breakpoint registers.
    Dbr,
    /// Instruction breakpoint registers.
    Ibr,
    /// Protection key registers.
    Pkr,
    /// Performance monitor configuration registers.
    Pmc,
    /// Performance monitor data registers.
    Pmd,
    /// Processor identification registers (read only).
    Cpuid,
}

/// Translation cache purges (M45).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purge {
    /// `ptc.l`: local.
    L,
    /// `ptc.g`: global.
    G,
    /// `ptc.ga`: global, also ALAT.
    Ga,
    /// `ptr.d`: data translation register.
    Rd,
    /// `ptr.i`: instruction translation register.
    Ri,
}

/// What a branch does (B1, B3, B4, B5, X3, X4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `br.cond` (taken when the predicate is true).
    Cond,
    /// `br.call b1`: saves the frame in ar.pfs, the return address in b1.
    Call(u8),
    /// `br.ret`: restores the frame from ar.pfs.
    Ret,
}

/// Where a branch goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// IP-relative: the bundle address plus this displacement.
    Rel(i64),
    /// A branch register.
    Br(u8),
}

/// Branch hints, kept for printing: (whether, prefetch `many`, deallocation `clr`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hints {
    /// 0 sptk, 1 spnt, 2 dptk, 3 dpnt.
    pub wh: u8,
    /// `.many` rather than `.few`.
    pub many: bool,
    /// `.clr`.
    pub clr: bool,
}

/// Operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `nop.x imm` on a unit.
    Nop(Unit, u64),
    /// `break.x imm` on a unit: an interruption the platform handles.
    Break(Unit, u64),
    /// A1-A3: `r1 = a op r3`.
    Alu(Alu, u8, Src, u8),
    /// A2: `shladd r1=r2,count,r3`.
    Shladd(u8, u8, u8, u8),
    /// A4/A5: `adds`/`addl r1=imm,r3` (`wide` for addl).
    AddImm {
        r1: u8,
        imm: i64,
        r3: u8,
        wide: bool,
    },
    /// A6/A8: `cmp[4].rel[.unc] p1,p2=a,r3`.
    Cmp {
        rel: Rel,
        unc: bool,
        four: bool,
        p1: u8,
        p2: u8,
        a: Src,
        r3: u8,
    },
    /// X2: `movl r1=imm64`.
    Movl(u8, u64),
    /// M1-M3: `ldN[.acq] r1=[r3]`, with post-increment.
    Load {
        size: Size,
        acq: bool,
        r1: u8,
        r3: u8,
        post: Option<Src>,
    },
    /// M4/M5: `stN[.rel] [r3]=r2`, with post-increment.
    Store {
        size: Size,
        rel: bool,
        r3: u8,
        r2: u8,
        post: Option<i64>,
    },
    /// M24: `mf`.
    Mf,
    /// M24: `srlz.d`.
    SrlzD,
    /// M24: `srlz.i`.
    SrlzI,
    /// M44: `ssm`/`rsm imm24` (set or reset system mask bits of psr).
    Sm { set: bool, mask: u64 },
    /// M43: `mov r1=file[r3]`.
    MovFromInd(File, u8, u8),
    /// M42: `mov file[r3]=r2`.
    MovToInd(File, u8, u8),
    /// M33: `mov r1=cr`.
    MovFromCr(u8, u8),
    /// M32: `mov cr=r2`.
    MovToCr(u8, u8),
    /// M36: `mov r1=psr`.
    MovFromPsr(u8),
    /// M35: `mov psr.l=r2`.
    MovToPsrL(u8),
    /// M31/I28: `mov r1=ar` (true: the M unit form).
    MovFromAr(bool, u8, u8),
    /// M29/M30/I26/I27: `mov ar=src` (true: the M unit form).
    MovToAr(bool, u8, Src),
    /// M34: `alloc r1=ar.pfs,i,l,o,r` as (r1, sof, sol, sor).
    Alloc(u8, u8, u8, u8),
    /// M28: `fc r3`.
    Fc(u8),
    /// M46: `thash r1=r3`.
    Thash(u8, u8),
    /// M46: `ttag r1=r3`.
    Ttag(u8, u8),
    /// M45: purges, (r3 address, r2 size).
    Purge(Purge, u8, u8),
    /// M41: `itc.d`/`itc.i r2` (true: instruction).
    Itc(bool, u8),
    /// M42: `itr.d`/`itr.i [r3]=r2` (true: instruction).
    Itr(bool, u8, u8),
    /// I22: `mov r1=b2`.
    MovFromBr(u8, u8),
    /// I21: `mov b1=r2`.
    MovToBr(u8, u8),
    /// I25: `mov r1=ip`.
    MovFromIp(u8),
    /// I25: `mov r1=pr`.
    MovFromPr(u8),
    /// I23: `mov pr=r2,mask17`.
    MovToPr(u8, u64),
    /// B1/B3/B4/B5: IP-relative or indirect branches.
    Br(Kind, Target, Hints),
    /// X3/X4: `brl.cond`/`brl.call`.
    Brl(Kind, i64, Hints),
}

fn f(s: u64, lo: u32, len: u32) -> u64 {
    (s >> lo) & ((1 << len) - 1)
}

/// Sign-extends the low `bits` bits of `v`.
fn sext(v: u64, bits: u32) -> i64 {
    ((v << (64 - bits)) as i64) >> (64 - bits)
}

fn r(s: u64, lo: u32) -> u8 {
    f(s, lo, 7) as u8
}

/// imm21 of break/nop (M37, I19, B9, F15): imm20a bits 6-25, i bit 36.
fn imm21(s: u64) -> u64 {
    f(s, 36, 1) << 20 | f(s, 6, 20)
}

fn hints(wh: u64, s: u64) -> Hints {
    Hints {
        wh: wh as u8,
        many: f(s, 12, 1) == 1,
        clr: f(s, 35, 1) == 1,
    }
}

/// Decodes the instruction in `slot` for a `unit`; for `Unit::L`, `slot` is the X slot and `l`
/// the L slot. `None`: not in pv's subset.
pub fn decode(unit: Unit, slot: u64, l: u64) -> Option<Insn> {
    let qp = f(slot, 0, 6) as u8;
    let major = f(slot, 37, 4);
    let op = match unit {
        Unit::M => memory(major, slot).or_else(|| alu(major, slot)),
        Unit::I => integer(major, slot).or_else(|| alu(major, slot)),
        Unit::B => branch(major, slot),
        Unit::L => long(major, slot, l),
        Unit::F => float(major, slot),
    }?;
    // Nops and breaks on B and F units, and a few others, carry no predicate of their own; the
    // formats that do ignore it are decoded with qp as encoded.
    Some(Insn { qp, op })
}

/// One instruction slot of a bundle.
#[derive(Clone, Copy, Debug)]
pub struct Slot {
    /// Its number, 0-2 (an MLX bundle's L+X pair is slot 2, its X half).
    pub index: usize,
    /// The unit the template gives it.
    pub unit: Unit,
    /// The instruction, or the slot's bits where it is outside the subset.
    pub insn: Result<Insn, u64>,
}

/// A bundle's instruction slots in order; `Err(template)` for a reserved template.
pub fn bundle(bytes: &[u8; 16]) -> Result<Vec<Slot>, u8> {
    let (t, slots) = crate::bundle::split(bytes);
    let template = crate::bundle::template(t).ok_or(t)?;
    let mut out = Vec::with_capacity(3);
    for (index, unit) in template.units.into_iter().enumerate() {
        let (insn, bits) = match (unit, index) {
            (Unit::L, 1) => continue,
            (Unit::L, _) => (decode(Unit::L, slots[2], slots[1]), slots[2]),
            _ => (decode(unit, slots[index], 0), slots[index]),
        };
        out.push(Slot {
            index,
            unit,
            insn: insn.ok_or(bits),
        });
    }
    Ok(out)
}

/// A-unit instructions (§4.2, formats A1-A8), on an M or I slot.
fn alu(major: u64, s: u64) -> Option<Op> {
    let (r1, r2, r3) = (r(s, 6), r(s, 13), r(s, 20));
    let imm8 = || Src::Imm(sext(f(s, 36, 1) << 7 | f(s, 13, 7), 8));
    Some(match major {
        8 => match (f(s, 34, 2), f(s, 33, 1), f(s, 29, 4), f(s, 27, 2)) {
            // A1
            (0, 0, 0, 0) => Op::Alu(Alu::Add, r1, Src::Reg(r2), r3),
            (0, 0, 0, 1) => Op::Alu(Alu::AddOne, r1, Src::Reg(r2), r3),
            (0, 0, 1, 1) => Op::Alu(Alu::Sub, r1, Src::Reg(r2), r3),
            (0, 0, 1, 0) => Op::Alu(Alu::SubOne, r1, Src::Reg(r2), r3),
            (0, 0, 3, x2b) => Op::Alu(logic(x2b), r1, Src::Reg(r2), r3),
            // A2
            (0, 0, 4, x2b) => Op::Shladd(r1, r2, x2b as u8 + 1, r3),
            // A3
            (0, 0, 9, 1) => Op::Alu(Alu::Sub, r1, imm8(), r3),
            (0, 0, 0xb, x2b) => Op::Alu(logic(x2b), r1, imm8(), r3),
            // A4: imm14 = s, imm6d (27-32), imm7b (13-19)
            (2, ..) => Op::AddImm {
                r1,
                imm: sext(f(s, 36, 1) << 13 | f(s, 27, 6) << 7 | f(s, 13, 7), 14),
                r3,
                wide: false,
            },
            _ => return None,
        },
        // A5: imm22 = s, imm5c (22-26), imm9d (27-35), imm7b (13-19); r3 is 2 bits
        9 => Op::AddImm {
            r1,
            imm: sext(
                f(s, 36, 1) << 21 | f(s, 22, 5) << 16 | f(s, 27, 9) << 7 | f(s, 13, 7),
                22,
            ),
            r3: f(s, 20, 2) as u8,
            wide: true,
        },
        // A6 (register) and A8 (imm8): tb = 0, ta = 0 (normal and unc types only)
        0xc..=0xe if f(s, 36, 1) == 0 || f(s, 34, 2) >= 2 => {
            let x2 = f(s, 34, 2);
            let tb = if x2 >= 2 { 0 } else { f(s, 36, 1) };
            if tb != 0 || f(s, 33, 1) != 0 {
                return None;
            }
            Op::Cmp {
                rel: match major {
                    0xc => Rel::Lt,
                    0xd => Rel::Ltu,
                    _ => Rel::Eq,
                },
                unc: f(s, 12, 1) == 1,
                four: x2 & 1 == 1,
                p1: f(s, 6, 6) as u8,
                p2: f(s, 27, 6) as u8,
                a: if x2 >= 2 { imm8() } else { Src::Reg(r2) },
                r3,
            }
        }
        _ => return None,
    })
}

fn logic(x2b: u64) -> Alu {
    [Alu::And, Alu::Andcm, Alu::Or, Alu::Xor][x2b as usize]
}

/// M-unit instructions (§4.4).
fn memory(major: u64, s: u64) -> Option<Op> {
    let (r1, r2, r3) = (r(s, 6), r(s, 13), r(s, 20));
    Some(match (major, f(s, 33, 3)) {
        // M37 break/nop, M24 serialize/fence, M44 system mask: x3 = 0, x4 (27-30), x2 (31-32)
        (0, 0) => match (f(s, 27, 4), f(s, 31, 2)) {
            (0, 0) => Op::Break(Unit::M, imm21(s)),
            (1, 0) => Op::Nop(Unit::M, imm21(s)),
            (0, 3) => Op::SrlzD,
            (1, 3) => Op::SrlzI,
            (2, 2) => Op::Mf,
            (x4 @ 6..=7, _) => Op::Sm {
                set: x4 == 6,
                mask: f(s, 36, 1) << 23 | f(s, 31, 2) << 21 | f(s, 6, 21),
            },
            // M30: mov.m ar3=imm8, x4 = 8, x2 = 2
            (8, 2) => Op::MovToAr(true, r3, Src::Imm(sext(f(s, 36, 1) << 7 | f(s, 13, 7), 8))),
            _ => return None,
        },
        // x3 = 0, x6 (27-32): table 4-43
        (1, 0) => {
            let ind = |x: u64| {
                [
                    File::Rr,
                    File::Dbr,
                    File::Ibr,
                    File::Pkr,
                    File::Pmc,
                    File::Pmd,
                ]
                .get(x as usize)
                .copied()
            };
            match f(s, 27, 6) {
                x @ 0x00..=0x05 => Op::MovToInd(ind(x)?, r3, r2),
                0x09 => Op::Purge(Purge::L, r3, r2),
                0x0a => Op::Purge(Purge::G, r3, r2),
                0x0b => Op::Purge(Purge::Ga, r3, r2),
                0x0c => Op::Purge(Purge::Rd, r3, r2),
                0x0d => Op::Purge(Purge::Ri, r3, r2),
                0x0e => Op::Itr(false, r3, r2),
                0x0f => Op::Itr(true, r3, r2),
                x @ 0x10..=0x15 => Op::MovFromInd(ind(x - 0x10)?, r1, r3),
                0x17 => Op::MovFromInd(File::Cpuid, r1, r3),
                0x1a => Op::Thash(r1, r3),
                0x1b => Op::Ttag(r1, r3),
                0x22 => Op::MovFromAr(true, r1, r3),
                0x24 => Op::MovFromCr(r1, r3),
                0x25 => Op::MovFromPsr(r1),
                0x2a => Op::MovToAr(true, r3, Src::Reg(r2)),
                0x2c => Op::MovToCr(r3, r2),
                0x2d => Op::MovToPsrL(r2),
                0x2e => Op::Itc(false, r2),
                0x2f => Op::Itc(true, r2),
                0x30 => Op::Fc(r3),
                _ => return None,
            }
        }
        // M34: sof (13-19), sol (20-26), sor (27-30)
        (1, 6) => Op::Alloc(r1, f(s, 13, 7) as u8, f(s, 20, 7) as u8, f(s, 27, 4) as u8),
        // M1, M2, M4: m (36), x (27) = 0, x6 (30-35), hint (28-29) = 0
        (4, _) if f(s, 27, 1) == 0 && f(s, 28, 2) == 0 => {
            let m = f(s, 36, 1) == 1;
            match (f(s, 30, 6), m) {
                (x6 @ (0x00..=0x03 | 0x14..=0x17), _) => Op::Load {
                    size: 1 << (x6 & 3),
                    acq: x6 >= 0x14,
                    r1,
                    r3,
                    post: m.then_some(Src::Reg(r2)),
                },
                (x6 @ 0x30..=0x37, false) => Op::Store {
                    size: 1 << (x6 & 3),
                    rel: x6 >= 0x34,
                    r3,
                    r2,
                    post: None,
                },
                _ => return None,
            }
        }
        // M3, M5: imm9 post-increment, hint = 0
        (5, _) if f(s, 28, 2) == 0 => match f(s, 30, 6) {
            x6 @ (0x00..=0x03 | 0x14..=0x17) => Op::Load {
                size: 1 << (x6 & 3),
                acq: x6 >= 0x14,
                r1,
                r3,
                post: Some(Src::Imm(sext(
                    f(s, 36, 1) << 8 | f(s, 27, 1) << 7 | f(s, 13, 7),
                    9,
                ))),
            },
            x6 @ 0x30..=0x37 => Op::Store {
                size: 1 << (x6 & 3),
                rel: x6 >= 0x34,
                r3,
                r2,
                post: Some(sext(f(s, 36, 1) << 8 | f(s, 27, 1) << 7 | f(s, 6, 7), 9)),
            },
            _ => return None,
        },
        _ => return None,
    })
}

/// I-unit instructions (§4.3).
fn integer(major: u64, s: u64) -> Option<Op> {
    let (r1, r2, r3) = (r(s, 6), r(s, 13), r(s, 20));
    Some(match (major, f(s, 33, 3)) {
        // I19 break/nop, I22 mov from br, I25 mov from ip/pr, I26-I28 ar: x6 (27-32)
        (0, 0) => match f(s, 27, 6) {
            0x00 => Op::Break(Unit::I, imm21(s)),
            0x01 => Op::Nop(Unit::I, imm21(s)),
            0x0a => Op::MovToAr(false, r3, Src::Imm(sext(f(s, 36, 1) << 7 | f(s, 13, 7), 8))),
            0x2a => Op::MovToAr(false, r3, Src::Reg(r2)),
            0x30 => Op::MovFromIp(r1),
            0x31 => Op::MovFromBr(r1, f(s, 13, 3) as u8),
            0x32 => Op::MovFromAr(false, r1, r3),
            0x33 => Op::MovFromPr(r1),
            _ => return None,
        },
        // I23: mask17 = s (36), mask8c (24-31), mask7a (6-12), bit 0 zero
        (0, 3) => Op::MovToPr(
            r2,
            sext(f(s, 36, 1) << 16 | f(s, 24, 8) << 8 | f(s, 6, 7) << 1, 17) as u64,
        ),
        // I21: b1 (6-8), x (22) = 0: plain mov (hints ignored)
        (0, 7) if f(s, 22, 1) == 0 => Op::MovToBr(f(s, 6, 3) as u8, r2),
        _ => return None,
    })
}

/// B-unit instructions (§4.5).
fn branch(major: u64, s: u64) -> Option<Op> {
    let b = |lo| f(s, lo, 3) as u8;
    let disp = || sext(f(s, 36, 1) << 20 | f(s, 13, 20), 21) << 4;
    Some(match major {
        // B8/B9 with x6 (27-32); B4: btype (6-8), b2 (13-15), wh (33-34)
        0 => match (f(s, 27, 6), f(s, 6, 3)) {
            (0x00, _) => Op::Break(Unit::B, imm21(s)),
            (0x20, 0) => Op::Br(Kind::Cond, Target::Br(b(13)), hints(f(s, 33, 2), s)),
            (0x21, 4) => Op::Br(Kind::Ret, Target::Br(b(13)), hints(f(s, 33, 2), s)),
            _ => return None,
        },
        // B5: wh is 3 bits (32-34): 1 sptk, 3 spnt, 5 dptk, 7 dpnt
        1 => Op::Br(Kind::Call(b(6)), Target::Br(b(13)), hints(f(s, 33, 2), s)),
        2 if f(s, 27, 6) == 0 => Op::Nop(Unit::B, imm21(s)),
        // B1: btype (6-8) = 0, imm20b (13-32), s (36)
        4 if f(s, 6, 3) == 0 => Op::Br(Kind::Cond, Target::Rel(disp()), hints(f(s, 33, 2), s)),
        // B3
        5 => Op::Br(Kind::Call(b(6)), Target::Rel(disp()), hints(f(s, 33, 2), s)),
        _ => return None,
    })
}

/// F-unit: only the nop (F15/F16: x (33) = 0, x6 (27-32) = 1).
fn float(major: u64, s: u64) -> Option<Op> {
    match (major, f(s, 33, 1), f(s, 27, 6)) {
        (0, 0, 0) => Some(Op::Break(Unit::F, imm21(s))),
        (0, 0, 1) => Some(Op::Nop(Unit::F, imm21(s))),
        _ => None,
    }
}

/// X-unit instructions with their L slot (§4.7).
fn long(major: u64, s: u64, l: u64) -> Option<Op> {
    // X3/X4: imm60 = i (36), imm39 (bits 2-40 of L), imm20b (13-32)
    let disp = || sext(f(s, 36, 1) << 59 | (l >> 2) << 20 | f(s, 13, 20), 60) << 4;
    Some(match major {
        // X1: x3 (33-35) = 0, x6 (27-32); imm62 = i, imm41 (L), imm20a
        0 if f(s, 33, 3) == 0 => {
            let imm = f(s, 36, 1) << 61 | l << 20 | f(s, 6, 20);
            match f(s, 27, 6) {
                0 => Op::Break(Unit::L, imm),
                1 => Op::Nop(Unit::L, imm),
                _ => return None,
            }
        }
        // X2: vc (20) = 0; imm64 = i, imm41 (L), ic (21), imm5c (22-26), imm9d (27-35), imm7b
        6 if f(s, 20, 1) == 0 => Op::Movl(
            r(s, 6),
            f(s, 36, 1) << 63
                | l << 22
                | f(s, 21, 1) << 21
                | f(s, 22, 5) << 16
                | f(s, 27, 9) << 7
                | f(s, 13, 7),
        ),
        0xc if f(s, 6, 3) == 0 => Op::Brl(Kind::Cond, disp(), hints(f(s, 33, 2), s)),
        0xd => Op::Brl(Kind::Call(f(s, 6, 3) as u8), disp(), hints(f(s, 33, 2), s)),
        _ => return None,
    })
}

/// An instruction with the address of its bundle, printed as GNU objdump prints it (without
/// the symbol objdump appends to branch targets).
pub struct At<'a>(pub &'a Insn, pub u64);

/// Name of application register `n` (vol. 3 table 3-? of the register file, as objdump
/// names them).
pub fn ar_name(n: u8) -> String {
    match n {
        0..=7 => format!("ar.k{n}"),
        16 => "ar.rsc".into(),
        17 => "ar.bsp".into(),
        18 => "ar.bspstore".into(),
        19 => "ar.rnat".into(),
        24 => "ar.eflag".into(),
        32 => "ar.ccv".into(),
        36 => "ar.unat".into(),
        40 => "ar.fpsr".into(),
        44 => "ar.itc".into(),
        64 => "ar.pfs".into(),
        65 => "ar.lc".into(),
        66 => "ar.ec".into(),
        _ => format!("ar{n}"),
    }
}

/// Name of control register `n` (vol. 2, table 3-3 "Control Registers").
pub fn cr_name(n: u8) -> String {
    let name = match n {
        0 => "dcr",
        1 => "itm",
        2 => "iva",
        8 => "pta",
        16 => "ipsr",
        17 => "isr",
        19 => "iip",
        20 => "ifa",
        21 => "itir",
        22 => "iipa",
        23 => "ifs",
        24 => "iim",
        25 => "iha",
        64 => "lid",
        65 => "ivr",
        66 => "tpr",
        67 => "eoi",
        68 => "irr0",
        69 => "irr1",
        70 => "irr2",
        71 => "irr3",
        72 => "itv",
        73 => "pmv",
        74 => "cmcv",
        80 => "lrr0",
        81 => "lrr1",
        _ => return format!("cr{n}"),
    };
    format!("cr.{name}")
}

fn file_name(file: File) -> &'static str {
    match file {
        File::Rr => "rr",
        File::Dbr => "dbr",
        File::Ibr => "ibr",
        File::Pkr => "pkr",
        File::Pmc => "pmc",
        File::Pmd => "pmd",
        File::Cpuid => "cpuid",
    }
}

fn unit_name(u: Unit) -> char {
    match u {
        Unit::M => 'm',
        Unit::I => 'i',
        Unit::B => 'b',
        Unit::F => 'f',
        Unit::L => 'x',
    }
}

fn src(s: Src) -> String {
    match s {
        Src::Reg(r) => format!("r{r}"),
        Src::Imm(i) => format!("{i}"),
    }
}

impl Hints {
    fn text(&self, call: bool) -> String {
        let wh = if call {
            // B5 keeps a 3-bit field whose low bit is set for sptk/spnt/dptk/dpnt
            ["sptk", "spnt", "dptk", "dpnt"][(self.wh & 3) as usize]
        } else {
            ["sptk", "spnt", "dptk", "dpnt"][self.wh as usize]
        };
        format!(
            ".{wh}.{}{}",
            if self.many { "many" } else { "few" },
            if self.clr { ".clr" } else { "" }
        )
    }
}

impl fmt::Display for At<'_> {
    fn fmt(&self, w: &mut fmt::Formatter<'_>) -> fmt::Result {
        let At(insn, ip) = *self;
        if insn.qp != 0 {
            write!(w, "(p{:02}) ", insn.qp)?;
        }
        let target = |d: i64| format!("{:x}", ip.wrapping_add(d as u64));
        match insn.op {
            Op::Nop(u, imm) => write!(w, "nop.{} {imm:#x}", unit_name(u)),
            Op::Break(u, imm) => write!(w, "break.{} {imm:#x}", unit_name(u)),
            Op::Alu(op, r1, a, r3) => {
                let (name, tail) = match op {
                    Alu::Add => ("add", ""),
                    Alu::AddOne => ("add", ",1"),
                    Alu::Sub => ("sub", ""),
                    Alu::SubOne => ("sub", ",1"),
                    Alu::And => ("and", ""),
                    Alu::Andcm => ("andcm", ""),
                    Alu::Or => ("or", ""),
                    Alu::Xor => ("xor", ""),
                };
                write!(w, "{name} r{r1}={},r{r3}{tail}", src(a))
            }
            Op::Shladd(r1, r2, n, r3) => write!(w, "shladd r{r1}=r{r2},{n},r{r3}"),
            Op::AddImm { r1, imm: 0, r3, .. } => write!(w, "mov r{r1}=r{r3}"),
            Op::AddImm { r1, imm, r3: 0, .. } => write!(w, "mov r{r1}={imm}"),
            Op::AddImm { r1, imm, r3, wide } => {
                write!(
                    w,
                    "{} r{r1}={imm},r{r3}",
                    if wide { "addl" } else { "adds" }
                )
            }
            Op::Cmp {
                rel,
                unc,
                four,
                p1,
                p2,
                a,
                r3,
            } => {
                let rel = match rel {
                    Rel::Eq => "eq",
                    Rel::Lt => "lt",
                    Rel::Ltu => "ltu",
                };
                write!(
                    w,
                    "cmp{}.{rel}{} p{p1},p{p2}={},r{r3}",
                    if four { "4" } else { "" },
                    if unc { ".unc" } else { "" },
                    src(a)
                )
            }
            Op::Movl(r1, imm) => write!(w, "movl r{r1}={imm:#x}"),
            Op::Load {
                size,
                acq,
                r1,
                r3,
                post,
            } => {
                write!(w, "ld{size}{} r{r1}=[r{r3}]", if acq { ".acq" } else { "" })?;
                match post {
                    Some(p) => write!(w, ",{}", src(p)),
                    None => Ok(()),
                }
            }
            Op::Store {
                size,
                rel,
                r3,
                r2,
                post,
            } => {
                write!(w, "st{size}{} [r{r3}]=r{r2}", if rel { ".rel" } else { "" })?;
                match post {
                    Some(p) => write!(w, ",{p}"),
                    None => Ok(()),
                }
            }
            Op::Mf => w.write_str("mf"),
            Op::SrlzD => w.write_str("srlz.d"),
            Op::SrlzI => w.write_str("srlz.i"),
            Op::Sm { set, mask } => write!(w, "{} {mask:#x}", if set { "ssm" } else { "rsm" }),
            Op::MovFromInd(file, r1, r3) => write!(w, "mov r{r1}={}[r{r3}]", file_name(file)),
            Op::MovToInd(file, r3, r2) => write!(w, "mov {}[r{r3}]=r{r2}", file_name(file)),
            Op::MovFromCr(r1, cr) => write!(w, "mov r{r1}={}", cr_name(cr)),
            Op::MovToCr(cr, r2) => write!(w, "mov {}=r{r2}", cr_name(cr)),
            Op::MovFromPsr(r1) => write!(w, "mov r{r1}=psr"),
            Op::MovToPsrL(r2) => write!(w, "mov psr.l=r{r2}"),
            Op::MovFromAr(m, r1, ar) => {
                write!(w, "mov.{} r{r1}={}", if m { 'm' } else { 'i' }, ar_name(ar))
            }
            Op::MovToAr(m, ar, v) => {
                write!(
                    w,
                    "mov.{} {}={}",
                    if m { 'm' } else { 'i' },
                    ar_name(ar),
                    src(v)
                )
            }
            Op::Alloc(r1, sof, sol, sor) => write!(w, "alloc r{r1}=ar.pfs,{sof},{sol},{sor}"),
            Op::Fc(r3) => write!(w, "fc r{r3}"),
            Op::Thash(r1, r3) => write!(w, "thash r{r1}=r{r3}"),
            Op::Ttag(r1, r3) => write!(w, "ttag r{r1}=r{r3}"),
            Op::Purge(p, r3, r2) => {
                let name = match p {
                    Purge::L => "ptc.l",
                    Purge::G => "ptc.g",
                    Purge::Ga => "ptc.ga",
                    Purge::Rd => "ptr.d",
                    Purge::Ri => "ptr.i",
                };
                write!(w, "{name} r{r3},r{r2}")
            }
            Op::Itc(i, r2) => write!(w, "itc.{} r{r2}", if i { 'i' } else { 'd' }),
            Op::Itr(i, r3, r2) => {
                let (name, file) = if i { ("i", "itr") } else { ("d", "dtr") };
                write!(w, "itr.{name} {file}[r{r3}]=r{r2}")
            }
            Op::MovFromBr(r1, b2) => write!(w, "mov r{r1}=b{b2}"),
            Op::MovToBr(b1, r2) => write!(w, "mov b{b1}=r{r2}"),
            Op::MovFromIp(r1) => write!(w, "mov r{r1}=ip"),
            Op::MovFromPr(r1) => write!(w, "mov r{r1}=pr"),
            Op::MovToPr(r2, mask) => write!(w, "mov pr=r{r2},{}", mask as i64),
            Op::Br(kind, to, h) => {
                let to = match to {
                    Target::Rel(d) => target(d),
                    Target::Br(b) => format!("b{b}"),
                };
                match kind {
                    Kind::Cond if insn.qp == 0 && h.wh == 0 => {
                        write!(w, "br{}", &h.text(false)[5..])?;
                        write!(w, " {to}")
                    }
                    Kind::Cond => write!(w, "br.cond{} {to}", h.text(false)),
                    Kind::Call(b1) => {
                        let call = matches!(to.as_bytes().first(), Some(b'b'));
                        write!(w, "br.call{} b{b1}={to}", h.text(call))
                    }
                    Kind::Ret => write!(w, "br.ret{} {to}", h.text(false)),
                }
            }
            Op::Brl(kind, d, h) => match kind {
                Kind::Call(b1) => write!(w, "brl.call{} b{b1}={}", h.text(false), target(d)),
                _ => write!(w, "brl.cond{} {}", h.text(false), target(d)),
            },
        }
    }
}
