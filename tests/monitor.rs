//! Every privileged intrinsic of the catalogue, in every binding, run as an unmodified guest
//! under the trap-and-emulate monitor — one trap per privileged instruction, the virtual CPU
//! checked after each — and then paravirtualized against the test hypervisor: zero traps to the
//! monitor, the expected hypercalls, and what Linux leaves native trapped by Xen instead. Plus the pushf/popf hole, clean teardown on panic, and the report of an
//! instruction the monitor cannot emulate.

mod common;

use pv::x86_64::{CpuidRegs, DescriptorTablePointer};
use pv_monitor::{Monitor, Trap, VCpu};
use pv_runtime::hv::{self, Hypervisor};
use pv_runtime::writer::RemapWriter;
use pv_runtime::{Live, Patcher, Target};

/// The catalogue's privileged intrinsics, declared again with `binding = $b`.
macro_rules! privileged {
    ($($m:ident = $b:tt),*) => {$(
        mod $m {
            use pv_macros::pv_intrinsic;
            use pv::x86_64::{CpuidRegs, DescriptorTablePointer};
            use pv_runtime::xen::pv as x;
            #[pv_intrinsic(binding = $b, arch = x86_64, native = "cli", xen = call(x::irq_disable))]
            pub unsafe fn irq_disable();
            #[pv_intrinsic(binding = $b, arch = x86_64, native = "sti", xen = call(x::irq_enable))]
            pub unsafe fn irq_enable();
            #[pv_intrinsic(binding = $b, reg = "rax", native = "mov rax, cr0", xen = call(x::read_cr0))]
            pub unsafe fn read_cr0() -> u64;
            #[pv_intrinsic(binding = $b, reg = "rdi", native = "mov cr0, rdi", xen = call(x::write_cr0))]
            pub unsafe fn write_cr0(value: u64);
            #[pv_intrinsic(binding = $b, reg = "rax", native = "mov rax, cr2", xen = call(x::read_cr2))]
            pub unsafe fn read_cr2() -> u64;
            #[pv_intrinsic(binding = $b, reg = "rax", native = "mov rax, cr3", xen = call(x::read_cr3))]
            pub unsafe fn read_cr3() -> u64;
            #[pv_intrinsic(binding = $b, reg = "rdi", native = "mov cr3, rdi", xen = call(x::write_cr3))]
            pub unsafe fn write_cr3(value: u64);
            #[pv_intrinsic(binding = $b, reg = "rax", native = "mov rax, cr4", xen = call(x::read_cr4))]
            pub unsafe fn read_cr4() -> u64;
            #[pv_intrinsic(binding = $b, reg = "rdi", native = "mov cr4, rdi", xen = call(x::write_cr4))]
            pub unsafe fn write_cr4(value: u64);
            #[pv_intrinsic(binding = $b, reg = "rax", clobber = [rdx], native = "rdmsr; shl rdx, 32; or rax, rdx", xen = call(x::read_msr))]
            pub unsafe fn rdmsr(#[pv(reg = "rcx")] msr: u32) -> u64;
            #[pv_intrinsic(binding = $b, reg = "rcx", clobber = [rax, rdx], native = "mov rax, rdi; mov rdx, rdi; shr rdx, 32; wrmsr", xen = call(x::write_msr))]
            pub unsafe fn wrmsr(msr: u32, value: u64);
            #[pv_intrinsic(binding = $b, arch = x86_64, native = "hlt", xen = call(x::halt))]
            pub unsafe fn halt();
            #[pv_intrinsic(binding = $b, arch = x86_64, native = "sti; hlt", xen = hypercall(sched_op, 1, 0))]
            pub unsafe fn safe_halt();
            #[pv_intrinsic(binding = $b, arch = x86_64, native = "wbinvd", xen = emulated)]
            pub unsafe fn wbinvd();
            #[pv_intrinsic(binding = $b, reg = "rdi", native = "invlpg [rdi]", xen = call(x::flush_tlb_one))]
            pub unsafe fn flush_tlb_one(addr: u64);
            #[pv_intrinsic(binding = $b, reg = "rdi", native = "lidt [rdi]", xen = call(x::load_idt))]
            pub unsafe fn load_idt(ptr: *const DescriptorTablePointer);
            #[pv_intrinsic(binding = $b, reg = "rdi", native = "lgdt [rdi]", xen = call(x::load_gdt))]
            pub unsafe fn load_gdt(ptr: *const DescriptorTablePointer);
            #[pv_intrinsic(binding = $b, reg = "rax", native = "in al, dx; movzx eax, al", xen = call(x::inb))]
            pub unsafe fn inb(#[pv(reg = "rdx")] port: u16) -> u8;
            #[pv_intrinsic(binding = $b, reg = "rdx", clobber = [rax], native = "mov eax, edi; out dx, al", xen = call(x::outb))]
            pub unsafe fn outb(port: u16, value: u8);
            #[pv_intrinsic(binding = $b, arch = x86_64, clobber = [rax], native = "mov eax, 0x5a; out 0x80, al", xen = nop)]
            pub unsafe fn io_delay();
            #[pv_intrinsic(binding = $b, reg = "rax", clobber = [rdx], native = "rdtsc; shl rdx, 32; or rax, rdx", xen = native)]
            pub fn rdtsc() -> u64;
            #[pv_intrinsic(binding = $b, reg = "rax", clobber = [rcx, rdx], native = "rdtscp; shl rdx, 32; or rax, rdx", xen = native)]
            pub fn rdtscp() -> u64;
            #[pv_intrinsic(binding = $b, reg = "rdi", clobber = [rax, rcx, rdx],
                native = "push rbx; mov eax, [rdi]; mov ecx, [rdi + 8]; cpuid; mov [rdi], eax; mov [rdi + 4], ebx; mov [rdi + 8], ecx; mov [rdi + 12], edx; pop rbx",
                xen = asm("push rbx; mov eax, [rdi]; mov ecx, [rdi + 8]; ud2; .ascii \"xen\"; cpuid; mov [rdi], eax; mov [rdi + 4], ebx; mov [rdi + 8], ecx; mov [rdi + 12], edx; pop rbx"))]
            pub unsafe fn cpuid(regs: *mut CpuidRegs);
        }
    )*};
}

