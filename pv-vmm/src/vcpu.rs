//! The vCPU's state at the guest's first instruction, and its CPUID.

use kvm_bindings::{kvm_regs, kvm_segment, kvm_sregs};

/// cr0.PE and cr0.ET (Intel SDM vol. 3A, "Control Registers").
const CR0_PE: u64 = 1;
const CR0_ET: u64 = 1 << 4;

fn flat(selector: u16, type_: u8, db: u8, l: u8) -> kvm_segment {
    kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector,
        type_,
        present: 1,
        dpl: 0,
        db,
        s: 1,
        l,
        g: 1,
        avl: 0,
        unusable: 0,
        padding: 0,
    }
}

/// The PVH entry state (Xen `docs/misc/pvh.pandoc`, "x86/HVM direct boot ABI"): 32-bit
/// protected mode with paging off; cs a flat 32-bit execute/read segment, ds/es/ss flat 32-bit
/// read/write; tr a 32-bit busy TSS with base 0 and limit 0x67; cr0 PE and ET, cr4 0, EFER 0;
/// eflags with IF, TF and VM clear; ebx the physical address of `hvm_start_info`.
pub fn pvh(sregs: &mut kvm_sregs, regs: &mut kvm_regs, entry: u32, start_info: u64) {
    sregs.cs = flat(0x10, 0xb, 1, 0);
    let data = flat(0x18, 0x3, 1, 0);
    sregs.ds = data;
    sregs.es = data;
    sregs.ss = data;
    sregs.fs = data;
    sregs.gs = data;
    sregs.tr = kvm_segment {
        limit: 0x67,
        type_: 0xb,
        s: 0,
        g: 0,
        db: 0,
        selector: 0x20,
        ..flat(0x20, 0xb, 0, 0)
    };
    sregs.cr0 = CR0_PE | CR0_ET;
    sregs.cr3 = 0;
    sregs.cr4 = 0;
    sregs.efer = 0;
    *regs = kvm_regs {
        rip: entry as u64,
        rbx: start_info,
        rflags: 2,
        ..Default::default()
    };
}
