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
//! One monitor at a time per process; it covers the thread that started it (CPUID and TSC
//! faulting are per thread). Dropping it — also while unwinding from a panic — restores the
//! signal handler and the CPUID and TSC settings it found.

#![warn(missing_docs)]

mod emulate;
mod regs;

pub use emulate::Trap;
use std::collections::BTreeMap;
use std::io;
use std::sync::{Mutex, MutexGuard};

/// The virtual CPU the monitor emulates privileged instructions against.
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
}

/// The I/O port that is the console (Bochs/QEMU debug port, as pv's catalogue uses).
pub const CONSOLE_PORT: u16 = 0xe9;

impl VCpu {
    /// All traps taken.
    pub fn total_traps(&self) -> u64 {
        self.traps.values().sum()
    }
}

static STATE: Mutex<Option<VCpu>> = Mutex::new(None);
static ACTIVE: Mutex<()> = Mutex::new(());

fn with_state<R>(f: impl FnOnce(&mut VCpu) -> R) -> R {
    let mut guard = STATE.lock().unwrap_or_else(|p| p.into_inner());
    f(guard.get_or_insert_with(VCpu::default))
}

/// A copy of the virtual CPU.
pub fn state() -> VCpu {
    with_state(|s| s.clone())
}

/// Resets the virtual CPU: interrupts enabled, everything else zero.
pub fn reset() {
    with_state(|s| {
        *s = VCpu {
            interrupts: true,
            ..VCpu::default()
        }
    });
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
    /// monitor of this process to end first.
    pub fn start() -> io::Result<Monitor> {
        let one = ACTIVE.lock().unwrap_or_else(|p| p.into_inner());
        // Detected features are cached now: std would otherwise run `cpuid` later, trapped.
        let _ = std::is_x86_feature_detected!("sse2");
        reset();
        // SAFETY: queries and sets this thread's CPUID/TSC modes and the process's SIGSEGV
        // disposition; every change is undone in `drop`.
        unsafe {
            let mut previous: libc::sigaction = std::mem::zeroed();
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = emulate::on_sigsegv as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO;
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