privileged!(
    b1 = inline_patch,
    b2 = direct_branch,
    b3 = indirect_branch,
    b4 = indirect_call
);

/// Runs one step of the guest; returns its result (or 0).
type Run = Box<dyn Fn() -> u64>;
/// Checks the virtual CPU after a native step, given its result.
type NativeCheck = Box<dyn Fn(&VCpu, u64)>;
/// Checks the hypervisor after a paravirtualized step, given its result.
type XenCheck = Box<dyn Fn(&hv::State, u64)>;

/// One step of the guest: what it runs, the traps natively, the check of the virtual CPU
/// natively, and the hypercalls under Xen (with the check of the hypervisor's state).
struct Step {
    name: &'static str,
    run: Run,
    traps: Vec<Trap>,
    native: NativeCheck,
    xen: Vec<(&'static str, u64)>,
    on_xen: XenCheck,
}

static TABLE: [u64; 32] = [0; 32];
/// `MSR_FS_BASE`: under Xen PV, written with `set_segment_base` and read through a trap.
const FS_BASE: u32 = 0xc000_0100;

macro_rules! steps {
    ($m:ident) => {{
        use $m::*;
        let ptr: &'static DescriptorTablePointer = Box::leak(Box::new(DescriptorTablePointer {
            limit: 255,
            base: TABLE.as_ptr() as u64,
        }));
        let regs: &'static mut CpuidRegs = Box::leak(Box::default());
        let regs: *mut CpuidRegs = regs;
        let p = ptr as *const DescriptorTablePointer;
        // SAFETY (all steps): privileged instructions run under the monitor or the hypervisor.
        vec![
            Step {
                name: "irq_disable",
                run: Box::new(|| {
                    unsafe { irq_disable() };
                    0
                }),
                traps: vec![Trap::Cli],
                native: Box::new(|c, _| assert!(!c.interrupts)),
                xen: vec![],
                on_xen: Box::new(|_, _| {
                    assert_eq!(
                        unsafe { (*pv_runtime::xen::vcpu_info()).evtchn_upcall_mask },
                        1
                    )
                }),
            },
            Step {
                name: "irq_enable",
                run: Box::new(|| {
                    unsafe { irq_enable() };
                    0
                }),
                traps: vec![Trap::Sti],
                native: Box::new(|c, _| assert!(c.interrupts)),
                xen: vec![],
                on_xen: Box::new(|_, _| {
                    assert_eq!(
                        unsafe { (*pv_runtime::xen::vcpu_info()).evtchn_upcall_mask },
                        0
                    )
                }),
            },
            Step {
                name: "write_cr3",
                run: Box::new(|| {
                    unsafe { write_cr3(0x7000) };
                    0
                }),
                traps: vec![Trap::MovToCr],
                native: Box::new(|c, _| assert_eq!(c.cr[3], 0x7000)),
                xen: vec![("mmuext_op", 1)],
                on_xen: Box::new(|s, _| assert_eq!(s.cr3, 0x7000)),
            },
            Step {
                name: "read_cr3",
                run: Box::new(|| unsafe { read_cr3() }),
                traps: vec![Trap::MovFromCr],
                native: Box::new(|_, v| assert_eq!(v, 0x7000)),
                xen: vec![],
                on_xen: Box::new(|_, v| assert_eq!(v, 0x7000)),
            },
            Step {
                name: "write_cr0",
                run: Box::new(|| {
                    unsafe { write_cr0(0x8005_003b) };
                    0
                }),
                traps: vec![Trap::MovToCr],
                native: Box::new(|c, _| assert_eq!(c.cr[0], 0x8005_003b)),
                xen: vec![("fpu_taskswitch", 1)],
                on_xen: Box::new(|s, _| assert!(s.fpu_ts)),
            },
            Step {
                name: "read_cr0",
                run: Box::new(|| unsafe { read_cr0() }),
                traps: vec![Trap::MovFromCr],
                native: Box::new(|_, v| assert_eq!(v, 0x8005_003b)),
                xen: vec![],
                on_xen: Box::new(|_, v| assert_eq!(v, 0x8005_003b)),
            },
            Step {
                name: "read_cr2",
                run: Box::new(|| unsafe { read_cr2() }),
                traps: vec![Trap::MovFromCr],
                native: Box::new(|_, v| assert_eq!(v, 0)),
                xen: vec![],
                on_xen: Box::new(|_, v| assert_eq!(v, 0)),
            },
            Step {
                name: "write_cr4",
                run: Box::new(|| {
                    unsafe { write_cr4(0x6f0) };
                    0
                }),
                traps: vec![Trap::MovToCr],
                native: Box::new(|c, _| assert_eq!(c.cr[4], 0x6f0)),
                xen: vec![],
                on_xen: Box::new(|s, _| assert_eq!(s.cr4_writes, 1, "mov cr4, trapped by Xen")),
            },
            Step {
                name: "read_cr4",
                run: Box::new(|| unsafe { read_cr4() }),
                traps: vec![Trap::MovFromCr],
                native: Box::new(|_, v| assert_eq!(v, 0x6f0)),
                xen: vec![],
                on_xen: Box::new(|_, v| assert_eq!(v, 0x6f0)),
            },
            Step {
                name: "wrmsr",
                run: Box::new(|| {
                    // SAFETY: privileged: under the monitor, or trapped and emulated by the test hypervisor.
                    unsafe { wrmsr(FS_BASE, 0x10) };
                    0
                }),
                traps: vec![Trap::Wrmsr],
                native: Box::new(|c, _| assert_eq!(c.msrs.get(&FS_BASE), Some(&0x10))),
                xen: vec![("set_segment_base", 1)],
                on_xen: Box::new(|s, _| assert_eq!(s.fs_base, 0x10)),
            },
            Step {
                name: "rdmsr",
                // SAFETY: privileged: under the monitor, or trapped and emulated by the test hypervisor.
                run: Box::new(|| unsafe { rdmsr(FS_BASE) }),
                traps: vec![Trap::Rdmsr],
                native: Box::new(|_, v| assert_eq!(v, 0x10)),
                xen: vec![],
                on_xen: Box::new(|s, v| {
                    assert_eq!((v, s.msr_reads), (0x10, 1), "rdmsr, trapped by Xen")
                }),
            },
            Step {
                name: "flush_tlb_one",
                run: Box::new(|| {
                    unsafe { flush_tlb_one(0xdead_0000) };
                    0
                }),
                traps: vec![Trap::Invlpg],
                native: Box::new(|c, _| assert_eq!(c.invlpg, [0xdead_0000])),
                xen: vec![("mmuext_op", 1)],
                on_xen: Box::new(|s, _| assert_eq!(s.invlpg, [0xdead_0000])),
            },
            Step {
                name: "wbinvd",
                run: Box::new(|| {
                    unsafe { wbinvd() };
                    0
                }),
                traps: vec![Trap::Wbinvd],
                native: Box::new(|c, _| assert_eq!(c.cache_flushes, 1)),
                xen: vec![],
                on_xen: Box::new(|s, _| assert_eq!(s.cache_flushes, 1, "wbinvd, trapped by Xen")),
            },
            Step {
                name: "load_gdt",
                run: Box::new(move || {
                    unsafe { load_gdt(p) };
                    0
                }),
                traps: vec![Trap::Lgdt],
                native: Box::new(|c, _| assert_eq!(c.gdtr, (TABLE.as_ptr() as u64, 255))),
                xen: vec![("set_gdt", 1)],
                on_xen: Box::new(|s, _| assert_eq!(s.gdt, (TABLE.as_ptr() as u64 >> 12, 32))),
            },
            Step {
                name: "load_idt",
                run: Box::new(move || {
                    unsafe { load_idt(p) };
                    0
                }),
                traps: vec![Trap::Lidt],
                native: Box::new(|c, _| assert_eq!(c.idtr, (TABLE.as_ptr() as u64, 255))),
                xen: vec![("set_trap_table", 1)],
                on_xen: Box::new(|s, _| assert!(s.traps.is_empty(), "no present gates")),
            },
            Step {
                name: "outb",
                run: Box::new(|| {
                    unsafe { outb(0xe9, b'P') };
                    0
                }),
                traps: vec![Trap::Out],
                native: Box::new(|c, _| assert_eq!(c.console, b"P")),
                xen: vec![("console_io", 1)],
                on_xen: Box::new(|s, _| assert_eq!(s.console, b"P")),
            },
            Step {
                name: "inb",
                run: Box::new(|| unsafe { inb(0xe9) } as u64),
                traps: vec![Trap::In],
                native: Box::new(|_, v| assert_eq!(v, 0xe9)),
                xen: vec![("console_io", 1)],
                on_xen: Box::new(|_, v| assert_eq!(v, 0xff)),
            },
            Step {
                name: "io_delay",
                run: Box::new(|| {
                    unsafe { io_delay() };
                    0
                }),
                traps: vec![Trap::Out],
                native: Box::new(|c, _| assert_eq!(c.port_writes, [(0x80, 0x5a)])),
                xen: vec![],
                on_xen: Box::new(|_, _| {}),
            },
            Step {
                name: "halt",
                run: Box::new(|| {
                    unsafe { halt() };
                    0
                }),
                traps: vec![Trap::Hlt],
                native: Box::new(|c, _| assert_eq!(c.halts, 1)),
                xen: vec![("sched_op", 1)],
                on_xen: Box::new(|s, _| assert_eq!(s.blocks, 1)),
            },
            Step {
                name: "safe_halt",
                run: Box::new(|| {
                    unsafe { safe_halt() };
                    0
                }),
                traps: vec![Trap::Sti, Trap::Hlt],
                native: Box::new(|c, _| assert!(c.halts == 2 && c.interrupts)),
                xen: vec![("sched_op", 1)],
                on_xen: Box::new(|s, _| assert_eq!(s.blocks, 2)),
            },
            Step {
                name: "rdtsc",
                run: Box::new(rdtsc),
                traps: vec![Trap::Rdtsc],
                native: Box::new(|_, v| assert!(v > 0)),
                xen: vec![],
                on_xen: Box::new(|_, v| assert!(v > 0)),
            },
            Step {
                name: "rdtscp",
                run: Box::new(rdtscp),
                traps: vec![Trap::Rdtscp],
                native: Box::new(|_, v| assert!(v > 0)),
                xen: vec![],
                on_xen: Box::new(|_, v| assert!(v > 0)),
            },
            Step {
                name: "cpuid",
                run: Box::new(move || unsafe {
                    (*regs).eax = 0x4000_0000;
                    cpuid(regs);
                    (*regs).ebx as u64
                }),
                traps: vec![Trap::Cpuid],
                native: Box::new(|_, _| {}),
                xen: vec![],
                on_xen: Box::new(|s, v| {
                    assert!(s.emulated_cpuid > 0 && &(v as u32).to_le_bytes() == b"XenV")
                }),
            },
        ]
    }};
}

