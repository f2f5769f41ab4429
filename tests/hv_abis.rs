//! The test hypervisor's three ABIs, exercised as a guest exercises them: `vmcall`/`vmmcall`
//! with KVM's registers, `wrmsr` sequences, calls into the Hyper-V page with rcx/rdx/r8, and
//! the Xen PV paths Linux leaves native (trapped and emulated). The constants here are written
//! from the hypervisors' headers, independently of both the guest side and the hypervisor.

mod common;

use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};
use pv::x86_64 as pvx;
use pv_runtime::hv::{self, Hypervisor, Personality};
use pv_runtime::writer::RemapWriter;
use pv_runtime::{Live, Patcher, Target};

/// What the guest's own `#UD` handler (below) leaves in rax after a call into a page that
/// raised `#UD`.
const UD_MARKER: u64 = 0x0bad_0bad_0bad_0bad;
/// `#UD`s and `#GP`s the guest's handlers took.
static UD: AtomicU64 = AtomicU64::new(0);
static GP: AtomicU64 = AtomicU64::new(0);

/// The guest kernel's own exception handlers, installed before the hypervisor so that it hands
/// them the faults it does not emulate: `#UD` in the Hyper-V page returns from the call with
/// [`UD_MARKER`]; `#GP` on `rdmsr`/`wrmsr` skips the instruction (as `_safe` MSR accessors
/// do). Anything else ends the test process.
struct GuestFaults([libc::sigaction; 2]);

extern "C" fn on_guest_fault(sig: libc::c_int, _: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel's ucontext for this thread; the stack and rip are the guest's.
    unsafe {
        let g = &mut (*(ctx as *mut libc::ucontext_t)).uc_mcontext.gregs;
        let rip = g[libc::REG_RIP as usize] as usize;
        let page = pv_runtime::hyperv::hypercall_page();
        if sig == libc::SIGILL && (page..page + 4096).contains(&rip) {
            let rsp = g[libc::REG_RSP as usize] as usize;
            g[libc::REG_RIP as usize] = *(rsp as *const i64);
            g[libc::REG_RSP as usize] = (rsp + 8) as i64;
            g[libc::REG_RAX as usize] = UD_MARKER as i64;
            UD.fetch_add(1, Ordering::SeqCst);
            return;
        }
        let bytes = core::slice::from_raw_parts(rip as *const u8, 2);
        if sig == libc::SIGSEGV && (bytes == [0x0f, 0x30] || bytes == [0x0f, 0x32]) {
            g[libc::REG_RIP as usize] += 2;
            GP.fetch_add(1, Ordering::SeqCst);
            return;
        }
        libc::signal(sig, libc::SIG_DFL);
    }
}

impl GuestFaults {
    fn install() -> GuestFaults {
        UD.store(0, Ordering::SeqCst);
        GP.store(0, Ordering::SeqCst);
        // SAFETY: installs a handler, keeping the previous ones to restore.
        unsafe {
            let mut old: [libc::sigaction; 2] = core::mem::zeroed();
            let mut action: libc::sigaction = core::mem::zeroed();
            action.sa_sigaction = on_guest_fault as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO;
            libc::sigaction(libc::SIGILL, &action, &mut old[0]);
            libc::sigaction(libc::SIGSEGV, &action, &mut old[1]);
            GuestFaults(old)
        }
    }
}

impl Drop for GuestFaults {
    fn drop(&mut self) {
        // SAFETY: restores the handlers saved at install.
        unsafe {
            libc::sigaction(libc::SIGILL, &self.0[0], core::ptr::null_mut());
            libc::sigaction(libc::SIGSEGV, &self.0[1], core::ptr::null_mut());
        }
    }
}

fn wrmsr(index: u32, value: u64) {
    // Or skipped by the guest's #GP handler.
    // SAFETY: privileged: trapped and emulated by the test hypervisor.
    unsafe {
        asm!("wrmsr", in("ecx") index, in("eax") value as u32, in("edx") (value >> 32) as u32)
    };
}

fn rdmsr(index: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: as in `wrmsr`; a skipped rdmsr leaves eax/edx as they were (0).
    unsafe { asm!("rdmsr", in("ecx") index, inout("eax") 0u32 => lo, inout("edx") 0u32 => hi) };
    (hi as u64) << 32 | lo as u64
}

