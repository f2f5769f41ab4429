//! Guest-side Xen PV implementations of pv's intrinsics, following Linux's Xen PV code
//! (`arch/x86/xen/enlighten_pv.c`, `irq.c`, `xen-asm.S`) where it paravirtualizes, and
//! executing the privileged instruction natively where Linux does (Xen traps and emulates it):
//! - the virtual interrupt flag is the event mask in `vcpu_info` (Linux: `xen_irq_disable`,
//!   `xen_irq_enable`, `xen_save_fl`, `xen_restore_fl`); unmasking with an event pending calls
//!   `xen_version` (Linux's `xen_force_evtchn_callback`);
//! - cr3 goes through `mmuext_op(MMUEXT_NEW_BASEPTR)`, cr0.TS through `fpu_taskswitch`, the
//!   segment-base MSRs through `set_segment_base` (Linux: `xen_write_cr3`, `xen_write_cr0`,
//!   `xen_write_msr`);
//! - every other MSR, `wbinvd` and cr4 writes (minus PGE, PSE, PCE) run natively, as in Linux;
//!   the syscall/sysenter MSR writes Linux drops are dropped;
//! - halt is `sched_op(SCHEDOP_block)`, or `vcpu_op(VCPUOP_down)` on this vCPU when events are
//!   masked (Linux: `xen_safe_halt`, `xen_halt`); the IDT becomes a `set_trap_table` table
//!   (Linux: `xen_load_idt`, `cvt_gate_to_trap`).
//!
//! Where pv differs from Linux:
//! - cr0, cr3 and cr4 reads come from guest-side shadows that start at fixed values unless the
//!   kernel calls [`init_shadows`] (Linux shadows cr0 per CPU from a first native read, and
//!   keeps cr3 and cr4 in per-CPU state);
//! - `rdmsr` of an MSR Xen does not emulate faults (Linux uses `native_read_msr_safe` and reads
//!   0), and `wrmsr` likewise (Linux: `native_write_msr_safe`); the PMU MSRs Linux emulates
//!   itself (`pmu_msr_chk_emulated`) are not special here;
//! - `load_idt` converts the gates' own handlers (Linux substitutes its `xen_<trap>` stubs for
//!   some vectors, which pop the rcx and r11 Xen pushes), and skips non-present gates;
//! - `console_io` is the console port's path (Linux's PV console is `xen_raw_console_write`),
//!   and every other port is native (trapped; Xen emulates it or passes the `#GP` on);
//! - the p2m is taken to be the identity (Linux translates pfns to mfns).
//!
//! Every function is `extern "C"` with its intrinsic's signature, so a declaration can name it
//! in `xen = call(...)`. [`resource_op`] is not an intrinsic: it is the dom0 interface to MSRs
//! on a given physical CPU (`XENPF_resource_op`).

use super::{hypercall, vcpu_info};
use core::sync::atomic::{AtomicU64, Ordering};
use pv_abi::xen::{console, mmuext, platform, sched, segbase, vcpu};

/// `X86_EFLAGS_IF`.
pub const IF: u64 = 1 << 9;
/// The I/O port pv treats as the console (the Bochs/QEMU debug port).
pub const CONSOLE_PORT: u16 = 0xe9;

/// MSR indices (Linux `arch/x86/include/asm/msr-index.h`).
const MSR_IA32_SYSENTER_CS: u32 = 0x174;
const MSR_IA32_SYSENTER_ESP: u32 = 0x175;
const MSR_IA32_SYSENTER_EIP: u32 = 0x176;
const MSR_IA32_APICBASE: u32 = 0x1b;
const MSR_STAR: u32 = 0xc000_0081;
const MSR_LSTAR: u32 = 0xc000_0082;
const MSR_CSTAR: u32 = 0xc000_0083;
const MSR_SYSCALL_MASK: u32 = 0xc000_0084;
const MSR_FS_BASE: u32 = 0xc000_0100;
const MSR_GS_BASE: u32 = 0xc000_0101;
const MSR_KERNEL_GS_BASE: u32 = 0xc000_0102;
/// `X2APIC_ENABLE` in `MSR_IA32_APICBASE` (Linux `arch/x86/include/asm/apicdef.h`).
const X2APIC_ENABLE: u64 = 1 << 10;
const CR0_TS: u64 = 1 << 3;
/// cr4 bits a PV guest may not set (Linux `xen_write_cr4`: PGE, PSE, PCE).
const CR4_NOT_PV: u64 = 1 << 7 | 1 << 4 | 1 << 8;

