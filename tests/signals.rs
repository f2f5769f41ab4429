//! Signal handlers that re-enter the trap-and-emulate monitor and the test hypervisor — also
//! while the monitor's handler or the hypervisor's dispatcher is in the middle of an update —
//! are served, and the hypervisor answers bad hypercall numbers, pointers and counts with
//! Xen's error codes. Each test aborts the process after 20 s: a deadlock fails loudly.

mod common;

use pv_monitor::{Monitor, Trap};
use pv_runtime::hv::{self, Hypervisor};
use pv_runtime::xen::{self, console, mmuext, platform, sched};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

const EFAULT: i64 = -14;
const EINVAL: i64 = -22;
const EACCES: i64 = -13;
const ENOSYS: i64 = -38;
const DOMID_SELF: u64 = 0x7ff0;

/// Aborts the process if not dropped within 20 s (a deadlocked handler never returns).
struct Watchdog(Arc<AtomicBool>);

fn watchdog(what: &'static str) -> Watchdog {
    let done = Arc::new(AtomicBool::new(false));
    let seen = done.clone();
    std::thread::spawn(move || {
        for _ in 0..400 {
            if seen.load(Ordering::Acquire) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Straight to fd 2: the harness captures `eprintln!` per test, and the abort below
        // would discard the captured text.
        let line = format!("{what}: still running after 20 s: deadlock\n");
        // SAFETY: writes a live buffer of its own length to stderr.
        unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
        std::process::abort();
    });
    Watchdog(done)
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// `handler` installed for `SIGUSR1` until dropped.
struct Usr1(libc::sigaction);

fn on_usr1(handler: extern "C" fn(libc::c_int)) -> Usr1 {
    // SAFETY: plain sigaction calls on zeroed, then filled structures; Drop restores.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as *const () as usize;
        let mut previous: libc::sigaction = std::mem::zeroed();
        assert_eq!(libc::sigaction(libc::SIGUSR1, &action, &mut previous), 0);
        Usr1(previous)
    }
}

impl Drop for Usr1 {
    fn drop(&mut self) {
        // SAFETY: restores the disposition saved by `on_usr1`.
        unsafe { libc::sigaction(libc::SIGUSR1, &self.0, std::ptr::null_mut()) };
    }
}

/// Raises `SIGUSR1` in this thread: its handler has run when this returns.
fn raise_usr1() {
    // SAFETY: SIGUSR1 has a handler installed by the test.
    assert_eq!(unsafe { libc::raise(libc::SIGUSR1) }, 0);
}

fn traps(t: Trap) -> u64 {
    pv_monitor::state().traps.get(&t).copied().unwrap_or(0)
}

static HANDLED: AtomicU64 = AtomicU64::new(0);

/// A signal handler that runs privileged instructions: under the monitor each one traps.
extern "C" fn cli_sti(_: libc::c_int) {
    // SAFETY: trapped and emulated by the monitor.
    unsafe {
        pv::x86_64::irq_disable();
        pv::x86_64::irq_enable();
    }
    HANDLED.fetch_add(1, Ordering::AcqRel);
}

#[test]
fn monitor_serves_a_signal_handler_that_traps_inside_its_handler() {
    let _serial = common::serial();
    let _dog = watchdog("monitor re-entry");
    let _usr1 = on_usr1(cli_sti);
    let _monitor = Monitor::start().expect("monitor");
    HANDLED.store(0, Ordering::Release);
    // The signal arrives inside the handler of the outer `cli`, after decoding, before
    // emulating and counting it: the handler's `cli` and `sti` trap into a second activation.
    pv_monitor::interrupt_next(raise_usr1);
    // SAFETY: trapped and emulated by the monitor.
    unsafe { pv::x86_64::irq_disable() };
    assert_eq!(
        HANDLED.load(Ordering::Acquire),
        1,
        "the signal handler ran once"
    );
    let s = pv_monitor::state();
    assert_eq!(
        s.traps.get(&Trap::Cli),
        Some(&2),
        "outer and nested cli served"
    );
    assert_eq!(s.traps.get(&Trap::Sti), Some(&1), "nested sti served");
    assert_eq!(s.total_traps(), 3);
    assert!(
        !s.interrupts,
        "the outer cli took effect after the nested sti"
    );
    assert_eq!(s.lost, 0);
    // SAFETY: as above.
    unsafe { pv::x86_64::irq_enable() };
    assert!(pv_monitor::state().interrupts);
}

#[test]
fn monitor_serves_signals_sent_while_the_guest_traps_in_a_loop() {
    let _serial = common::serial();
    let _dog = watchdog("monitor signal storm");
    let _usr1 = on_usr1(cli_sti);
    HANDLED.store(0, Ordering::Release);
    // SAFETY: this thread's id, for the sender.
    let me = unsafe { libc::pthread_self() };
    let sending = Arc::new(AtomicBool::new(true));
    let _monitor = Monitor::start().expect("monitor");
    let flag = sending.clone();
    let sender = std::thread::spawn(move || {
        for _ in 0..300 {
            // SAFETY: `me` is alive: it joins this thread before returning.
            unsafe { libc::pthread_kill(me, libc::SIGUSR1) };
            std::thread::sleep(Duration::from_micros(200));
        }
        flag.store(false, Ordering::Release);
    });
    let mut rounds = 0u64;
    while sending.load(Ordering::Acquire) {
        // SAFETY: trapped and emulated by the monitor.
        unsafe {
            pv::x86_64::irq_disable();
            pv::x86_64::irq_enable();
        }
        rounds += 1;
    }
    // Signals sent are delivered at the latest when the join's system call returns.
    sender.join().unwrap();
    let handled = HANDLED.load(Ordering::Acquire);
    assert!(handled > 0, "some signals arrived while the guest looped");
    assert_eq!(traps(Trap::Cli), rounds + handled, "every cli served");
    assert_eq!(traps(Trap::Sti), rounds + handled, "every sti served");
    assert!(pv_monitor::state().interrupts);
}

/// The number of the hypercall named `name`.
fn nr(name: &str) -> u32 {
    xen::HYPERCALLS
        .iter()
        .find(|h| h.name == name)
        .expect("hypercall name")
        .nr
}

/// `console_io(CONSOLEIO_write)` of `bytes` through the hypercall page.
fn console_write(bytes: &[u8]) -> i64 {
    // SAFETY: the hypervisor is installed; the buffer is valid for its length.
    unsafe {
        xen::hypercall(
            nr("console_io"),
            [
                console::WRITE,
                bytes.len() as u64,
                bytes.as_ptr() as u64,
                0,
                0,
            ],
        )
    }
}

/// `XEN_EMULATE_PREFIX cpuid` of `leaf`; returns ebx.
fn xen_cpuid_ebx(leaf: u32) -> u32 {
    let ebx: u32;
    // rbx is saved around it.
    // SAFETY: ud2 + "xen" + cpuid, emulated by the hypervisor's SIGILL handler.
    unsafe {
        core::arch::asm!(
            "push rbx",
            "ud2",
            ".ascii \"xen\"",
            "cpuid",
            "mov {ebx:e}, ebx",
            "pop rbx",
            ebx = out(reg) ebx,
            inout("eax") leaf => _,
            inout("ecx") 0u32 => _,
            out("edx") _,
        );
    }
    ebx
}

static CPUID_EBX: AtomicU32 = AtomicU32::new(0);
static WRITTEN: AtomicU64 = AtomicU64::new(u64::MAX);

/// A signal handler that makes a hypercall and executes an emulated `cpuid`.
extern "C" fn hypercall_and_cpuid(_: libc::c_int) {
    WRITTEN.store(console_write(b"b") as u64, Ordering::Release);
    CPUID_EBX.store(xen_cpuid_ebx(0x4000_0000), Ordering::Release);
    HANDLED.fetch_add(1, Ordering::AcqRel);
}

fn reset_handler_results() {
    HANDLED.store(0, Ordering::Release);
    CPUID_EBX.store(0, Ordering::Release);
    WRITTEN.store(u64::MAX, Ordering::Release);
}

fn assert_handler_served() {
    assert_eq!(
        HANDLED.load(Ordering::Acquire),
        1,
        "the signal handler ran once"
    );
    assert_eq!(
        WRITTEN.load(Ordering::Acquire),
        0,
        "its hypercall succeeded"
    );
    assert_eq!(
        &CPUID_EBX.load(Ordering::Acquire).to_le_bytes(),
        b"XenV",
        "its cpuid was emulated"
    );
}

#[test]
fn hypervisor_serves_a_signal_handler_that_enters_it_during_a_hypercall() {
    let _serial = common::serial();
    let _dog = watchdog("hypervisor re-entry from dispatch");
    let _usr1 = on_usr1(hypercall_and_cpuid);
    let _hv = Hypervisor::install().expect("test hypervisor");
    reset_handler_results();
    // The signal arrives inside the dispatcher, after the outer call is counted and before
    // its bytes are written.
    hv::interrupt_next(raise_usr1);
    assert_eq!(console_write(b"a"), 0);
    assert_handler_served();
    let s = hv::state();
    assert_eq!(
        s.calls("console_io"),
        2,
        "outer and nested hypercall served"
    );
    assert_eq!(
        s.console, b"ba",
        "the nested write landed inside the outer one"
    );
    assert_eq!(s.emulated_cpuid, 1, "the nested cpuid served");
    assert_eq!(s.lost, 0);
}

#[test]
fn hypervisor_serves_a_signal_handler_that_enters_it_during_an_emulated_cpuid() {
    let _serial = common::serial();
    let _dog = watchdog("hypervisor re-entry from the SIGILL handler");
    let _usr1 = on_usr1(hypercall_and_cpuid);
    let _hv = Hypervisor::install().expect("test hypervisor");
    reset_handler_results();
    // The signal arrives inside the SIGILL handler, after the outer cpuid is counted and
    // before its registers are written: the nested cpuid raises SIGILL inside it.
    hv::interrupt_next(raise_usr1);
    assert_eq!(&xen_cpuid_ebx(0x4000_0000).to_le_bytes(), b"XenV");
    assert_handler_served();
    let s = hv::state();
    assert_eq!(s.emulated_cpuid, 2, "outer and nested cpuid served");
    assert_eq!(s.calls("console_io"), 1);
    assert_eq!(s.console, b"b");
}

/// An address no access may reach: a page reserved with no access at all and kept so (an
/// unmapped page could be mapped again by another test thread before the hypercall reads it).
fn unmapped() -> u64 {
    static PAGE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: reserves one fresh page with no access; it is never unmapped or used.
        unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(p, libc::MAP_FAILED);
            p as u64 + 8
        }
    })
}

