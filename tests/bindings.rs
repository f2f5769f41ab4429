//! Every binding, run for real: natively against the raw instruction, then patched to Xen
//! against the test hypervisor (bytes decoded with iced-x86, hypervisor counters checked),
//! then reverted byte for byte.

mod common;

use common::{all_sites, assert_call_then_nops, sites_of};
use pv::x86_64::CpuidRegs;
use pv_runtime::hv::{self, Hypervisor};
use pv_runtime::writer::RemapWriter;
use pv_runtime::{Binding, Live, Patcher, Target};

/// Stands in for Xen work done by a Rust function: counted by the hypervisor, then computed.
extern "C" fn mix_xen(a: u64, b: u64) -> u64 {
    // SAFETY: only called once the test hypervisor filled the hypercall page.
    unsafe { pv_runtime::xen::hypercall(17, [0; 5]) };
    a.wrapping_mul(3).wrapping_add(b)
}

macro_rules! per_binding {
    ($($module:ident = $binding:tt),*) => {$(
        mod $module {
            use pv_macros::pv_intrinsic;
            use pv::x86_64::CpuidRegs;

            #[pv_intrinsic(binding = $binding, reg = "rdi", clobber = [rax, rcx, rdx],
                native = "push rbx; mov eax, [rdi]; mov ecx, [rdi + 8]; cpuid;
                          mov [rdi], eax; mov [rdi + 4], ebx; mov [rdi + 8], ecx; mov [rdi + 12], edx; pop rbx",
                xen = asm("push rbx; mov eax, [rdi]; mov ecx, [rdi + 8]; ud2; .ascii \"xen\"; cpuid;
                           mov [rdi], eax; mov [rdi + 4], ebx; mov [rdi + 8], ecx; mov [rdi + 12], edx; pop rbx"))]
            pub unsafe fn cpuid(regs: *mut CpuidRegs);

            // Argument 0 in rax, argument 1 in rdi: the Xen stub must move rax→rdi and rdi→rsi
            // at once.
            #[pv_intrinsic(binding = $binding, reg = "rax", native = "xor eax, eax",
                xen = hypercall(xen_version, cmd, arg))]
            pub fn version(cmd: u64, arg: u64) -> u64;

            #[pv_intrinsic(binding = $binding, reg = "rsi", clobber = [rdx],
                native = "lea rdx, [rsi + rsi * 2]; lea rsi, [rdx + rdi]", xen = call(super::mix_xen))]
            pub fn mix(a: u64, b: u64) -> u64;
        }
    )*};
}

per_binding!(b1 = inline_patch, b2 = 2, b3 = indirect_branch, b4 = 4);

fn raw_cpuid(leaf: u32) -> CpuidRegs {
    let r = core::arch::x86_64::__cpuid_count(leaf, 0);
    CpuidRegs {
        eax: r.eax,
        ebx: r.ebx,
        ecx: r.ecx,
        edx: r.edx,
    }
}

/// Calls every test intrinsic of one binding; returns (cpuid(leaf), version, mix).
fn call_all(module: &str, leaf: u32) -> (CpuidRegs, u64, u64) {
    let mut regs = CpuidRegs {
        eax: leaf,
        ..Default::default()
    };
    // SAFETY: `regs` is a valid CpuidRegs.
    macro_rules! run {
        ($m:ident) => {{
            unsafe { $m::cpuid(&mut regs) };
            (regs, $m::version(0, 0), $m::mix(5, 7))
        }};
    }
    match module {
        "b1" => run!(b1),
        "b2" => run!(b2),
        "b3" => run!(b3),
        _ => run!(b4),
    }
}

const MODULES: [(&str, Binding); 4] = [
    ("b1", Binding::InlinePatch),
    ("b2", Binding::DirectBranch),
    ("b3", Binding::IndirectBranch),
    ("b4", Binding::IndirectCall),
];

