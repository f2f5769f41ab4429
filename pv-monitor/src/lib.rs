//! A trap-and-emulate monitor in userland: code that executes privileged x86_64 instructions
//! runs in ring 3, as a deprivileged guest kernel does under a classic VMM. Each privileged
//! instruction raises `SIGSEGV` (`#GP` in ring 3; `cpuid` and `rdtsc` through CPUID and TSC
//! faulting); the handler decodes it (iced-x86), emulates it against a virtual CPU ([`VCpu`]),
//! counts the trap and skips the instruction. An instruction it cannot emulate is reported with
//! its address and bytes and then takes the process down — never skipped blindly.
//!
//! What does not trap is not seen: `pushf`/`popf` read and write the real flags, so the virtual
//! interrupt flag is invisible to them — the hole paravirtualization closes.
//!
//! The handler takes no lock and allocates nothing: the virtual CPU lives in fixed-size atomics
//! (full logs count what they drop in [`VCpu::lost`]), and it runs with `SIGSEGV` unblocked, so
//! an asynchronous signal whose handler executes a privileged instruction — also while it
//! interrupts the monitor's handler — is emulated like any other.
//!
//! One monitor at a time per process; it covers the thread that started it (CPUID and TSC
//! faulting are per thread). Dropping it — also while unwinding from a panic — restores the
//! signal handler and the CPUID and TSC settings it found.

#![warn(missing_docs)]

mod emulate;
mod regs;

pub use emulate::{Trap, interrupt_next};
use pv_runtime::store::{Log, Table};
use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// The virtual CPU the monitor emulates privileged instructions against: a copy, built by
/// [`state`] from the lock-free storage the handler updates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VCpu {
    /// The virtual interrupt flag (`cli` clears it, `sti` sets it).
    pub interrupts: bool,
    /// Control registers 0-4 (cr1 unused).
    pub cr: [u64; 5],
    /// Model-specific registers written (`rdmsr` of another reads 0).
    pub msrs: BTreeMap<u32, u64>,
    /// (base, limit) loaded by `lgdt`.
    pub gdtr: (u64, u16),
    /// (base, limit) loaded by `lidt`.
    pub idtr: (u64, u16),
    /// Bytes written to the console port.
    pub console: Vec<u8>,
    /// Writes to other ports: (port, value).
    pub port_writes: Vec<(u16, u32)>,
    /// Addresses flushed with `invlpg`.
    pub invlpg: Vec<u64>,
    /// `wbinvd`s executed.
    pub cache_flushes: u64,
    /// `hlt`s executed (each returns at once, as if an interrupt had arrived).
    pub halts: u64,
    /// Traps taken, by instruction.
    pub traps: BTreeMap<Trap, u64>,
    /// Console bytes, port writes, `invlpg` addresses and MSRs not kept because their storage
    /// was full (4096 console bytes, 1024 of the others, 64 MSRs).
    pub lost: u64,
}

/// The I/O port that is the console (Bochs/QEMU debug port, as pv's catalogue uses).
pub const CONSOLE_PORT: u16 = 0xe9;

impl VCpu {
    /// All traps taken.
    pub fn total_traps(&self) -> u64 {
        self.traps.values().sum()
    }
}

// The virtual CPU, in storage the `SIGSEGV` handler may update while it interrupts an update
// of its own (a signal handler that runs a privileged instruction): one atomic operation per
// update, no lock to deadlock on, no allocation. A (base, limit) pair is two stores: an `lgdt`
// interrupted between them by another `lgdt` may keep one's base with the other's limit.
static INTERRUPTS: AtomicBool = AtomicBool::new(true);
static CR: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];
static MSRS: Table<64> = Table::new();
static GDTR: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];
static IDTR: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];
static CONSOLE: Log<4096> = Log::new();
/// `port << 32 | value`.
static PORT_WRITES: Log<1024> = Log::new();
static INVLPG: Log<1024> = Log::new();
static CACHE_FLUSHES: AtomicU64 = AtomicU64::new(0);
static HALTS: AtomicU64 = AtomicU64::new(0);
static TRAPS: [AtomicU64; Trap::ALL.len()] = [const { AtomicU64::new(0) }; Trap::ALL.len()];
static LOST: AtomicU64 = AtomicU64::new(0);
static ACTIVE: Mutex<()> = Mutex::new(());

fn load(a: &AtomicU64) -> u64 {
    a.load(Ordering::Acquire)
}

/// Counts an entry its storage had no room for.
fn keep(kept: bool) {
    if !kept {
        LOST.fetch_add(1, Ordering::AcqRel);
    }
}

/// A copy of the virtual CPU (allocates: call it outside signal handlers).
pub fn state() -> VCpu {
    VCpu {
        interrupts: INTERRUPTS.load(Ordering::Acquire),
        cr: CR.each_ref().map(load),
        msrs: MSRS.entries().collect(),
        gdtr: (load(&GDTR[0]), load(&GDTR[1]) as u16),
        idtr: (load(&IDTR[0]), load(&IDTR[1]) as u16),
        console: CONSOLE.values().map(|b| b as u8).collect(),
        port_writes: PORT_WRITES
            .values()
            .map(|w| ((w >> 32) as u16, w as u32))
            .collect(),
        invlpg: INVLPG.values().collect(),
        cache_flushes: load(&CACHE_FLUSHES),
        halts: load(&HALTS),
        traps: Trap::ALL
            .iter()
            .zip(&TRAPS)
            .map(|(t, n)| (*t, load(n)))
            .filter(|(_, n)| *n != 0)
            .collect(),
        lost: load(&LOST),
    }
}

