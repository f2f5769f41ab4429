//! The interpreter: fetch a bundle, check its template, decode every slot, then execute slot
//! by slot, checking that no instruction reads or rewrites a register an earlier instruction
//! of the same instruction group wrote (vol. 1, §3.4 "Instruction Sequencing
//! Considerations"; vol. 2, §3.? "Dependency Violations"), since the hardware gives such
//! code no defined meaning. Semantics of each instruction: vol. 3, ch. 2, under its name.

use crate::access::{Key, access};
use crate::bundle::{self, Unit};
use crate::cpu::{AR_PFS, Cpu};
use crate::insn::{self, Alu, File, Insn, Kind, Op, Rel, Src, Target};
use crate::mem::Memory;
use crate::platform::{Platform, Sys};
use std::fmt;

/// Why a run stopped early.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// A bundle outside the subset: its address, bytes, and what is wrong.
    Unmodelled {
        addr: u64,
        bytes: [u8; 16],
        why: String,
    },
    /// A fault or a refusal at the bundle at `addr` (unmapped memory, a register outside the
    /// frame, a dependency violation, a platform refusal).
    Fault { addr: u64, why: String },
    /// More bundles than the limit: a loop, or code running away.
    Limit(u64),
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Unmodelled { addr, bytes, why } => {
                write!(f, "{addr:#x}: bundle ")?;
                for b in bytes {
                    write!(f, "{b:02x}")?;
                }
                write!(f, " is outside the modelled subset: {why}")
            }
            Stop::Fault { addr, why } => write!(f, "{addr:#x}: {why}"),
            Stop::Limit(n) => write!(f, "stopped after {n} bundles"),
        }
    }
}

/// A machine running pv code: registers, memory and the platform beneath.
pub struct Machine<P> {
    /// Registers.
    pub cpu: Cpu,
    /// Memory.
    pub mem: Memory,
    /// Bare metal or a hypervisor.
    pub platform: P,
    /// Bundles executed so far.
    pub bundles: u64,
    written: Vec<Key>,
}

/// The return address the runner puts in b0: a run ends when execution reaches it.
pub const SENTINEL: u64 = 0x0ead_beef_0000_0000;

impl<P: Platform> Machine<P> {
    /// A machine over `mem`, the platform's areas mapped, at its kernel privilege level.
    pub fn new(mut mem: Memory, mut platform: P) -> Machine<P> {
        platform.setup(&mut mem);
        let mut cpu = Cpu::default();
        cpu.cpl = platform.cpl();
        Machine {
            cpu,
            mem,
            platform,
            bundles: 0,
            written: Vec::new(),
        }
    }

    /// Runs from `entry` until execution reaches `until`, at most `limit` bundles.
    pub fn run(&mut self, entry: u64, until: u64, limit: u64) -> Result<(), Stop> {
        self.cpu.ip = entry;
        let start = self.bundles;
        while self.cpu.ip != until {
            if self.bundles - start >= limit {
                return Err(Stop::Limit(limit));
            }
            self.step()?;
        }
        Ok(())
    }

    /// Calls the function whose entry is `entry` as `br.call b0` would (the current frame's
    /// outputs become its inputs, b0 = [`SENTINEL`]) and runs until it returns.
    pub fn call(&mut self, entry: u64, limit: u64) -> Result<(), Stop> {
        self.cpu.call();
        self.cpu.br[0] = SENTINEL;
        self.run(entry, SENTINEL, limit)
    }

    /// Executes one bundle.
    pub fn step(&mut self) -> Result<(), Stop> {
        let addr = self.cpu.ip;
        let fault = |why: String| Stop::Fault { addr, why };
        let bytes = self
            .mem
            .bundle(addr)
            .ok_or_else(|| fault("instruction fetch from unmapped memory".into()))?;
        let unmodelled = |why: String| Stop::Unmodelled { addr, bytes, why };
        let (t, _) = bundle::split(&bytes);
        let template =
            bundle::template(t).ok_or_else(|| unmodelled(format!("reserved template {t:#x}")))?;
        // Decode everything first: nothing of a bundle runs unless all of it is understood.
        let mut insns: Vec<(usize, Insn)> = Vec::with_capacity(3);
        for slot in
            insn::bundle(&bytes).map_err(|t| unmodelled(format!("reserved template {t:#x}")))?
        {
            let insn = slot.insn.map_err(|bits| {
                unmodelled(match slot.unit {
                    Unit::L => format!("slot 1+2 (L+X) {bits:#x}"),
                    unit => format!("slot {} ({unit:?}) {bits:#013x}", slot.index),
                })
            })?;
            insns.push((slot.index, insn));
        }
        self.bundles += 1;
        for (i, insn) in insns {
            if let Some(target) = self.exec(&insn, addr).map_err(&fault)? {
                self.written.clear();
                self.cpu.ip = target;
                return Ok(());
            }
            if template.stops[i] {
                self.written.clear();
            }
        }
        self.cpu.ip = addr.wrapping_add(16);
        Ok(())
    }