static CR0: AtomicU64 = AtomicU64::new(0x8005_003b);
static CR3: AtomicU64 = AtomicU64::new(0);
static CR4: AtomicU64 = AtomicU64::new(0x0000_06f0);

fn nr(name: &str) -> u32 {
    pv_abi::xen::hypercall(name).map_or(u32::MAX, |h| h.nr)
}

fn call(name: &str, a: [u64; 5]) -> i64 {
    // The arguments are built here from the hypercall's public ABI.
    // SAFETY: a Xen guest calls these only once the hypercall page is filled.
    unsafe { hypercall(nr(name), a) }
}

fn mask() -> &'static mut u8 {
    // SAFETY: the vcpu_info is registered before any Xen-patched intrinsic runs.
    unsafe { &mut (*vcpu_info()).evtchn_upcall_mask }
}

/// Delivers pending events once unmasked (Linux's `xen_force_evtchn_callback`).
fn check_events() {
    // SAFETY: as in `mask`.
    if unsafe { (*vcpu_info()).evtchn_upcall_pending } != 0 {
        call("xen_version", [0, 0, 0, 0, 0]);
    }
}

/// cli under Xen PV: sets the event mask in `vcpu_info`.
pub extern "C" fn irq_disable() {
    *mask() = 1;
    core::sync::atomic::compiler_fence(Ordering::SeqCst);
}

/// sti under Xen PV: clears the event mask, then delivers any pending event.
pub extern "C" fn irq_enable() {
    *mask() = 0;
    core::sync::atomic::compiler_fence(Ordering::SeqCst);
    check_events();
}

/// pushf under Xen PV: IF set exactly when the event mask is clear.
pub extern "C" fn save_fl() -> u64 {
    if *mask() == 0 { IF } else { 0 }
}

/// popf under Xen PV: sets the event mask from IF, delivering pending events when unmasking.
pub extern "C" fn restore_fl(flags: u64) {
    *mask() = u8::from(flags & IF == 0);
    core::sync::atomic::compiler_fence(Ordering::SeqCst);
    if flags & IF != 0 {
        check_events();
    }
}

/// Starts the guest-side shadows of cr0, cr3 and cr4 from the values the vCPU holds. A kernel
/// calls it once at boot, before its first Xen-patched read: Linux takes the first cr3 from
/// `xen_start_info->pt_base` (`xen_start_kernel`, `xen_setup_kernel_pagetable`) and the first
/// cr0 from a native read (`xen_read_cr0`); without it the shadows hold fixed start values.
pub fn init_shadows(cr0: u64, cr3: u64, cr4: u64) {
    CR0.store(cr0, Ordering::Relaxed);
    CR3.store(cr3, Ordering::Relaxed);
    CR4.store(cr4, Ordering::Relaxed);
}

/// cr0 from the guest-side shadow.
pub extern "C" fn read_cr0() -> u64 {
    CR0.load(Ordering::Relaxed)
}

/// Only cr0.TS is the guest's: it goes to Xen with `fpu_taskswitch`.
pub extern "C" fn write_cr0(value: u64) {
    CR0.store(value, Ordering::Relaxed);
    call(
        "fpu_taskswitch",
        [u64::from(value & CR0_TS != 0), 0, 0, 0, 0],
    );
}

/// cr2 from `vcpu_info.arch.cr2`, where Xen stores the last page-fault address.
pub extern "C" fn read_cr2() -> u64 {
    // SAFETY: as in `mask`.
    unsafe { (*vcpu_info()).cr2 }
}

/// cr3 from the guest-side shadow.
pub extern "C" fn read_cr3() -> u64 {
    CR3.load(Ordering::Relaxed)
}

/// `struct mmuext_op`.
#[repr(C)]
pub struct MmuextOp {
    /// `MMUEXT_*` command.
    pub cmd: u32,
    /// First argument: a frame number or a linear address, by command.
    pub arg1: u64,
    /// Second argument (unused by pv's commands, 0).
    pub arg2: u64,
}