/// Null, unmapped, wild, kernel-half and misaligned-low pointers.
fn bad_pointers() -> [u64; 6] {
    [
        0,
        unmapped(),
        0xdead_beef_0000_0000,
        0xffff_8000_0000_0000,
        0xffff_ffff_ffff_f000,
        1,
    ]
}

/// Hypercall `nr` (any 64-bit number) straight into the hypervisor's entry.
fn call(nr: u64, args: [u64; 5]) -> i64 {
    // SAFETY: the tests pass only bad pointers or pointers to their own live buffers.
    unsafe { hv::raw_hypercall(nr, args) }
}

#[test]
fn every_number_and_bad_pointer_gets_an_error_code_not_a_crash() {
    let _serial = common::serial();
    let _dog = watchdog("hypercall sweep");
    let _hv = Hypervisor::install().expect("test hypervisor");
    let implemented = [
        "sched_op",
        "vcpu_op",
        "fpu_taskswitch",
        "mmuext_op",
        "set_segment_base",
        "platform_op",
        "console_io",
        "set_trap_table",
        "set_gdt",
        "xen_version",
    ]
    .map(nr);
    let numbers = (0..=300).chain([1 << 32 | 17, 1 << 63, u64::MAX]);
    let mut beyond = 0;
    for n in numbers {
        for p in bad_pointers() {
            for at in 0..5 {
                let mut args = [1; 5];
                args[at] = p;
                let r = call(n, args);
                if n >= 128 {
                    assert_eq!(r, ENOSYS, "number {n:#x}: beyond the hypercall page");
                    beyond += 1;
                } else if !implemented.contains(&(n as u32)) {
                    assert_eq!(r, ENOSYS, "number {n}: not implemented");
                } else {
                    assert!(
                        [0, 1, 4 << 16 | 19, -2, -7, EACCES, EFAULT, EINVAL, ENOSYS].contains(&r),
                        "number {n}, {p:#x} in argument {at}: {r}"
                    );
                }
            }
        }
    }
    let s = hv::state();
    assert_eq!(s.out_of_range, beyond, "every number >= 128 counted apart");
    assert!(s.hypercalls.keys().all(|n| *n < 128));
    assert!(s.console.is_empty(), "no byte read from a bad buffer");
    assert!(s.invlpg.is_empty() && s.msrs.is_empty());

    // Through the hypercall page, numbers without an entry are refused before the jump.
    for n in [128, 200, u32::MAX] {
        // SAFETY: refused without entering the page.
        let r = unsafe { xen::hypercall(n, [0; 5]) };
        assert_eq!(r, ENOSYS, "xen::hypercall({n})");
    }
    assert_eq!(
        hv::state().out_of_range,
        beyond,
        "never reached the hypervisor"
    );
}

