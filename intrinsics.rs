//! The catalogue: pv's paravirtual intrinsics, declared once each with `#[pv_intrinsic]`.
//!
//! x86_64 follows Linux's pv_ops (`pv_cpu_ops`, `pv_irq_ops`, `pv_mmu_ops`): each declaration
//! gives the native sequence and the Xen PV implementation. Arguments use the pv argument order
//! (argument 0 in `reg`, then rdi, rsi, rdx, rcx, r8, r9) unless an argument names its own
//! register. The binding chosen for each follows Linux's choices: hot, short operations inline
//! (option 1), the rest through direct (option 2) or indirect (option 3) calls, and rare
//! configuration through plain C calls (option 4).
#![no_std]
#![warn(missing_docs)]

pub use pv_runtime;

/// x86_64 intrinsics.
pub mod x86_64 {
    use pv_macros::pv_intrinsic;
    pub use pv_runtime::xen::pv::DescriptorTablePointer;

    /// The registers `cpuid` reads (eax = leaf, ecx = subleaf) and writes.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct CpuidRegs {
        /// eax: the leaf on input.
        pub eax: u32,
        /// ebx: output only.
        pub ebx: u32,
        /// ecx: the subleaf on input.
        pub ecx: u32,
        /// edx: output only.
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
    /// Writes cr4. Xen PV, as Linux: PGE, PSE and PCE cleared, then `mov cr4`, which Xen traps
    /// and filters; the guest-side shadow keeps the value asked for.
    ///
    /// # Safety
    /// Privileged: run it in ring 0, or after patching for a hypervisor that implements it.
    pub unsafe fn write_cr4(value: u64);

