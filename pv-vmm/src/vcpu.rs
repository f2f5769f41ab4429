//! The vCPU's state at the guest's first instruction, and its CPUID.

use crate::memory::Memory;
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

/// Loads `code` into cs, a flat read/write data segment with selector `data` into ds, es, ss,
/// fs and gs, and into tr a busy TSS (type 0xb) with base 0 and limit 0x67 and selector `tr`:
/// what the PVH ABI asks for, and what a 64-bit start needs.
fn segments(sregs: &mut kvm_sregs, code: kvm_segment, data: u16, tr: u16) {
    sregs.cs = code;
    let data = flat(data, 0x3, 1, 0);
    for s in [
        &mut sregs.ds,
        &mut sregs.es,
        &mut sregs.ss,
        &mut sregs.fs,
        &mut sregs.gs,
    ] {
        *s = data;
    }
    sregs.tr = kvm_segment {
        limit: 0x67,
        s: 0,
        g: 0,
        ..flat(tr, 0xb, 0, 0)
    };
}

/// The PVH entry state (Xen `docs/misc/pvh.pandoc`, "x86/HVM direct boot ABI"): 32-bit
/// protected mode with paging off; cs a flat 32-bit execute/read segment, ds/es/ss flat 32-bit
/// read/write; tr a 32-bit busy TSS with base 0 and limit 0x67; cr0 PE and ET, cr4 0, EFER 0;
/// eflags with IF, TF and VM clear; ebx the physical address of `hvm_start_info`.
pub fn pvh(sregs: &mut kvm_sregs, regs: &mut kvm_regs, entry: u32, start_info: u64) {
    segments(sregs, flat(0x10, 0xb, 1, 0), 0x18, 0x20);
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

/// Where the monitor builds the tables of a 64-bit start: PML4, PDPT, PD and a GDT, in low
/// memory below the start-info block.
const PML4: u64 = 0x1000;
const PDPT: u64 = 0x2000;
const PD: u64 = 0x3000;
const GDT: u64 = 0x4000;

/// A 64-bit start, for pv-guest's `pv_guest_start64` (`e_entry`): long mode with the first GiB
/// identity-mapped in 2 MiB pages, a flat 64-bit code segment, interrupts off, `rbx` = the
/// start info — what a loader already in long mode hands a kernel (Intel SDM vol. 3A,
/// "Initializing IA-32e Mode": PAE, EFER.LME, then paging; page-table entries P|RW, PS for 2
/// MiB pages).
pub fn long_mode(
    mem: &mut Memory,
    sregs: &mut kvm_sregs,
    regs: &mut kvm_regs,
    entry: u64,
    start_info: u64,
) -> Result<(), String> {
    const P_RW: u64 = 0b11;
    const PS: u64 = 1 << 7;
    let mut pd = Vec::with_capacity(4096);
    for i in 0..512u64 {
        pd.extend((i << 21 | P_RW | PS).to_le_bytes());
    }
    // Null, 64-bit code (L=1), data: the descriptors Linux's head_64.S uses (0x00af9a…,
    // 0x00cf92…).
    let gdt: Vec<u8> = [0u64, 0x00af_9a00_0000_ffff, 0x00cf_9200_0000_ffff]
        .iter()
        .flat_map(|d| d.to_le_bytes())
        .collect();
    let ok = mem.write(PML4, &(PDPT | P_RW).to_le_bytes()).is_some()
        && mem.write(PDPT, &(PD | P_RW).to_le_bytes()).is_some()
        && mem.write(PD, &pd).is_some()
        && mem.write(GDT, &gdt).is_some();
    if !ok {
        return Err("guest RAM too small for the boot tables".into());
    }
    segments(sregs, flat(0x08, 0xb, 0, 1), 0x10, 0x18);
    sregs.gdt.base = GDT;
    sregs.gdt.limit = 23;
    // PG, WP, NE, ET, MP, PE; PAE; EFER.LME and LMA.
    sregs.cr0 = 1 << 31 | 1 << 16 | 1 << 5 | CR0_ET | 1 << 1 | CR0_PE;
    sregs.cr3 = PML4;
    sregs.cr4 = 1 << 5;
    sregs.efer = 1 << 8 | 1 << 10;
    *regs = kvm_regs {
        rip: entry,
        rbx: start_info,
        rflags: 2,
        ..Default::default()
    };
    Ok(())
}
