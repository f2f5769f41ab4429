//! The guest side of Hyper-V's hypercall interface on x86_64: the page the hypervisor fills
//! once the guest enables it (Linux `hyperv_init`: `HV_X64_MSR_GUEST_OS_ID` first, then
//! `HV_X64_MSR_HYPERCALL` = page | enable), and the functions catalogue declarations name with
//! `hyperv = call(...)` where a hypercall needs memory or computed inputs.
//!
//! A hypercall is `call pv_hyperv_page` with the control word in rcx (call code, fast bit
//! 16, rep count bits 43:32), input in rdx (a guest physical address, or fast input 1),
//! output in r8; the status in rax (`include/hyperv/hvgdk_mini.h`; Linux
//! `arch/x86/include/asm/mshyperv.h`). pv passes addresses of its own memory as guest
//! physical addresses: it assumes an identity mapping, as its kernel and userland tests do.

use pv_abi::hyperv::{CONTROL_FAST, CONTROL_REP_SHIFT, GUEST_OS_ID_LINUX, msr};

core::arch::global_asm!(
    ".pushsection .text.pv_hyperv_page,\"ax\",@progbits",
    ".balign 4096",
    ".globl pv_hyperv_page",
    "pv_hyperv_page:",
    ".rept 2048",
    "ud2",
    ".endr",
    ".popsection",
);

unsafe extern "C" {
    #[link_name = "pv_hyperv_page"]
    static HYPERCALL_PAGE: [u8; 4096];
}

/// Address of the hypercall page.
pub fn hypercall_page() -> usize {
    (&raw const HYPERCALL_PAGE) as usize
}

/// `rdmsr`.
///
/// # Safety
/// Privileged: ring 0 (or a monitor that emulates it), and `msr` must exist.
unsafe fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: per the function's contract.
    unsafe {
        core::arch::asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nostack))
    };
    u64::from(hi) << 32 | u64::from(lo)
}

/// `wrmsr`.
///
/// # Safety
/// Privileged: ring 0 (or a monitor that emulates it), and the write must be valid for `msr`.
unsafe fn wrmsr(msr: u32, value: u64) {
    // SAFETY: per the function's contract.
    unsafe {
        core::arch::asm!("wrmsr", in("ecx") msr, in("eax") value as u32,
            in("edx") (value >> 32) as u32, options(nostack))
    };
}

/// Enables the hypercall page as Linux's `hyperv_init` does: the guest OS id first (Hyper-V
/// ignores the page until it is set), then the page's address with the enable bit, keeping
/// the reserved bits the hypervisor reports.
///
/// # Safety
/// Privileged, and only under Hyper-V (or a monitor that emulates its MSRs): nothing else has
/// these MSRs.
pub unsafe fn enable() {
    // SAFETY: per the function's contract.
    unsafe {
        wrmsr(msr::GUEST_OS_ID, GUEST_OS_ID_LINUX);
        let reserved = rdmsr(msr::HYPERCALL) & 0xffe;
        wrmsr(msr::HYPERCALL, hypercall_page() as u64 | reserved | 1);
    }
}

/// One hypercall: the status word (bits 15:0 the status, 43:32 the reps completed).
///
/// # Safety
/// The page must be enabled, and `input`/`output` valid for the call `control` names.
pub unsafe fn hypercall(control: u64, input: u64, output: u64) -> u64 {
    let status: u64;
    // The page's code follows the Hyper-V calling convention, which Linux treats as clobbering
    // r8-r11 and the flags besides rcx and rdx.
    // SAFETY: per the function's contract.
    unsafe {
        core::arch::asm!(
            "call {page}",
            page = sym pv_hyperv_page_entry,
            inlateout("rcx") control => _,
            inlateout("rdx") input => _,
            inlateout("r8") output => _,
            lateout("rax") status,
            lateout("r9") _, lateout("r10") _, lateout("r11") _,
        );
    }
    status
}

unsafe extern "C" {
    /// The page, as something to call.
    #[link_name = "pv_hyperv_page"]
    fn pv_hyperv_page_entry();
}

/// `HvCallSendSyntheticClusterIpi` (0x000b), fast: vector in rdx, VP mask in r8.
const SEND_IPI: u64 = 0x000b;
/// `HvCallFlushVirtualAddressSpace` (0x0002).
const FLUSH_SPACE: u64 = 0x0002;
/// `HvCallFlushVirtualAddressList` (0x0003), a rep call.
const FLUSH_LIST: u64 = 0x0003;
/// `HV_FLUSH_ALL_PROCESSORS` | `HV_FLUSH_ALL_VIRTUAL_ADDRESS_SPACES`.
const FLUSH_EVERYWHERE: u64 = 1 | 1 << 1;

/// `struct hv_tlb_flush` with room for one GVA (Linux `arch/x86/hyperv/mmu.c`).
#[repr(C)]
struct TlbFlush {
    address_space: u64,
    flags: u64,
    processor_mask: u64,
    gva: [u64; 1],
}

/// Sends `vector` to the vCPU whose VP index is `apicid` (Linux assumes VP index = APIC ID
/// only where `hv_vp_index` says so; pv's tests do).
pub extern "C" fn send_ipi(apicid: u32, vector: u32) {
    let mask = 1u64.checked_shl(apicid).unwrap_or(0);
    // The catalogue installs this only for Hyper-V, after the kernel enabled the page.
    // SAFETY: a fast call passes no memory.
    unsafe { hypercall(SEND_IPI | CONTROL_FAST, u64::from(vector), mask) };
}

/// Flushes every address space on every processor.
pub extern "C" fn flush_tlb_all() {
    let input = TlbFlush {
        address_space: 0,
        flags: FLUSH_EVERYWHERE,
        processor_mask: 0,
        gva: [0],
    };
    // SAFETY: `input` lives across the call (identity-mapped); as for `send_ipi`.
    unsafe { hypercall(FLUSH_SPACE, &input as *const TlbFlush as u64, 0) };
}

/// Flushes the page of `addr` in every address space on every processor: a list of one.
pub extern "C" fn flush_tlb_one_all(addr: u64) {
    let input = TlbFlush {
        address_space: 0,
        flags: FLUSH_EVERYWHERE,
        processor_mask: 0,
        gva: [addr & !0xfff],
    };
    // SAFETY: as for `flush_tlb_all`.
    unsafe {
        hypercall(
            FLUSH_LIST | 1 << CONTROL_REP_SHIFT,
            &input as *const TlbFlush as u64,
            0,
        )
    };
}
