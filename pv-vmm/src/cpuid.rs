//! The CPUID each machine shows the guest, which is all the guest may use to tell them apart
//! (pv-guest detects its hypervisor the way Linux does, by CPUID only).

use crate::Mode;
use kvm_bindings::{CpuId, kvm_cpuid_entry2};

/// CPUID.1:ECX bit 31, "hypervisor present" (reserved for hypervisors by Intel and AMD; Linux
/// `X86_FEATURE_HYPERVISOR`).
const HYPERVISOR_BIT: u32 = 1 << 31;
/// The hypervisor range Linux scans for signatures (`hypervisor_cpuid_base`).
const HV_BASE: u32 = 0x4000_0000;

fn is_hypervisor_leaf(function: u32) -> bool {
    (HV_BASE..0x5000_0000).contains(&function)
}

/// Xen's leaves (Xen `xen/arch/x86/cpuid.c`, `cpuid_hypervisor_leaves`, and
/// `xen/include/public/arch-x86/cpuid.h`): base = "XenVMMXenVMM" and the largest leaf; base+1 =
/// version (major << 16 | minor); base+2 = one hypercall page whose MSR is 0x40000000; base+3
/// (time) left zero; base+4 = HVM flags with `XEN_HVM_CPUID_VCPU_ID_PRESENT` (bit 3) and the
/// vCPU id in EBX.
fn xen_leaves() -> Vec<kvm_cpuid_entry2> {
    let leaf = |function, eax, ebx, ecx, edx| kvm_cpuid_entry2 {
        function,
        eax,
        ebx,
        ecx,
        edx,
        ..Default::default()
    };
    let sig = *b"XenVMMXenVMM";
    let word = |i: usize| u32::from_le_bytes([sig[i], sig[i + 1], sig[i + 2], sig[i + 3]]);
    vec![
        leaf(HV_BASE, HV_BASE + 4, word(0), word(4), word(8)),
        leaf(HV_BASE + 1, crate::xen::VERSION, 0, 0, 0),
        leaf(HV_BASE + 2, 1, crate::xen::HYPERCALL_PAGE_MSR, 0, 0),
        leaf(HV_BASE + 3, 0, 0, 0, 0),
        leaf(HV_BASE + 4, 1 << 3, 0, 0, 0),
    ]
}

/// The host's supported CPUID, shaped for `mode`:
/// - bare metal: no hypervisor leaves, the hypervisor bit clear;
/// - Xen: the hypervisor bit set and Xen's leaves in place of the host's;
/// - KVM: the host KVM's own leaves ("KVMKVMKVM" and its feature leaf) and the hypervisor bit.
pub fn for_mode(host: &CpuId, mode: Mode) -> Result<CpuId, String> {
    let mut entries: Vec<kvm_cpuid_entry2> = host
        .as_slice()
        .iter()
        .filter(|e| mode == Mode::Kvm || !is_hypervisor_leaf(e.function))
        .copied()
        .collect();
    if mode == Mode::Kvm && !entries.iter().any(|e| e.function == HV_BASE) {
        return Err("the host's KVM reports no hypervisor leaves (0x40000000)".into());
    }
    for e in entries.iter_mut().filter(|e| e.function == 1) {
        if mode == Mode::Bare {
            e.ecx &= !HYPERVISOR_BIT;
        } else {
            e.ecx |= HYPERVISOR_BIT;
        }
    }
    if mode == Mode::Xen {
        entries.extend(xen_leaves());
    }
    CpuId::from_entries(&entries).map_err(|e| format!("CPUID table: {e:?}"))
}