    #[pv_intrinsic(binding = indirect_branch, reg = "rax", clobber = [rdx],
        native = "rdmsr; shl rdx, 32; or rax, rdx", xen = call(pv_runtime::xen::pv::read_msr))]
    /// Reads a model-specific register. Xen PV, as Linux's `xen_read_msr`: `rdmsr`, which Xen
    /// traps and emulates (an MSR it does not emulate faults; Linux's `_safe` read gives 0).
    ///
    /// # Safety
    /// Privileged: run it in ring 0, or after patching for a hypervisor that implements it.
    pub unsafe fn rdmsr(#[pv(reg = "rcx")] msr: u32) -> u64;

    #[pv_intrinsic(binding = indirect_branch, reg = "rcx", clobber = [rax, rdx],
        native = "mov rax, rdi; mov rdx, rdi; shr rdx, 32; wrmsr", xen = call(pv_runtime::xen::pv::write_msr))]
    /// Writes a model-specific register. Xen PV, as Linux's `xen_write_msr`: `set_segment_base`
    /// for the segment-base MSRs, nothing for the syscall/sysenter MSRs, `wrmsr` (trapped and
    /// emulated by Xen) for the others.
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
    /// Halts. Xen PV: `sched_op(SCHEDOP_block)`, or, with events masked, `vcpu_op(VCPUOP_down)`
    /// on this vCPU (`pv_runtime::xen::vcpu_id`), as Linux's `xen_halt`.
    ///
    /// # Safety
    /// Privileged: run it in ring 0, or after patching for a hypervisor that implements it.
    pub unsafe fn halt();

    #[pv_intrinsic(binding = indirect_branch, arch = x86_64,
        native = "wbinvd", xen = emulated)]
    /// Writes back and invalidates caches. Xen PV: native, as in Linux; Xen traps and
    /// emulates it.
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
    /// Loads the IDT. Xen PV: `set_trap_table` from the IDT's present interrupt and trap gates,
    /// interrupt gates masking events on entry (Linux's `cvt_gate_to_trap`).
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
        native = "out 0x80, al", xen = nop, kvm = nop)]
    /// The legacy I/O delay. Xen PV needs none, nor KVM (`KVM_FEATURE_NOP_IO_DELAY`, Linux
    /// `paravirt_ops_setup`): the site becomes nops.
    ///
    /// # Safety
    /// Privileged: run it in ring 0, or after patching for a hypervisor that implements it.
    pub unsafe fn io_delay();

    // KVM's and Hyper-V's paravirtual hooks (Linux `arch/x86/kernel/kvm.c`,
    // `arch/x86/hyperv/`): each with the body Linux gives it under each hypervisor, where one
    // exists; an absent body is the native one, which a hardware-virtualized guest runs (and
    // the hypervisor emulates where it traps).

    #[pv_intrinsic(binding = direct_branch, reg = "rdi", native = "nop",
        kvm = hypercall(kick_cpu, 0, apicid))]
    /// Wakes the halted vCPU `apicid` (a paravirtual spinlock's unlock). KVM: `KVM_HC_KICK_CPU`
    /// (`kvm_kick_cpu`). Bare metal: nothing, a waiter spins. Xen and Hyper-V kick with an event
    /// channel or an IPI in Linux, which pv does not model: native (nothing).
    pub fn kick_cpu(apicid: u32);

    #[pv_intrinsic(binding = direct_branch, reg = "rdi", native = "pause",
        xen = hypercall(sched_op, 0, 0), kvm = hypercall(sched_yield, apicid))]
    /// Gives the CPU to the preempted vCPU `apicid` that holds what this one waits for. KVM:
    /// `KVM_HC_SCHED_YIELD`; Xen: `sched_op(SCHEDOP_yield)`; bare metal and Hyper-V: `pause`.
    pub fn yield_to(apicid: u32);

    #[pv_intrinsic(binding = direct_branch, reg = "rdi", native = "pause",
        xen = hypercall(sched_op, 0, 0), hyperv = hypercall(notify_long_spin_wait, retries))]
    /// Tells the hypervisor a spinlock has spun `retries` times. Hyper-V:
    /// `HvCallNotifyLongSpinWait` (fast); Xen: `sched_op(SCHEDOP_yield)`, as Xen's Viridian
    /// answers it; bare metal and KVM: `pause`.
    pub fn spin_wait_notify(retries: u64);

    #[pv_intrinsic(binding = indirect_branch, reg = "rdi", clobber = [rax, rcx, rdx],
        native = "mov eax, esi; mov edx, edi; mov ecx, 0x830; wrmsr",
        xen = nop,
        kvm = hypercall(send_ipi, 1, 0, apicid, vector),
        hyperv = call(pv_runtime::hyperv::send_ipi))]
    /// Sends interrupt `vector` to the CPU with APIC ID `apicid`. Bare metal: the x2APIC ICR
    /// (MSR 0x830, fixed delivery, physical destination). KVM: `KVM_HC_SEND_IPI` with a
    /// one-bit bitmap based at `apicid`; Hyper-V: `HvCallSendSyntheticClusterIpi` (fast, VP
    /// index = APIC ID). Xen PV has no local APIC and Linux sends IPIs over event channels,
    /// which pv does not model: nothing.
    ///
    /// # Safety
    /// Privileged: run it in ring 0, or after patching for a hypervisor that implements it.
    pub unsafe fn send_ipi(apicid: u32, vector: u32);

    #[pv_intrinsic(binding = indirect_branch, arch = x86_64, clobber = [rax],
        native = "mov rax, cr3; mov cr3, rax",
        xen = call(pv_runtime::xen::pv::flush_tlb_all),
        hyperv = call(pv_runtime::hyperv::flush_tlb_all))]
    /// Flushes the TLBs of every CPU. Bare metal and KVM: this CPU's (reloading cr3; a kernel
    /// shoots down the others with IPIs). Xen: `mmuext_op(MMUEXT_TLB_FLUSH_ALL)`; Hyper-V:
    /// `HvCallFlushVirtualAddressSpace` for all processors and address spaces.
    ///
    /// # Safety
    /// Privileged: run it in ring 0, or after patching for a hypervisor that implements it.
    pub unsafe fn flush_tlb_all();

    #[pv_intrinsic(binding = indirect_branch, reg = "rdi",
        native = "invlpg [rdi]",
        xen = call(pv_runtime::xen::pv::flush_tlb_one_all),
        hyperv = call(pv_runtime::hyperv::flush_tlb_one_all))]
    /// Flushes one address from the TLBs of every CPU. Bare metal and KVM: this CPU's
    /// (`invlpg`). Xen: `mmuext_op(MMUEXT_INVLPG_ALL)`; Hyper-V:
    /// `HvCallFlushVirtualAddressList` with one entry, all processors.
    ///
    /// # Safety
    /// Privileged: run it in ring 0, or after patching for a hypervisor that implements it.
    pub unsafe fn flush_tlb_one_all(addr: u64);

    #[pv_intrinsic(binding = indirect_call, reg = "rdi", clobber = [rax, rcx, rdx],
        native = "nop",
        kvm = asm("mov ecx, 0x4b564d01; mov rax, rdi; mov rdx, rdi; shr rdx, 32; wrmsr"))]
    /// Registers this vCPU's kvmclock (`pvclock_vcpu_time_info` at `gpa`, bit 0 set to
    /// enable). KVM: `MSR_KVM_SYSTEM_TIME_NEW`; elsewhere nothing.
    ///
    /// # Safety
    /// `gpa` must name memory the hypervisor may write for as long as it is registered.
    pub unsafe fn kvmclock_register(gpa: u64);

    #[pv_intrinsic(binding = indirect_call, reg = "rdi", clobber = [rax, rcx, rdx],
        native = "nop",
        kvm = asm("mov ecx, 0x4b564d03; mov rax, rdi; mov rdx, rdi; shr rdx, 32; wrmsr"))]
    /// Registers this vCPU's steal-time area (64 bytes at `gpa`, bit 0 set to enable). KVM:
    /// `MSR_KVM_STEAL_TIME`; elsewhere nothing.
    ///
    /// # Safety
    /// As for [`kvmclock_register`].
    pub unsafe fn steal_time_register(gpa: u64);

    #[pv_intrinsic(binding = indirect_call, reg = "rdi", clobber = [rax, rcx, rdx],
        native = "nop",
        kvm = asm("mov ecx, 0x4b564d04; mov rax, rdi; mov rdx, rdi; shr rdx, 32; wrmsr"))]
    /// Registers this vCPU's PV EOI word (at `gpa`, bit 0 set to enable). KVM:
    /// `MSR_KVM_PV_EOI_EN`; elsewhere nothing.
    ///
    /// # Safety
    /// As for [`kvmclock_register`].
    pub unsafe fn pv_eoi_register(gpa: u64);

    #[pv_intrinsic(binding = inline_patch, arch = x86_64, clobber = [rax, rcx, rdx],
        native = "xor eax, eax; xor edx, edx; mov ecx, 0x80b; wrmsr",
        xen = nop,
        hyperv = asm("xor eax, eax; xor edx, edx; mov ecx, 0x40000070; wrmsr"))]
    /// Signals end of interrupt to the local APIC. Bare metal and KVM: the x2APIC EOI MSR
    /// (KVM's PV EOI skips it only when the host set the PV EOI bit, and the write is always
    /// safe); Hyper-V: `HV_X64_MSR_EOI`. Xen PV has no local APIC: nothing.
    ///
    /// # Safety
    /// Privileged: run it in ring 0, or after patching for a hypervisor that implements it.
    pub unsafe fn apic_eoi();

    #[pv_intrinsic(binding = indirect_branch, reg = "rdi", clobber = [rax, rcx, rdx],
        native = "mov rax, rdi; mov rdx, rdi; shr rdx, 32; mov ecx, 0x830; wrmsr",
        xen = nop,
        hyperv = asm("mov rax, rdi; mov rdx, rdi; shr rdx, 32; mov ecx, 0x40000071; wrmsr"))]
    /// Writes the interrupt command register. Bare metal and KVM: the x2APIC ICR (MSR
    /// 0x830); Hyper-V: `HV_X64_MSR_ICR`. Xen PV has no local APIC: nothing.
    ///
    /// # Safety
    /// Privileged: run it in ring 0, or after patching for a hypervisor that implements it.
    pub unsafe fn apic_write_icr(value: u64);

    #[pv_intrinsic(binding = indirect_branch, reg = "rdi", clobber = [rax, rcx, rdx],
        native = "mov eax, edi; xor edx, edx; mov ecx, 0x808; wrmsr",
        xen = nop,
        hyperv = asm("mov eax, edi; xor edx, edx; mov ecx, 0x40000072; wrmsr"))]
    /// Sets the task priority. Bare metal and KVM: the x2APIC TPR (MSR 0x808); Hyper-V:
    /// `HV_X64_MSR_TPR`. Xen PV has no local APIC: nothing.
    ///
    /// # Safety
    /// Privileged: run it in ring 0, or after patching for a hypervisor that implements it.
    pub unsafe fn apic_write_tpr(tpr: u32);

    #[pv_intrinsic(binding = indirect_call, reg = "rdi", clobber = [rax, rcx, rdx],
        native = "nop",
        hyperv = asm("mov rax, rdi; or rax, 1; mov rdx, rdi; shr rdx, 32; mov ecx, 0x40000021; wrmsr"))]
    /// Enables Hyper-V's reference TSC page at `gpa` (page-aligned): the hypervisor keeps
    /// `{sequence, scale, offset}` there. Hyper-V: `HV_X64_MSR_REFERENCE_TSC`; elsewhere
    /// nothing.
    ///
    /// # Safety
    /// `gpa` must name a page the hypervisor may write for as long as it is enabled.
    pub unsafe fn reference_tsc_enable(gpa: u64);
}