    fn gr(&self, n: u8) -> Result<u64, String> {
        self.cpu
            .gr(n)
            .map_err(|e| format!("read of r{n}: {e:?} (Illegal Operation fault)"))
    }

    fn set_gr(&mut self, n: u8, v: u64) -> Result<(), String> {
        self.cpu
            .set_gr(n, v)
            .map_err(|e| format!("write of r{n}: {e:?} (Illegal Operation fault)"))
    }

    fn src(&self, s: Src) -> Result<u64, String> {
        match s {
            Src::Reg(r) => self.gr(r),
            Src::Imm(i) => Ok(i as u64),
        }
    }

    fn sys(&mut self, op: Sys) -> Result<u64, String> {
        self.platform.system(op, &mut self.mem).map_err(|r| r.0)
    }

    /// Executes one instruction of the bundle at `ip`; `Some(target)` if it branched.
    fn exec(&mut self, insn: &Insn, ip: u64) -> Result<Option<u64>, String> {
        let (reads, writes) = access(insn);
        let text = insn::At(insn, ip).to_string();
        if matches!(insn.op, Op::Alloc(..)) && !self.written.is_empty() {
            return Err(format!(
                "`{text}` is not the first instruction of its group"
            ));
        }
        for k in reads.iter().chain(&writes) {
            let fixed = matches!(k, Key::G(0) | Key::P(0));
            if !fixed && self.written.contains(k) {
                return Err(format!(
                    "`{text}`: dependency violation on {k:?}, written earlier in the same instruction group (a stop is missing)"
                ));
            }
        }
        let taken = self.cpu.pr(insn.qp);
        if let Op::Cmp {
            unc: true, p1, p2, ..
        } = insn.op
        {
            self.cpu.set_pr(p1, false);
            self.cpu.set_pr(p2, false);
        }
        if !taken {
            return Ok(None);
        }
        self.written.extend(writes);
        self.semantics(insn, ip, &text)
    }

