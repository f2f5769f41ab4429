//! What each instruction of the subset reads and writes: general registers, predicates, branch
//! registers and application registers. One table, read by the interpreter's dependency check
//! (`exec`) and by `pv-sites --check`, which holds pv's ia64 bodies to their register contracts
//! with it. Written from each instruction's description in the Itanium Architecture Software
//! Developer's Manual, vol. 3, ch. 2, as the semantics in `exec` are.

use crate::cpu::AR_PFS;
use crate::insn::{Insn, Kind, Op, Src};

/// A register, as the table names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    /// General register r0-r127.
    G(u8),
    /// Predicate register p0-p63.
    P(u8),
    /// Branch register b0-b7.
    B(u8),
    /// Application register, by number (`ar.pfs` is 64).
    A(u8),
}

/// The registers `insn` reads and the registers it writes (when its predicate is true; a
/// `cmp.unc` also writes its targets when it is false). Memory, control registers, psr and the
/// indirect register files are not registers here: they are the machine's state, not values
/// a register contract speaks of.
pub fn access(insn: &Insn) -> (Vec<Key>, Vec<Key>) {
    use Key::*;
    let g = |s: Src| match s {
        Src::Reg(r) => vec![G(r)],
        Src::Imm(_) => vec![],
    };
    let (mut reads, writes) = match insn.op {
        Op::Nop(..) | Op::Mf | Op::SrlzD | Op::SrlzI | Op::Sm { .. } => (vec![], vec![]),
        Op::Break(..) => (vec![], vec![]),
        Op::Alu(_, r1, a, r3) => ([g(a), vec![G(r3)]].concat(), vec![G(r1)]),
        Op::Shladd(r1, r2, _, r3) => (vec![G(r2), G(r3)], vec![G(r1)]),
        Op::AddImm { r1, r3, .. } => (vec![G(r3)], vec![G(r1)]),
        Op::Cmp { p1, p2, a, r3, .. } => ([g(a), vec![G(r3)]].concat(), vec![P(p1), P(p2)]),
        Op::Movl(r1, _) => (vec![], vec![G(r1)]),
        Op::Load { r1, r3, post, .. } => {
            let mut w = vec![G(r1)];
            if post.is_some() {
                w.push(G(r3));
            }
            ([vec![G(r3)], post.map_or(vec![], g)].concat(), w)
        }
        Op::Store { r3, r2, post, .. } => (
            vec![G(r3), G(r2)],
            if post.is_some() { vec![G(r3)] } else { vec![] },
        ),
        Op::MovFromInd(_, r1, r3) | Op::Thash(r1, r3) | Op::Ttag(r1, r3) => {
            (vec![G(r3)], vec![G(r1)])
        }
        Op::MovToInd(_, r3, r2) | Op::Purge(_, r3, r2) | Op::Itr(_, r3, r2) => {
            (vec![G(r3), G(r2)], vec![])
        }
        Op::MovFromCr(r1, _) | Op::MovFromPsr(r1) | Op::MovFromIp(r1) | Op::MovFromPr(r1) => {
            (vec![], vec![G(r1)])
        }
        Op::MovToCr(_, r2) | Op::MovToPsrL(r2) | Op::Itc(_, r2) | Op::Fc(r2) => {
            (vec![G(r2)], vec![])
        }
        Op::MovFromAr(_, r1, ar) => (vec![A(ar)], vec![G(r1)]),
        Op::MovToAr(_, ar, v) => (g(v), vec![A(ar)]),
        Op::Alloc(r1, ..) => (vec![A(AR_PFS)], vec![G(r1)]),
        Op::MovFromBr(r1, b) => (vec![B(b)], vec![G(r1)]),
        Op::MovToBr(b, r2) => (vec![G(r2)], vec![B(b)]),
        Op::MovToPr(r2, _) => (vec![G(r2)], (1..64).map(P).collect()),
        Op::Br(kind, ..) => {
            // A branch may read a branch register a mov to BR of its own group wrote: the
            // manual's resource tables give that RAW dependency on BR% the semantics
            // `impliedF` (vol. 3, ch. 5), and GNU as in explicit mode accepts it for br.cond,
            // br.call and br.ret alike (while refusing `mov r=b` there). Linux's
            // `__PARAVIRT_BR` relies on it: `mov b7=r3` then `br.cond b7` in one group.
            let mut r = vec![];
            let w = match kind {
                Kind::Call(b1) => vec![B(b1), A(AR_PFS)],
                Kind::Ret => {
                    r.push(A(AR_PFS));
                    vec![]
                }
                Kind::Cond => vec![],
            };
            (r, w)
        }
        Op::Brl(kind, ..) => (
            vec![],
            match kind {
                Kind::Call(b1) => vec![B(b1), A(AR_PFS)],
                _ => vec![],
            },
        ),
    };
    // A branch may use a predicate a compare of its own group wrote (vol. 1, §3.4.3).
    if insn.qp != 0 && !matches!(insn.op, Op::Br(..) | Op::Brl(..)) {
        reads.push(P(insn.qp));
    }
    (reads, writes)
}
