//! Xen hypercall numbers and argument counts (`xen/include/public/xen.h`), and the sub-command
//! constants pv's x86_64 Xen bodies use.

pub use crate::backend::Hypercall;

const fn hc(name: &'static str, nr: u32, args: u8) -> Hypercall {
    Hypercall::plain(name, nr, args)
}

/// The public hypercall table.
pub const HYPERCALLS: [Hypercall; 42] = [
    hc("set_trap_table", 0, 1),
    hc("mmu_update", 1, 4),
    hc("set_gdt", 2, 2),
    hc("stack_switch", 3, 2),
    hc("set_callbacks", 4, 3),
    hc("fpu_taskswitch", 5, 1),
    hc("sched_op_compat", 6, 2),
    hc("platform_op", 7, 1),
    hc("set_debugreg", 8, 2),
    hc("get_debugreg", 9, 1),
    hc("update_descriptor", 10, 2),
    hc("memory_op", 12, 2),
    hc("multicall", 13, 2),
    hc("update_va_mapping", 14, 3),
    hc("set_timer_op", 15, 1),
    hc("event_channel_op_compat", 16, 1),
    hc("xen_version", 17, 2),
    hc("console_io", 18, 3),
    hc("physdev_op_compat", 19, 1),
    hc("grant_table_op", 20, 3),
    hc("vm_assist", 21, 2),
    hc("update_va_mapping_otherdomain", 22, 4),
    hc("iret", 23, 0),
    hc("vcpu_op", 24, 3),
    hc("set_segment_base", 25, 2),
    hc("mmuext_op", 26, 4),
    hc("xsm_op", 27, 1),
    hc("nmi_op", 28, 2),
    hc("sched_op", 29, 2),
    hc("callback_op", 30, 2),
    hc("xenoprof_op", 31, 2),
    hc("event_channel_op", 32, 2),
    hc("physdev_op", 33, 2),
    hc("hvm_op", 34, 2),
    hc("sysctl", 35, 1),
    hc("domctl", 36, 1),
    hc("kexec_op", 37, 2),
    hc("tmem_op", 38, 1),
    hc("argo_op", 39, 5),
    hc("xenpmu_op", 40, 2),
    hc("dm_op", 41, 3),
    hc("hypfs_op", 42, 5),
];

/// Looks a hypercall up by name.
pub fn hypercall(name: &str) -> Option<&'static Hypercall> {
    HYPERCALLS.iter().find(|h| h.name == name)
}

/// Looks a hypercall up by number.
pub fn hypercall_by_nr(nr: u32) -> Option<&'static Hypercall> {
    HYPERCALLS.iter().find(|h| h.nr == nr)
}

/// Bytes per hypercall-page entry: hypercall `nr` is entered at `hypercall_page + 32 * nr`.
pub const HYPERCALL_ENTRY_SIZE: usize = 32;
/// Largest hypercall number the page has an entry for.
pub const HYPERCALL_PAGE_ENTRIES: usize = 4096 / HYPERCALL_ENTRY_SIZE;

/// `XEN_EMULATE_PREFIX` (`ud2; .ascii "xen"`): Xen emulates the instruction that follows.
pub const EMULATE_PREFIX: [u8; 5] = [0x0f, 0x0b, b'x', b'e', b'n'];

/// `sched_op` commands.
pub mod sched {
    /// `SCHEDOP_yield`: give up the CPU, stay runnable.
    pub const YIELD: u64 = 0;
    /// `SCHEDOP_block`: block until an event arrives (halt with interrupts enabled).
    pub const BLOCK: u64 = 1;
    /// `SCHEDOP_shutdown`: shut the domain down.
    pub const SHUTDOWN: u64 = 2;
}
/// `mmuext_op` commands.
pub mod mmuext {
    /// `MMUEXT_NEW_BASEPTR`: load a new page-table base (cr3 write).
    pub const NEW_BASEPTR: u32 = 5;
    /// `MMUEXT_TLB_FLUSH_LOCAL`: flush this vCPU's TLB.
    pub const TLB_FLUSH_LOCAL: u32 = 6;
    /// `MMUEXT_INVLPG_LOCAL`: flush one linear address from this vCPU's TLB.
    pub const INVLPG_LOCAL: u32 = 7;
    /// `MMUEXT_TLB_FLUSH_ALL`: flush every vCPU's TLB.
    pub const TLB_FLUSH_ALL: u32 = 10;
    /// `MMUEXT_INVLPG_ALL`: flush one linear address from every vCPU's TLB.
    pub const INVLPG_ALL: u32 = 11;
    /// `MMUEXT_FLUSH_CACHE`: write back and invalidate caches (wbinvd).
    pub const FLUSH_CACHE: u32 = 12;
}
/// `console_io` commands.
pub mod console {
    /// `CONSOLEIO_write`: write bytes to the Xen console.
    pub const WRITE: u64 = 0;
    /// `CONSOLEIO_read`: read bytes from the Xen console.
    pub const READ: u64 = 1;
}
/// `vcpu_op` commands.
pub mod vcpu {
    /// `VCPUOP_down`: take the vCPU offline.
    pub const DOWN: u64 = 2;
}
/// `set_segment_base` selectors.
pub mod segbase {
    /// `SEGBASE_FS`: the fs base.
    pub const FS: u64 = 0;
    /// `SEGBASE_GS_USER`: the user-mode gs base.
    pub const GS_USER: u64 = 1;
    /// `SEGBASE_GS_KERNEL`: the kernel-mode gs base.
    pub const GS_KERNEL: u64 = 2;
}
/// `platform_op` `XENPF_resource_op`: MSR access.
pub mod platform {
    /// `XENPF_INTERFACE_VERSION`, checked by Xen in every `platform_op`.
    pub const INTERFACE_VERSION: u32 = 0x0300_0001;
    /// `XENPF_resource_op`: the `platform_op` command for MSR access.
    pub const RESOURCE_OP: u32 = 61;
    /// `XEN_RESOURCE_OP_MSR_READ`: a resource entry that reads an MSR.
    pub const MSR_READ: u32 = 0;
    /// `XEN_RESOURCE_OP_MSR_WRITE`: a resource entry that writes an MSR.
    pub const MSR_WRITE: u32 = 1;
}
/// `xen_version` commands.
pub mod version {
    /// `XENVER_version`: the Xen version, major in the high 16 bits.
    pub const VERSION: u64 = 0;
}

/// The symbol of the hypercall page that Xen stubs call into (`pv_runtime::xen` defines it).
pub const HYPERCALL_PAGE_SYMBOL: &str = "pv_hypercall_page";
