//! Bare metal: the kernel at privilege level 0, every instruction doing what the Itanium
//! manual says on the machine's own registers (vol. 2, ch. 3 "System State and Programming
//! Model"; vol. 3 for each instruction). No interruption handler is installed: a `break`
//! stops the run, as it would enter a kernel vector pv's code never expects to reach.

use super::{PSR_I, Platform, Refusal, Sys, thash};
use crate::cpu::Cpu;
use crate::insn::{File, Purge};
use crate::mem::Memory;

/// The machine's privileged state and what was done to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bare {
    /// CPUID registers 0-4 (vol. 2, §3.1.11: 0-1 vendor, 3 version, 4 features).
    pub cpuid: [u64; 5],
    /// Performance monitor data registers.
    pub pmd: [u64; 8],
    /// Region registers.
    pub rr: [u64; 8],
    /// Kernel registers ar.k0-k7.
    pub kr: [u64; 8],
    /// psr.
    pub psr: u64,
    /// cr.pta.
    pub pta: u64,
    /// cr.tpr.
    pub tpr: u64,
    /// cr.itm.
    pub itm: u64,
    /// ar.itc: advances by one on every read.
    pub itc: u64,
    /// Pending external interrupt vectors (cr.ivr returns the highest and marks it in service).
    pub pending: Vec<u64>,
    /// Writes to cr.eoi.
    pub eois: u64,
    /// Translation cache purges: (kind, address, size in bytes).
    pub purges: Vec<(Purge, u64, u64)>,
    /// Cache flushes (`fc`): addresses.
    pub flushes: Vec<u64>,
    /// Serializations (`srlz`).
    pub serializations: u64,
}

impl Default for Bare {
    fn default() -> Self {
        Bare {
            // "GenuineIntel", 4 = the highest CPUID register, Itanium 2 family 0x1f
            cpuid: [
                u64::from_le_bytes(*b"GenuineI"),
                u64::from_le_bytes(*b"ntel\0\0\0\0"),
                0,
                0x1f_02_01_04,
                1,
            ],
            pmd: [0x100, 0x101, 0x102, 0x103, 0x104, 0x105, 0x106, 0x107],
            rr: [0x38; 8].map(|v: u64| v | 1),
            kr: [0; 8],
            psr: 1 << 13 | 1 << 17 | 1 << 27, // ic, dt, it (interrupts off)
            pta: 0x1_0000_0000 | 15 << 2 | 1, // base, size 2^15, enabled
            tpr: 0x10000,
            itm: 0,
            itc: 1_000_000,
            pending: vec![0x30, 0xef],
            eois: 0,
            purges: Vec::new(),
            flushes: Vec::new(),
            serializations: 0,
        }
    }
}

/// Bits a `ssm`/`rsm` may change from the kernel: the system mask, psr{23:0} (vol. 3, `ssm`).
const SYSTEM_MASK: u64 = (1 << 24) - 1;

impl Bare {
    /// cr.ivr: the highest pending vector, now in service; 15 (spurious) if none
    /// (vol. 2, §5.8.3.1 "External Interrupt Vector Register").
    pub fn ivr(&mut self) -> u64 {
        super::take_highest(&mut self.pending)
    }

    /// A purge's size from its r2 operand: 2^r2{7:2} bytes (vol. 3, `ptc.ga`).
    pub fn purge_size(r2: u64) -> u64 {
        1u64 << ((r2 >> 2) & 0x3f)
    }

    /// Whether interrupts are enabled.
    pub fn interrupts(&self) -> bool {
        self.psr & PSR_I != 0
    }

    /// What the machine does for `op`, at any privilege level (the hypervisor model runs the
    /// non-trapping instructions of its guest here).
    pub fn exec(&mut self, op: Sys) -> Result<u64, Refusal> {
        let refuse = |what: String| Err(Refusal(what));
        Ok(match op {
            Sys::ReadInd(File::Cpuid, i) => match self.cpuid.get(i as usize) {
                Some(v) => *v,
                None => return refuse(format!("cpuid[{i}]: reserved register fault")),
            },
            Sys::ReadInd(File::Pmd, i) => self.pmd.get(i as usize).copied().unwrap_or(0),
            Sys::ReadInd(File::Rr, va) => self.rr[(va >> 61) as usize],
            Sys::WriteInd(File::Rr, va, v) => {
                self.rr[(va >> 61) as usize] = v;
                0
            }
            Sys::ReadCr(8) => self.pta,
            Sys::ReadCr(65) => self.ivr(),
            Sys::ReadCr(66) => self.tpr,
            Sys::WriteCr(66, v) => {
                self.tpr = v;
                0
            }
            Sys::WriteCr(67, _) => {
                self.eois += 1;
                0
            }
            Sys::WriteCr(1, v) => {
                self.itm = v;
                0
            }
            Sys::ReadPsr => self.psr,
            Sys::SystemMask(set, mask) => {
                let mask = mask & SYSTEM_MASK;
                self.psr = if set {
                    self.psr | mask
                } else {
                    self.psr & !mask
                };
                0
            }
            Sys::ReadAr(n @ 0..=7) => self.kr[n as usize],
            Sys::WriteAr(n @ 0..=7, v) => {
                self.kr[n as usize] = v;
                0
            }
            Sys::ReadAr(44) => {
                self.itc += 1;
                self.itc
            }
            Sys::Fc(a) => {
                self.flushes.push(a);
                0
            }
            Sys::Thash(va) => thash(self.pta, self.rr[(va >> 61) as usize], va),
            Sys::Purge(kind, a, r2) => {
                self.purges.push((kind, a, Self::purge_size(r2)));
                0
            }
            Sys::Serialize => {
                self.serializations += 1;
                0
            }
            other => return refuse(format!("{other:?} is not modelled on this machine")),
        })
    }
}

impl Platform for Bare {
    fn cpl(&self) -> u8 {
        0
    }

    fn setup(&mut self, _: &mut Memory) {}

    fn system(&mut self, op: Sys, _: &mut Memory) -> Result<u64, Refusal> {
        self.exec(op)
    }

    fn brk(&mut self, imm: u64, _: &mut Cpu, _: &mut Memory) -> Result<(), Refusal> {
        Err(Refusal(format!(
            "break {imm:#x} on bare metal: a Break Instruction fault into a kernel vector pv's code never reaches"
        )))
    }

    fn access(&mut self, _: u64, _: bool, _: bool) {}

    fn report(&self) -> Vec<(String, u64)> {
        let mut v = vec![
            ("psr".to_string(), self.psr),
            ("tpr".into(), self.tpr),
            ("eois".into(), self.eois),
            ("purges".into(), self.purges.len() as u64),
            ("flushes".into(), self.flushes.len() as u64),
        ];
        v.extend(
            self.rr
                .iter()
                .enumerate()
                .map(|(i, r)| (format!("rr{i}"), *r)),
        );
        v.extend(
            self.kr
                .iter()
                .enumerate()
                .map(|(i, r)| (format!("kr{i}"), *r)),
        );
        v
    }
}
