//! Register state: general registers with the register stack (vol. 2, §6 "Register Stack
//! Engine"; vol. 1, §4.1 "Register Stack"), predicates, branch and application registers.
//!
//! Stacked registers r32-r127 are renamed: the current frame (CFM: `sof` registers, the first
//! `sol` of them locals) starts at `bof` in a physical file; `br.call` moves `bof` past the
//! caller's locals and leaves the outputs as the callee's frame; `br.ret` moves it back from
//! ar.pfs. The physical file is unbounded (no spill/fill: the RSE's memory traffic is not
//! modelled); a frame may not exceed 96 registers.

use std::fmt;

/// The current frame marker, the part pv's code uses (no rotating registers: `sor` = 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Cfm {
    /// Size of frame.
    pub sof: u8,
    /// Size of locals (the rest are outputs).
    pub sol: u8,
}

impl Cfm {
    /// The `pfm` field of ar.pfs, bits 0-37 (vol. 3, `br.call`): sof in 0-6, sol in 7-13.
    pub fn bits(self) -> u64 {
        u64::from(self.sof) | u64::from(self.sol) << 7
    }

    /// The frame marker in ar.pfs bits 0-37.
    pub fn from_bits(pfs: u64) -> Cfm {
        Cfm {
            sof: (pfs & 0x7f) as u8,
            sol: ((pfs >> 7) & 0x7f) as u8,
        }
    }
}

/// A register the interpreter shows: name with `Display`, parse with `FromStr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reg {
    /// General register (stacked ones as the current frame names them).
    Gr(u8),
    /// Predicate.
    Pr(u8),
    /// Branch register.
    Br(u8),
    /// Application register by number.
    Ar(u8),
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reg::Gr(n) => write!(f, "r{n}"),
            Reg::Pr(n) => write!(f, "p{n}"),
            Reg::Br(n) => write!(f, "b{n}"),
            Reg::Ar(n) => f.write_str(&crate::insn::ar_name(*n)),
        }
    }
}

impl std::str::FromStr for Reg {
    type Err = String;
    fn from_str(s: &str) -> Result<Reg, String> {
        if let Some(n) = (0..128).find(|n| crate::insn::ar_name(*n) == s) {
            return Ok(Reg::Ar(n));
        }
        let bad = || format!("unknown register {s:?}");
        let (kind, num) = s.split_at(1.min(s.len()));
        let n: u8 = num.parse().map_err(|_| bad())?;
        match kind {
            "r" if n < 128 => Ok(Reg::Gr(n)),
            "p" if n < 64 => Ok(Reg::Pr(n)),
            "b" if n < 8 => Ok(Reg::Br(n)),
            _ => Err(bad()),
        }
    }
}

/// Why a register access is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Illegal {
    /// A stacked register outside the current frame (an Illegal Operation fault).
    OutsideFrame(u8),
    /// r0, p0: hard-wired.
    Fixed,
}

/// The register state.
#[derive(Clone, Debug)]
pub struct Cpu {
    static_gr: [u64; 32],
    stacked: Vec<u64>,
    bof: usize,
    /// The current frame marker.
    pub cfm: Cfm,
    pr: u64,
    /// Branch registers.
    pub br: [u64; 8],
    /// Application registers by number.
    pub ar: [u64; 128],
    /// Address of the bundle executing.
    pub ip: u64,
    /// Current privilege level (psr.cpl): 0 on bare metal, 1 for a Xen/ia64 guest kernel.
    pub cpl: u8,
}

impl Default for Cpu {
    fn default() -> Self {
        Cpu {
            static_gr: [0; 32],
            stacked: vec![0; 96],
            bof: 0,
            cfm: Cfm::default(),
            pr: 1,
            br: [0; 8],
            ar: [0; 128],
            ip: 0,
            cpl: 0,
        }
    }
}

/// ar.pfs.
pub const AR_PFS: u8 = 64;
/// ar.ec (saved in ar.pfs.pec by `br.call`).
pub const AR_EC: u8 = 66;

impl Cpu {
    fn slot(&self, n: u8) -> Result<usize, Illegal> {
        let i = usize::from(n - 32);
        if i >= usize::from(self.cfm.sof) {
            return Err(Illegal::OutsideFrame(n));
        }
        Ok(self.bof + i)
    }

    /// General register `n` of the current frame.
    pub fn gr(&self, n: u8) -> Result<u64, Illegal> {
        match n {
            0..=31 => Ok(self.static_gr[usize::from(n)]),
            _ => Ok(self.stacked[self.slot(n)?]),
        }
    }

    /// Writes general register `n` of the current frame.
    pub fn set_gr(&mut self, n: u8, v: u64) -> Result<(), Illegal> {
        match n {
            0 => Err(Illegal::Fixed),
            1..=31 => {
                self.static_gr[usize::from(n)] = v;
                Ok(())
            }
            _ => {
                let i = self.slot(n)?;
                self.stacked[i] = v;
                Ok(())
            }
        }
    }

    /// Output register `i` of the current frame (r32 + sol + i), if the frame holds it: where
    /// a callee — or a handler that allocates a frame over the caller's outputs — finds its
    /// input `i`.
    pub fn output(&self, i: u8) -> Option<u64> {
        let n = 32 + self.cfm.sol + i;
        (n < 32 + self.cfm.sof).then(|| self.stacked[self.bof + usize::from(n - 32)])
    }

    /// Predicate `n`.
    pub fn pr(&self, n: u8) -> bool {
        self.pr >> n & 1 == 1
    }

