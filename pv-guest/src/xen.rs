//! What the Xen stubs need before the first Xen-patched intrinsic runs, set up as Linux does
//! for an HVM/PVH guest:
//! - the hypercall page: CPUID leaf base+2 gives the number of hypercall pages (EAX) and the
//!   MSR that asks Xen to fill one (EBX); the guest writes that MSR with the page's physical
//!   address (Linux `arch/x86/xen/enlighten_hvm.c`, `xen_hvm_init_hypercall` in older kernels:
//!   `wrmsr_safe(cpuid_ebx(base + 2), __pa(hypercall_page))`; Xen
//!   `xen/include/public/arch-x86/cpuid.h`, leaf 3 of the Xen range);
//! - `vcpu_info`: `VCPUOP_register_vcpu_info` (Xen `xen/include/public/vcpu.h`: command 10,
//!   argument `struct vcpu_register_vcpu_info { uint64_t mfn; uint32_t offset; uint32_t rsvd;
//!   }`) places vCPU 0's `vcpu_info` in a 64-byte-aligned static of the guest (identity
//!   mapped, so the frame number is the physical address >> 12).

use crate::console::{fail, hex, puts};
use pv_runtime::xen::{self, VcpuInfo};

/// `__HYPERVISOR_vcpu_op` (Xen `xen/include/public/xen.h`).
const VCPU_OP: u32 = 24;
/// `VCPUOP_register_vcpu_info` (`vcpu.h`).
const REGISTER_VCPU_INFO: u64 = 10;

/// `struct vcpu_register_vcpu_info` (`vcpu.h`).
#[repr(C)]
struct RegisterVcpuInfo {
    mfn: u64,
    offset: u32,
    rsvd: u32,
}

/// vCPU 0's `vcpu_info`, 64-byte aligned as Xen requires (it must not cross a page).
#[repr(C, align(64))]
struct Aligned(VcpuInfo);

static mut VCPU_INFO: Aligned = Aligned(VcpuInfo {
    evtchn_upcall_pending: 0,
    evtchn_upcall_mask: 0,
    evtchn_pending_sel: 0,
    cr2: 0,
    arch_pad: 0,
    time: [0; 4],
});

/// Step 3: the hypercall page and `vcpu_info`, for Xen found at CPUID leaf `base`.
pub fn init(base: u32) {
    let msr = crate::cpuid(base + 2, 0)[1];
    let page = xen::hypercall_page() as u64;
    // The MSR Xen names in leaf base+2; the page is the runtime's, page-aligned text.
    // SAFETY: Xen fills the page on this write; nothing runs it before.
    unsafe {
        core::arch::asm!("wrmsr", in("ecx") msr, in("eax") page as u32,
            in("edx") (page >> 32) as u32, options(nostack))
    };
    let info = (&raw mut VCPU_INFO).cast::<VcpuInfo>();
    let phys = info as u64;
    let arg = RegisterVcpuInfo {
        mfn: phys >> 12,
        offset: (phys & 0xfff) as u32,
        rsvd: 0,
    };
    // The page was filled by the MSR write; the argument is a valid structure for the call.
    // SAFETY: as above.
    let ret = unsafe {
        xen::hypercall(
            VCPU_OP,
            [REGISTER_VCPU_INFO, 0, (&raw const arg) as u64, 0, 0],
        )
    };
    if ret != 0 {
        fail("xen: VCPUOP_register_vcpu_info refused");
    }
    // SAFETY: the static lives for the whole run and never moves.
    unsafe { xen::set_vcpu_info(info) };
    xen::set_vcpu_id(0);
    // The Xen bodies read cr0, cr3 and cr4 from shadows: they start from the vCPU's values,
    // read natively once here (Linux takes its first cr3 from start_info's pt_base).
    let (cr0, cr3, cr4): (u64, u64, u64);
    // SAFETY: ring 0, before patching: plain control-register reads.
    unsafe {
        core::arch::asm!("mov {}, cr0", "mov {}, cr3", "mov {}, cr4",
            out(reg) cr0, out(reg) cr3, out(reg) cr4, options(nomem, nostack))
    };
    xen::pv::init_shadows(cr0, cr3, cr4);
    puts("xen: hypercall page at ");
    hex(page);
    puts(" vcpu_info at ");
    hex(phys);
    puts("\n");
}
