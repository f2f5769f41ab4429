//! Xen/ia64: a paravirtualized guest kernel at privilege level 1 on one virtual CPU of
//! several, written from Xen 4.0.0's `xen/arch/ia64` (the last release with it) and Linux's
//! Xen/ia64 code. Sources, cited beside what they decide:
//!
//! - \[ivt\] xen/arch/ia64/xen/ivt.S `break_fault`, `fast_hypercall`, `ia64_syscall_setup`;
//! - \[entry\] xen/arch/ia64/linux-xen/entry.S `ia64_leave_syscall` (what a hypercall leaves);
//! - \[privop\] xen/arch/ia64/xen/privop.c `ia64_hyperprivop`, `priv_handle_op`;
//! - \[hpo\] xen/arch/ia64/xen/hyperprivop.S (the fast paths: `hyper_set_kr`, ...);
//! - \[vcpu\] xen/arch/ia64/xen/vcpu.c (`vcpu_get_cpuid`, `vcpu_thash`, `vcpu_set_psr_i`, ...);
//! - \[pub\] xen/include/public/arch-ia64.h (`HYPERPRIVOP_*`, `struct mapped_regs`);
//! - \[dom\] xen/arch/ia64/xen/domain.c (`interrupt_mask_addr` of each vCPU);
//! - \[lx-privop\] Linux arch/ia64/include/asm/xen/privop.h (`XSI_BASE`, `XSI_PSR_I_ADDR_OFS`).
//!
//! Guest memory the hypervisor shares — shared_info with one `vcpu_info` per vCPU, and the
//! current vCPU's `mapped_regs` — is mapped at `XSI_BASE` in the interpreter's memory.

use super::bare::Bare;
use super::{PSR_I, Platform, Refusal, Sys, thash};
use crate::cpu::Cpu;
use crate::insn::{File, Purge};
use crate::mem::Memory;

/// Where the guest registered its shared area (\[lx-privop\] `XSI_BASE`, "addressable using
/// addl"; Linux's xensetup.S registers it with hypercall 0x600).
pub const XSI_BASE: u64 = 0xffff_ffff_fff0_0000;
/// shared_info's size; `mapped_regs` follow (\[lx-privop\] `XSI_SIZE`, `XMAPPEDREGS_OFS`).
pub const XMAPPEDREGS_OFS: u64 = 16 << 10;
/// `offsetof(struct mapped_regs, interrupt_mask_addr)`: `vcr[128]` ends at 3072, then
/// precover_ifs, unat and an int padded to 8 (\[pub\] `struct mapped_regs`).
pub const INTERRUPT_MASK_ADDR_OFS: u64 = 3096;
/// The guest address of the current vCPU's `interrupt_mask_addr` (Linux's
/// `XEN_PSR_I_ADDR_ADDR`): the same address on every vCPU, each seeing its own `mapped_regs`.
pub const XSI_PSR_I_ADDR: u64 = XSI_BASE + XMAPPEDREGS_OFS + INTERRUPT_MASK_ADDR_OFS;
/// `sizeof(struct vcpu_info)` on ia64 (`arch_vcpu_info` is empty): pending, mask, pad, 64-bit
/// selector, then `struct arch_vcpu_info` and the time info (\[pub\]).
pub const VCPU_INFO_SIZE: u64 = 48;
/// The default `vcpu->breakimm` (\[ivt\]: compared with cr.iim for a hypercall).
pub const BREAKIMM: u64 = 0x1000;
/// `HYPERPRIVOP_MAX` (\[pub\]).
pub const HYPERPRIVOP_MAX: u64 = 0x1a;
/// `HYPERPRIVOP_SSM_I` (\[pub\]).
pub const HYPERPRIVOP_SSM_I: u64 = 0x07;

