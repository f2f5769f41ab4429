//! Re-patching while other threads run the sites: four threads call intrinsics of every
//! binding in tight loops and check every result while the main thread switches the process
//! between native and Xen (the in-process test hypervisor) through a [`Quiesced`] writer —
//! 10 000 transitions (1 000 in debug builds; `PV_LIVE_TOGGLES` overrides), bounded in time. No crash, no
//! wrong result, no writable-and-executable mapping, every transition committed. Twice: with
//! unprivileged or hypervisor-emulated native bodies only, and with pv-monitor trapping the
//! privileged native bodies (`mov rax, cr0`, `lidt`) while the threads run.
//!
//! Without the quiescing step the same loop crashes within a few transitions (a thread
//! between `pushfq` and `pop` when the site becomes a `call`, or returning from a 5-byte call
//! into a restored 6-byte `call [rip+slot]`): the stack and rip checks are what this proves.

mod common;

use common::wx_mappings;

use pv::x86_64 as pvx;
use pv_runtime::hv::Hypervisor;
use pv_runtime::report::Transaction;
use pv_runtime::writer::{Quiesced, RemapWriter};
use pv_runtime::{Live, Patcher, Target};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// `IA32_EFER` (Intel SDM vol. 4), which the test hypervisor emulates for a trapped `rdmsr`.
const MSR_EFER: u32 = 0xc000_0080;
/// `X86_EFLAGS_IF`.
const IF: u64 = 1 << 9;

