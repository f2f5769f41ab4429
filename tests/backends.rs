//! Hypervisor neutrality: every catalogue intrinsic's body under each backend is what the
//! README's table says.

mod common;

use common::catalogue::link_all;
use pv::x86_64 as x;
use pv_runtime::Hypervisor;

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

use common::skip::skipped;
use iced_x86::{Decoder, DecoderOptions, Mnemonic};
use pv_runtime::engine::Section;
use pv_runtime::hv::{self, Hypervisor as TestHypervisor, Personality};
use pv_runtime::probe;
use pv_runtime::writer::RemapWriter;
use pv_runtime::{Image, Live, Patcher, Target, Vendor};

/// The userland target for each personality: KVM with `vmcall`, which traps here.
fn target(p: Personality) -> Target<'static> {
    match p {
        Personality::Xen => Target::XEN,
        Personality::Kvm => Target::kvm(Vendor::Intel),
        Personality::HyperV => Target::HYPERV,
    }
}

fn apply(to: Target<'static>) -> pv_runtime::Report {
    // SAFETY: the tests of this binary take turns (common::serial); no site runs meanwhile.
    unsafe { Patcher::new().apply(&mut Live::new(RemapWriter::new()), to) }.expect("apply")
}

fn revert() {
    // SAFETY: as for apply.
    unsafe { Patcher::new().revert(&mut Live::new(RemapWriter::new())) }.expect("revert");
}

#[test]
fn detect_finds_the_hypervisor_each_personality_shows() {
    let _serial = common::serial();
    for (p, want) in [
        (Personality::Xen, Hypervisor::Xen),
        (Personality::Kvm, Hypervisor::Kvm),
        (Personality::HyperV, Hypervisor::HyperV),
    ] {
        let _hv = TestHypervisor::install_as(p).expect("test hypervisor");
        match pv_runtime::detect_with(hv::cpuid) {
            Target::Hypervisor(g) => assert_eq!(g.hypervisor, want, "{p:?}"),
            other => panic!("{p:?}: detected {}", other.name()),
        }
    }
}

/// Calls every hook `p` implements, with recognisable arguments (a native privileged body
/// cannot run in userland, so hooks that stay native under `p` are left out unless harmless).
fn call_hooks(p: Personality, page: u64) {
    x::yield_to(3);
    x::spin_wait_notify(7);
    x::kick_cpu(2);
    // Each is harmless natively (`nop`, `pause`) where no backend implements it; the pages named
    // are this test's own.
    // SAFETY: each is patched for a hypervisor that implements it, or harmless.
    unsafe {
        x::send_ipi(1, 0x40);
        x::kvmclock_register(page | 1);
        if p != Personality::Kvm {
            x::flush_tlb_all();
            x::flush_tlb_one_all(0x1234_5678);
            x::apic_eoi();
            x::apic_write_icr(0x0000_0002_0000_0041);
            x::apic_write_tpr(0x20);
            x::reference_tsc_enable(page);
        }
    }
}