    fn semantics(&mut self, insn: &Insn, ip: u64, text: &str) -> Result<Option<u64>, String> {
        match insn.op {
            Op::Nop(..) => {}
            Op::Break(_, imm) => {
                self.platform
                    .brk(imm, &mut self.cpu, &mut self.mem)
                    .map_err(|r| r.0)?;
            }
            Op::Alu(op, r1, a, r3) => {
                let (a, b) = (self.src(a)?, self.gr(r3)?);
                let v = match op {
                    Alu::Add => a.wrapping_add(b),
                    Alu::AddOne => a.wrapping_add(b).wrapping_add(1),
                    Alu::Sub => a.wrapping_sub(b),
                    Alu::SubOne => a.wrapping_sub(b).wrapping_sub(1),
                    Alu::And => a & b,
                    Alu::Andcm => a & !b,
                    Alu::Or => a | b,
                    Alu::Xor => a ^ b,
                };
                self.set_gr(r1, v)?;
            }
            Op::Shladd(r1, r2, n, r3) => {
                let v = (self.gr(r2)? << n).wrapping_add(self.gr(r3)?);
                self.set_gr(r1, v)?;
            }
            Op::AddImm { r1, imm, r3, .. } => {
                let v = self.gr(r3)?.wrapping_add(imm as u64);
                self.set_gr(r1, v)?;
            }
            Op::Cmp {
                rel,
                four,
                p1,
                p2,
                a,
                r3,
                ..
            } => {
                if p1 == p2 {
                    return Err(format!("`{text}`: p1 = p2 (Illegal Operation fault)"));
                }
                let (a, b) = (self.src(a)?, self.gr(r3)?);
                let (a, b) = if four {
                    match rel {
                        Rel::Ltu => (a & 0xffff_ffff, b & 0xffff_ffff),
                        _ => (a as i32 as i64 as u64, b as i32 as i64 as u64),
                    }
                } else {
                    (a, b)
                };
                let v = match rel {
                    Rel::Eq => a == b,
                    Rel::Lt => (a as i64) < (b as i64),
                    Rel::Ltu => a < b,
                };
                self.cpu.set_pr(p1, v);
                self.cpu.set_pr(p2, !v);
            }
            Op::Movl(r1, imm) => self.set_gr(r1, imm)?,
            Op::Load {
                size,
                acq,
                r1,
                r3,
                post,
            } => {
                let a = self.gr(r3)?;
                let v = self
                    .mem
                    .read(a, size)
                    .ok_or_else(|| format!("`{text}`: load from unmapped {a:#x}"))?;
                self.platform.access(a, false, acq);
                if let Some(p) = post {
                    let inc = self.src(p)?;
                    self.set_gr(r3, a.wrapping_add(inc))?;
                }
                self.set_gr(r1, v)?;
            }
            Op::Store {
                size,
                rel,
                r3,
                r2,
                post,
            } => {
                let (a, v) = (self.gr(r3)?, self.gr(r2)?);
                self.mem
                    .write(a, size, v)
                    .ok_or_else(|| format!("`{text}`: store to unmapped {a:#x}"))?;
                self.platform.access(a, true, rel);
                if let Some(p) = post {
                    self.set_gr(r3, a.wrapping_add(p as u64))?;
                }
            }
            Op::Mf => {}
            Op::SrlzD | Op::SrlzI => {
                self.sys(Sys::Serialize)?;
            }
            Op::Sm { set, mask } => {
                self.sys(Sys::SystemMask(set, mask))?;
            }
            Op::MovFromInd(file, r1, r3) => {
                let i = self.gr(r3)?;
                let v = self.sys(Sys::ReadInd(file, i))?;
                self.set_gr(r1, v)?;
            }
            Op::MovToInd(file, r3, r2) => {
                if file == File::Cpuid {
                    return Err(format!("`{text}`: cpuid is read-only"));
                }
                let (i, v) = (self.gr(r3)?, self.gr(r2)?);
                self.sys(Sys::WriteInd(file, i, v))?;
            }
            Op::MovFromCr(r1, cr) => {
                let v = self.sys(Sys::ReadCr(cr))?;
                self.set_gr(r1, v)?;
            }
            Op::MovToCr(cr, r2) => {
                let v = self.gr(r2)?;
                self.sys(Sys::WriteCr(cr, v))?;
            }
            Op::MovFromPsr(r1) => {
                let v = self.sys(Sys::ReadPsr)?;
                self.set_gr(r1, v)?;
            }
            Op::MovFromAr(_, r1, ar) => {
                let v = match ar {
                    0..=7 | 44 => self.sys(Sys::ReadAr(ar))?,
                    _ => self.cpu.ar[usize::from(ar)],
                };
                self.set_gr(r1, v)?;
            }
            Op::MovToAr(_, ar, v) => {
                let v = self.src(v)?;
                match ar {
                    0..=7 | 44 => {
                        self.sys(Sys::WriteAr(ar, v))?;
                    }
                    17 => return Err(format!("`{text}`: ar.bsp is read-only")),
                    _ => self.cpu.ar[usize::from(ar)] = v,
                }
            }
            Op::Alloc(r1, sof, sol, sor) => {
                if sor != 0 {
                    return Err(format!("`{text}`: rotating registers are not modelled"));
                }
                let pfs = self.cpu.ar[usize::from(AR_PFS)];
                self.cpu.alloc(sof, sol).map_err(str::to_string)?;
                self.set_gr(r1, pfs)?;
            }
            Op::Fc(r3) => {
                let a = self.gr(r3)?;
                self.sys(Sys::Fc(a))?;
            }
            Op::Thash(r1, r3) => {
                let a = self.gr(r3)?;
                let v = self.sys(Sys::Thash(a))?;
                self.set_gr(r1, v)?;
            }
            Op::Purge(kind, r3, r2) => {
                let (a, s) = (self.gr(r3)?, self.gr(r2)?);
                self.sys(Sys::Purge(kind, a, s))?;
            }
            Op::MovFromBr(r1, b) => self.set_gr(r1, self.cpu.br[usize::from(b)])?,
            Op::MovToBr(b, r2) => self.cpu.br[usize::from(b)] = self.gr(r2)?,
            Op::MovFromIp(r1) => self.set_gr(r1, ip)?,
            Op::MovFromPr(r1) => self.set_gr(r1, self.cpu.prs())?,
            Op::MovToPr(r2, mask) => {
                let v = self.gr(r2)?;
                for p in 1..64 {
                    if mask >> p.min(16) & 1 == 1 {
                        self.cpu.set_pr(p, v >> p & 1 == 1);
                    }
                }
            }
            Op::Br(kind, to, _) => {
                let target = match to {
                    Target::Rel(d) => ip.wrapping_add(d as u64),
                    Target::Br(b) => self.cpu.br[usize::from(b)] & !0xf,
                };
                return self.branch(kind, target, ip).map(Some);
            }
            Op::Brl(kind, d, _) => {
                return self.branch(kind, ip.wrapping_add(d as u64), ip).map(Some);
            }
            Op::MovToPsrL(_) | Op::Ttag(..) | Op::Itc(..) | Op::Itr(..) => {
                return Err(format!("`{text}` is decoded but not modelled"));
            }
        }
        Ok(None)
    }

    fn branch(&mut self, kind: Kind, target: u64, ip: u64) -> Result<u64, String> {
        match kind {
            Kind::Cond => {}
            Kind::Call(b1) => {
                self.cpu.call();
                self.cpu.br[usize::from(b1)] = ip.wrapping_add(16);
            }
            Kind::Ret => self.cpu.ret().map_err(str::to_string)?,
        }
        Ok(target)
    }
}