#[test]
fn pointer_taking_hypercalls_answer_efault_for_bad_pointers() {
    let _serial = common::serial();
    let _dog = watchdog("bad pointers");
    let _hv = Hypervisor::install().expect("test hypervisor");
    let (mmuext_op, platform_op, console_io, set_trap_table, set_gdt, sched_op) = (
        nr("mmuext_op") as u64,
        nr("platform_op") as u64,
        nr("console_io") as u64,
        nr("set_trap_table") as u64,
        nr("set_gdt") as u64,
        nr("sched_op") as u64,
    );
    let trap = xen::pv::TrapInfo {
        vector: 3,
        flags: 0,
        cs: 0x10,
        address: 0x1000,
    };
    let end = xen::pv::TrapInfo {
        vector: 0,
        flags: 0,
        cs: 0,
        address: 0,
    };
    let table = [trap, end];
    for p in bad_pointers() {
        let m = format!("pointer {p:#x}");
        assert_eq!(
            call(mmuext_op, [p, 1, 0, DOMID_SELF, 0]),
            EFAULT,
            "mmuext_op {m}"
        );
        assert_eq!(
            call(platform_op, [p, 0, 0, 0, 0]),
            EFAULT,
            "platform_op {m}"
        );
        let mut op = msr_op(p as *mut xen::pv::ResourceEntry, 1);
        assert_eq!(
            call(platform_op, [&mut op as *mut _ as u64, 0, 0, 0, 0]),
            EFAULT,
            "platform_op entries {m}"
        );
        assert_eq!(
            call(console_io, [console::WRITE, 1, p, 0, 0]),
            EFAULT,
            "console_io {m}"
        );
        assert_eq!(call(set_gdt, [p, 8, 0, 0, 0]), EFAULT, "set_gdt {m}");
        assert_eq!(
            call(sched_op, [sched::SHUTDOWN, p, 0, 0, 0]),
            EFAULT,
            "sched_op {m}"
        );
        assert_eq!(call(set_trap_table, [table.as_ptr() as u64, 0, 0, 0, 0]), 0);
        if p == 0 {
            // Xen: a null table clears the virtual IDT (xen/arch/x86/pv/callback.c).
            assert_eq!(call(set_trap_table, [0; 5]), 0, "set_trap_table(NULL)");
            assert!(hv::state().traps.is_empty(), "cleared");
        } else {
            assert_eq!(
                call(set_trap_table, [p, 0, 0, 0, 0]),
                EFAULT,
                "set_trap_table {m}"
            );
            assert_eq!(hv::state().traps, [(3, 0x10, 0x1000)], "kept");
        }
    }
    let s = hv::state();
    assert!(s.console.is_empty() && s.invlpg.is_empty() && s.msrs.is_empty());
    assert_eq!(s.gdt, (0, 0), "no set_gdt took effect");
}

