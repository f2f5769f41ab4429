//! An in-process test hypervisor that speaks the x86_64 ABIs of Xen (PV), KVM and Hyper-V, so
//! the hypervisor paths of every intrinsic run in ordinary tests and in the tour.
//!
//! [`Hypervisor::install_as`] picks a [`Personality`]; [`Hypervisor::install`] is Xen.
//! - **Xen** ([`xen`]): the hypercall page is filled (through [`RemapWriter`], like any other
//!   text) with entries that load the hypercall number and jump to a common entry, which calls
//!   the dispatcher with Xen's argument registers. A `vcpu_info` is registered. `SIGILL`
//!   emulates `XEN_EMULATE_PREFIX cpuid`; `SIGSEGV` emulates what Xen emulates for a PV guest
//!   that executes a privileged instruction (a subset of `rdmsr`/`wrmsr`, `wbinvd`, `mov cr4`).
//! - **KVM** (`kvm.rs`): `vmcall` and `vmmcall`, trapped (`SIGSEGV`, or `SIGILL` where the CPU
//!   has no such instruction), are KVM hypercalls; trapped `wrmsr`s of KVM's MSRs are recorded.
//! - **Hyper-V** (`hyperv.rs`): the guest's page ([`crate::hyperv::hypercall_page`]) is filled
//!   with an entry to the Hyper-V dispatcher, usable once the guest enabled it with trapped
//!   `wrmsr`s of `HV_X64_MSR_GUEST_OS_ID` and `HV_X64_MSR_HYPERCALL`; synthetic MSRs are
//!   emulated.
//!
//! [`cpuid`] answers what a guest of the installed personality sees. Every ABI is written here
//! from the hypervisor's own headers, sharing no definition with the guest side (`pv_abi`,
//! [`crate::xen`]), so that each side can catch the other's mistakes. The calls are counted and
//! logged, read with [`state`]. Dropping the guard restores the previous `SIGILL` and `SIGSEGV`
//! handlers and unregisters the `vcpu_info`; the pages stay filled.
//!
//! A signal handler may make hypercalls and execute trapped instructions, also while it
//! interrupts one: the dispatchers and signal handlers take no lock and allocate nothing (the
//! state is fixed-size atomics; full logs count what they drop), and they check every guest
//! number and pointer, answering each hypervisor's error codes instead of faulting. A trapped
//! instruction the personality does not emulate goes to the handler installed before, as the
//! fault the real hypervisor would deliver to the guest.

use crate::writer::{RemapError, RemapWriter, TextWriter};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU64, Ordering};
use std::boxed::Box;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::vec::Vec;

mod cpu;
mod hyperv;
mod kvm;
pub mod xen;

use crate::store::Table;
pub use hyperv::HypervCall;
pub use kvm::KvmCall;
pub use xen::raw_hypercall;

/// Virtual CPUs every personality has, numbered 0.. (Xen vCPU ids, KVM APIC ids, Hyper-V VP
/// indexes alike). The calling vCPU is not known to the hypervisor (one thread runs the guest);
/// calls naming a vCPU are checked against this count.
pub const VCPUS: u32 = 4;

/// Which hypervisor the test hypervisor is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Personality {
    /// Xen, to a 64-bit PV guest.
    #[default]
    Xen,
    /// KVM, to an HVM guest.
    Kvm,
    /// Hyper-V, to an HVM guest (what Linux's `hyperv_init` expects).
    HyperV,
}

impl Personality {
    fn from_u8(v: u8) -> Personality {
        match v {
            1 => Personality::Kvm,
            2 => Personality::HyperV,
            _ => Personality::Xen,
        }
    }
}