#[test]
fn each_backend_uses_its_hypervisors_abi() {
    let _serial = common::serial();
    // A page of this test's own, which the hypervisors write (kvmclock, the reference TSC page).
    let layout = std::alloc::Layout::from_size_align(4096, 4096).unwrap();
    // SAFETY: a non-zero size; freed at the end.
    let page = unsafe { std::alloc::alloc_zeroed(layout) };
    assert!(!page.is_null());
    let gpa = page as u64;
    let _ = link_all();
    for p in [Personality::Xen, Personality::Kvm, Personality::HyperV] {
        let _hv = TestHypervisor::install_as(p).expect("test hypervisor");
        let report = apply(target(p));
        assert_eq!(report.refused_total, 0, "{p:?}: {report}");
        assert_eq!(report.target(), target(p).name());
        hv::reset();
        if p == Personality::HyperV {
            // SAFETY: the test hypervisor emulates Hyper-V's MSRs.
            unsafe { pv_runtime::hyperv::enable() };
        }
        call_hooks(p, gpa);
        let s = hv::state();
        match p {
            Personality::Xen => {
                assert_eq!(s.yields, 2, "yield_to and spin_wait_notify: SCHEDOP_yield");
                assert_eq!(s.tlb_flushes_all, 1, "MMUEXT_TLB_FLUSH_ALL");
                assert_eq!(s.invlpg_all, [0x1234_5678], "MMUEXT_INVLPG_ALL");
                assert_eq!((s.kvm_total, s.hyperv_total), (0, 0));
            }
            Personality::Kvm => {
                // Each call's own arguments, in rbx, rcx, rdx, rsi (the rest are not its).
                let calls: Vec<(u64, &[u64])> = s
                    .kvm_calls
                    .iter()
                    .map(|c| {
                        let n = match c.nr {
                            11 => 1,
                            5 => 2,
                            _ => 4,
                        };
                        (c.nr, &c.args[..n])
                    })
                    .collect();
                assert_eq!(
                    calls,
                    [(11, &[3][..]), (5, &[0, 2][..]), (10, &[1, 0, 1, 0x40][..])],
                    "SCHED_YIELD(3), KICK_CPU(0, 2), SEND_IPI(1, 0, 1, 0x40)"
                );
                assert_eq!(s.msrs.get(&0x4b56_4d01), Some(&(gpa | 1)), "kvmclock");
                assert_eq!((s.total_calls(), s.hyperv_total), (0, 0));
            }
            Personality::HyperV => {
                let calls: Vec<(u64, u64, u64)> = s
                    .hyperv_calls
                    .iter()
                    .map(|c| (c.control, c.input, c.output))
                    .collect();
                // One fast input: r8 is not the call's.
                assert_eq!(
                    (calls[0].0, calls[0].1),
                    (0x8 | 1 << 16, 7),
                    "fast NOTIFY_LONG_SPIN_WAIT(7)"
                );
                assert_eq!(calls[1], (0xb | 1 << 16, 0x40, 1 << 1), "fast SEND_IPI");
                assert_eq!(calls[2].0, 0x2, "FLUSH_VIRTUAL_ADDRESS_SPACE");
                assert_eq!(
                    calls[3].0,
                    0x3 | 1 << 32,
                    "FLUSH_VIRTUAL_ADDRESS_LIST, 1 rep"
                );
                assert_eq!(s.hyperv_flushed_gvas, [0x1234_5000]);
                assert!(
                    s.hyperv_calls.iter().all(|c| c.result & 0xffff == 0),
                    "{calls:x?}"
                );
                assert_eq!(s.msrs.get(&0x4000_0070), Some(&0), "EOI");
                assert_eq!(s.msrs.get(&0x4000_0071), Some(&0x2_0000_0041), "ICR");
                assert_eq!(s.msrs.get(&0x4000_0072), Some(&0x20), "TPR");
                assert_eq!(s.msrs.get(&0x4000_0021), Some(&(gpa | 1)), "reference TSC");
                // SAFETY: the page is ours, and the hypervisor wrote its TSC page there.
                let sequence = unsafe { page.cast::<u32>().read_volatile() };
                assert_ne!(sequence, 0, "a valid reference TSC page");
                assert_eq!((s.total_calls(), s.kvm_total), (0, 0));
            }
        }
        revert();
    }
    // SAFETY: allocated above with this layout; nothing refers to it any more.
    unsafe { std::alloc::dealloc(page, layout) };
}

fn canaries() -> probe::Regs {
    core::array::from_fn(|i| {
        0xc0de_0000_0000_0000 | (i as u64) << 32 | (0x0101_0101 * (i as u64 + 1))
    })
}