/// ia64 intrinsics: Linux's 14 `pv_cpu_ops`, with getreg/setreg as one intrinsic per
/// register (Linux folded the register number into the patch type; here it names the
/// intrinsic), and the seed's `get_cpuid` once per binding.
///
/// No Rust target exists for ia64: on other hosts these declarations exist as data
/// (`pv_runtime::arch::ia64::decls()`), from which `pv-ia64-asm` writes the assembly.
///
/// Xen bodies follow Linux's Xen/ia64 code: hyperprivops (`break.m 0x01`–`0x1a`, operands in
/// r8, r9, r10, r11, r14) and, for the virtual interrupt flag, this vCPU's event mask byte,
/// whose address its `mapped_regs.interrupt_mask_addr` holds at a fixed address.
#[allow(unexpected_cfgs)]
pub mod ia64 {
    use pv_macros::pv_intrinsic;

    /// Linux's `getreg(reg)` with the register number a compile-time constant, as Linux
    /// required (`BUILD_BUG_ON(!__builtin_constant_p(reg))`): each number selects its own
    /// intrinsic, and so its own patch site. A number pv has no intrinsic for does not compile.
    #[cfg(target_arch = "ia64")]
    pub fn getreg<const REG: u16>() -> u64 {
        const {
            assert!(
                matches!(REG, REG_PSR | REG_AR_ITC | REG_CR_IVR | REG_CR_TPR),
                "no pv getreg for this register"
            )
        };
        match REG {
            REG_PSR => get_psr(),
            REG_AR_ITC => get_itc(),
            REG_CR_IVR => get_ivr(),
            _ => get_tpr(),
        }
    }

