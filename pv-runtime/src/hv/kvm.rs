//! The KVM personality: KVM's side of its x86_64 paravirtual ABI, written from KVM's headers
//! (`include/uapi/linux/kvm_para.h`, `arch/x86/include/uapi/asm/kvm_para.h`) and
//! `Documentation/virt/kvm/x86/{hypercalls,cpuid,msr}.rst`, cited per definition.
//!
//! A hypercall is `vmcall` (0f 01 c1) or `vmmcall` (0f 01 d9): nr in rax, arguments in rbx, rcx,
//! rdx, rsi, result in rax, no other register changed; the trapped instruction is skipped.

use super::{State, VCPUS, bump, load, msr_written, set, write};
use crate::store::Records;
use core::sync::atomic::AtomicU64;

/// `KVM_HC_*` (`include/uapi/linux/kvm_para.h`).
const KVM_HC_KICK_CPU: u64 = 5;
const KVM_HC_SEND_IPI: u64 = 10;
const KVM_HC_SCHED_YIELD: u64 = 11;
/// `KVM_ENOSYS` (`include/uapi/linux/kvm_para.h`), returned negated.
const KVM_ENOSYS: i64 = 1000;
/// `KVM_EINVAL` = `EINVAL` (`include/uapi/linux/kvm_para.h`), returned negated.
const KVM_EINVAL: i64 = 22;

/// `KVM_CPUID_SIGNATURE` leaf's EBX, ECX, EDX: "KVMKVMKVM\0\0\0"
/// (`arch/x86/include/uapi/asm/kvm_para.h`, `Documentation/virt/kvm/x86/cpuid.rst`).
const SIGNATURE: [u32; 3] = [0x4b4d_564b, 0x564b_4d56, 0x4d];
/// `KVM_CPUID_FEATURES` (`arch/x86/include/uapi/asm/kvm_para.h`).
const KVM_CPUID_FEATURES: u32 = 0x4000_0001;
/// `KVM_FEATURE_*` bits of `KVM_CPUID_FEATURES` EAX (`arch/x86/include/uapi/asm/kvm_para.h`)
/// this hypervisor offers: each names an MSR or hypercall emulated here.
const FEATURES: u32 = 1 << 3 // KVM_FEATURE_CLOCKSOURCE2
    | 1 << 5 // KVM_FEATURE_STEAL_TIME
    | 1 << 6 // KVM_FEATURE_PV_EOI
    | 1 << 7 // KVM_FEATURE_PV_UNHALT
    | 1 << 9 // KVM_FEATURE_PV_TLB_FLUSH
    | 1 << 11 // KVM_FEATURE_PV_SEND_IPI
    | 1 << 13; // KVM_FEATURE_PV_SCHED_YIELD

/// KVM's MSRs (`arch/x86/include/uapi/asm/kvm_para.h`).
const MSR_KVM_WALL_CLOCK_NEW: u32 = 0x4b56_4d00;
const MSR_KVM_SYSTEM_TIME_NEW: u32 = 0x4b56_4d01;
const MSR_KVM_STEAL_TIME: u32 = 0x4b56_4d03;
const MSR_KVM_PV_EOI_EN: u32 = 0x4b56_4d04;
/// Bit 0 of `MSR_KVM_SYSTEM_TIME_NEW`: enable (`Documentation/virt/kvm/x86/msr.rst`).
const KVM_MSR_ENABLED: u64 = 1;
/// `PVCLOCK_TSC_STABLE_BIT` (`arch/x86/include/asm/pvclock-abi.h`).
const PVCLOCK_TSC_STABLE_BIT: u64 = 1;

/// One KVM hypercall as the hypervisor received it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvmCall {
    /// rax: `KVM_HC_*`.
    pub nr: u64,
    /// rbx, rcx, rdx, rsi.
    pub args: [u64; 4],
    /// rax on return.
    pub ret: i64,
}

static TOTAL: AtomicU64 = AtomicU64::new(0);
static CALLS: Records<256, 6> = Records::new();

/// Copies the KVM state into `s`.
pub(super) fn fill(s: &mut State) {
    s.kvm_total = load(&TOTAL);
    s.kvm_calls = CALLS
        .values()
        .map(|r| KvmCall {
            nr: r[0],
            args: [r[1], r[2], r[3], r[4]],
            ret: r[5] as i64,
        })
        .collect();
}

/// Clears the KVM state.
pub(super) fn reset() {
    set(&TOTAL, 0);
    CALLS.clear();
}