fn traps_between(before: &VCpu, after: &VCpu) -> Vec<Trap> {
    let mut v = Vec::new();
    for (t, n) in &after.traps {
        for _ in 0..n - before.traps.get(t).copied().unwrap_or(0) {
            v.push(*t);
        }
    }
    v
}

#[test]
fn privileged_intrinsics_trap_natively_and_hypercall_under_xen_in_every_binding() {
    let _serial = common::serial();
    for (module, steps) in [
        ("b1", steps!(b1)),
        ("b2", steps!(b2)),
        ("b3", steps!(b3)),
        ("b4", steps!(b4)),
    ] {
        let monitor = Monitor::start().expect("monitor");
        let cpuid_traps = monitor.faulting().cpuid.is_ok();
        if let Err(why) = &monitor.faulting().cpuid {
            common::skip::skipped(&format!("{module}: cpuid under the monitor: {why}"));
        }
        assert!(
            monitor.faulting().tsc.is_ok(),
            "TSC faulting: {:?}",
            monitor.faulting().tsc
        );
        for step in &steps {
            let before = pv_monitor::state();
            let value = (step.run)();
            let after = pv_monitor::state();
            let mut want = step.traps.clone();
            if step.name == "cpuid" && !cpuid_traps {
                want.clear();
            }
            want.sort();
            assert_eq!(
                traps_between(&before, &after),
                want,
                "{module}::{} natively: one trap per privileged instruction",
                step.name
            );
            (step.native)(&after, value);
        }

        // The same guest, paravirtualized: Xen PV lets guests read the TSC, so rdtsc stays native.
        let _hv = Hypervisor::install().expect("test hypervisor");
        monitor.trap_tsc(false);
        let mut patcher = Patcher::new();
        // SAFETY: patching tests take turns (common::serial); no site runs while patching.
        let report = unsafe { patcher.apply(&mut Live::new(RemapWriter::new()), Target::XEN) }
            .expect("apply");
        assert_eq!(report.refused_total, 0, "{report}");
        let traps_before = pv_monitor::state().total_traps();
        for step in &steps {
            let before = hv::state();
            let value = (step.run)();
            let after = hv::state();
            for (call, n) in &step.xen {
                assert_eq!(
                    after.calls(call) - before.calls(call),
                    *n,
                    "{module}::{} under Xen: {call}",
                    step.name
                );
            }
            assert_eq!(
                after.total_calls() - before.total_calls(),
                step.xen.iter().map(|(_, n)| n).sum::<u64>(),
                "{module}::{} under Xen: no other hypercall",
                step.name
            );
            (step.on_xen)(&after, value);
        }
        assert_eq!(
            pv_monitor::state().total_traps(),
            traps_before,
            "{module}: zero traps under Xen"
        );

        // SAFETY: as for apply.
        unsafe { patcher.revert(&mut Live::new(RemapWriter::new())) }.expect("revert");
    }
}

