//! Which machine this is, from CPUID alone, the way Linux's `detect_hypervisor_vendor` decides
//! (`arch/x86/kernel/cpu/hypervisor.c`): every known hypervisor's detector returns a priority
//! (the base leaf where it found its signature, or 0); the strictly highest wins, ties going
//! to the earlier entry of Linux's list (Xen, Hyper-V, KVM). Xen and KVM scan the leaves
//! 0x40000000..0x40010000 in steps of 0x100 (`cpuid_base_hypervisor`), so that Xen's or KVM's
//! leaves placed after a block of Hyper-V compatibility leaves are found — and, their base
//! being higher, preferred; Hyper-V is read at 0x40000000 only, and needs its HYPERCALL and
//! VP_INDEX features (`arch/x86/kernel/cpu/mshyperv.c`, `ms_hyperv_platform`).
//!
//! `detect()` reads the CPU; `detect_with` takes any CPUID source, so that tests (and a kernel
//! under a monitor that filters CPUID) can feed it. `apply(detect())` is the whole boot step.

use crate::engine::{Guest, Target};
use pv_abi::backend::Abi;
use pv_abi::{Hypervisor, Vendor};

/// First hypervisor leaf.
const BASE: u32 = 0x4000_0000;
/// One past the last base Linux scans.
const END: u32 = 0x4001_0000;
/// Leaf 1 ECX bit 31: "running under a hypervisor" (Intel SDM vol. 2A, CPUID; Linux
/// `X86_FEATURE_HYPERVISOR`).
const HYPERVISOR_BIT: u32 = 1 << 31;
/// Hyper-V leaf 0x40000003 EAX: `HV_MSR_HYPERCALL_AVAILABLE` (b5), `HV_MSR_VP_INDEX_AVAILABLE`
/// (b6), both required by Linux's detector.
const HYPERV_NEEDS: u32 = 1 << 5 | 1 << 6;
/// Hyper-V's largest valid max leaf (`ms_hyperv_platform`).
const HYPERV_MAX: u32 = 0x4000_ffff;

/// The signature (EBX, ECX, EDX) and EAX of leaf `leaf`.
fn signature(cpuid: &impl Fn(u32, u32) -> [u32; 4], leaf: u32) -> ([u8; 12], u32) {
    let [eax, ebx, ecx, edx] = cpuid(leaf, 0);
    let mut sig = [0; 12];
    sig[..4].copy_from_slice(&ebx.to_le_bytes());
    sig[4..8].copy_from_slice(&ecx.to_le_bytes());
    sig[8..].copy_from_slice(&edx.to_le_bytes());
    (sig, eax)
}

/// The priority `abi`'s detector gives this CPU: the base leaf of its signature, or 0.
pub fn priority(cpuid: &impl Fn(u32, u32) -> [u32; 4], abi: &Abi) -> u32 {
    if abi.scans {
        // `cpuid_base_hypervisor(sig, leaves)`: a match counts if `eax - base >= leaves`.
        return (BASE..END)
            .step_by(0x100)
            .find(|base| {
                let (sig, eax) = signature(cpuid, *base);
                sig == *abi.signature && eax.wrapping_sub(*base) >= abi.min_leaves
            })
            .unwrap_or(0);
    }
    let (sig, eax) = signature(cpuid, BASE);
    let features = cpuid(BASE + 3, 0)[0];
    let max_ok = (BASE + abi.min_leaves..=HYPERV_MAX).contains(&eax);
    if sig == *abi.signature && max_ok && features & HYPERV_NEEDS == HYPERV_NEEDS {
        BASE
    } else {
        0
    }
}

/// The CPU's vendor, from leaf 0 (EBX, EDX, ECX).
pub fn vendor(cpuid: &impl Fn(u32, u32) -> [u32; 4]) -> Vendor {
    let [_, ebx, ecx, edx] = cpuid(0, 0);
    let mut id = [0; 12];
    id[..4].copy_from_slice(&ebx.to_le_bytes());
    id[4..8].copy_from_slice(&edx.to_le_bytes());
    id[8..].copy_from_slice(&ecx.to_le_bytes());
    Vendor::from_id(&id)
}

/// The target for the machine `cpuid` describes.
pub fn detect_with(cpuid: impl Fn(u32, u32) -> [u32; 4]) -> Target<'static> {
    if cpuid(1, 0)[2] & HYPERVISOR_BIT == 0 {
        return Target::Native;
    }
    // Linux's order: the first of equal priorities wins, so only a strictly higher one
    // replaces it.
    let mut best: Option<(u32, Hypervisor)> = None;
    for hv in [Hypervisor::Xen, Hypervisor::HyperV, Hypervisor::Kvm] {
        let p = priority(&cpuid, hv.abi());
        if p > best.map_or(0, |(b, _)| b) {
            best = Some((p, hv));
        }
    }
    match best {
        Some((_, hypervisor)) => Target::Hypervisor(Guest {
            hypervisor,
            vendor: vendor(&cpuid),
        }),
        None => Target::Native,
    }
}

