//! Hyper-V's enlightenments: hypercall call codes and synthetic MSRs
//! (`include/hyperv/hvgdk_mini.h`; Linux `arch/x86/hyperv/`).

use crate::backend::{CallKind, Hypercall};

/// The symbol of the hypercall page the guest enables (`pv_runtime::hyperv` defines it).
pub const HYPERCALL_PAGE_SYMBOL: &str = "pv_hyperv_page";

/// Call codes as declarations name them. Arguments: input (rdx), output (r8), and for rep
/// calls the repetition count last.
pub const HYPERCALLS: [Hypercall; 4] = [
    // Input: `hv_tlb_flush{u64 address_space; u64 flags; u64 processor_mask}`; output unused.
    Hypercall {
        name: "flush_virtual_address_space",
        nr: 0x0002,
        args: 2,
        kind: CallKind::Plain,
    },
    // Rep call: the same header followed by `reps` GVA entries.
    Hypercall {
        name: "flush_virtual_address_list",
        nr: 0x0003,
        args: 3,
        kind: CallKind::Rep,
    },
    // Fast: rdx = the retry count so far.
    Hypercall {
        name: "notify_long_spin_wait",
        nr: 0x0008,
        args: 1,
        kind: CallKind::Fast,
    },
    // Fast: rdx = vector (0x10-0xff), r8 = mask of VP indexes below 64.
    Hypercall {
        name: "send_ipi",
        nr: 0x000b,
        args: 2,
        kind: CallKind::Fast,
    },
];

/// Bit 16 of the control word: a fast call, inputs in registers.
pub const CONTROL_FAST: u64 = 1 << 16;
/// Bits 43:32 of the control word: the rep count.
pub const CONTROL_REP_SHIFT: u32 = 32;

/// Synthetic MSRs.
pub mod msr {
    /// `HV_X64_MSR_GUEST_OS_ID`: written first, nonzero.
    pub const GUEST_OS_ID: u32 = 0x4000_0000;
    /// `HV_X64_MSR_HYPERCALL`: page GPA | enable (bit 0).
    pub const HYPERCALL: u32 = 0x4000_0001;
    /// `HV_X64_MSR_VP_INDEX`.
    pub const VP_INDEX: u32 = 0x4000_0002;
    /// `HV_X64_MSR_REFERENCE_TSC`: page GPA | enable.
    pub const REFERENCE_TSC: u32 = 0x4000_0021;
    /// `HV_X64_MSR_EOI`.
    pub const EOI: u32 = 0x4000_0070;
    /// `HV_X64_MSR_ICR`.
    pub const ICR: u32 = 0x4000_0071;
    /// `HV_X64_MSR_TPR`.
    pub const TPR: u32 = 0x4000_0072;
}

/// Linux's guest OS id: open source (bit 63), OS type Linux (0x100 << 48), kernel version in
/// bits 47:16 (`include/asm-generic/mshyperv.h`, `hv_generate_guest_id`). pv writes this
/// shape with version 0.
pub const GUEST_OS_ID_LINUX: u64 = 0x8100 << 48;
