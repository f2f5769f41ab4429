//! The guest side of Hyper-V on x86_64: the hypercall page.
//!
//! A Hyper-V guest gives the hypervisor a page of its own to fill with the hypercall sequence:
//! it writes `HV_X64_MSR_GUEST_OS_ID`, then `HV_X64_MSR_HYPERCALL` = the page's address | 1
//! (Linux's `hyperv_init` allocates it; pv reserves it in the text, like Xen's hypercall page,
//! so that the patch engine's text writer can fill it in userland). Calls enter it with rcx =
//! control word, rdx = input, r8 = output, result in rax. Until a hypervisor fills it, the page
//! is `ud2`.

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

/// Address of the Hyper-V hypercall page (page-aligned).
pub fn hypercall_page() -> usize {
    (&raw const HYPERCALL_PAGE) as usize
}