/// Resets the virtual CPU: interrupts enabled, everything else zero.
pub fn reset() {
    INTERRUPTS.store(true, Ordering::Release);
    for a in
        CR.iter()
            .chain(&GDTR)
            .chain(&IDTR)
            .chain(&TRAPS)
            .chain([&CACHE_FLUSHES, &HALTS, &LOST])
    {
        a.store(0, Ordering::Release);
    }
    MSRS.clear();
    CONSOLE.clear();
    PORT_WRITES.clear();
    INVLPG.clear();
}

const ARCH_GET_CPUID: libc::c_int = 0x1011;
const ARCH_SET_CPUID: libc::c_int = 0x1012;

/// Which instructions trap besides the ones that always do.
#[derive(Clone, Debug)]
pub struct Faulting {
    /// `cpuid`, through CPUID faulting; why not, if unavailable.
    pub cpuid: Result<(), String>,
    /// `rdtsc`/`rdtscp`, through `PR_TSC_SIGSEGV`; why not, if unavailable.
    pub tsc: Result<(), String>,
}

/// The running monitor; dropping it uninstalls it.
pub struct Monitor {
    previous: libc::sigaction,
    cpuid_before: libc::c_long,
    tsc_before: libc::c_int,
    faulting: Faulting,
    _one: MutexGuard<'static, ()>,
}

fn last_error(what: &str) -> String {
    format!("{what}: {}", io::Error::last_os_error())
}

impl Monitor {
    /// Installs the `SIGSEGV` handler, resets the virtual CPU and turns on CPUID and TSC
    /// faulting where the CPU and kernel allow (see [`Monitor::faulting`]). Waits for another
    /// monitor of this process to end first (on a lock, which the handler never takes).
    pub fn start() -> io::Result<Monitor> {
        let one = ACTIVE.lock().unwrap_or_else(|p| p.into_inner());
        // Detected features are cached now: std would otherwise run `cpuid` later, trapped.
        let _ = std::is_x86_feature_detected!("sse2");
        // The handler must not be the first to decode (see `emulate`).
        emulate::warm_decoder();
        reset();
        // SA_NODEFER: a SIGSEGV raised while SIGSEGV is blocked kills the process, so the handler
        // leaves it unblocked for signal handlers that interrupt it and trap in turn.
        // SAFETY: sets this thread's CPUID/TSC modes and SIGSEGV disposition; `drop` undoes each.
        unsafe {
            let mut previous: libc::sigaction = std::mem::zeroed();
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = emulate::on_sigsegv as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER;
            // A live patch never parks a thread between decoding and stepping (pv-runtime's
            // `writer::park_signal`).
            libc::sigaddset(&mut action.sa_mask, pv_runtime::writer::park_signal());
            if libc::sigaction(libc::SIGSEGV, &action, &mut previous) != 0 {
                return Err(io::Error::last_os_error());
            }
            let cpuid_before = libc::syscall(libc::SYS_arch_prctl, ARCH_GET_CPUID, 0);
            let cpuid = if libc::syscall(libc::SYS_arch_prctl, ARCH_SET_CPUID, 0) == 0 {
                Ok(())
            } else {
                Err(last_error(
                    "CPUID faulting unavailable (arch_prctl(ARCH_SET_CPUID, 0))",
                ))
            };
            let mut tsc_before: libc::c_int = libc::PR_TSC_ENABLE;
            libc::prctl(libc::PR_GET_TSC, &mut tsc_before as *mut libc::c_int);
            let tsc = if libc::prctl(libc::PR_SET_TSC, libc::PR_TSC_SIGSEGV) == 0 {
                Ok(())
            } else {
                Err(last_error(
                    "TSC faulting unavailable (prctl(PR_SET_TSC, PR_TSC_SIGSEGV))",
                ))
            };
            emulate::set_faulting(cpuid.is_ok(), tsc.is_ok());
            Ok(Monitor {
                previous,
                cpuid_before,
                tsc_before,
                faulting: Faulting { cpuid, tsc },
                _one: one,
            })
        }
    }

    /// Which optional faults are on.
    pub fn faulting(&self) -> &Faulting {
        &self.faulting
    }

    /// Turns `rdtsc` trapping off or back on (if TSC faulting is available): a hypervisor
    /// that lets its guests read the TSC, as Xen PV does by default, clears CR4.TSD.
    pub fn trap_tsc(&self, on: bool) {
        if self.faulting.tsc.is_ok() {
            let mode = if on {
                libc::PR_TSC_SIGSEGV
            } else {
                libc::PR_TSC_ENABLE
            };
            // SAFETY: this thread's TSC mode; `drop` restores the original.
            unsafe { libc::prctl(libc::PR_SET_TSC, mode) };
            emulate::set_faulting(self.faulting.cpuid.is_ok(), on);
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        // SAFETY: restores exactly what `start` saved.
        unsafe {
            if self.faulting.tsc.is_ok() {
                libc::prctl(libc::PR_SET_TSC, self.tsc_before);
            }
            if self.faulting.cpuid.is_ok() {
                libc::syscall(
                    libc::SYS_arch_prctl,
                    ARCH_SET_CPUID,
                    self.cpuid_before.max(0),
                );
            }
            libc::sigaction(libc::SIGSEGV, &self.previous, std::ptr::null_mut());
        }
        emulate::set_faulting(false, false);
    }
}

/// Nanoseconds of `CLOCK_MONOTONIC` by system call: the vDSO would read the TSC, which traps
/// while the monitor runs.
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec.
    unsafe { libc::syscall(libc::SYS_clock_gettime, libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
