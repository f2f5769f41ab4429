//! The Xen side of pv on x86_64: the hypercall page Xen stubs call into, the shared `vcpu_info`
//! structure, and [`pv`], the guest-side implementations of Xen's PV idioms that catalogue
//! declarations name with `xen = call(...)`.
//!
//! Hypercall `nr` is entered at `pv_hypercall_page + 32 * nr` with arguments in rdi, rsi, rdx,
//! r10, r8 and the result in rax. Until a hypervisor fills the page, every entry is `ud2`.

pub mod pv;

use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
pub use pv_abi::xen::*;

core::arch::global_asm!(
    ".pushsection .text.pv_hypercall_page,\"ax\",@progbits",
    ".balign 4096",
    ".globl pv_hypercall_page",
    "pv_hypercall_page:",
    ".rept 128",
    "ud2",
    ".skip 30, 0xcc",
    ".endr",
    ".popsection",
);

unsafe extern "C" {
    #[link_name = "pv_hypercall_page"]
    static HYPERCALL_PAGE: [u8; 4096];
}

/// Address of the hypercall page.
pub fn hypercall_page() -> usize {
    (&raw const HYPERCALL_PAGE) as usize
}

/// `-ENOSYS` (`xen/include/public/errno.h`): what Xen answers a number it has no handler for.
const ENOSYS: i64 = -38;

/// Issues hypercall `nr` through the hypercall page. The page has entries for numbers below
/// [`HYPERCALL_PAGE_ENTRIES`] only: others answer `-ENOSYS` without leaving the guest, rather
/// than jumping past the page.
///
/// # Safety
/// A hypervisor must have filled the hypercall page, and the arguments must be valid for `nr`.
pub unsafe fn hypercall(nr: u32, a: [u64; 5]) -> i64 {
    if nr as usize >= HYPERCALL_PAGE_ENTRIES {
        return ENOSYS;
    }
    let entry = hypercall_page() + nr as usize * HYPERCALL_ENTRY_SIZE;
    let ret: i64;
    // SAFETY: per the function's contract; the entry may clobber every C caller-saved register.
    unsafe {
        core::arch::asm!(
            "call {entry}",
            entry = in(reg) entry,
            inlateout("rdi") a[0] => _,
            inlateout("rsi") a[1] => _,
            inlateout("rdx") a[2] => _,
            inlateout("r10") a[3] => _,
            inlateout("r8") a[4] => _,
            lateout("rax") ret,
            clobber_abi("C"),
        );
    }
    ret
}

/// `struct vcpu_info` (x86_64), the part of the shared-info page each vCPU owns.
#[repr(C)]
pub struct VcpuInfo {
    /// Set by Xen when an event is pending for this vCPU.
    pub evtchn_upcall_pending: u8,
    /// The guest's virtual interrupt flag: nonzero masks event delivery.
    pub evtchn_upcall_mask: u8,
    /// Which words of the shared-info pending bitmap have events.
    pub evtchn_pending_sel: u64,
    /// `arch_vcpu_info`: cr2 of the last page fault, and padding.
    pub cr2: u64,
    /// `arch_vcpu_info` padding.
    pub arch_pad: u64,
    /// `vcpu_time_info`, unused by pv.
    pub time: [u64; 4],
}

static VCPU_INFO: AtomicPtr<VcpuInfo> = AtomicPtr::new(core::ptr::null_mut());

/// Registers this vCPU's `vcpu_info` (what a Xen guest gets from the shared-info page).
///
/// # Safety
/// `info` must stay valid, and not move, until replaced.
pub unsafe fn set_vcpu_info(info: *mut VcpuInfo) {
    VCPU_INFO.store(info, Ordering::Release);
}

/// This vCPU's `vcpu_info`, if registered.
pub fn vcpu_info() -> *mut VcpuInfo {
    VCPU_INFO.load(Ordering::Acquire)
}

static VCPU_ID: AtomicU32 = AtomicU32::new(0);

/// Sets this vCPU's Xen vCPU id, which hypercalls naming "this vCPU" pass (e.g. `halt`'s
/// `VCPUOP_down`). A kernel sets it at boot, on each CPU, from the id Xen gave that CPU (Linux:
/// `xen_vcpu_id`, the CPU number for PV; CPUID leaf base+4 EBX for HVM). pv runs one vCPU per
/// process: the id is process-wide, 0 until set.
pub fn set_vcpu_id(id: u32) {
    VCPU_ID.store(id, Ordering::Relaxed);
}

/// This vCPU's Xen vCPU id (see [`set_vcpu_id`]).
pub fn vcpu_id() -> u32 {
    VCPU_ID.load(Ordering::Relaxed)
}