/// One virtual CPU's privileged state as Xen keeps it (`PSCB(vcpu, …)`, \[vcpu\]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vcpu {
    /// Virtual region registers (`rrs`).
    pub rr: [u64; 8],
    /// Kernel registers (`krs`).
    pub kr: [u64; 8],
    /// Virtual psr without psr.i (which is the event mask).
    pub psr: u64,
    /// Virtual cr.pta.
    pub pta: u64,
    /// Virtual cr.tpr.
    pub tpr: u64,
    /// Virtual cr.itm.
    pub itm: u64,
    /// Pending virtual interrupt vectors.
    pub pending: Vec<u64>,
    /// `vcpu_set_eoi` calls.
    pub eois: u64,
    /// `vcpu_ptc_ga`: (address, size).
    pub purges: Vec<(u64, u64)>,
    /// `vcpu_fc`: addresses.
    pub flushes: Vec<u64>,
}

impl Vcpu {
    fn new(id: usize) -> Vcpu {
        Vcpu {
            rr: [0x30 | 1 | (id as u64) << 8; 8],
            kr: [0; 8],
            psr: 1 << 13 | 1 << 17 | 1 << 27 | 1 << 32, // ic, dt, it, cpl 1
            pta: 0x2_0000_0000 | 16 << 2 | 1,
            tpr: 0x10000,
            itm: 0,
            pending: vec![0x40],
            eois: 0,
            purges: Vec::new(),
            flushes: Vec::new(),
        }
    }
}

/// A hypercall as Xen received it: the number from r2 and the five arguments where Xen reads
/// them (`None`: the register lies outside the caller's frame, so Xen reads garbage).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hypercall {
    /// `__HYPERVISOR_*` number.
    pub nr: u64,
    /// in0-in4 of the handler.
    pub args: [Option<u64>; 5],
}

/// Xen/ia64 with its virtual CPUs, over the machine it runs on.
#[derive(Clone, Debug)]
pub struct Xen {
    /// The real machine: what the guest's non-trapping sensitive instructions see.
    pub machine: Bare,
    /// Virtual CPUs.
    pub vcpus: Vec<Vcpu>,
    /// The vCPU running the guest code.
    pub current: usize,
    /// Hyperprivops taken, by number (slow and fast paths alike).
    pub hyperprivops: [u64; HYPERPRIVOP_MAX as usize + 1],
    /// Hypercalls taken.
    pub hypercalls: Vec<Hypercall>,
    /// Privileged instructions the guest executed natively: each a Privileged Operation
    /// fault that Xen emulates (\[privop\] `priv_handle_op`).
    pub privops: u64,
    /// Events delivered on unmasking.
    pub delivered: u64,
    /// Plain (neither `.acq` nor `.rel`) loads and stores of an event mask or pending byte.
    pub unordered: u64,
    /// What every hypercall returns in r8.
    pub result: u64,
}

impl Xen {
    /// `n` vCPUs, the guest running on `current`; every vCPU starts masked (\[vcpu\]: a new
    /// vCPU's `evtchn_upcall_mask` is 1) with nothing pending.
    pub fn new(n: usize, current: usize) -> Xen {
        Xen {
            machine: Bare::default(),
            vcpus: (0..n).map(Vcpu::new).collect(),
            current,
            hyperprivops: [0; HYPERPRIVOP_MAX as usize + 1],
            hypercalls: Vec::new(),
            privops: 0,
            delivered: 0,
            unordered: 0,
            result: 0,
        }
    }

    /// Address of vCPU `id`'s event mask byte, `evtchn_upcall_mask` in its `vcpu_info` (\[dom\]:
    /// `interrupt_mask_addr = shared_info_va + sizeof(vcpu_info) * id + 1`).
    pub fn mask_addr(id: usize) -> u64 {
        XSI_BASE + VCPU_INFO_SIZE * id as u64 + 1
    }

    /// Address of vCPU `id`'s `evtchn_upcall_pending`, the byte before its mask.
    pub fn pending_addr(id: usize) -> u64 {
        Self::mask_addr(id) - 1
    }

    fn vcpu(&mut self) -> &mut Vcpu {
        &mut self.vcpus[self.current]
    }

