//! The catalogue: pv's paravirtual intrinsics, declared once each with `#[pv_intrinsic]`.
//!
//! x86_64 follows Linux's pv_ops (`pv_cpu_ops`, `pv_irq_ops`, `pv_mmu_ops`): each declaration
//! gives the native sequence and the Xen PV implementation. Arguments use the pv argument order
//! (argument 0 in `reg`, then rdi, rsi, rdx, rcx, r8, r9) unless an argument names its own
//! register. The binding chosen for each follows Linux's choices: hot, short operations inline
//! (option 1), the rest through direct (option 2) or indirect (option 3) calls, and rare
//! configuration through plain C calls (option 4).
#![no_std]

pub use pv_runtime;

/// x86_64 intrinsics.
pub mod x86_64 {
    use pv_macros::pv_intrinsic;
    pub use pv_runtime::xen::pv::DescriptorTablePointer;

    /// The registers `cpuid` reads (eax = leaf, ecx = subleaf) and writes.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct CpuidRegs {
        pub eax: u32,
        pub ebx: u32,
        pub ecx: u32,
        pub edx: u32,
    }

    #[pv_intrinsic(
        binding = direct_branch,
        reg = "rdi",
        clobber = [rax, rcx, rdx],
        native = "push rbx; mov eax, [rdi]; mov ecx, [rdi + 8]; cpuid;
                  mov [rdi], eax; mov [rdi + 4], ebx; mov [rdi + 8], ecx; mov [rdi + 12], edx; pop rbx",
        xen = asm("push rbx; mov eax, [rdi]; mov ecx, [rdi + 8]; ud2; .ascii \"xen\"; cpuid;
                   mov [rdi], eax; mov [rdi + 4], ebx; mov [rdi + 8], ecx; mov [rdi + 12], edx; pop rbx"),
    )]
    /// `cpuid` on `regs` in place. Xen PV: the `XEN_EMULATE_PREFIX` form, so Xen's leaves show.
    ///
    /// # Safety
    /// Privileged: run it in ring 0, or after patching for a hypervisor that implements it.
    /// `regs` must be valid for reads and writes.
    pub unsafe fn cpuid(regs: *mut CpuidRegs);

    #[pv_intrinsic(binding = inline_patch, reg = "rax", clobber = [rdx],
        native = "rdtsc; shl rdx, 32; or rax, rdx", xen = native)]
    /// The time-stamp counter. Xen PV runs `rdtsc` natively.
    pub fn rdtsc() -> u64;

    #[pv_intrinsic(binding = inline_patch, reg = "rax", clobber = [rcx, rdx],
        native = "rdtscp; shl rdx, 32; or rax, rdx", xen = native)]
    /// The time-stamp counter with `IA32_TSC_AUX` discarded.
    pub fn rdtscp() -> u64;

    #[pv_intrinsic(binding = indirect_branch, reg = "rax",
        native = "mov rax, cr0", xen = call(pv_runtime::xen::pv::read_cr0))]
    /// Reads cr0. Xen PV: the guest's shadow.
    ///
    /// # Safety
    /// Privileged: run it in ring 0, or after patching for a hypervisor that implements it.
    pub unsafe fn read_cr0() -> u64;

    #[pv_intrinsic(binding = indirect_branch, reg = "rdi",
        native = "mov cr0, rdi", xen = call(pv_runtime::xen::pv::write_cr0))]
    /// Writes cr0. Xen PV: only TS is the guest's, through `fpu_taskswitch`.
    ///
    /// # Safety
    /// Privileged: run it in ring 0, or after patching for a hypervisor that implements it.
    pub unsafe fn write_cr0(value: u64);

    #[pv_intrinsic(binding = inline_patch, reg = "rax",
        native = "mov rax, cr2", xen = call(pv_runtime::xen::pv::read_cr2))]
    /// Reads cr2, the last page-fault address. Xen PV: `vcpu_info.arch.cr2`.
    ///
    /// # Safety
    /// Privileged: run it in ring 0, or after patching for a hypervisor that implements it.
    pub unsafe fn read_cr2() -> u64;

    #[pv_intrinsic(binding = inline_patch, reg = "rax",
        native = "mov rax, cr3", xen = call(pv_runtime::xen::pv::read_cr3))]
    /// Reads cr3. Xen PV: the guest's shadow.
    ///
    /// # Safety
    /// Privileged: run it in ring 0, or after patching for a hypervisor that implements it.
    pub unsafe fn read_cr3() -> u64;

    #[pv_intrinsic(binding = indirect_branch, reg = "rdi",
        native = "mov cr3, rdi", xen = call(pv_runtime::xen::pv::write_cr3))]
    /// Switches address space. Xen PV: `mmuext_op(MMUEXT_NEW_BASEPTR)`.
    ///
    /// # Safety
    /// Privileged: run it in ring 0, or after patching for a hypervisor that implements it.
    pub unsafe fn write_cr3(value: u64);

    #[pv_intrinsic(binding = indirect_branch, reg = "rax",
        native = "mov rax, cr4", xen = call(pv_runtime::xen::pv::read_cr4))]
    /// Reads cr4. Xen PV: the guest's shadow.
    ///
    /// # Safety
    /// Privileged: run it in ring 0, or after patching for a hypervisor that implements it.
    pub unsafe fn read_cr4() -> u64;

    #[pv_intrinsic(binding = indirect_branch, reg = "rdi",
        native = "mov cr4, rdi", xen = call(pv_runtime::xen::pv::write_cr4))]
    /// Writes cr4. Xen PV: the guest's shadow (Xen owns cr4).
    ///
    /// # Safety
    /// Privileged: run it in ring 0, or after patching for a hypervisor that implements it.
    pub unsafe fn write_cr4(value: u64);

    #[pv_intrinsic(binding = indirect_branch, reg = "rax", clobber = [rdx],
        native = "rdmsr; shl rdx, 32; or rax, rdx", xen = call(pv_runtime::xen::pv::read_msr))]
    /// Reads a model-specific register. Xen PV: `platform_op(XENPF_resource_op)`.
    ///
    /// # Safety
    /// Privileged: run it in ring 0, or after patching for a hypervisor that implements it.
    pub unsafe fn rdmsr(#[pv(reg = "rcx")] msr: u32) -> u64;

    #[pv_intrinsic(binding = indirect_branch, reg = "rcx", clobber = [rax, rdx],
        native = "mov rax, rdi; mov rdx, rdi; shr rdx, 32; wrmsr", xen = call(pv_runtime::xen::pv::write_msr))]
    /// Writes a model-specific register. Xen PV: `set_segment_base` for the segment-base MSRs,
    /// `platform_op(XENPF_resource_op)` for the others.
    ///
    /// # Safety
    /// Privileged: run it in ring 0, or after patching for a hypervisor that implements it.
    pub unsafe fn wrmsr(msr: u32, value: u64);

    #[pv_intrinsic(binding = inline_patch, arch = x86_64,
        native = "cli", xen = call(pv_runtime::xen::pv::irq_disable))]
    /// Masks interrupts. Xen PV: sets the event mask in `vcpu_info`.
    ///
    /// # Safety
    /// Privileged: run it in ring 0, or after patching for a hypervisor that implements it.
    pub unsafe fn irq_disable();

    #[pv_intrinsic(binding = inline_patch, arch = x86_64,
        native = "sti", xen = call(pv_runtime::xen::pv::irq_enable))]
    /// Unmasks interrupts. Xen PV: clears the event mask, then delivers pending events.
    ///
    /// # Safety
    /// Privileged: run it in ring 0, or after patching for a hypervisor that implements it.
    pub unsafe fn irq_enable();

    #[pv_intrinsic(binding = inline_patch, reg = "rax",
        native = "pushfq; pop rax", xen = call(pv_runtime::xen::pv::save_fl))]
    /// The flags register. Xen PV: IF is the inverse of the event mask. Natively in a
    /// deprivileged kernel `pushf` shows the real IF, not the virtual one.
    pub fn save_fl() -> u64;

    #[pv_intrinsic(binding = inline_patch, reg = "rdi",
        native = "push rdi; popfq", xen = call(pv_runtime::xen::pv::restore_fl))]
    /// Restores flags saved by [`save_fl`]. Xen PV: sets the event mask from IF.
    ///
    /// # Safety
    /// Privileged: run it in ring 0, or after patching for a hypervisor that implements it.
    pub unsafe fn restore_fl(flags: u64);

    #[pv_intrinsic(binding = direct_branch, arch = x86_64,
        native = "sti; hlt", xen = hypercall(sched_op, 1, 0))]
    /// Enables interrupts and waits for one. Xen PV: `sched_op(SCHEDOP_block)`.
    ///
    /// # Safety
    /// Privileged: run it in ring 0, or after patching for a hypervisor that implements it.
    pub unsafe fn safe_halt();

    #[pv_intrinsic(binding = direct_branch, arch = x86_64,
        native = "hlt", xen = call(pv_runtime::xen::pv::halt))]
    /// Halts. Xen PV: `sched_op(SCHEDOP_block)`, or `vcpu_op(VCPUOP_down)` if masked.
    ///
    /// # Safety
    /// Privileged: run it in ring 0, or after patching for a hypervisor that implements it.
    pub unsafe fn halt();

    #[pv_intrinsic(binding = indirect_branch, arch = x86_64,
        native = "wbinvd", xen = call(pv_runtime::xen::pv::wbinvd))]
    /// Writes back and invalidates caches. Xen PV: `mmuext_op(MMUEXT_FLUSH_CACHE)`.
    ///
    /// # Safety
    /// Privileged: run it in ring 0, or after patching for a hypervisor that implements it.
    pub unsafe fn wbinvd();

    #[pv_intrinsic(binding = indirect_branch, reg = "rdi",
        native = "invlpg [rdi]", xen = call(pv_runtime::xen::pv::flush_tlb_one))]
    /// Flushes one TLB entry. Xen PV: `mmuext_op(MMUEXT_INVLPG_LOCAL)`.
    ///
    /// # Safety
    /// Privileged: run it in ring 0, or after patching for a hypervisor that implements it.
    pub unsafe fn flush_tlb_one(addr: u64);

    #[pv_intrinsic(binding = indirect_call, reg = "rdi",
        native = "lidt [rdi]", xen = call(pv_runtime::xen::pv::load_idt))]
    /// Loads the IDT. Xen PV: `set_trap_table` from the IDT's gates.
    ///
    /// # Safety
    /// Privileged: run it in ring 0, or after patching for a hypervisor that implements it.
    /// `ptr` must point at a valid descriptor-table pointer and IDT.
    pub unsafe fn load_idt(ptr: *const DescriptorTablePointer);

    #[pv_intrinsic(binding = indirect_call, reg = "rdi",
        native = "lgdt [rdi]", xen = call(pv_runtime::xen::pv::load_gdt))]
    /// Loads the GDT. Xen PV: `set_gdt`.
    ///
    /// # Safety
    /// Privileged: run it in ring 0, or after patching for a hypervisor that implements it.
    /// `ptr` must point at a valid descriptor-table pointer and GDT.
    pub unsafe fn load_gdt(ptr: *const DescriptorTablePointer);

    #[pv_intrinsic(binding = indirect_branch, reg = "rax",
        native = "in al, dx; movzx eax, al", xen = call(pv_runtime::xen::pv::inb))]
    /// Reads an I/O port. Xen PV: `console_io` for the console port.
    ///
    /// # Safety
    /// Privileged: run it in ring 0, or after patching for a hypervisor that implements it.
    pub unsafe fn inb(#[pv(reg = "rdx")] port: u16) -> u8;

    #[pv_intrinsic(binding = indirect_branch, reg = "rdx",
        native = "mov eax, edi; out dx, al", clobber = [rax], xen = call(pv_runtime::xen::pv::outb))]
    /// Writes an I/O port. Xen PV: `console_io` for the console port.
    ///
    /// # Safety
    /// Privileged: run it in ring 0, or after patching for a hypervisor that implements it.
    pub unsafe fn outb(port: u16, value: u8);

    #[pv_intrinsic(binding = inline_patch, arch = x86_64, clobber = [rax],
        native = "out 0x80, al", xen = nop)]
    /// The legacy I/O delay. Xen PV needs none: the site becomes nops.
    ///
    /// # Safety
    /// Privileged: run it in ring 0, or after patching for a hypervisor that implements it.
    pub unsafe fn io_delay();
}