fn mmuext(cmd: u32, arg1: u64) {
    let op = MmuextOp { cmd, arg1, arg2: 0 };
    call(
        "mmuext_op",
        [&op as *const MmuextOp as u64, 1, 0, 0x7ff0, 0],
    );
}

/// `MMUEXT_NEW_BASEPTR` with the frame number (pv assumes an identity p2m).
pub extern "C" fn write_cr3(value: u64) {
    CR3.store(value, Ordering::Relaxed);
    mmuext(mmuext::NEW_BASEPTR, value >> 12);
}

/// cr4 from the guest-side shadow.
pub extern "C" fn read_cr4() -> u64 {
    CR4.load(Ordering::Relaxed)
}

/// cr4 under Xen PV, as Linux's `xen_write_cr4`: PGE, PSE and PCE cleared, then a native
/// `mov cr4`, which Xen traps and filters (`pv_fixup_guest_cr4`). The shadow keeps the value
/// the kernel asked for, which [`read_cr4`] returns.
pub extern "C" fn write_cr4(value: u64) {
    CR4.store(value, Ordering::Relaxed);
    // The caller's contract: run under a hypervisor that implements it.
    // SAFETY: privileged: Xen traps and emulates it for a PV guest.
    unsafe { core::arch::asm!("mov cr4, {}", in(reg) value & !CR4_NOT_PV) };
}

/// `struct xenpf_resource_entry` (`xen/include/public/platform.h`), 24 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResourceEntry {
    /// `union { uint32_t cmd; int32_t ret; } u`: `XEN_RESOURCE_OP_MSR_READ` or `_WRITE` in, the
    /// error of the entry Xen stopped at out (see [`ResourceEntry::ret`]).
    pub u: u32,
    /// Reserved, 0.
    pub rsvd: u32,
    /// The MSR index (64 bits in the ABI; Xen refuses high bits).
    pub idx: u64,
    /// Value to write, or value read.
    pub val: u64,
}

impl ResourceEntry {
    /// An entry reading MSR `idx`.
    pub fn read(idx: u32) -> ResourceEntry {
        ResourceEntry {
            u: platform::MSR_READ,
            rsvd: 0,
            idx: idx.into(),
            val: 0,
        }
    }

    /// An entry writing `val` to MSR `idx`.
    pub fn write(idx: u32, val: u64) -> ResourceEntry {
        ResourceEntry {
            u: platform::MSR_WRITE,
            val,
            ..ResourceEntry::read(idx)
        }
    }

    /// `u.ret`: the error Xen stored in the entry it stopped at.
    pub fn ret(&self) -> i32 {
        self.u as i32
    }
}

/// `struct xenpf_resource_op` (`xen/include/public/platform.h`), 16 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ResourceOp {
    /// Number of entries at `entries` (Xen takes at most 3).
    pub nr_entries: u32,
    /// The *physical* CPU whose MSRs are accessed.
    pub cpu: u32,
    /// `XEN_GUEST_HANDLE(xenpf_resource_entry_t)`.
    pub entries: *mut ResourceEntry,
}

/// The union `u` of `struct xen_platform_op`: 128 bytes, 8-byte aligned.
#[repr(C)]
#[derive(Clone, Copy)]
pub union PlatformOpU {
    /// `XENPF_resource_op`'s member.
    pub resource_op: ResourceOp,
    /// `uint8_t pad[128]`, which sizes the union.
    pub pad: [u8; 128],
}

/// `struct xen_platform_op` (`xen/include/public/platform.h`), 136 bytes.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PlatformOp {
    /// `XENPF_*`.
    pub cmd: u32,
    /// `XENPF_INTERFACE_VERSION`.
    pub interface_version: u32,
    /// The command's member.
    pub u: PlatformOpU,
}

/// `XENPF_resource_op`: accesses MSRs on physical CPU `cpu` (dom0 only; Xen allows a few MSRs,
/// see `xen/arch/x86/platform_hypercall.c`, and at most 3 entries). Xen processes the entries
/// in order and stops at the first it refuses, storing the error in that entry's `u.ret`.
/// Returns `Ok(entries.len())` when all were done; otherwise the hypercall's error, or the
/// refused entry's. Read values are in the entries' `val`.
pub fn resource_op(cpu: u32, entries: &mut [ResourceEntry]) -> Result<usize, i64> {
    let mut op = PlatformOp {
        cmd: platform::RESOURCE_OP,
        interface_version: platform::INTERFACE_VERSION,
        u: PlatformOpU { pad: [0; 128] },
    };
    op.u.resource_op = ResourceOp {
        nr_entries: entries.len() as u32,
        cpu,
        entries: entries.as_mut_ptr(),
    };
    let done = call("platform_op", [&op as *const PlatformOp as u64, 0, 0, 0, 0]);
    match usize::try_from(done) {
        Err(_) => Err(done),
        Ok(n) if n >= entries.len() => Ok(n),
        Ok(n) => Err(entries[n].ret().into()),
    }
}