    /// Whether the current vCPU's events are masked (virtual psr.i clear).
    pub fn masked(&self, mem: &Memory) -> bool {
        mem.read(Self::mask_addr(self.current), 1) != Some(0)
    }

    /// `vcpu_set_psr_i` (\[vcpu\]): clears the mask; an event pending is then delivered on the
    /// way back to the guest (counted; the guest's callback is not run).
    fn unmask(&mut self, mem: &mut Memory) {
        let id = self.current;
        mem.write(Self::mask_addr(id), 1, 0);
        if mem.read(Self::pending_addr(id), 1) != Some(0) {
            self.delivered += 1;
            mem.write(Self::pending_addr(id), 1, 0);
        }
    }

    /// `vcpu_get_psr` (\[vcpu\]): the virtual psr with psr.i from the event mask.
    fn psr(&self, mem: &Memory) -> u64 {
        let psr = self.vcpus[self.current].psr;
        if self.masked(mem) { psr } else { psr | PSR_I }
    }

    /// `vcpu_get_ivr` (\[vcpu\]): the highest pending virtual vector, 15 if none.
    fn ivr(&mut self) -> u64 {
        super::take_highest(&mut self.vcpu().pending)
    }

    /// `ia64_hyperprivop(iim, regs)` (\[privop\]): operands in r8, r9, r10, r11, r14; results
    /// in r8.
    fn hyperprivop(&mut self, nr: u64, cpu: &mut Cpu, mem: &mut Memory) -> Result<(), Refusal> {
        let r = |n| cpu.gr(n).unwrap_or(0);
        let (r8, r9) = (r(8), r(9));
        self.hyperprivops[nr as usize] += 1;
        let result = match nr {
            // SSM_I: vcpu_set_psr_i
            0x07 => {
                self.unmask(mem);
                None
            }
            // GET_IVR, GET_TPR, SET_TPR, EOI
            0x08 => Some(self.ivr()),
            0x09 => Some(self.vcpu().tpr),
            0x0a => {
                self.vcpu().tpr = r8;
                None
            }
            0x0b => {
                self.vcpu().eois += 1;
                None
            }
            // SET_ITM
            0x0c => {
                self.vcpu().itm = r8;
                None
            }
            // THASH: vcpu_thash with the virtual pta and region register
            0x0d => {
                let v = &self.vcpus[self.current];
                Some(thash(v.pta, v.rr[(r8 >> 61) as usize], r8))
            }
            // PTC_GA: vcpu_ptc_ga(v, r8, 1L << ((r9 & 0xfc) >> 2))
            0x0e => {
                self.vcpu().purges.push((r8, 1 << ((r9 & 0xfc) >> 2)));
                None
            }
            // GET_RR, SET_RR: rrs[reg >> 61]
            0x10 => Some(self.vcpus[self.current].rr[(r8 >> 61) as usize]),
            0x11 => {
                self.vcpu().rr[(r8 >> 61) as usize] = r9;
                None
            }
            // SET_KR: vcpu_set_ar(v, r8, r9): krs[reg] and the machine's kr. The fast path
            // (`hyper_set_kr`, \[hpo\]) finds the register by counting r8 down by one eight
            // times, and gives it back so.
            0x12 if r8 <= 7 => {
                self.vcpu().kr[r8 as usize] = r9;
                self.machine.kr[r8 as usize] = r9;
                Some(r8.wrapping_sub(8))
            }
            // FC: vcpu_fc
            0x13 => {
                self.vcpu().flushes.push(r8);
                None
            }
            // GET_CPUID: vcpu_get_cpuid: 0 = "Xen/ia64", 1-2 = 0, 3-4 = the machine's
            0x14 => Some(match r8 {
                0 => u64::from_le_bytes(*b"Xen/ia64"),
                1 | 2 => 0,
                3 | 4 => self.machine.cpuid[r8 as usize],
                _ => return Err(Refusal(format!("GET_CPUID {r8}: reserved register"))),
            }),
            // GET_PMD: vcpu_get_pmd reads the machine's
            0x15 => Some(self.machine.pmd.get(r8 as usize).copied().unwrap_or(0)),
            // GET_PSR: vcpu_get_psr_masked: psr & (MASK(0, 32) | MASK(35, 2))
            0x19 => Some(self.psr(mem) & (0xffff_ffff | 3 << 35)),
            // SET_RR0_TO_RR4: r8, r9, r10, r11, r14
            0x1a => {
                for (i, n) in [8, 9, 10, 11, 14].into_iter().enumerate() {
                    self.vcpus[self.current].rr[i] = r(n);
                }
                None
            }
            other => {
                return Err(Refusal(format!("hyperprivop {other:#x} is not modelled")));
            }
        };
        if let Some(v) = result {
            cpu.set_gr(8, v).map_err(|e| Refusal(format!("{e:?}")))?;
        }
        Ok(())
    }