#[test]
fn the_register_contract_holds_under_each_backend() {
    let _serial = common::serial();
    let _ = link_all();
    for p in [Personality::Xen, Personality::Kvm, Personality::HyperV] {
        let hv = hv_of(p);
        let _guard = TestHypervisor::install_as(p).expect("test hypervisor");
        apply(target(p));
        if p == Personality::HyperV {
            // SAFETY: the test hypervisor emulates Hyper-V's MSRs.
            unsafe { pv_runtime::hyperv::enable() };
        }
        let mut ran = 0;
        for i in pv_runtime::intrinsics().iter().filter(|i| {
            i.module.ends_with("x86_64")
                && i.backend(hv).kind != pv_runtime::BodyKind::Native
                // These take pointers, ports or MSR numbers that canaries are not.
                && !matches!(
                    i.name,
                    "cpuid" | "load_idt" | "load_gdt" | "rdmsr" | "wrmsr" | "inb" | "outb"
                )
        }) {
            let before = canaries();
            // No argument is dereferenced by these bodies except as a guest address the hypervisor
            // checks.
            // SAFETY: the intrinsic runs its backend body, which the test hypervisor implements.
            let after = unsafe { probe::run(i, before) };
            let v = probe::violations(&i.contract, &before, &after);
            assert_eq!(v, 0, "{p:?}: {} changed registers {v:#x}", i.name);
            ran += 1;
        }
        assert!(ran >= 5, "{p:?}: {ran} probes ran");
        revert();
    }
}

fn hv_of(p: Personality) -> Hypervisor {
    match p {
        Personality::Xen => Hypervisor::Xen,
        Personality::Kvm => Hypervisor::Kvm,
        Personality::HyperV => Hypervisor::HyperV,
    }
}

/// The instructions at every alternative of this binary.
fn alternatives() -> Vec<Mnemonic> {
    let image = pv_runtime::Sections::this_binary();
    let span = image.section(Section::Alternatives);
    (0..span.len / 16)
        .map(|i| {
            let at = span.start + i * 16;
            let rel = u64::from_le_bytes(image.read(at, 8).unwrap().try_into().unwrap());
            let addr = at.wrapping_add(rel);
            let bytes = image.read(addr, 3).unwrap();
            Decoder::with_ip(64, bytes, addr, DecoderOptions::NONE)
                .decode()
                .mnemonic()
        })
        .collect()
}

#[test]
fn kvms_hypercall_instruction_is_chosen_by_cpu_vendor() {
    let _serial = common::serial();
    let _ = link_all();
    let before = alternatives();
    assert!(
        before.len() >= 3,
        "the KVM stubs' instructions are recorded: {before:?}"
    );
    assert!(before.iter().all(|m| *m == Mnemonic::Vmcall), "{before:?}");
    let _hv = TestHypervisor::install_as(Personality::Kvm).expect("test hypervisor");
    for (vendor, want) in [
        (Vendor::Amd, Mnemonic::Vmmcall),
        (Vendor::Intel, Mnemonic::Vmcall),
    ] {
        let report = apply(Target::kvm(vendor));
        assert_eq!(report.refused_total, 0, "{report}");
        let now = alternatives();
        assert!(now.iter().all(|m| *m == want), "{vendor:?}: {now:?}");
        if vendor == Vendor::Amd {
            assert_eq!(report.alternatives, now.len(), "{report}");
            hv::reset();
            x::kick_cpu(5);
            if hv::state().kvm_total == 0 {
                skipped(
                    "vmmcall under the test hypervisor: this host's own hypervisor answers a \
                     ring-3 vmmcall itself (rax = -1) instead of faulting; the bytes are checked",
                );
            } else {
                assert_eq!(hv::state().kvm_calls[0].args[1], 5);
            }
        } else {
            hv::reset();
            x::kick_cpu(6);
            assert_eq!(hv::state().kvm_calls[0].args[1], 6, "vmcall emulated");
        }
    }
    revert();
    assert_eq!(alternatives(), before, "revert restores vmcall");
}