fn msr_op(entries: *mut xen::pv::ResourceEntry, n: u32) -> xen::pv::PlatformOp {
    let mut op = xen::pv::PlatformOp {
        cmd: platform::RESOURCE_OP,
        interface_version: platform::INTERFACE_VERSION,
        u: xen::pv::PlatformOpU { pad: [0; 128] },
    };
    op.u.resource_op = xen::pv::ResourceOp {
        nr_entries: n,
        cpu: 0,
        entries,
    };
    op
}

#[test]
fn bad_sub_ops_and_counts_get_xen_error_codes_and_good_calls_still_work() {
    let _serial = common::serial();
    let _dog = watchdog("sub-ops and counts");
    let _hv = Hypervisor::install().expect("test hypervisor");
    let n = |name| nr(name) as u64;
    let op = xen::pv::MmuextOp {
        cmd: mmuext::INVLPG_LOCAL,
        arg1: 0xdead_0000,
        arg2: 0,
    };
    let op_at = &op as *const _ as u64;
    let mut done = u32::MAX;
    let done_at = &mut done as *mut u32 as u64;
    assert_eq!(call(n("mmuext_op"), [op_at, 1, done_at, DOMID_SELF, 0]), 0);
    assert_eq!(done, 1, "pdone written");
    assert_eq!(
        call(n("mmuext_op"), [op_at, 5000, 0, DOMID_SELF, 0]),
        EINVAL,
        "a batch beyond the bound"
    );
    let bad = xen::pv::MmuextOp {
        cmd: 99,
        arg1: 0,
        arg2: 0,
    };
    assert_eq!(
        call(
            n("mmuext_op"),
            [&bad as *const _ as u64, 1, 0, DOMID_SELF, 0]
        ),
        ENOSYS,
        "unknown MMUEXT command"
    );

    // IA32_CMT_EVTSEL and the next MSRs: the CMT selector is one Xen lets dom0 write.
    let mut entries: [xen::pv::ResourceEntry; 4] =
        std::array::from_fn(|i| xen::pv::ResourceEntry::write(0xc8d + i as u32, 0x10));
    let mut op = msr_op(entries.as_mut_ptr(), 4);
    let platform_op =
        |op: &mut xen::pv::PlatformOp| call(n("platform_op"), [op as *mut _ as u64, 0, 0, 0, 0]);
    assert_eq!(platform_op(&mut op), EINVAL, "4 entries > 3");
    op.u.resource_op.nr_entries = 1;
    assert_eq!(platform_op(&mut op), 1, "one entry done");
    op.interface_version = 0;
    assert_eq!(platform_op(&mut op), EACCES, "interface version");
    op.interface_version = platform::INTERFACE_VERSION;
    op.cmd = 1;
    assert_eq!(platform_op(&mut op), ENOSYS, "other XENPF command");

    let frames = [0x1234u64];
    let frames_at = frames.as_ptr() as u64;
    assert_eq!(
        call(n("set_gdt"), [frames_at, 7169, 0, 0, 0]),
        EINVAL,
        "entries"
    );
    assert_eq!(call(n("set_gdt"), [frames_at, 16, 0, 0, 0]), 0);

    let open_ended: Vec<xen::pv::TrapInfo> = (0..300)
        .map(|i| xen::pv::TrapInfo {
            vector: i as u8,
            flags: 0,
            cs: 0x10,
            address: 0x1000 + i,
        })
        .collect();
    assert_eq!(
        call(
            n("set_trap_table"),
            [open_ended.as_ptr() as u64, 0, 0, 0, 0]
        ),
        EINVAL,
        "a table beyond 256 entries"
    );
    assert_eq!(
        call(n("console_io"), [7, 1, 0, 0, 0]),
        ENOSYS,
        "console command"
    );
    assert_eq!(
        call(n("sched_op"), [99, 0, 0, 0, 0]),
        ENOSYS,
        "sched command"
    );
    assert_eq!(
        call(n("vcpu_op"), [2, hv::VCPUS as u64, 0, 0, 0]),
        -2,
        "a vCPU id the domain does not have"
    );
    assert_eq!(
        call(n("xen_version"), [1, 0, 0, 0, 0]),
        ENOSYS,
        "XENVER_extraversion"
    );
    assert_eq!(
        call(n("set_segment_base"), [0, 1 << 63, 0, 0, 0]),
        EINVAL,
        "non-canonical"
    );
    assert_eq!(console_write(b"ok"), 0);

    let s = hv::state();
    assert_eq!(s.invlpg, [0xdead_0000]);
    assert_eq!(s.msrs.get(&0xc8d), Some(&0x10));
    assert_eq!(s.gdt, (0x1234, 16));
    assert_eq!(
        s.traps.len(),
        256,
        "every vector set before the table ran out of bounds"
    );
    assert_eq!(s.console, b"ok");
}