/// The virtual CPU as the hypervisor sees it: a copy, built by [`state`] from the lock-free
/// storage the hypercalls and trapped instructions update.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    /// The installed personality.
    pub personality: Personality,
    /// Xen: calls per hypercall number (0..128, the numbers the hypercall page has entries for).
    pub hypercalls: BTreeMap<u32, u64>,
    /// Xen: calls with a number of 128 or more, answered `-ENOSYS`.
    pub out_of_range: u64,
    /// Xen: `cpuid`s emulated through `XEN_EMULATE_PREFIX`.
    pub emulated_cpuid: u64,
    /// Xen: cr3 as set by `mmuext_op(MMUEXT_NEW_BASEPTR)` (frame number shifted back).
    pub cr3: u64,
    /// Xen: cr0.TS as set by `fpu_taskswitch`.
    pub fpu_ts: bool,
    /// Xen: cr4 as Xen keeps it after the last trapped `mov cr4` (`pv_fixup_guest_cr4`).
    pub cr4: u64,
    /// Xen: trapped `mov cr4` writes.
    pub cr4_writes: u64,
    /// MSRs written, by index: trapped `wrmsr`s each personality emulates, and Xen's
    /// `XENPF_resource_op` writes.
    pub msrs: BTreeMap<u32, u64>,
    /// Trapped `rdmsr`s emulated.
    pub msr_reads: u64,
    /// Trapped `wrmsr`s emulated.
    pub msr_writes: u64,
    /// Trapped instructions the personality does not emulate, handed on as the guest's fault.
    pub refused: u64,
    /// Xen: fs base from `set_segment_base(SEGBASE_FS)` or a trapped `wrmsr`.
    pub fs_base: u64,
    /// Xen: kernel gs base from `set_segment_base(SEGBASE_GS_KERNEL)` or a trapped `wrmsr`.
    pub gs_base_kernel: u64,
    /// Xen: user gs base from `set_segment_base(SEGBASE_GS_USER)` or a trapped `wrmsr`.
    pub gs_base_user: u64,
    /// Xen: bytes written with `console_io(CONSOLEIO_write)` (the first 4096).
    pub console: Vec<u8>,
    /// Xen: (vector, cs, handler) of each vector `set_trap_table` set, by vector.
    pub traps: Vec<(u8, u16, u64)>,
    /// Xen: `trap_info.flags` of each vector `set_trap_table` set (see [`State::masks_events`]).
    pub trap_flags: BTreeMap<u8, u8>,
    /// Xen: (first frame, entries) of the last `set_gdt`.
    pub gdt: (u64, u64),
    /// Xen: `MMUEXT_TLB_FLUSH_LOCAL` operations.
    pub tlb_flushes: u64,
    /// Xen: addresses of `MMUEXT_INVLPG_LOCAL` operations, in order (the first 1024).
    pub invlpg: Vec<u64>,
    /// Xen: `MMUEXT_TLB_FLUSH_ALL` operations.
    pub tlb_flushes_all: u64,
    /// Xen: addresses of `MMUEXT_INVLPG_ALL` operations, in order (the first 1024).
    pub invlpg_all: Vec<u64>,
    /// `MMUEXT_FLUSH_CACHE` operations and trapped `wbinvd`s.
    pub cache_flushes: u64,
    /// Xen: `sched_op(SCHEDOP_block)` calls.
    pub blocks: u64,
    /// Xen: `sched_op(SCHEDOP_yield)` calls.
    pub yields: u64,
    /// Xen: whether `vcpu_op(VCPUOP_down)` took a vCPU down.
    pub vcpu_down: bool,
    /// Xen: the vCPUs `vcpu_op(VCPUOP_down)` took down, one bit per vCPU id.
    pub vcpus_down: u64,
    /// KVM: hypercalls made (also those the log had no room for).
    pub kvm_total: u64,
    /// KVM: the first 256 hypercalls, in order.
    pub kvm_calls: Vec<KvmCall>,
    /// Hyper-V: hypercalls made through the enabled page (also those the log had no room for).
    pub hyperv_total: u64,
    /// Hyper-V: the first 256 hypercalls, in order.
    pub hyperv_calls: Vec<HypervCall>,
    /// Hyper-V: `{address_space, flags, processor_mask}` of each flush call, in order (the first
    /// 256).
    pub hyperv_flushes: Vec<[u64; 3]>,
    /// Hyper-V: the GVA entries of `FLUSH_VIRTUAL_ADDRESS_LIST` calls, in order (the first 1024).
    pub hyperv_flushed_gvas: Vec<u64>,
    /// Log entries not kept because their storage was full (console bytes included).
    pub lost: u64,
}

impl State {
    /// Xen: calls of the hypercall named `name` (as in `xen/include/public/xen.h`, without
    /// `__HYPERVISOR_`).
    pub fn calls(&self, name: &str) -> u64 {
        xen::hypercall_nr(name)
            .and_then(|nr| self.hypercalls.get(&nr))
            .copied()
            .unwrap_or(0)
    }

    /// Xen: all hypercalls made (numbers 0..128).
    pub fn total_calls(&self) -> u64 {
        self.hypercalls.values().sum()
    }

    /// Xen: whether Xen masks events when it delivers `vector`, as `TI_GET_IF` reads
    /// `trap_info.flags`; `None` if the vector has no handler.
    pub fn masks_events(&self, vector: u8) -> Option<bool> {
        self.trap_flags.get(&vector).map(|&f| xen::ti_get_if(f))
    }
}