#[test]
fn every_binding_native_then_xen_then_reverted() {
    let _serial = common::serial();
    let original: Vec<(usize, Vec<u8>)> = all_sites()
        .iter()
        .map(|s| (s.addr(), s.current().to_vec()))
        .collect();

    // Natively, every binding agrees with the raw instruction.
    for (m, declared) in MODULES {
        // A build-wide policy (`--cfg pv_binding`) overrides every declaration's binding.
        let binding = pv_runtime::POLICY.unwrap_or(declared);
        let (regs, version, mix) = call_all(m, 0);
        assert_eq!(regs, raw_cpuid(0), "{m}: cpuid(0)");
        assert_eq!(version, 0, "{m}: no hypervisor natively");
        assert_eq!(mix, 22, "{m}: 5 * 3 + 7");
        let expect_sites = binding.has_site();
        for name in ["cpuid", "version", "mix"] {
            assert_eq!(
                !sites_of(m, name).is_empty(),
                expect_sites,
                "{m}::{name} sites"
            );
        }
    }

    let _hv = Hypervisor::install().expect("test hypervisor");
    let mut patcher = Patcher::new();
    let mut image = Live::new(RemapWriter::new());
    // SAFETY: patching tests take turns (common::serial); no site runs while patching.
    let report = unsafe { patcher.apply(&mut image, Target::XEN) }.expect("apply");
    assert_eq!(report.refused_total, 0, "{report}");
    // The report names the build's policy: read here from this crate's own `cfg`.
    let forced = if cfg!(pv_binding = "inline_patch") {
        Some("inline_patch")
    } else if cfg!(pv_binding = "direct_branch") {
        Some("direct_branch")
    } else if cfg!(pv_binding = "indirect_branch") {
        Some("indirect_branch")
    } else if cfg!(pv_binding = "indirect_call") {
        Some("indirect_call")
    } else {
        None
    };
    let policy_line = match forced {
        Some(b) => {
            format!("  binding policy: every x86_64 intrinsic forced to `{b}` (--cfg pv_binding)")
        }
        None => "  binding policy: each declaration's own".to_string(),
    };
    assert_eq!(
        report.to_string().lines().nth(1),
        Some(policy_line.as_str()),
        "{report}"
    );
    // Under option 4 forced on the build there is no site: only slots switch.
    if pv_runtime::POLICY.is_none_or(|b| b.has_site()) {
        assert!(report.total().patched > 0, "{report}");
    } else {
        assert!(report.slots_switched > 0, "{report}");
    }

    for (m, declared) in MODULES {
        let binding = pv_runtime::POLICY.unwrap_or(declared);
        for name in ["cpuid", "version", "mix"] {
            let desc = pv_runtime::intrinsics()
                .iter()
                .find(|i| i.name == name && i.module.ends_with(m))
                .expect("descriptor");
            assert_eq!(desc.binding, binding);
            assert_eq!(
                desc.slot.get() as usize,
                desc.backend(pv_runtime::Hypervisor::Xen).routine as usize,
                "{m}::{name}: slot switched to Xen"
            );
            for site in sites_of(m, name) {
                assert_call_then_nops(
                    &site,
                    desc.backend(pv_runtime::Hypervisor::Xen).routine as usize,
                );
            }
        }
        let before = hv::state();
        let (regs, version, mix) = call_all(m, 0x4000_0000);
        let after = hv::state();
        assert_eq!(
            &regs.ebx.to_le_bytes(),
            b"XenV",
            "{m}: cpuid reached Xen's emulation"
        );
        assert_eq!(
            after.emulated_cpuid,
            before.emulated_cpuid + 1,
            "{m}: one emulated cpuid"
        );
        assert_eq!(version, 4 << 16 | 19, "{m}: xen_version answered");
        assert_eq!(mix, 22, "{m}: Xen function result");
        assert_eq!(
            after.calls("xen_version"),
            before.calls("xen_version") + 2,
            "{m}: version + mix hypercalls"
        );
    }

    // SAFETY: as for apply.
    let report = unsafe { patcher.revert(&mut Live::new(RemapWriter::new())) }.expect("revert");
    assert_eq!(report.refused_total, 0, "{report}");
    for (addr, bytes) in &original {
        let now = all_sites()
            .into_iter()
            .find(|s| s.addr() == *addr)
            .expect("same sites");
        assert_eq!(now.current(), &bytes[..], "site {addr:#x} restored");
    }
    for i in pv_runtime::intrinsics() {
        assert_eq!(
            i.slot.get() as usize,
            i.native as usize,
            "{}: slot back to native",
            i.name
        );
    }
    for (m, _) in MODULES {
        let (regs, version, _) = call_all(m, 0);
        assert_eq!((regs, version), (raw_cpuid(0), 0), "{m}: native again");
    }
}

#[test]
fn apply_native_runs_the_native_body_inline_where_it_fits() {
    let _serial = common::serial();
    let mut patcher = Patcher::new();
    // SAFETY: patching tests take turns (common::serial); no site runs while patching.
    let report = unsafe { patcher.apply(&mut Live::new(RemapWriter::new()), Target::Native) }
        .expect("apply");
    assert_eq!(report.refused_total, 0, "{report}");
    // A 9-byte body cannot replace a 5/6-byte call: those stay direct calls to the native
    // routine; option 3 loses its indirection.
    for (m, declared) in &MODULES[1..3] {
        // Under a build-wide policy of option 1 or 4 these are inline sites or none.
        let binding = pv_runtime::POLICY.unwrap_or(*declared);
        if !matches!(binding, Binding::DirectBranch | Binding::IndirectBranch) {
            continue;
        }
        let desc = pv_runtime::intrinsics()
            .iter()
            .find(|i| i.name == "mix" && i.module.ends_with(m))
            .unwrap();
        for site in sites_of(m, "mix") {
            assert_call_then_nops(&site, desc.native as usize);
        }
    }
    // An inline site is already native: unchanged.
    for site in sites_of("b1", "version") {
        assert_eq!(
            common::decode(site.current(), site.addr())[0].mnemonic(),
            iced_x86::Mnemonic::Xor
        );
    }
    for (m, _) in MODULES {
        assert_eq!(call_all(m, 0).0, raw_cpuid(0));
        assert_eq!(call_all(m, 0).2, 22);
    }

    // SAFETY: as for apply.
    unsafe { patcher.revert(&mut Live::new(RemapWriter::new())) }.expect("revert");
}
