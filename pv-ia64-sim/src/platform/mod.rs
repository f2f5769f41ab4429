//! The machines pv's code runs on: what privileged and sensitive instructions and `break` do.
//! Each platform is written from its own sources — the Itanium manual for bare metal, Xen's
//! and Linux's code for Xen/ia64 — and shares no table with pv-abi, so each side can catch the
//! other.

pub mod bare;
pub mod xen;

use crate::cpu::Cpu;
use crate::insn::{File, Purge};
use crate::mem::Memory;

/// A privileged or sensitive operation the interpreter hands to the platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sys {
    /// `mov r=file[index]`.
    ReadInd(File, u64),
    /// `mov file[index]=value`.
    WriteInd(File, u64, u64),
    /// `mov r=cr`.
    ReadCr(u8),
    /// `mov cr=value`.
    WriteCr(u8, u64),
    /// `mov r=psr`.
    ReadPsr,
    /// `ssm`/`rsm mask` (true: set).
    SystemMask(bool, u64),
    /// `mov r=ar` for the registers the platform owns (kernel registers, ar.itc).
    ReadAr(u8),
    /// `mov ar=value` for the registers the platform owns.
    WriteAr(u8, u64),
    /// `fc address`.
    Fc(u64),
    /// `thash address`.
    Thash(u64),
    /// A purge: kind, address, size operand (r2: the page size in bits 7:2).
    Purge(Purge, u64, u64),
    /// `srlz.d`/`srlz.i`.
    Serialize,
}

/// Why the platform stops a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal(pub String);

/// A machine: bare metal or a hypervisor's virtual CPU.
pub trait Platform {
    /// The privilege level the kernel runs at.
    fn cpl(&self) -> u8;
    /// Maps the platform's own memory (hypervisor-shared areas) before a run.
    fn setup(&mut self, mem: &mut Memory);
    /// Executes a privileged or sensitive operation; the value is what a read yields.
    fn system(&mut self, op: Sys, mem: &mut Memory) -> Result<u64, Refusal>;
    /// `break imm` executed with `cpu` as it is: an interruption the platform handles.
    fn brk(&mut self, imm: u64, cpu: &mut Cpu, mem: &mut Memory) -> Result<(), Refusal>;
    /// A load or store the guest made, with whether it was ordered (`.acq`, `.rel`).
    fn access(&mut self, addr: u64, write: bool, ordered: bool);
    /// Counters and state worth printing after a run: (name, value).
    fn report(&self) -> Vec<(String, u64)>;
}

/// The short-format VHPT hash (vol. 2, §4.1.5.3 "VHPT Hashing", and the identical arithmetic
/// of Xen's `vcpu_thash`, xen/arch/ia64/xen/vcpu.c): the region bits of `va`, the PTA base
/// above the table size, and `(va >> rr.ps) << 3` within it.
pub fn thash(pta: u64, rr: u64, va: u64) -> u64 {
    let size = (pta >> 2) & 0x3f;
    let base = pta & !((1u64 << 15) - 1);
    let mask = (1u64 << size) - 1;
    let ps = (rr >> 2) & 0x3f;
    let offset = ((va & ((1 << 61) - 1)) >> ps) << 3;
    let mask_60_15 = (mask >> 15) & 0x3fff_ffff_ffff;
    let hi = ((base >> 15) & 0x3fff_ffff_ffff & !mask_60_15)
        | ((offset >> 15) & 0x3fff_ffff_ffff & mask_60_15);
    (va & 0xe000_0000_0000_0000) | hi << 15 | (offset & 0x7fff)
}

/// psr.i: interrupts enabled (vol. 2, table 3-2 "Processor Status Register Fields").
pub const PSR_I: u64 = 1 << 14;

/// Takes the highest pending vector out of `pending` (it is now in service), or 15, the
/// spurious vector, if none is pending: what reading cr.ivr does on hardware (vol. 2, §5.8.3.1
/// "External Interrupt Vector Register") and what Xen's `vcpu_get_ivr` does for a vCPU.
pub fn take_highest(pending: &mut Vec<u64>) -> u64 {
    let top = pending.iter().copied().enumerate().max_by_key(|(_, v)| *v);
    match top {
        Some((i, v)) => {
            pending.remove(i);
            v
        }
        None => 15,
    }
}