// The state, in storage a signal handler may update while it interrupts an update: the
// dispatchers run in whatever context calls them, signal handlers included, so they take no
// lock (a handler re-entering would deadlock on it) and allocate nothing (the allocator is not
// async-signal-safe). Every update is one atomic operation, so a re-entering call is served,
// not refused.
static PERSONALITY: AtomicU8 = AtomicU8::new(0);
static MSRS: Table<64> = Table::new();
static MSR_READS: AtomicU64 = AtomicU64::new(0);
static MSR_WRITES: AtomicU64 = AtomicU64::new(0);
static REFUSED: AtomicU64 = AtomicU64::new(0);
static CACHE_FLUSHES: AtomicU64 = AtomicU64::new(0);
static LOST: AtomicU64 = AtomicU64::new(0);

fn load(a: &AtomicU64) -> u64 {
    a.load(Ordering::Acquire)
}

fn bump(a: &AtomicU64) {
    a.fetch_add(1, Ordering::AcqRel);
}

fn set(a: &AtomicU64, v: u64) {
    a.store(v, Ordering::Release);
}

/// Counts an entry its storage had no room for.
fn keep(kept: bool) {
    if !kept {
        bump(&LOST);
    }
}

/// The installed personality.
fn personality() -> Personality {
    Personality::from_u8(PERSONALITY.load(Ordering::Acquire))
}

/// A copy of the current virtual state (allocates: call it outside signal handlers).
pub fn state() -> State {
    let mut s = State {
        personality: personality(),
        msrs: MSRS.entries().collect(),
        msr_reads: load(&MSR_READS),
        msr_writes: load(&MSR_WRITES),
        refused: load(&REFUSED),
        cache_flushes: load(&CACHE_FLUSHES),
        lost: load(&LOST),
        ..State::default()
    };
    xen::fill(&mut s);
    kvm::fill(&mut s);
    hyperv::fill(&mut s);
    s
}

/// Clears the virtual state and the counters (the personality stays).
pub fn reset() {
    for c in [&MSR_READS, &MSR_WRITES, &REFUSED, &CACHE_FLUSHES, &LOST] {
        set(c, 0);
    }
    MSRS.clear();
    xen::reset();
    kvm::reset();
    hyperv::reset();
}

static INTERRUPT: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

/// Test hook: `hook` runs once, inside the next hypercall or emulated instruction, after it is
/// counted and before it takes effect — where the state used to be held under a lock. Tests
/// raise a signal there whose handler re-enters the hypervisor.
#[doc(hidden)]
pub fn interrupt_next(hook: fn()) {
    INTERRUPT.store(hook as *mut (), Ordering::Release);
}

/// Runs the hook set by [`interrupt_next`], once.
fn interrupt() {
    let hook = INTERRUPT.swap(core::ptr::null_mut(), Ordering::AcqRel);
    if !hook.is_null() {
        // SAFETY: only `interrupt_next` stores here, and it stores a `fn()`.
        let hook: fn() = unsafe { core::mem::transmute::<*mut (), fn()>(hook) };
        hook();
    }
}

/// Guest memory copied with `process_vm_readv`/`process_vm_writev` on this process: a null,
/// unmapped or kernel-half address fails instead of faulting, which is what the hypervisors'
/// guest-copy functions do (Xen's `copy_from_guest`, KVM's `kvm_read_guest`), and both system
/// calls are async-signal-safe. The caller turns the failure into its ABI's error.
fn copy_guest(address: u64, local: *mut u8, len: usize, write: bool) -> Result<(), ()> {
    let local = libc::iovec {
        iov_base: local.cast(),
        iov_len: len,
    };
    let remote = libc::iovec {
        iov_base: address as *mut libc::c_void,
        iov_len: len,
    };
    // SAFETY: `local` is the caller's buffer of `len` bytes; the kernel checks `remote`.
    let done = unsafe {
        let pid = libc::getpid();
        if write {
            libc::process_vm_writev(pid, &local, 1, &remote, 1, 0)
        } else {
            libc::process_vm_readv(pid, &local, 1, &remote, 1, 0)
        }
    };
    if done == len as isize {
        Ok(())
    } else {
        Err(())
    }
}