/// One hypercall (`kvm_emulate_hypercall`, `arch/x86/kvm/x86.c`).
pub(super) fn hypercall(nr: u64, args: [u64; 4]) -> i64 {
    bump(&TOTAL);
    super::interrupt();
    let ret = match nr {
        // a0 = flags (0), a1 = APIC id of the vCPU to wake.
        KVM_HC_KICK_CPU if args[1] < VCPUS as u64 => 0,
        KVM_HC_KICK_CPU => -KVM_EINVAL,
        KVM_HC_SEND_IPI => send_ipi(args),
        // a0 = APIC id of the preempted vCPU to yield to; KVM answers 0 whether or not it could.
        KVM_HC_SCHED_YIELD => 0,
        _ => -KVM_ENOSYS,
    };
    super::keep(CALLS.push([nr, args[0], args[1], args[2], args[3], ret as u64]));
    ret
}

/// `KVM_HC_SEND_IPI` (`kvm_pv_send_ipi`, `arch/x86/kvm/lapic.c`): a0/a1 = low/high 64 bits of
/// a bitmap of APIC ids starting at a2; a3 = ICR. Returns the vCPUs reached (those that exist).
fn send_ipi(args: [u64; 4]) -> i64 {
    let [low, high, min, _icr] = args;
    let reached = |bitmap: u64, base: u64| {
        (0..64)
            .filter(|b| bitmap >> b & 1 != 0)
            .filter(|b| base.checked_add(*b).is_some_and(|id| id < VCPUS as u64))
            .count() as i64
    };
    reached(low, min) + min.checked_add(64).map_or(0, |base| reached(high, base))
}

/// A trapped `wrmsr` of one of KVM's MSRs: recorded; kvmclock's and the wall clock's structures
/// are filled in the guest page they name, as KVM does on enable (a GPA it cannot write leaves
/// the clock inactive, no fault). `false` for an MSR that is not KVM's (the guest's `#GP`).
pub(super) fn wrmsr(index: u32, value: u64) -> bool {
    match index {
        MSR_KVM_SYSTEM_TIME_NEW => {
            if value & KVM_MSR_ENABLED != 0 {
                // `struct pvclock_vcpu_time_info` (`arch/x86/include/asm/pvclock-abi.h`):
                // u32 version, pad; u64 tsc_timestamp, system_time; u32 tsc_to_system_mul;
                // i8 tsc_shift; u8 flags; pad. Version even: consistent. Multiplier 2^31 with
                // shift 1: one nanosecond per TSC tick.
                // SAFETY: rdtsc is allowed in userland.
                let tsc = unsafe { core::arch::x86_64::_rdtsc() };
                let mul_shift_flags = 1u64 << 31 | 1 << 32 | PVCLOCK_TSC_STABLE_BIT << 40;
                let _ = write(value & !KVM_MSR_ENABLED, &[2u64, tsc, 0, mul_shift_flags]);
            }
        }
        MSR_KVM_WALL_CLOCK_NEW => {
            // `struct pvclock_wall_clock { u32 version; u32 sec; u32 nsec; }`: the boot time.
            let mut now = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: a valid out pointer; clock_gettime is async-signal-safe.
            unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut now) };
            let words = [2u32, now.tv_sec as u32, now.tv_nsec as u32];
            let _ = write(value, &words);
        }
        MSR_KVM_STEAL_TIME | MSR_KVM_PV_EOI_EN => {}
        _ => return false,
    }
    msr_written(index, value);
    true
}

/// A trapped `rdmsr` of one of KVM's MSRs: the value last written (`kvm_get_msr_common`,
/// `arch/x86/kvm/x86.c`). `None` for an MSR that is not KVM's (the guest's `#GP`).
pub(super) fn rdmsr(index: u32) -> Option<u64> {
    matches!(
        index,
        MSR_KVM_WALL_CLOCK_NEW | MSR_KVM_SYSTEM_TIME_NEW | MSR_KVM_STEAL_TIME | MSR_KVM_PV_EOI_EN
    )
    .then(|| super::MSRS.get(index))
}

/// KVM's leaves at `KVM_CPUID_SIGNATURE` 0x40000000 (`Documentation/virt/kvm/x86/cpuid.rst`):
/// the max leaf (`KVM_CPUID_FEATURES`) and the signature, then the features in EAX and no
/// hints in EDX.
pub(super) fn cpuid(leaf: u32) -> Option<[u32; 4]> {
    match leaf {
        0x4000_0000 => Some([KVM_CPUID_FEATURES, SIGNATURE[0], SIGNATURE[1], SIGNATURE[2]]),
        KVM_CPUID_FEATURES => Some([FEATURES, 0, 0, 0]),
        _ => None,
    }
}