#[test]
fn pushf_does_not_see_the_virtual_interrupt_flag() {
    let _serial = common::serial();
    const IF: u64 = 1 << 9;
    {
        let _monitor = Monitor::start().unwrap();
        // SAFETY: cli traps to the monitor.
        unsafe { pv::x86_64::irq_disable() };
        assert!(!pv_monitor::state().interrupts, "the monitor saw cli");
        let flags = pv::x86_64::save_fl();
        assert_ne!(
            flags & IF,
            0,
            "pushf reads the real IF, not the virtual one: the native path is wrong by design"
        );
        // popf cannot clear the real IF in ring 3 either, and does not trap.
        let traps = pv_monitor::state().total_traps();
        unsafe { pv::x86_64::restore_fl(flags & !IF) };
        assert_eq!(
            pv_monitor::state().total_traps(),
            traps,
            "popf does not trap"
        );
        assert_ne!(pv::x86_64::save_fl() & IF, 0);
    }
    let _hv = Hypervisor::install().unwrap();
    let mut patcher = Patcher::new();
    // SAFETY: patching tests take turns (common::serial); no site runs while patching.
    unsafe { patcher.apply(&mut Live::new(RemapWriter::new()), Target::XEN) }.unwrap();
    unsafe { pv::x86_64::irq_disable() };
    assert_eq!(
        pv::x86_64::save_fl() & IF,
        0,
        "paravirtualized, save_fl reports the virtual IF"
    );
    unsafe { pv::x86_64::irq_enable() };
    assert_eq!(pv::x86_64::save_fl() & IF, IF);

    // SAFETY: as for apply.
    unsafe { patcher.revert(&mut Live::new(RemapWriter::new())) }.unwrap();
}