    /// Linux's `setreg(reg, value)`, the register number a compile-time constant.
    #[cfg(target_arch = "ia64")]
    pub fn setreg<const REG: u16>(value: u64) {
        const {
            assert!(
                matches!(REG, REG_AR_KR0 | REG_CR_TPR | REG_CR_EOI),
                "no pv setreg for this register"
            )
        };
        match REG {
            REG_AR_KR0 => set_kr0(value),
            REG_CR_TPR => set_tpr(value),
            _ => eoi(),
        }
    }

    /// `_IA64_REG_PSR`: the processor status register (getreg).
    pub const REG_PSR: u16 = 1019;
    /// `_IA64_REG_AR_KR0`: kernel register ar.k0 (setreg).
    pub const REG_AR_KR0: u16 = 3072;
    /// `_IA64_REG_AR_ITC`: the interval time counter ar.itc (getreg).
    pub const REG_AR_ITC: u16 = 3116;
    /// `_IA64_REG_CR_IVR`: the interrupt vector register cr.ivr (getreg).
    pub const REG_CR_IVR: u16 = 4161;
    /// `_IA64_REG_CR_TPR`: the task priority register cr.tpr (getreg and setreg).
    pub const REG_CR_TPR: u16 = 4162;
    /// `_IA64_REG_CR_EOI`: the end-of-interrupt register cr.eoi (setreg).
    pub const REG_CR_EOI: u16 = 4163;

    // Paravirtualized for correctness: wrong, not trapping, at PL != 0.

    #[pv_intrinsic(binding = inline_patch, arch = ia64, reg = "r8", native = "fc r8", xen = hyperprivop(fc))]
    /// Flushes the cache line at `addr`.
    pub fn fc(addr: u64);

    #[pv_intrinsic(binding = inline_patch, arch = ia64, reg = "r8", native = "thash r8=r8", xen = hyperprivop(thash))]
    /// The VHPT hash address of `addr`.
    pub fn thash(addr: u64) -> u64;

    #[pv_intrinsic(binding = inline_patch, arch = ia64, reg = "r8", native = "mov r8=cpuid[r8]", xen = hyperprivop(get_cpuid))]
    /// CPUID register `index`.
    pub fn get_cpuid(index: u64) -> u64;

