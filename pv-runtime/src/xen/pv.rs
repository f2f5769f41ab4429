//! Guest-side Xen PV implementations, as Linux's Xen PV code does them: the virtual interrupt
//! flag is the event mask in `vcpu_info`; cr3 goes through `mmuext_op`, cr0.TS through
//! `fpu_taskswitch`; segment-base MSRs through `set_segment_base`, other MSRs through
//! `platform_op(XENPF_resource_op)`; halt is `sched_op(block)` or `vcpu_op(down)`; the console
//! port is `console_io`. Registers Xen owns (cr0, cr3, cr4) are read from a guest-side shadow.
//!
//! Every function is `extern "C"` with its intrinsic's signature, so a declaration can name it
//! in `xen = call(...)`.

use super::{hypercall, vcpu_info};
use core::sync::atomic::{AtomicU64, Ordering};
use pv_abi::xen::{console, mmuext, platform, sched, segbase, vcpu};

/// `X86_EFLAGS_IF`.
pub const IF: u64 = 1 << 9;
/// The I/O port pv treats as the console (the Bochs/QEMU debug port).
pub const CONSOLE_PORT: u16 = 0xe9;

const MSR_FS_BASE: u32 = 0xc000_0100;
const MSR_GS_BASE: u32 = 0xc000_0101;
const MSR_KERNEL_GS_BASE: u32 = 0xc000_0102;
const CR0_TS: u64 = 1 << 3;

static CR0: AtomicU64 = AtomicU64::new(0x8005_003b);
static CR3: AtomicU64 = AtomicU64::new(0);
static CR4: AtomicU64 = AtomicU64::new(0x0000_06f0);

fn nr(name: &str) -> u32 {
    pv_abi::xen::hypercall(name).map_or(u32::MAX, |h| h.nr)
}

fn call(name: &str, a: [u64; 5]) -> i64 {
    // SAFETY: a Xen guest calls these only once the hypercall page is filled; the arguments are
    // built here from the hypercall's public ABI.
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

/// A PV guest does not own cr4 (Linux masks PGE/PSE/PCE and Xen validates the rest on trap);
/// pv keeps the guest's view in the shadow without a trap.
pub extern "C" fn write_cr4(value: u64) {
    CR4.store(value, Ordering::Relaxed);
}

/// `xenpf_resource_entry`.
#[repr(C)]
pub struct ResourceEntry {
    /// `XEN_RESOURCE_OP_MSR_READ` or `_WRITE` (Xen's `u.cmd`).
    pub cmd: u32,
    /// Reserved, 0.
    pub rsvd: u32,
    /// The MSR index.
    pub idx: u32,
    /// Value written, or value read.
    pub val: u64,
}

/// `xen_platform_op` with the `resource_op` member.
#[repr(C)]
pub struct PlatformOp {
    /// `XENPF_resource_op`.
    pub cmd: u32,
    /// `XENPF_INTERFACE_VERSION`.
    pub interface_version: u32,
    /// Number of entries at `entries`.
    pub nr_entries: u32,
    /// CPU whose MSRs are accessed.
    pub cpu: u32,
    /// The resource entries.
    pub entries: *mut ResourceEntry,
    /// Zeroed rest of the union.
    pub pad: [u64; 13],
}

fn msr_op(cmd: u32, idx: u32, val: u64) -> u64 {
    let mut entry = ResourceEntry {
        cmd,
        rsvd: 0,
        idx,
        val,
    };
    let op = PlatformOp {
        cmd: platform::RESOURCE_OP,
        interface_version: platform::INTERFACE_VERSION,
        nr_entries: 1,
        cpu: 0,
        entries: &mut entry,
        pad: [0; 13],
    };
    call("platform_op", [&op as *const PlatformOp as u64, 0, 0, 0, 0]);
    entry.val
}

/// rdmsr under Xen PV: one `XENPF_resource_op` read (real Xen grants it to dom0 only).
pub extern "C" fn read_msr(msr: u32) -> u64 {
    msr_op(platform::MSR_READ, msr, 0)
}

/// wrmsr under Xen PV: `set_segment_base` for the fs and gs bases, `XENPF_resource_op` otherwise.
pub extern "C" fn write_msr(msr: u32, value: u64) {
    let seg = match msr {
        MSR_FS_BASE => Some(segbase::FS),
        MSR_GS_BASE => Some(segbase::GS_KERNEL),
        MSR_KERNEL_GS_BASE => Some(segbase::GS_USER),
        _ => None,
    };
    match seg {
        Some(seg) => {
            call("set_segment_base", [seg, value, 0, 0, 0]);
        }
        None => {
            msr_op(platform::MSR_WRITE, msr, value);
        }
    }
}

/// `hlt` with events masked never wakes: Xen takes the vCPU down; otherwise block.
pub extern "C" fn halt() {
    if *mask() != 0 {
        call("vcpu_op", [vcpu::DOWN, 0, 0, 0, 0]);
    } else {
        call("sched_op", [sched::BLOCK, 0, 0, 0, 0]);
    }
}

/// wbinvd under Xen PV: `mmuext_op(MMUEXT_FLUSH_CACHE)`.
pub extern "C" fn wbinvd() {
    mmuext(mmuext::FLUSH_CACHE, 0);
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

/// `struct trap_info`.
#[repr(C)]
pub struct TrapInfo {
    /// Interrupt vector.
    pub vector: u8,
    /// Privilege level allowed to raise the vector with `int` (the gate's DPL).
    pub flags: u8,
    /// Code segment selector of the handler.
    pub cs: u16,
    /// Handler address; 0 ends the table.
    pub address: u64,
}

/// Converts the IDT's present gates to a `trap_info` table for `set_trap_table`, 32 at a time.
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
        if lo & 1 << 47 == 0 {
            continue;
        }
        let address = (lo & 0xffff) | (lo >> 32 & 0xffff_0000) | (hi & 0xffff_ffff) << 32;
        let dpl = (lo >> 45 & 3) as u8;
        table[filled] = TrapInfo {
            vector: v as u8,
            flags: dpl,
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