/// The signature of `cpuid(leaf)` (EBX, ECX, EDX) as bytes.
fn signature(r: [u32; 4]) -> Vec<u8> {
    r[1..].iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// Linux's `hypervisor_cpuid_base(sig, leaves)` (`arch/x86/include/asm/cpuid/api.h`), on
/// [`hv::cpuid`].
fn cpuid_base(sig: &[u8; 12], leaves: u32) -> Option<u32> {
    if hv::cpuid(1, 0)[2] & 1 << 31 == 0 {
        return None;
    }
    (0x4000_0000u32..0x4001_0000).step_by(0x100).find(|&base| {
        let r = hv::cpuid(base, 0);
        signature(r) == sig && (leaves == 0 || r[0] - base >= leaves)
    })
}

#[test]
fn cpuid_shows_each_personalitys_leaves_as_linux_detects_them() {
    let _serial = common::serial();
    {
        let _hv = Hypervisor::install_as(Personality::Xen).unwrap();
        // Xen: `xen_cpuid_base` = the scan with 2 leaves (arch/x86/include/asm/xen/hypervisor.h).
        assert_eq!(cpuid_base(b"XenVMMXenVMM", 2), Some(0x4000_0000));
        assert_eq!(
            hv::cpuid(0x4000_0002, 0)[..2],
            [1, 0x4000_0000],
            "one page, MSR"
        );
        assert_eq!(cpuid_base(b"KVMKVMKVM\0\0\0", 0), None);
    }
    {
        let _hv = Hypervisor::install_as(Personality::Kvm).unwrap();
        let base = cpuid_base(b"KVMKVMKVM\0\0\0", 0).expect("KVM's signature");
        let features = hv::cpuid(base | 1, 0)[0];
        // KVM_FEATURE_* (arch/x86/include/uapi/asm/kvm_para.h).
        for (bit, name) in [
            (3, "CLOCKSOURCE2"),
            (5, "STEAL_TIME"),
            (6, "PV_EOI"),
            (7, "PV_UNHALT"),
            (9, "PV_TLB_FLUSH"),
            (11, "PV_SEND_IPI"),
            (13, "PV_SCHED_YIELD"),
        ] {
            assert_ne!(features & 1 << bit, 0, "KVM_FEATURE_{name}");
        }
        assert_eq!(cpuid_base(b"XenVMMXenVMM", 2), None);
    }
    {
        let _hv = Hypervisor::install_as(Personality::HyperV).unwrap();
        // `ms_hyperv_platform` (arch/x86/kernel/cpu/mshyperv.c).
        let r = hv::cpuid(0x4000_0000, 0);
        assert_eq!(signature(r), b"Microsoft Hv");
        assert!((0x4000_0005..=0x4000_ffff).contains(&r[0]), "max leaf");
        assert_eq!(&hv::cpuid(0x4000_0001, 0)[0].to_le_bytes(), b"Hv#1");
        let features = hv::cpuid(0x4000_0003, 0)[0];
        // HV_MSR_*_AVAILABLE (include/hyperv/hvgdk_mini.h): APIC_ACCESS, HYPERCALL, VP_INDEX,
        // REFERENCE_TSC.
        for bit in [4, 5, 6, 9] {
            assert_ne!(features & 1 << bit, 0, "0x40000003.EAX bit {bit}");
        }
        let spins = hv::cpuid(0x4000_0004, 0)[1];
        assert!(spins != 0 && spins != u32::MAX, "spin-wait notification on");
    }
    // Beyond the personality's leaves, nothing of the host's hypervisor shows.
    let _hv = Hypervisor::install_as(Personality::Kvm).unwrap();
    assert_eq!(hv::cpuid(0x4000_0100, 0), [0; 4]);
}

/// A KVM hypercall with `vmcall`; returns rax and checks that no other register changed.
fn vmcall(nr: u64, a: [u64; 4]) -> u64 {
    let ret: u64;
    let (mut b, mut c, mut d, mut s) = (a[0], a[1], a[2], a[3]);
    // rbx is reserved in Rust inline asm: exchanged around the instruction.
    // SAFETY: trapped and emulated by the test hypervisor.
    unsafe {
        asm!("xchg {b}, rbx", "vmcall", "xchg {b}, rbx",
            b = inout(reg) b, inlateout("rax") nr => ret,
            inout("rcx") c, inout("rdx") d, inout("rsi") s)
    };
    (b, c, d, s) = (b ^ a[0], c ^ a[1], d ^ a[2], s ^ a[3]);
    assert_eq!((b, c, d, s), (0, 0, 0, 0), "only rax changes");
    ret
}

#[test]
fn kvm_hypercalls_through_vmcall_are_served_and_logged() {
    let _serial = common::serial();
    let _hv = Hypervisor::install_as(Personality::Kvm).unwrap();
    // KVM_HC_* (include/uapi/linux/kvm_para.h).
    const KICK_CPU: u64 = 5;
    const SEND_IPI: u64 = 10;
    const SCHED_YIELD: u64 = 11;
    const KVM_ENOSYS: u64 = 1000;
    assert_eq!(vmcall(KICK_CPU, [0, 2, 0, 0]), 0, "kick APIC id 2");
    // APIC ids 0, 1, 3 and 70 (which does not exist): three reached.
    let icr = 0x40fd;
    assert_eq!(
        vmcall(SEND_IPI, [0b1011, 1 << 6, 0, icr]),
        3,
        "CPUs reached"
    );
    assert_eq!(vmcall(SEND_IPI, [0b11, 0, 2, icr]), 2, "window from id 2");
    assert_eq!(vmcall(SCHED_YIELD, [1, 0, 0, 0]), 0);
    assert_eq!(vmcall(99, [1, 2, 3, 4]), KVM_ENOSYS.wrapping_neg());
    let s = hv::state();
    assert_eq!(s.kvm_total, 5);
    assert_eq!(
        s.kvm_calls
            .iter()
            .map(|c| (c.nr, c.args, c.ret))
            .collect::<Vec<_>>(),
        [
            (KICK_CPU, [0, 2, 0, 0], 0),
            (SEND_IPI, [0b1011, 1 << 6, 0, icr], 3),
            (SEND_IPI, [0b11, 0, 2, icr], 2),
            (SCHED_YIELD, [1, 0, 0, 0], 0),
            (99, [1, 2, 3, 4], -1000),
        ]
    );
}

#[test]
fn kvm_hypercall_through_vmmcall_is_served_where_it_traps() {
    let _serial = common::serial();
    let _hv = Hypervisor::install_as(Personality::Kvm).unwrap();
    let ret: u64;
    // Elsewhere the host's hypervisor answers it (every argument register is declared clobbered).
    // SAFETY: trapped and emulated by the test hypervisor where vmmcall traps.
    unsafe {
        asm!("xchg {b}, rbx", "vmmcall", "xchg {b}, rbx",
            b = inout(reg) 1u64 => _, inlateout("rax") 11u64 => ret,
            inout("rcx") 0u64 => _, inout("rdx") 0u64 => _, inout("rsi") 0u64 => _)
    };
    let s = hv::state();
    if s.kvm_total == 0 && ret == u64::MAX {
        common::skip::skipped(
            "vmmcall does not trap on this host: its own hypervisor answered rax = -1",
        );
        return;
    }
    assert_eq!(
        (s.kvm_total, ret),
        (1, 0),
        "KVM_HC_SCHED_YIELD through vmmcall"
    );
    assert_eq!(s.kvm_calls[0].args, [1, 0, 0, 0]);
}

#[test]
fn kvm_msrs_are_recorded_and_kvmclock_is_filled() {
    let _serial = common::serial();
    let _guest = GuestFaults::install();
    let _hv = Hypervisor::install_as(Personality::Kvm).unwrap();
    // MSR_KVM_* (arch/x86/include/uapi/asm/kvm_para.h).
    const WALL_CLOCK_NEW: u32 = 0x4b56_4d00;
    const SYSTEM_TIME_NEW: u32 = 0x4b56_4d01;
    const STEAL_TIME: u32 = 0x4b56_4d03;
    const PV_EOI_EN: u32 = 0x4b56_4d04;
    // `struct pvclock_vcpu_time_info` (32 B) and `pvclock_wall_clock` (12 B).
    #[repr(C, align(64))]
    struct Pages([u64; 4], [u32; 3], [u8; 64]);
    let mut pages = Box::new(Pages([0; 4], [0; 3], [0; 64]));
    let clock = &raw mut pages.0 as u64;
    let wall = &raw mut pages.1 as u64;
    let steal = &raw mut pages.2 as u64;
    wrmsr(SYSTEM_TIME_NEW, clock | 1);
    wrmsr(WALL_CLOCK_NEW, wall);
    wrmsr(STEAL_TIME, steal | 1);
    wrmsr(PV_EOI_EN, 0x1000 | 1);
    // SAFETY: the hypervisor wrote these through process_vm_writev; read them back fresh.
    let (time, wall_clock) = unsafe {
        (
            core::ptr::read_volatile(&raw const pages.0),
            core::ptr::read_volatile(&raw const pages.1),
        )
    };
    assert_eq!(time[0] & 1, 0, "pvclock version even: consistent");
    assert_ne!(time[0], 0, "pvclock filled");
    assert_ne!(time[1], 0, "tsc_timestamp");
    assert_ne!(wall_clock[1], 0, "wall clock seconds");
    let s = hv::state();
    assert_eq!(s.msrs.get(&SYSTEM_TIME_NEW), Some(&(clock | 1)));
    assert_eq!(s.msrs.get(&WALL_CLOCK_NEW), Some(&wall));
    assert_eq!(s.msrs.get(&STEAL_TIME), Some(&(steal | 1)));
    assert_eq!(s.msrs.get(&PV_EOI_EN), Some(&0x1001));
    assert_eq!((s.msr_writes, rdmsr(STEAL_TIME)), (4, steal | 1));
    // An MSR that is not KVM's: the guest's #GP.
    wrmsr(0x174, 1);
    assert_eq!((GP.load(Ordering::SeqCst), hv::state().refused), (1, 1));
}

/// A call into the Hyper-V page with Hyper-V's registers; returns rax.
fn hv_call(control: u64, input: u64, output: u64) -> u64 {
    let page = pv_runtime::hyperv::hypercall_page();
    let ret: u64;
    // A call while it is not enabled raises #UD, which the guest's handler turns into a return with
    // UD_MARKER.
    // SAFETY: the page is filled by the test hypervisor.
    unsafe {
        asm!("call {page}", page = in(reg) page,
            inlateout("rcx") control => _, inlateout("rdx") input => _,
            inlateout("r8") output => _, lateout("rax") ret, clobber_abi("C"))
    };
    ret
}

// HV_X64_MSR_* (include/hyperv/hvgdk_mini.h).
const GUEST_OS_ID: u32 = 0x4000_0000;
const HYPERCALL: u32 = 0x4000_0001;
const VP_INDEX: u32 = 0x4000_0002;
const REFERENCE_TSC: u32 = 0x4000_0021;
const EOI: u32 = 0x4000_0070;
const TPR: u32 = 0x4000_0072;
// HVCALL_* and HV_STATUS_* (include/hyperv/hvgdk_mini.h).
const SEND_IPI: u64 = 0xb;
const FAST: u64 = 1 << 16;
const INVALID_CODE: u64 = 2;
const INVALID_INPUT: u64 = 3;
const INVALID_ALIGNMENT: u64 = 4;
const INVALID_PARAMETER: u64 = 5;
/// What Linux's `hyperv_init` writes: open source, Linux, a kernel version.
const LINUX_OS_ID: u64 = 0x8100 << 48 | 0x06_0c_00 << 16;

#[test]
fn the_hyperv_page_works_only_once_enabled_in_order() {
    let _serial = common::serial();
    let _guest = GuestFaults::install();
    let _hv = Hypervisor::install_as(Personality::HyperV).unwrap();
    let page = pv_runtime::hyperv::hypercall_page() as u64;
    let ipi = || hv_call(SEND_IPI | FAST, 0x30, 1);
    assert_eq!(ipi(), UD_MARKER, "not enabled: the guest's page faults");
    wrmsr(HYPERCALL, page | 1);
    assert_eq!(ipi(), UD_MARKER, "HYPERCALL before GUEST_OS_ID is ignored");
    assert_eq!((rdmsr(HYPERCALL), GP.load(Ordering::SeqCst)), (0, 0));
    wrmsr(GUEST_OS_ID, LINUX_OS_ID);
    wrmsr(HYPERCALL, (page + 4096) | 1);
    assert_eq!(GP.load(Ordering::SeqCst), 1, "another page is refused");
    assert_eq!(ipi(), UD_MARKER);
    wrmsr(HYPERCALL, page | 1);
    assert_eq!(rdmsr(HYPERCALL), page | 1);
    assert_eq!(ipi(), 0, "enabled: HV_STATUS_SUCCESS");
    wrmsr(GUEST_OS_ID, 0);
    assert_eq!(ipi(), UD_MARKER, "GUEST_OS_ID 0 disables the page");
    let s = hv::state();
    assert_eq!(UD.load(Ordering::SeqCst), 4);
    assert_eq!(s.hyperv_total, 1);
    assert_eq!(
        s.hyperv_calls[0],
        hv::HypervCall {
            control: SEND_IPI | FAST,
            input: 0x30,
            output: 1,
            result: 0,
        }
    );
}

#[test]
fn hyperv_hypercalls_and_synthetic_msrs() {
    let _serial = common::serial();
    let _guest = GuestFaults::install();
    let _hv = Hypervisor::install_as(Personality::HyperV).unwrap();
    wrmsr(GUEST_OS_ID, LINUX_OS_ID);
    wrmsr(HYPERCALL, pv_runtime::hyperv::hypercall_page() as u64 | 1);

    // SEND_IPI, fast: rdx = vector, r8 = VP mask.
    assert_eq!(hv_call(SEND_IPI | FAST, 0xef, 0b101), 0);
    assert_eq!(
        hv_call(SEND_IPI | FAST, 0x5, 1),
        INVALID_PARAMETER,
        "vector"
    );
    assert_eq!(
        hv_call(SEND_IPI | FAST | 1 << 32, 0xef, 1),
        INVALID_INPUT,
        "rep"
    );
    assert_eq!(hv_call(0x99, 0, 0), INVALID_CODE);
    // NOTIFY_LONG_SPIN_WAIT (0x8), fast, with a spin count.
    assert_eq!(hv_call(0x8 | FAST, 0x1000, 0), 0);
    assert_eq!(hv_call(0x8 | FAST | 2 << 32, 0x1000, 0), INVALID_INPUT);

    // FLUSH_VIRTUAL_ADDRESS_SPACE (0x2): `{address_space, flags, processor_mask}` at the input
    // GPA.
    let input: Box<[u64; 8]> = Box::new([0x1000, 0b101, 0b11, 0x7000_0000, 0x7000_1003, 0, 0, 0]);
    let at = input.as_ptr() as u64;
    assert_eq!(hv_call(0x2, at, 0), 0);
    assert_eq!(hv_call(0x2, at + 4, 0), INVALID_ALIGNMENT);
    assert_eq!(hv_call(0x2, 8, 0), INVALID_INPUT, "an unreadable GPA");
    assert_eq!(hv_call(0x2 | FAST, 0, 0), INVALID_INPUT, "no XMM input");
    let bad_flags: Box<[u64; 3]> = Box::new([0, 1 << 7, 0]);
    assert_eq!(
        hv_call(0x2, bad_flags.as_ptr() as u64, 0),
        INVALID_PARAMETER
    );
    // FLUSH_VIRTUAL_ADDRESS_LIST (0x3): a rep call over the GVAs after the header.
    assert_eq!(hv_call(0x3 | 2 << 32, at, 0), 2 << 32, "2 reps completed");
    assert_eq!(hv_call(0x3, at, 0), INVALID_INPUT, "rep count 0");

    // Synthetic MSRs.
    assert_eq!(rdmsr(VP_INDEX), 0);
    wrmsr(EOI, 0);
    wrmsr(TPR, 0x20);
    assert_eq!(rdmsr(TPR), 0x20);
    #[repr(C, align(4096))]
    struct TscPage([u64; 512]);
    let tsc = Box::new(TscPage([0; 512]));
    let tsc_at = tsc.0.as_ptr() as u64;
    wrmsr(REFERENCE_TSC, tsc_at | 1);
    // SAFETY: written by the hypervisor; read fresh.
    let words = unsafe { core::ptr::read_volatile(&tsc.0) };
    assert_ne!(words[0] as u32, 0, "tsc_sequence valid");
    assert_ne!(words[1], 0, "tsc_scale");

    let s = hv::state();
    assert_eq!(s.hyperv_total, 13);
    assert_eq!(
        s.hyperv_flushes,
        [[0x1000, 0b101, 0b11], [0x1000, 0b101, 0b11]]
    );
    assert_eq!(s.hyperv_flushed_gvas, [0x7000_0000, 0x7000_1003]);
    assert_eq!(s.msrs.get(&EOI), Some(&0));
    assert_eq!(s.msrs.get(&REFERENCE_TSC), Some(&(tsc_at | 1)));
    assert_eq!(GP.load(Ordering::SeqCst), 0);
}

/// Runs `guest` with the Xen bodies applied to every site, then reverts.
fn under_xen(guest: impl FnOnce()) {
    let mut patcher = Patcher::new();
    let mut image = Live::new(RemapWriter::new());
    // SAFETY: patching tests take turns (common::serial); no site runs while patching.
    let report = unsafe { patcher.apply(&mut image, Target::XEN) }.expect("apply");
    assert_eq!(report.refused_total, 0, "{report}");
    guest();
    // SAFETY: as for apply.
    unsafe { patcher.revert(&mut Live::new(RemapWriter::new())) }.expect("revert");
}

#[test]
fn xen_pv_msrs_wbinvd_and_cr4_stay_native_and_xen_emulates_them() {
    let _serial = common::serial();
    let _guest = GuestFaults::install();
    let _hv = Hypervisor::install().unwrap();
    const FS_BASE: u32 = 0xc000_0100;
    let mut fs_base = 0;
    // SAFETY: under the test hypervisor, after apply(Xen).
    under_xen(|| unsafe {
        pvx::wrmsr(FS_BASE, 0x7000_0000);
        fs_base = pvx::rdmsr(FS_BASE);
        pvx::wbinvd();
        // PGE (b7) is Linux's to drop, VMXE (b13) Xen's; TSD (b2) is the guest's.
        pvx::write_cr4(1 << 7 | 1 << 13 | 1 << 2);
        // An MSR Xen does not emulate faults (the guest's handler skips it).
        pvx::rdmsr(0x174);
    });
    assert_eq!(fs_base, 0x7000_0000);
    let s = hv::state();
    assert_eq!(s.calls("set_segment_base"), 1, "the fs base by hypercall");
    assert_eq!(s.fs_base, 0x7000_0000);
    assert_eq!(
        (s.calls("platform_op"), s.calls("mmuext_op")),
        (0, 0),
        "no hypercall for rdmsr or wbinvd"
    );
    assert_eq!((s.msr_reads, s.cache_flushes, s.cr4_writes), (1, 1, 1));
    // Xen keeps the guest's TSD and its own PAE, MCE, OSFXSR, OSXMMEXCPT.
    assert_eq!(s.cr4, 1 << 2 | 1 << 5 | 1 << 6 | 1 << 9 | 1 << 10);
    assert_eq!(
        (GP.load(Ordering::SeqCst), s.refused),
        (1, 1),
        "rdmsr(0x174): #GP"
    );
}

/// An IDT gate: handler, selector, type, DPL, present.
fn gate(handler: u64, kind: u64, dpl: u64, present: bool) -> [u64; 2] {
    let attributes = kind | dpl << 5 | u64::from(present) << 7;
    [
        (handler & 0xffff) | 0x10 << 16 | attributes << 40 | (handler >> 16 & 0xffff) << 48,
        handler >> 32,
    ]
}

#[test]
fn xen_pv_load_idt_converts_gates_as_cvt_gate_to_trap() {
    let _serial = common::serial();
    let _hv = Hypervisor::install().unwrap();
    let mut idt = [[0u64; 2]; 32];
    idt[3] = gate(0xffff_8000_0000_0300, 0xf, 3, true); // trap gate, int3 from user
    idt[14] = gate(0xffff_8000_0000_0e00, 0xe, 0, true); // interrupt gate
    idt[8] = gate(0xffff_8000_0000_0800, 0x5, 0, true); // task gate: not converted
    idt[9] = gate(0xffff_8000_0000_0900, 0xe, 0, false); // not present
    let ptr = pvx::DescriptorTablePointer {
        limit: (size_of_val(&idt) - 1) as u16,
        base: idt.as_ptr() as u64,
    };
    // SAFETY: a valid IDT, under the test hypervisor after apply(Xen).
    under_xen(|| unsafe { pvx::load_idt(&ptr) });
    let s = hv::state();
    assert_eq!(
        s.traps,
        [
            (3, 0x10, 0xffff_8000_0000_0300),
            (14, 0x10, 0xffff_8000_0000_0e00)
        ]
    );
    assert_eq!(s.trap_flags.get(&3).map(|f| f & 3), Some(3), "DPL 3");
    assert_eq!(s.masks_events(3), Some(false), "trap gate: events stay on");
    assert_eq!(s.masks_events(14), Some(true), "interrupt gate: TI_GET_IF");
}

#[test]
fn xen_pv_halt_with_events_masked_takes_this_vcpu_down() {
    let _serial = common::serial();
    let _hv = Hypervisor::install().unwrap();
    pv_runtime::xen::set_vcpu_id(2);
    // SAFETY: under the test hypervisor after apply(Xen).
    under_xen(|| unsafe {
        pvx::irq_disable();
        pvx::halt();
        pvx::irq_enable();
    });
    pv_runtime::xen::set_vcpu_id(0);
    let s = hv::state();
    assert_eq!(s.vcpus_down, 1 << 2, "vCPU 2, the caller, not vCPU 0");
    assert_eq!(s.calls("vcpu_op"), 1);
}