    #[pv_intrinsic(binding = inline_patch, arch = ia64, reg = "r8", native = "mov r8=pmd[r8]", xen = hyperprivop(get_pmd))]
    /// Performance monitor data register `index`.
    pub fn get_pmd(index: u64) -> u64;

    // Paravirtualized for performance.

    #[pv_intrinsic(binding = inline_patch, arch = ia64, reg = "r8", native = "ptc.ga r8,r9", xen = hyperprivop(ptc_ga))]
    /// Purges global translation cache entries for `size` at `addr`.
    pub fn ptcga(addr: u64, size: u64);

    #[pv_intrinsic(binding = inline_patch, arch = ia64, reg = "r8", native = "mov r8=rr[r8]", xen = hyperprivop(get_rr))]
    /// The region register of region `index`.
    pub fn get_rr(index: u64) -> u64;

    #[pv_intrinsic(binding = inline_patch, arch = ia64, reg = "r8", native = "mov rr[r8]=r9", xen = hyperprivop(set_rr))]
    /// Sets the region register of the region `index` addresses.
    pub fn set_rr(index: u64, value: u64);

    #[pv_intrinsic(binding = direct_branch, reg = "r8", clobber = [r2, b0],
        native = "mov r2=r0; mov rr[r2]=r8; movl r2=0x2000000000000000; mov rr[r2]=r9;
                  movl r2=0x4000000000000000; mov rr[r2]=r10; movl r2=0x6000000000000000; mov rr[r2]=r11;
                  movl r2=0x8000000000000000; mov rr[r2]=r14",
        xen = hyperprivop(set_rr0_to_rr4))]
    /// Sets region registers 0-4 at once (context switch).
    pub fn set_rr0_to_rr4(rr0: u64, rr1: u64, rr2: u64, rr3: u64, rr4: u64);

    // The virtual interrupt flag, as Linux's Xen/ia64 code does it (arch/ia64/xen/xen_pv_ops.c,
    // `xen_ssm_i` & co.): the address of this vCPU's event mask byte is at the fixed address
    // XSI_BASE + XSI_PSR_I_ADDR_OFS (0xfffffffffff04c18), where every vCPU sees its own
    // `mapped_regs`; the pending byte precedes the mask; loads are `.acq`, stores `.rel`.

    #[pv_intrinsic(binding = inline_patch, arch = ia64, clobber = [r8, r9, p6, p7], native = "ssm psr.i",
        xen = asm("movl r8=0xfffffffffff04c18; ld8 r8=[r8]; ld1.acq r9=[r8]; st1.rel [r8]=r0,-1;
                   cmp.eq.unc p0,p6=r9,r0; (p6) ld1.acq r8=[r8]; (p6) cmp.eq.unc p6,p7=r8,r0; (p7) break.m 0x7"))]
    /// Enables interrupts. Xen: clears the event mask; `SSM_I` only if it was masked and an
    /// event is pending (Linux's `xen_ssm_i`).
    pub fn ssm_i();

    #[pv_intrinsic(binding = inline_patch, arch = ia64, clobber = [r8, r9], native = "rsm psr.i",
        xen = asm("movl r8=0xfffffffffff04c18; mov r9=1; ld8 r8=[r8]; st1.rel [r8]=r9"))]
    /// Disables interrupts. Xen: sets the event mask, no trap.
    pub fn rsm_i();

    #[pv_intrinsic(binding = inline_patch, reg = "r8", clobber = [r9, p6],
        native = "mov r8=psr; movl r9=0x4000; and r8=r8,r9",
        xen = asm("movl r9=0xfffffffffff04c18; ld8 r9=[r9]; mov r8=r0; ld1.acq r9=[r9]; cmp.eq.unc p6,p0=r9,r0;
                   (p6) movl r8=0x4000"))]
    /// `psr.i` (0 or `IA64_PSR_I`). Xen: from the event mask byte, no trap.
    pub fn get_psr_i() -> u64;

    #[pv_intrinsic(binding = inline_patch, reg = "r8", clobber = [r9, r10, r11, p6, p7, p8, p9, p10],
        native = "cmp.ne p6,p7=r8,r0; (p6) ssm psr.i; (p7) rsm psr.i; (p6) srlz.d",
        xen = asm("cmp.ne p6,p7=r8,r0; movl r9=0xfffffffffff04c18; ld8 r9=[r9]; (p6) ld1.acq r10=[r9];
                   (p6) cmp.ne.unc p8,p0=r10,r0; (p7) mov r11=1; (p7) st1.rel [r9]=r11; (p8) st1.rel [r9]=r0,-1;
                   (p8) ld1.acq r11=[r9]; (p8) cmp.ne.unc p9,p10=r11,r0; (p10) mf; (p9) break.m 0x7"))]
    /// Restores `psr.i` from `flags`. Xen: the event mask; when re-enabling from masked,
    /// `SSM_I` if an event is pending, else `mf` (Linux's `xen_intrin_local_irq_restore`).
    pub fn intrin_local_irq_restore(flags: u64);

    // getreg and setreg, one intrinsic per register number.

    #[pv_intrinsic(binding = inline_patch, arch = ia64, reg = "r8", native = "mov r8=psr", xen = hyperprivop(get_psr))]
    /// getreg(`_IA64_REG_PSR`).
    pub fn get_psr() -> u64;

    #[pv_intrinsic(binding = inline_patch, arch = ia64, reg = "r8", native = "mov r8=ar.itc", xen = native)]
    /// getreg(`_IA64_REG_AR_ITC`). Xen lets the guest read ar.itc (pv does not model Linux's
    /// offset virtualization).
    pub fn get_itc() -> u64;

    #[pv_intrinsic(binding = inline_patch, arch = ia64, reg = "r8", native = "mov r8=cr.ivr", xen = hyperprivop(get_ivr))]
    /// getreg(`_IA64_REG_CR_IVR`): the highest pending interrupt vector.
    pub fn get_ivr() -> u64;

    #[pv_intrinsic(binding = inline_patch, arch = ia64, reg = "r8", native = "mov r8=cr.tpr", xen = hyperprivop(get_tpr))]
    /// getreg(`_IA64_REG_CR_TPR`).
    pub fn get_tpr() -> u64;

    #[pv_intrinsic(binding = inline_patch, reg = "r8", arch = ia64, native = "mov cr.tpr=r8", xen = hyperprivop(set_tpr))]
    /// setreg(`_IA64_REG_CR_TPR`, value).
    pub fn set_tpr(value: u64);

    #[pv_intrinsic(binding = inline_patch, arch = ia64, native = "mov cr.eoi=r0", xen = hyperprivop(eoi))]
    /// setreg(`_IA64_REG_CR_EOI`, 0): end of interrupt.
    pub fn eoi();

    #[pv_intrinsic(binding = inline_patch, reg = "r8", arch = ia64, clobber = [r9],
        native = "mov ar.k0=r8", xen = asm("mov r9=r8; mov r8=r0; break.m 0x12"))]
    /// setreg(`_IA64_REG_AR_KR0`, value). Xen: `SET_KR` with r8 = 0, r9 = value.
    pub fn set_kr0(value: u64);

    // The seed's get_cpuid in every binding (option 1 is `get_cpuid` above).

    #[pv_intrinsic(binding = direct_branch, reg = "r8", clobber = [b0], native = "mov r8=cpuid[r8]", xen = hyperprivop(get_cpuid))]
    /// `get_cpuid`, option 2: `br.call b0 = native`.
    pub fn get_cpuid_direct(index: u64) -> u64;

    #[pv_intrinsic(binding = indirect_branch, reg = "r8", clobber = [r2, b0, b1], native = "mov r8=cpuid[r8]", xen = hyperprivop(get_cpuid))]
    /// `get_cpuid`, option 3 in the seed's form: `br.call b0 = b1` through the slot.
    pub fn get_cpuid_indirect(index: u64) -> u64;

    #[pv_intrinsic(binding = indirect_branch, form = linux, reg = "r8", clobber = [r2, r3, r16, r17, b6, b7],
        native = "mov r8=cpuid[r8]", xen = hyperprivop(get_cpuid))]
    /// `get_cpuid`, option 3 in Linux's form: Linux's `__PARAVIRT_BR`, through a function
    /// descriptor with gp switched, `br.cond b7`, return in b6, b0 kept.
    pub fn get_cpuid_indirect_linux(index: u64) -> u64;

    #[pv_intrinsic(binding = indirect_call, arch = ia64, reg = "r8", native = "mov r8=cpuid[r8]", xen = hyperprivop(get_cpuid))]
    /// `get_cpuid`, option 4: a C call through the slot's function descriptor.
    pub fn get_cpuid_call(index: u64) -> u64;
}