/// rdmsr under Xen PV, as Linux's `xen_read_msr`: native (Xen traps and emulates it, or
/// passes the `#GP` on), with x2APIC hidden in `MSR_IA32_APICBASE`.
pub extern "C" fn read_msr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: privileged: Xen traps and emulates it for a PV guest (see `write_cr4`).
    unsafe { core::arch::asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi) };
    let value = (hi as u64) << 32 | lo as u64;
    if msr == MSR_IA32_APICBASE {
        value & !X2APIC_ENABLE
    } else {
        value
    }
}

/// wrmsr under Xen PV, as Linux's `xen_write_msr`: the segment bases through
/// `set_segment_base`; the syscall and sysenter MSRs ignored ("fast syscall setup is all done
/// in hypercalls"); any other natively (trapped and emulated by Xen).
pub extern "C" fn write_msr(msr: u32, value: u64) {
    let seg = match msr {
        MSR_FS_BASE => segbase::FS,
        MSR_KERNEL_GS_BASE => segbase::GS_USER,
        MSR_GS_BASE => segbase::GS_KERNEL,
        MSR_STAR
        | MSR_CSTAR
        | MSR_LSTAR
        | MSR_SYSCALL_MASK
        | MSR_IA32_SYSENTER_CS
        | MSR_IA32_SYSENTER_ESP
        | MSR_IA32_SYSENTER_EIP => return,
        _ => {
            // SAFETY: as in `read_msr`.
            unsafe {
                core::arch::asm!("wrmsr", in("ecx") msr, in("eax") value as u32,
                    in("edx") (value >> 32) as u32)
            };
            return;
        }
    };
    call("set_segment_base", [seg, value, 0, 0, 0]);
}

/// `hlt` with events masked never wakes: Xen takes this vCPU ([`super::vcpu_id`]) down, as
/// Linux's `xen_halt` does; otherwise block.
pub extern "C" fn halt() {
    if *mask() != 0 {
        call("vcpu_op", [vcpu::DOWN, super::vcpu_id().into(), 0, 0, 0]);
    } else {
        call("sched_op", [sched::BLOCK, 0, 0, 0, 0]);
    }
}

/// invlpg under Xen PV: `mmuext_op(MMUEXT_INVLPG_LOCAL)` on `addr`.
pub extern "C" fn flush_tlb_one(addr: u64) {
    mmuext(mmuext::INVLPG_LOCAL, addr);
}

/// The operand of `lidt`/`lgdt`.
#[repr(C, packed)]
pub struct DescriptorTablePointer {
    /// Size of the table in bytes, minus one.
    pub limit: u16,
    /// Linear address of the table.
    pub base: u64,
}

/// `struct trap_info` (`xen/include/public/arch-x86/xen.h`), 16 bytes.
#[repr(C)]
pub struct TrapInfo {
    /// Interrupt vector.
    pub vector: u8,
    /// Bits 0-1: the privilege level allowed to raise the vector with `int` (the gate's DPL);
    /// bit 2 ([`TI_IF`]): Xen masks events on entry, as an interrupt gate clears IF.
    pub flags: u8,
    /// Code segment selector of the handler.
    pub cs: u16,
    /// Handler address; 0 ends the table.
    pub address: u64,
}

/// `trap_info.flags` bit 2 (`TI_SET_IF`, `xen/include/public/arch-x86/xen.h`).
pub const TI_IF: u8 = 1 << 2;
/// IDT gate types (Intel SDM vol. 3A, "IDT Descriptors"; Linux `GATE_INTERRUPT`, `GATE_TRAP`).
const GATE_INTERRUPT: u64 = 0xe;
const GATE_TRAP: u64 = 0xf;