    /// Writes predicate `n` (writes to p0 are ignored, as the hardware does).
    pub fn set_pr(&mut self, n: u8, v: bool) {
        if n != 0 {
            self.pr = (self.pr & !(1 << n)) | u64::from(v) << n;
        }
    }

    /// All 64 predicates as `mov r=pr` reads them.
    pub fn prs(&self) -> u64 {
        self.pr
    }

    /// `alloc`: a new frame size over the same base (vol. 3, `alloc`).
    pub fn alloc(&mut self, sof: u8, sol: u8) -> Result<(), &'static str> {
        if sof > 96 || sol > sof {
            return Err("alloc: frame larger than 96 registers or locals larger than the frame");
        }
        self.cfm = Cfm { sof, sol };
        Ok(())
    }

    /// `br.call`: ar.pfs saves the frame (pfm), ar.ec (pec, bits 52-57) and psr.cpl (ppl, bits
    /// 62-63); the callee's frame is the caller's outputs (vol. 3, `br`, call pseudo-code).
    pub fn call(&mut self) {
        self.ar[usize::from(AR_PFS)] = self.cfm.bits()
            | (self.ar[usize::from(AR_EC)] & 0x3f) << 52
            | u64::from(self.cpl & 3) << 62;
        self.bof += usize::from(self.cfm.sol);
        self.cfm = Cfm {
            sof: self.cfm.sof - self.cfm.sol,
            sol: 0,
        };
        if self.stacked.len() < self.bof + 96 {
            self.stacked.resize(self.bof + 96, 0);
        }
    }

    /// `br.ret`: the frame ar.pfs saved, and ar.ec from pec. Err if no caller frame is below.
    pub fn ret(&mut self) -> Result<(), &'static str> {
        let pfs = self.ar[usize::from(AR_PFS)];
        let pfm = Cfm::from_bits(pfs);
        if pfm.sol > pfm.sof || usize::from(pfm.sol) > self.bof {
            return Err("br.ret: ar.pfs names a frame that is not below this one");
        }
        self.bof -= usize::from(pfm.sol);
        self.cfm = pfm;
        self.ar[usize::from(AR_EC)] = (pfs >> 52) & 0x3f;
        Ok(())
    }

    /// Every register the interpreter shows, with its value: r1-r31, the current frame's
    /// stacked registers, p1-p63, b0-b7, and the application registers pv code touches.
    pub fn snapshot(&self) -> Vec<(Reg, u64)> {
        let mut v: Vec<(Reg, u64)> = (1..32)
            .map(|n| (Reg::Gr(n), self.static_gr[n as usize]))
            .collect();
        v.extend(
            (0..self.cfm.sof).map(|i| (Reg::Gr(32 + i), self.stacked[self.bof + usize::from(i)])),
        );
        v.extend((1..64).map(|n| (Reg::Pr(n), u64::from(self.pr(n)))));
        v.extend((0..8).map(|n| (Reg::Br(n), self.br[usize::from(n)])));
        v.extend(
            SHOWN_AR
                .iter()
                .map(|a| (Reg::Ar(*a), self.ar[usize::from(*a)])),
        );
        v
    }

    /// Writes any register [`Cpu::snapshot`] shows.
    pub fn set(&mut self, reg: Reg, v: u64) -> Result<(), Illegal> {
        match reg {
            Reg::Gr(n) => self.set_gr(n, v),
            Reg::Pr(0) => Err(Illegal::Fixed),
            Reg::Pr(n) => {
                self.set_pr(n, v & 1 == 1);
                Ok(())
            }
            Reg::Br(n) => {
                self.br[usize::from(n)] = v;
                Ok(())
            }
            // ar.ec is 6 bits wide.
            Reg::Ar(AR_EC) => {
                self.ar[usize::from(AR_EC)] = v & 0x3f;
                Ok(())
            }
            Reg::Ar(n) => {
                self.ar[usize::from(n)] = v;
                Ok(())
            }
        }
    }
}

/// Application registers shown: the kernel registers, ar.rsc, ar.ccv, ar.unat, ar.fpsr,
/// ar.itc, ar.pfs, ar.lc, ar.ec.
pub const SHOWN_AR: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 16, 32, 36, 40, 44, 64, 65, 66];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_renames_outputs_and_ret_restores_the_frame() {
        let mut c = Cpu::default();
        c.alloc(5, 3).unwrap();
        for i in 0..5 {
            c.set_gr(32 + i, 100 + u64::from(i)).unwrap();
        }
        c.call();
        assert_eq!(c.cfm, Cfm { sof: 2, sol: 0 });
        assert_eq!(
            (c.gr(32), c.gr(33)),
            (Ok(103), Ok(104)),
            "outputs become r32, r33"
        );
        assert_eq!(c.gr(34), Err(Illegal::OutsideFrame(34)));
        c.alloc(4, 4).unwrap();
        c.set_gr(35, 7).unwrap();
        c.ret().unwrap();
        assert_eq!(c.cfm, Cfm { sof: 5, sol: 3 });
        assert_eq!(c.gr(32), Ok(100));
        assert_eq!(c.output(1), Some(104));
        assert_eq!(c.output(2), None);
    }

    #[test]
    fn names_round_trip() {
        for r in ["r8", "r127", "p6", "b0", "ar.ccv", "ar.pfs", "ar.k3"] {
            assert_eq!(r.parse::<Reg>().unwrap().to_string(), r);
        }
        assert!("r128".parse::<Reg>().is_err() && "q1".parse::<Reg>().is_err());
    }
}