/// A structure of a hypervisor's public ABI that the hypervisor copies from and to the guest.
///
/// # Safety
/// Every bit pattern must be a valid value (integers only).
unsafe trait Plain: Sized + Copy {}
// SAFETY: integers.
unsafe impl Plain for u32 {}
// SAFETY: integers.
unsafe impl Plain for u64 {}
// SAFETY: integers.
unsafe impl<const N: usize> Plain for [u64; N] {}

/// Copies `n` values of `T` from guest address `at` into `to`.
fn read_into<T: Plain>(at: u64, to: &mut [T], n: usize) -> Result<(), ()> {
    let n = n.min(to.len());
    copy_guest(at, to.as_mut_ptr().cast(), n * size_of::<T>(), false)
}

/// One `T` from guest address `at`.
fn read<T: Plain>(at: u64) -> Result<T, ()> {
    let mut v = core::mem::MaybeUninit::<T>::uninit();
    copy_guest(at, v.as_mut_ptr().cast(), size_of::<T>(), false)?;
    // SAFETY: fully written by the copy; any bit pattern is a valid `T`.
    Ok(unsafe { v.assume_init() })
}

/// Copies `from` to guest address `at`.
fn write<T: Plain>(at: u64, from: &[T]) -> Result<(), ()> {
    copy_guest(at, from.as_ptr().cast_mut().cast(), size_of_val(from), true)
}

/// Whether `a` is a canonical 48-bit address.
fn canonical(a: u64) -> bool {
    (a as i64) << 16 >> 16 == a as i64
}

/// Records a trapped `wrmsr` the personality emulated.
fn msr_written(index: u32, value: u64) {
    bump(&MSR_WRITES);
    keep(MSRS.set(index, value));
}

/// Start of the CPUID range reserved for hypervisors (Intel SDM vol. 2A, `CPUID`: "leaves
/// 40000000H–4FFFFFFFH ... invalid", which hypervisors claim); the guest sees only its
/// hypervisor's leaves there, none of the host's.
const HYPERVISOR_LEAVES: core::ops::RangeInclusive<u32> = 0x4000_0000..=0x4fff_ffff;
/// `CPUID.1:ECX` bit 31, "hypervisor present" (`X86_FEATURE_HYPERVISOR`, Linux
/// `arch/x86/include/asm/cpufeatures.h`), set by every hypervisor here.
const CPUID1_ECX_HYPERVISOR: u32 = 1 << 31;

/// The `cpuid` a guest of the installed personality sees: the host's leaves with the
/// hypervisor bit set, and in 0x40000000..=0x4fffffff only the personality's leaves (zeros
/// elsewhere in that range, hiding whatever hypervisor runs this process).
pub fn cpuid(leaf: u32, sub: u32) -> [u32; 4] {
    if HYPERVISOR_LEAVES.contains(&leaf) {
        return match personality() {
            Personality::Xen => xen::cpuid(leaf),
            Personality::Kvm => kvm::cpuid(leaf),
            Personality::HyperV => hyperv::cpuid(leaf),
        }
        .unwrap_or([0; 4]);
    }
    let r = core::arch::x86_64::__cpuid_count(leaf, sub);
    let mut r = [r.eax, r.ebx, r.ecx, r.edx];
    if leaf == 1 {
        r[2] |= CPUID1_ECX_HYPERVISOR;
    }
    r
}

/// The disposition found at install for each signal the hypervisor handles, read by the
/// handlers without a lock: written by `install` (serialised by [`INSTALLED`]) before
/// [`HAS_PREVIOUS`] is set.
struct Previous(UnsafeCell<[core::mem::MaybeUninit<libc::sigaction>; 2]>);
// SAFETY: written only while HAS_PREVIOUS is false, read only while it is true.
unsafe impl Sync for Previous {}
static PREVIOUS: Previous = Previous(UnsafeCell::new([
    core::mem::MaybeUninit::uninit(),
    core::mem::MaybeUninit::uninit(),
]));
static HAS_PREVIOUS: AtomicBool = AtomicBool::new(false);
/// The signals handled, in the order of [`PREVIOUS`].
const SIGNALS: [libc::c_int; 2] = [libc::SIGILL, libc::SIGSEGV];