/// The target for this CPU.
pub fn detect() -> Target<'static> {
    detect_with(|leaf, sub| {
        let r = core::arch::x86_64::__cpuid_count(leaf, sub);
        [r.eax, r.ebx, r.ecx, r.edx]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pv_abi::Hypervisor::{HyperV, Kvm, Xen};
    use std::{vec, vec::Vec};

    /// A CPU of `vendor` with hypervisor leaves `blocks` (base, signature, max leaf, leaf
    /// base+3 EAX).
    fn cpu(
        vendor: &'static [u8; 12],
        hv_bit: bool,
        blocks: &'static [(u32, &'static [u8; 12], u32, u32)],
    ) -> impl Fn(u32, u32) -> [u32; 4] {
        move |leaf, _| {
            let w = |s: &[u8], i: usize| u32::from_le_bytes(s[i..i + 4].try_into().unwrap());
            match leaf {
                0 => [0xd, w(vendor, 0), w(vendor, 8), w(vendor, 4)],
                1 => [0, 0, if hv_bit { HYPERVISOR_BIT } else { 0 }, 0],
                _ => blocks
                    .iter()
                    .find_map(|(base, sig, max, features)| match leaf - base {
                        0 => Some([*max, w(*sig, 0), w(*sig, 4), w(*sig, 8)]),
                        3 => Some([*features, 0, 0, 0]),
                        _ => None,
                    })
                    .unwrap_or([0; 4]),
            }
        }
    }

    fn hypervisor(t: Target) -> Option<(Hypervisor, Vendor)> {
        match t {
            Target::Hypervisor(g) => Some((g.hypervisor, g.vendor)),
            _ => None,
        }
    }

    const XEN: (u32, &[u8; 12], u32, u32) = (BASE, b"XenVMMXenVMM", BASE + 5, 0);
    const KVM: (u32, &[u8; 12], u32, u32) = (BASE, b"KVMKVMKVM\0\0\0", BASE + 1, 0);
    const HV: (u32, &[u8; 12], u32, u32) = (BASE, b"Microsoft Hv", BASE + 0xa, 0x6e);

    #[test]
    fn each_signature_and_none() {
        for (blocks, want) in [
            (&[XEN][..], Some(Xen)),
            (&[KVM][..], Some(Kvm)),
            (&[HV][..], Some(HyperV)),
            (&[][..], None),
        ] {
            let blocks: &'static [_] = Vec::leak(blocks.to_vec());
            let t = detect_with(cpu(b"GenuineIntel", true, blocks));
            assert_eq!(hypervisor(t).map(|h| h.0), want, "{}", t.name());
        }
    }

    #[test]
    fn no_hypervisor_bit_means_bare_metal() {
        assert!(matches!(
            detect_with(cpu(b"GenuineIntel", false, &[XEN])),
            Target::Native
        ));
    }

    #[test]
    fn xen_after_a_hyper_v_block_is_found_and_preferred() {
        let xen_late = (BASE + 0x100, b"XenVMMXenVMM", BASE + 0x105, 0);
        let blocks: &'static [_] = Vec::leak(vec![HV, xen_late]);
        let t = detect_with(cpu(b"GenuineIntel", true, blocks));
        assert_eq!(hypervisor(t), Some((Xen, Vendor::Intel)));
        // Hyper-V alone at the same base is Hyper-V.
        assert_eq!(
            hypervisor(detect_with(cpu(b"GenuineIntel", true, &[HV]))),
            Some((HyperV, Vendor::Intel))
        );
    }

    #[test]
    fn xen_needs_two_leaves_and_hyper_v_its_features() {
        let short_xen = (BASE, b"XenVMMXenVMM", BASE + 1, 0);
        let blocks: &'static [_] = Vec::leak(vec![short_xen]);
        assert!(hypervisor(detect_with(cpu(b"GenuineIntel", true, blocks))).is_none());
        let featureless = (BASE, b"Microsoft Hv", BASE + 0xa, 0x10);
        let blocks: &'static [_] = Vec::leak(vec![featureless]);
        assert!(hypervisor(detect_with(cpu(b"GenuineIntel", true, blocks))).is_none());
    }

    #[test]
    fn the_vendor_chooses_kvms_instruction() {
        for (id, vendor, insn) in [
            (b"GenuineIntel", Vendor::Intel, pv_abi::backend::VMCALL),
            (b"AuthenticAMD", Vendor::Amd, pv_abi::backend::VMMCALL),
            (b"HygonGenuine", Vendor::Amd, pv_abi::backend::VMMCALL),
        ] {
            let t = detect_with(cpu(id, true, &[KVM]));
            assert_eq!(hypervisor(t), Some((Kvm, vendor)));
            assert_eq!(vendor.hypercall(), insn);
        }
    }
}