    /// `fast_hypercall` (\[ivt\]): r2 < 0x100 indexes the hypercall table; the handler is reached
    /// by `br.call` after `ia64_syscall_setup` did `alloc r19=ar.pfs,8,0,0,0` in a frame
    /// entered by `br.call` from the guest's: its in0-in4 are the **outputs** of the frame that
    /// executed `break` (r32 + sol + i). The result is in r8. The Xen build of
    /// `ia64_leave_syscall` (\[entry\], the `#ifdef XEN` lines; its header comment is Linux's)
    /// gives r2 the number back (`fast_hypercall` kept it in the r15 slot), zeroes r10, r14,
    /// r15, b7, ar.ccv, ar.csd and ar.ssd, leaves r3 pointing into Xen's stack, reloads r9 from
    /// a slot this path never wrote, and leaves bank 1's r16-r31 cleared or holding Xen's saved
    /// values; it restores r1, r11, r12, r13, pr, b0, b6 and the RSE state.
    fn hypercall(&mut self, cpu: &mut Cpu) -> Result<(), Refusal> {
        let nr = cpu.gr(2).unwrap_or(0);
        if nr >> 8 != 0 {
            return Err(Refusal(format!(
                "hypercall {nr:#x}: the firmware slow path (r2 >> 8 != 0) is not modelled"
            )));
        }
        let args = [0, 1, 2, 3, 4].map(|i| cpu.output(i));
        self.hypercalls.push(Hypercall { nr, args });
        let set =
            |cpu: &mut Cpu, n: u8, v: u64| cpu.set_gr(n, v).map_err(|e| Refusal(format!("{e:?}")));
        set(cpu, 8, self.result)?;
        set(cpu, 2, nr)?;
        for n in [10, 14, 15] {
            set(cpu, n, 0)?;
        }
        for n in [3, 9].into_iter().chain(16..32) {
            set(cpu, n, POISON | u64::from(n))?;
        }
        cpu.br[7] = 0;
        // ar.ccv, ar.csd, ar.ssd.
        for ar in [32, 25, 26] {
            cpu.ar[ar] = 0;
        }
        Ok(())
    }
}

/// What the model leaves in a register Xen used and did not restore: recognizable, never a
/// value the guest could have meant.
pub const POISON: u64 = 0xdead_0000_0000_0000;

impl Platform for Xen {
    /// `CONFIG_CPL0_EMUL` (\[ivt\]): the guest kernel runs at privilege level 1.
    fn cpl(&self) -> u8 {
        1
    }

    /// Maps shared_info (one `vcpu_info` per vCPU, all masked) and the current vCPU's
    /// `mapped_regs`, whose `interrupt_mask_addr` points at its own mask (\[dom\]).
    fn setup(&mut self, mem: &mut Memory) {
        mem.map(XSI_BASE, XMAPPEDREGS_OFS + 4096);
        for id in 0..self.vcpus.len() {
            mem.write(Self::mask_addr(id), 1, 1);
        }
        mem.write(XSI_PSR_I_ADDR, 8, Self::mask_addr(self.current));
    }

