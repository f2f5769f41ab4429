//! The whole x86_64 catalogue, linked: shared by the tests and `examples/catalogue.rs`.

use pv::x86_64 as x;

/// Every x86_64 catalogue intrinsic, referenced so that its descriptor is linked.
pub fn link_all() -> Vec<*const ()> {
    vec![
        x::cpuid as *const (),
        x::rdtsc as *const (),
        x::rdtscp as *const (),
        x::read_cr0 as *const (),
        x::write_cr0 as *const (),
        x::read_cr2 as *const (),
        x::read_cr3 as *const (),
        x::write_cr3 as *const (),
        x::read_cr4 as *const (),
        x::write_cr4 as *const (),
        x::rdmsr as *const (),
        x::wrmsr as *const (),
        x::irq_disable as *const (),
        x::irq_enable as *const (),
        x::save_fl as *const (),
        x::restore_fl as *const (),
        x::safe_halt as *const (),
        x::halt as *const (),
        x::wbinvd as *const (),
        x::flush_tlb_one as *const (),
        x::load_idt as *const (),
        x::load_gdt as *const (),
        x::inb as *const (),
        x::outb as *const (),
        x::io_delay as *const (),
        x::kick_cpu as *const (),
        x::yield_to as *const (),
        x::spin_wait_notify as *const (),
        x::send_ipi as *const (),
        x::flush_tlb_all as *const (),
        x::flush_tlb_one_all as *const (),
        x::kvmclock_register as *const (),
        x::steal_time_register as *const (),
        x::pv_eoi_register as *const (),
        x::apic_eoi as *const (),
        x::apic_write_icr as *const (),
        x::apic_write_tpr as *const (),
        x::reference_tsc_enable as *const (),
    ]
}