/// 10 000 transitions in optimised builds, 1 000 in debug ones (the engine is about ten times
/// slower there); `PV_LIVE_TOGGLES` overrides.
fn toggles() -> usize {
    let default = if cfg!(debug_assertions) {
        1_000
    } else {
        10_000
    };
    std::env::var("PV_LIVE_TOGGLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn cpuid_vendor() -> [u32; 3] {
    let mut regs = pvx::CpuidRegs::default();
    // SAFETY: a valid pointer; the Xen body's `ud2` prefix is emulated by the test hypervisor.
    unsafe { pvx::cpuid(&mut regs) };
    [regs.ebx, regs.edx, regs.ecx]
}

/// What every worker checks, each round: one intrinsic per binding that gives the same answer
/// natively and under the test hypervisor (cr0: one of two, the monitor's or Xen's shadow).
#[derive(Clone, Copy)]
struct Expected {
    vendor: [u32; 3],
    efer: u64,
    /// With the monitor: cr0 as the monitor's virtual CPU and as Xen's shadow hold it.
    cr0: Option<[u64; 2]>,
}

/// An IDT of 64 absent gates, for `load_idt` (its contents do not matter to the check).
static IDT: [u64; 128] = [0; 128];

/// One round of calls; the number of wrong results.
fn round(want: Expected) -> u64 {
    let mut wrong = 0;
    // inline_patch: pushfq; pop rax, or the event mask (clear: IF set).
    wrong += u64::from(pvx::save_fl() & IF == 0);
    // direct_branch: cpuid, natively or through XEN_EMULATE_PREFIX.
    wrong += u64::from(cpuid_vendor() != want.vendor);
    // direct_branch without a result: pause, or sched_op(SCHEDOP_yield).
    pvx::yield_to(1);
    // indirect_branch: rdmsr, trapped and emulated either way.
    // SAFETY: the test hypervisor emulates the trapped rdmsr.
    wrong += u64::from(unsafe { pvx::rdmsr(MSR_EFER) } != want.efer);
    if let Some(cr0) = want.cr0 {
        // indirect_branch: `mov rax, cr0` trapped by the monitor, or Xen's shadow.
        // SAFETY: emulated by the monitor, or a Xen body.
        wrong += u64::from(!cr0.contains(&unsafe { pvx::read_cr0() }));
        // indirect_call: `lidt` trapped by the monitor, or `set_trap_table`.
        let ptr = pvx::DescriptorTablePointer {
            limit: (IDT.len() * 8 - 1) as u16,
            base: IDT.as_ptr() as u64,
        };
        // SAFETY: a valid pointer and table; emulated or a hypercall.
        unsafe { pvx::load_idt(&ptr) };
    }
    wrong
}

#[test]
fn four_threads_check_every_result_while_the_main_thread_switches_native_and_xen() {
    let _serial = common::serial();
    let _hv = Hypervisor::install().expect("test hypervisor");
    stress(None);
}

#[test]
fn the_same_with_pv_monitor_trapping_the_native_bodies() {
    let _serial = common::serial();
    // The monitor first: the test hypervisor passes the faults it does not serve (cr0, lidt)
    // on to it.
    let _monitor = pv_monitor::Monitor::start().expect("monitor");
    let _hv = Hypervisor::install().expect("test hypervisor");
    // SAFETY: trapped by the monitor.
    let native = unsafe { pvx::read_cr0() };
    let mut patcher = Patcher::new();
    let mut image = Live::new(RemapWriter::new());
    // SAFETY: no other thread runs yet.
    unsafe { patcher.apply(&mut image, Target::XEN) }.expect("apply");
    // SAFETY: a Xen body now.
    let xen = unsafe { pvx::read_cr0() };
    // SAFETY: as above.
    unsafe { patcher.revert(&mut image) }.expect("revert");
    stress(Some([native, xen]));
    assert!(
        pv_monitor::state().total_traps() > 0,
        "the native bodies trapped into the monitor"
    );
}

/// Four workers run [`round`] while this thread switches native and Xen [`toggles`] times.
fn stress(cr0: Option<[u64; 2]>) {
    let want = Expected {
        vendor: cpuid_vendor(),
        // SAFETY: as in `round`.
        efer: unsafe { pvx::rdmsr(MSR_EFER) },
        cr0,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (stop, rounds) = (stop.clone(), rounds.clone());
            std::thread::spawn(move || {
                let (mut done, mut wrong) = (0u64, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    wrong += round(want);
                    done += 1;
                    rounds.fetch_add(1, Ordering::Relaxed);
                }
                (done, wrong)
            })
        })
        .collect();
    while rounds.load(Ordering::Relaxed) < 100 {
        std::thread::yield_now();
    }

    let n = toggles();
    let started = Instant::now();
    let mut patcher = Patcher::new();
    // SAFETY: this process's own text.
    let mut image = Live::new(unsafe { Quiesced::new(RemapWriter::new()) });
    let mut wx = Vec::new();
    for i in 0..n {
        let target = if i % 2 == 0 {
            Target::XEN
        } else {
            Target::Native
        };
        // SAFETY: the quiescing writer parks every other thread outside the changing code.
        let report = unsafe { patcher.apply(&mut image, target) }.expect("apply");
        assert_eq!(report.transaction, Transaction::Committed, "{report}");
        assert_eq!(report.refused_total, 0, "{report}");
        assert!(
            report.total().patched > 0,
            "toggle {i} changed nothing: {report}"
        );
        if i % 500 == 0 {
            wx.extend(wx_mappings());
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "{i} transitions took {:?}",
            started.elapsed()
        );
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let results: Vec<(u64, u64)> = workers
        .into_iter()
        .map(|w| w.join().expect("no worker crashed or panicked"))
        .collect();
    wx.extend(wx_mappings());
    let stats = image.writer().stats();
    // SAFETY: as for apply.
    unsafe { patcher.revert(&mut image) }.expect("revert");
    println!(
        "{n} transitions in {elapsed:?} ({:?} each) with 4 threads running: {:?} rounds \
         (done, wrong) per thread; {stats:?}",
        elapsed / n as u32,
        results
    );
    assert!(wx.is_empty(), "writable and executable: {wx:?}");
    for (done, wrong) in results {
        assert_eq!(wrong, 0, "wrong results");
        assert!(done > 0, "every worker ran");
    }
    assert_eq!(
        stats.commits, n as u64,
        "one quiesced commit per transition"
    );
    assert!(
        stats.parked >= 4 * n as u64,
        "every worker parked at each commit"
    );
}