/// Hands a fault that is not the hypervisor's to the handler installed before, as the guest's
/// own fault: calls it (so this handler stays installed for the next trap), or, for the
/// default or ignored disposition, restores the default and returns, so that the instruction
/// faults again and ends the process.
///
/// # Safety
/// Called from the hypervisor's handler of `sig` with its arguments.
unsafe fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    bump(&REFUSED);
    let i = usize::from(sig == libc::SIGSEGV);
    // The handler it names is called with the arguments the kernel passed, as the kernel would.
    // SAFETY: PREVIOUS[i] is initialised while HAS_PREVIOUS is true.
    unsafe {
        if !HAS_PREVIOUS.load(Ordering::Acquire) {
            libc::signal(sig, libc::SIG_DFL);
            return;
        }
        let previous = (*PREVIOUS.0.get())[i].assume_init_ref();
        match previous.sa_sigaction {
            libc::SIG_DFL | libc::SIG_IGN => {
                libc::signal(sig, libc::SIG_DFL);
            }
            f if previous.sa_flags & libc::SA_SIGINFO != 0 => {
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    core::mem::transmute(f);
                f(sig, info, ctx);
            }
            f => {
                let f: extern "C" fn(libc::c_int) = core::mem::transmute(f);
                f(sig);
            }
        }
    }
}

/// The installed hypervisor; dropping it uninstalls.
pub struct Hypervisor {
    vcpu: Box<xen::VcpuInfo>,
    _lock: MutexGuard<'static, ()>,
}

static INSTALLED: Mutex<()> = Mutex::new(());

impl Hypervisor {
    /// [`Hypervisor::install_as`] Xen.
    pub fn install() -> Result<Hypervisor, RemapError> {
        Hypervisor::install_as(Personality::Xen)
    }

    /// Installs the hypervisor as `personality`: fills its page (Xen's hypercall page, or the
    /// Hyper-V page, which stays unusable until the guest enables it), registers a Xen
    /// `vcpu_info` (events unmasked; used by the Xen personality), installs the `SIGILL` and
    /// `SIGSEGV` handlers, and clears the state. One at a time per process: a second install
    /// waits (on a lock, which no signal handler takes).
    pub fn install_as(personality: Personality) -> Result<Hypervisor, RemapError> {
        let lock = INSTALLED.lock().unwrap_or_else(|p| p.into_inner());
        let mut writer = RemapWriter::new();
        match personality {
            Personality::Xen => xen::fill_page(&mut writer)?,
            Personality::Kvm => {}
            Personality::HyperV => hyperv::fill_page(&mut writer)?,
        }
        writer.commit().map_err(|e| e.error)?;
        PERSONALITY.store(personality as u8, Ordering::Release);
        reset();
        let mut vcpu = Box::new(xen::VcpuInfo::default());
        // The guest's `vcpu_info` has this layout (checked by the Xen layout test).
        // SAFETY: the box lives in the guard, which unregisters it before dropping it.
        unsafe { crate::xen::set_vcpu_info((&mut *vcpu as *mut xen::VcpuInfo).cast()) };
        // PREVIOUS is written under INSTALLED while HAS_PREVIOUS is false (the last guard cleared
        // it).
        // SA_NODEFER leaves the signal unblocked in the handler: a SIGILL or SIGSEGV raised while
        // blocked kills the process, and a signal handler interrupting ours may trap too.
        // SAFETY: installs the handlers and keeps the previous ones to restore.
        unsafe {
            let previous = &mut *PREVIOUS.0.get();
            for (sig, old) in SIGNALS.iter().zip(previous.iter_mut()) {
                let mut action: libc::sigaction = core::mem::zeroed();
                action.sa_sigaction = cpu::on_trap as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER;
                // No thread parks for a live patch between decoding and stepping.
                libc::sigaddset(&mut action.sa_mask, crate::writer::park_signal());
                libc::sigaction(*sig, &action, old.as_mut_ptr());
            }
            HAS_PREVIOUS.store(true, Ordering::Release);
        }
        Ok(Hypervisor { vcpu, _lock: lock })
    }

    /// This vCPU's shared Xen `vcpu_info` (event mask, pending flag, cr2).
    pub fn vcpu(&mut self) -> &mut xen::VcpuInfo {
        &mut self.vcpu
    }
}

impl Drop for Hypervisor {
    fn drop(&mut self) {
        // SAFETY: restores the handlers saved at install; unregisters the vcpu_info first.
        unsafe {
            crate::xen::set_vcpu_info(core::ptr::null_mut());
            hyperv::disable();
            if HAS_PREVIOUS.swap(false, Ordering::AcqRel) {
                let previous = &*PREVIOUS.0.get();
                for (sig, old) in SIGNALS.iter().zip(previous) {
                    libc::sigaction(*sig, old.as_ptr(), core::ptr::null_mut());
                }
            }
        }
        PERSONALITY.store(Personality::Xen as u8, Ordering::Release);
    }
}