fn segv_handler() -> usize {
    // SAFETY: reads the current disposition.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGSEGV, std::ptr::null(), &mut old);
        old.sa_sigaction
    }
}

fn tsc_mode() -> libc::c_int {
    let mut mode = 0;
    // SAFETY: a valid out pointer.
    unsafe { libc::prctl(libc::PR_GET_TSC, &mut mode as *mut libc::c_int) };
    mode
}

#[test]
fn the_monitor_restores_everything_even_when_the_guest_panics() {
    let _serial = common::serial();
    let (handler, tsc) = (segv_handler(), tsc_mode());
    let result = std::panic::catch_unwind(|| {
        let _monitor = Monitor::start().unwrap();
        assert_ne!(segv_handler(), handler);
        assert_eq!(tsc_mode(), libc::PR_TSC_SIGSEGV);
        panic!("the guest routine fails");
    });
    assert!(result.is_err());
    assert_eq!(
        (segv_handler(), tsc_mode()),
        (handler, tsc),
        "handler and TSC mode restored"
    );
    // SAFETY: reading the TSC is allowed again; under the monitor's mode this would trap.
    assert!(unsafe { core::arch::x86_64::_rdtsc() } > 0);
}

/// Runs in a child process (see the next test): an instruction the monitor does not emulate.
#[test]
fn child_runs_clts() {
    if std::env::var_os("PV_MONITOR_CHILD").is_none() {
        return;
    }
    let _monitor = Monitor::start().unwrap();
    // SAFETY: clts is privileged; the monitor reports it and the process ends.
    unsafe { core::arch::asm!("clts") };
    unreachable!("clts must not be skipped");
}

#[test]
fn an_instruction_it_cannot_emulate_is_reported_not_skipped() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_runs_clts",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PV_MONITOR_CHILD", "1")
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGSEGV),
        "the child dies of the fault: {out:?}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("pv-monitor: cannot emulate the instruction at 0x"),
        "{stderr}"
    );
    assert!(stderr.contains("bytes: 0f 06"), "clts is 0f 06: {stderr}");
}