/// Converts the IDT's present interrupt and trap gates to a `trap_info` table for
/// `set_trap_table`, 32 at a time, as Linux's `cvt_gate_to_trap`: flags = the gate's DPL, plus
/// [`TI_IF`] for an interrupt gate ("interrupt gates clear IF"); other gate types are skipped.
///
/// # Safety
/// `ptr` is `lidt`'s operand: it points at a valid IDT of `limit + 1` bytes.
pub unsafe extern "C" fn load_idt(ptr: *const DescriptorTablePointer) {
    // SAFETY: `lidt`'s operand: a valid pointer to an IDT of `limit + 1` bytes.
    let (base, limit) = unsafe { ((*ptr).base, (*ptr).limit) };
    let gates = (limit as usize + 1) / 16;
    let mut table: [TrapInfo; 33] = core::array::from_fn(|_| TrapInfo {
        vector: 0,
        flags: 0,
        cs: 0,
        address: 0,
    });
    let mut filled = 0;
    for v in 0..gates.min(256) {
        // SAFETY: inside the IDT the pointer describes.
        let gate =
            unsafe { core::ptr::read_unaligned((base as usize + v * 16) as *const [u64; 2]) };
        let (lo, hi) = (gate[0], gate[1]);
        let kind = lo >> 40 & 0xf;
        if lo & 1 << 47 == 0 || (kind != GATE_INTERRUPT && kind != GATE_TRAP) {
            continue;
        }
        let address = (lo & 0xffff) | (lo >> 32 & 0xffff_0000) | (hi & 0xffff_ffff) << 32;
        let dpl = (lo >> 45 & 3) as u8;
        let masks = if kind == GATE_INTERRUPT { TI_IF } else { 0 };
        table[filled] = TrapInfo {
            vector: v as u8,
            flags: dpl | masks,
            cs: (lo >> 16) as u16,
            address,
        };
        filled += 1;
        if filled == 32 {
            call("set_trap_table", [table.as_ptr() as u64, 0, 0, 0, 0]);
            filled = 0;
        }
    }
    table[filled].address = 0;
    call("set_trap_table", [table.as_ptr() as u64, 0, 0, 0, 0]);
}

/// `set_gdt` with the GDT's frame list (one frame: pv GDTs fit a page).
///
/// # Safety
/// `ptr` is `lgdt`'s operand: it points at a valid descriptor-table pointer.
pub unsafe extern "C" fn load_gdt(ptr: *const DescriptorTablePointer) {
    // SAFETY: `lgdt`'s operand.
    let (base, limit) = unsafe { ((*ptr).base, (*ptr).limit) };
    let frames = [base >> 12];
    call(
        "set_gdt",
        [frames.as_ptr() as u64, (limit as u64 + 1) / 8, 0, 0, 0],
    );
}

/// The console port is `console_io`; Xen emulates any other port on trap.
pub extern "C" fn outb(port: u16, value: u8) {
    if port == CONSOLE_PORT {
        let byte = [value];
        call(
            "console_io",
            [console::WRITE, 1, byte.as_ptr() as u64, 0, 0],
        );
    } else {
        // SAFETY: the hypervisor emulates the trapped instruction, as it does for PV guests.
        unsafe { core::arch::asm!("out dx, al", in("dx") port, in("al") value) };
    }
}

/// Reads a byte from the console (`0xff` when none is waiting), or another port on trap.
pub extern "C" fn inb(port: u16) -> u8 {
    if port == CONSOLE_PORT {
        let mut byte = [0xffu8];
        call(
            "console_io",
            [console::READ, 1, byte.as_mut_ptr() as u64, 0, 0],
        );
        byte[0]
    } else {
        let value: u8;
        // SAFETY: as in `outb`.
        unsafe { core::arch::asm!("in al, dx", in("dx") port, out("al") value) };
        value
    }
}

/// Flushes every vCPU's TLB: `mmuext_op(MMUEXT_TLB_FLUSH_ALL)`.
pub extern "C" fn flush_tlb_all() {
    mmuext(mmuext::TLB_FLUSH_ALL, 0);
}

/// Flushes one linear address from every vCPU's TLB: `mmuext_op(MMUEXT_INVLPG_ALL)`.
pub extern "C" fn flush_tlb_one_all(addr: u64) {
    mmuext(mmuext::INVLPG_ALL, addr);
}
