//! Hypervisor neutrality: every catalogue intrinsic's body under each backend is what the
//! README's table says.

mod common;

use pv::x86_64 as x;
use pv_runtime::Hypervisor;

/// Every x86_64 catalogue intrinsic, referenced so that its descriptor is linked.
fn link_all() -> Vec<*const ()> {
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

/// The README row of one intrinsic: name, binding, and its body kind under each hypervisor.
fn row(i: &pv_runtime::Intrinsic) -> String {
    let kinds: Vec<&str> = Hypervisor::ALL
        .iter()
        .map(|hv| i.backend(*hv).kind.name())
        .collect();
    format!(
        "| `{}` | {} | {} |",
        i.name,
        i.binding.name(),
        kinds.join(" | ")
    )
}

#[test]
fn the_readme_says_what_each_intrinsic_becomes_under_each_backend() {
    let linked = link_all();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let catalogue: Vec<&pv_runtime::Intrinsic> = pv_runtime::intrinsics()
        .iter()
        .filter(|i| i.module.ends_with("x86_64"))
        .collect();
    assert_eq!(catalogue.len(), linked.len(), "every intrinsic linked once");
    let missing: Vec<String> = catalogue
        .iter()
        .map(|i| row(i))
        .filter(|r| !readme.contains(r.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "README's backend table lacks (or disagrees with) these rows:\n{}",
        missing.join("\n")
    );
}
