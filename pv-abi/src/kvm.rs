//! KVM's paravirtual interface: hypercall numbers (`include/uapi/linux/kvm_para.h`,
//! `Documentation/virt/kvm/x86/hypercalls.rst`) and MSRs
//! (`arch/x86/include/uapi/asm/kvm_para.h`, `Documentation/virt/kvm/x86/msr.rst`).

use crate::backend::Hypercall;

/// `KVM_HC_*` as declarations name them; argument counts from `hypercalls.rst`.
pub const HYPERCALLS: [Hypercall; 5] = [
    Hypercall::plain("vapic_poll_irq", 1, 0),
    // a0: flags (0), a1: APIC ID of the vCPU to wake.
    Hypercall::plain("kick_cpu", 5, 2),
    Hypercall::plain("clock_pairing", 9, 2),
    // a0/a1: low/high 64 bits of an APIC-ID bitmap, a2: lowest APIC ID, a3: ICR.
    Hypercall::plain("send_ipi", 10, 4),
    // a0: APIC ID of the preempted vCPU to yield to.
    Hypercall::plain("sched_yield", 11, 1),
];

/// `KVM_ENOSYS`: the answer to an unknown hypercall.
pub const ENOSYS: i64 = 1000;

/// KVM's MSRs (`arch/x86/include/uapi/asm/kvm_para.h`).
pub mod msr {
    /// `MSR_KVM_WALL_CLOCK_NEW`.
    pub const WALL_CLOCK_NEW: u32 = 0x4b56_4d00;
    /// `MSR_KVM_SYSTEM_TIME_NEW`: GPA of this vCPU's `pvclock_vcpu_time_info` | enable.
    pub const SYSTEM_TIME_NEW: u32 = 0x4b56_4d01;
    /// `MSR_KVM_STEAL_TIME`: GPA of the 64-byte `kvm_steal_time` | enable.
    pub const STEAL_TIME: u32 = 0x4b56_4d03;
    /// `MSR_KVM_PV_EOI_EN`: GPA of the PV EOI word | enable.
    pub const PV_EOI_EN: u32 = 0x4b56_4d04;
}