    /// A privileged instruction at cpl 1 faults and Xen emulates it on the vCPU (\[privop\]
    /// `priv_handle_op` → `vcpu_*`); sensitive instructions that do not trap (cpuid, pmd,
    /// thash, fc, ar.itc and kernel register reads) run on the machine and see its state,
    /// which is why pv paravirtualizes them "for correctness".
    fn system(&mut self, op: Sys, mem: &mut Memory) -> Result<u64, Refusal> {
        let trap = !matches!(
            op,
            Sys::ReadInd(File::Cpuid | File::Pmd, _)
                | Sys::Thash(_)
                | Sys::Fc(_)
                | Sys::ReadAr(_)
                | Sys::Serialize
        );
        if !trap {
            return self.machine.exec(op);
        }
        self.privops += 1;
        let v = self.vcpu();
        Ok(match op {
            Sys::ReadInd(File::Rr, va) => v.rr[(va >> 61) as usize],
            Sys::WriteInd(File::Rr, va, x) => {
                v.rr[(va >> 61) as usize] = x;
                0
            }
            Sys::ReadCr(65) => self.ivr(),
            Sys::ReadCr(66) => v.tpr,
            Sys::WriteCr(66, x) => {
                v.tpr = x;
                0
            }
            Sys::WriteCr(67, _) => {
                v.eois += 1;
                0
            }
            Sys::ReadPsr => self.psr(mem),
            // vcpu_set_psr_sm / vcpu_reset_psr_sm: psr.i is the event mask
            Sys::SystemMask(set, mask) if mask & PSR_I != 0 => {
                if set {
                    self.unmask(mem);
                } else {
                    mem.write(Self::mask_addr(self.current), 1, 1);
                }
                0
            }
            // vcpu_set_ar: krs[reg] and the machine's
            Sys::WriteAr(n @ 0..=7, x) => {
                v.kr[n as usize] = x;
                self.machine.kr[n as usize] = x;
                0
            }
            Sys::Purge(Purge::Ga, a, r2) => {
                v.purges.push((a, Bare::purge_size(r2)));
                0
            }
            other => {
                return Err(Refusal(format!(
                    "privileged {other:?} at cpl 1: Xen's emulation of it is not modelled"
                )));
            }
        })
    }

    /// `break_fault` (\[ivt\]) at cpl 1: 1 ≤ imm ≤ `HYPERPRIVOP_MAX` is a hyperprivop, imm =
    /// `breakimm` a hypercall; anything else is reflected to the guest (stops the run).
    fn brk(&mut self, imm: u64, cpu: &mut Cpu, mem: &mut Memory) -> Result<(), Refusal> {
        match imm {
            1..=HYPERPRIVOP_MAX => self.hyperprivop(imm, cpu, mem),
            BREAKIMM => self.hypercall(cpu),
            _ => Err(Refusal(format!(
                "break {imm:#x}: neither a hyperprivop nor a hypercall; Xen reflects it to the guest"
            ))),
        }
    }

    fn access(&mut self, addr: u64, _: bool, ordered: bool) {
        let shared = XSI_BASE..XSI_BASE + VCPU_INFO_SIZE * self.vcpus.len() as u64;
        if !ordered && shared.contains(&addr) && (addr - XSI_BASE) % VCPU_INFO_SIZE < 2 {
            self.unordered += 1;
        }
    }

    fn report(&self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self
            .hyperprivops
            .iter()
            .enumerate()
            .filter(|(_, n)| **n != 0)
            .map(|(i, n)| (format!("hyperprivop[{i:#x}]"), *n))
            .collect();
        v.push(("hypercalls".into(), self.hypercalls.len() as u64));
        v.push(("privops".into(), self.privops));
        v.push(("delivered".into(), self.delivered));
        v.push(("unordered".into(), self.unordered));
        v
    }
}
