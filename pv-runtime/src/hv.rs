//! An in-process test hypervisor that speaks the Xen x86_64 hypercall ABI, so the Xen path of
//! every intrinsic runs in ordinary tests and in the tour.
//!
//! [`Hypervisor::install`] fills the hypercall page (through [`RemapWriter`], like any other
//! text) with entries that load the hypercall number and jump to a common entry, which calls
//! `dispatch` with the Xen argument registers. It registers a `vcpu_info` and a `SIGILL`
//! handler that emulates `XEN_EMULATE_PREFIX cpuid`. The virtual CPU state it keeps and the
//! calls it counts are read with [`state`]. Dropping the guard restores the previous `SIGILL`
//! handler and unregisters the `vcpu_info`; the page stays filled.
//!
//! A signal handler may make hypercalls and execute emulated `cpuid`s, also while it interrupts
//! one: the dispatcher and the `SIGILL` handler take no lock and allocate nothing (the state is
//! fixed-size atomics; full logs count what they drop), and they check every guest number and
//! pointer, answering Xen's error codes (`-ENOSYS`, `-EFAULT`, `-EINVAL`) instead of faulting.

use crate::writer::{RemapError, RemapWriter, TextWriter};
use crate::xen::{self, EMULATE_PREFIX, HYPERCALL_ENTRY_SIZE, HYPERCALL_PAGE_ENTRIES, VcpuInfo};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use pv_abi::xen::{console, mmuext, platform, sched, segbase, vcpu, version};
use std::boxed::Box;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::vec::Vec;

mod store;
use store::{Log, Table};

/// Xen's error numbers (`xen/include/public/errno.h`), returned negated.
mod errno {
    pub const ENOENT: i64 = 2;
    pub const E2BIG: i64 = 7;
    pub const EACCES: i64 = 13;
    pub const EFAULT: i64 = 14;
    pub const EINVAL: i64 = 22;
    pub const ENOSYS: i64 = 38;
}
use errno::*;

/// The virtual CPU as the hypervisor sees it: a copy, built by [`state`] from the lock-free
/// storage the hypercalls update.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    /// Calls per hypercall number (0..128, the numbers the hypercall page has entries for).
    pub hypercalls: BTreeMap<u32, u64>,
    /// Calls with a number of 128 or more, answered `-ENOSYS`.
    pub out_of_range: u64,
    /// `cpuid`s emulated through `XEN_EMULATE_PREFIX`.
    pub emulated_cpuid: u64,
    /// cr3 as set by `mmuext_op(MMUEXT_NEW_BASEPTR)` (frame number shifted back).
    pub cr3: u64,
    /// cr0.TS as set by `fpu_taskswitch`.
    pub fpu_ts: bool,
    /// MSRs written through `XENPF_resource_op`, by index; reads of others give 0.
    pub msrs: BTreeMap<u32, u64>,
    /// fs base from `set_segment_base(SEGBASE_FS)`.
    pub fs_base: u64,
    /// Kernel gs base from `set_segment_base(SEGBASE_GS_KERNEL)`.
    pub gs_base_kernel: u64,
    /// User gs base from `set_segment_base(SEGBASE_GS_USER)`.
    pub gs_base_user: u64,
    /// Bytes written with `console_io(CONSOLEIO_write)` (the first 4096).
    pub console: Vec<u8>,
    /// (vector, cs, handler) of each vector `set_trap_table` set, by vector.
    pub traps: Vec<(u8, u16, u64)>,
    /// (first frame, entries) of the last `set_gdt`.
    pub gdt: (u64, u64),
    /// `MMUEXT_TLB_FLUSH_LOCAL` operations.
    pub tlb_flushes: u64,
    /// Addresses of `MMUEXT_INVLPG_LOCAL` operations, in order (the first 1024).
    pub invlpg: Vec<u64>,
    /// `MMUEXT_FLUSH_CACHE` operations.
    pub cache_flushes: u64,
    /// `sched_op(SCHEDOP_block)` calls.
    pub blocks: u64,
    /// `sched_op(SCHEDOP_yield)` calls.
    pub yields: u64,
    /// Whether `vcpu_op(VCPUOP_down)` took the vCPU down.
    pub vcpu_down: bool,
    /// Console bytes, `invlpg` addresses and MSRs not kept because their storage was full.
    pub lost: u64,
}

impl State {
    /// Calls of the hypercall named `name`.
    pub fn calls(&self, name: &str) -> u64 {
        pv_abi::xen::hypercall(name)
            .and_then(|h| self.hypercalls.get(&h.nr))
            .copied()
            .unwrap_or(0)
    }

    /// All hypercalls made (numbers 0..128).
    pub fn total_calls(&self) -> u64 {
        self.hypercalls.values().sum()
    }
}

// The state, in storage a signal handler may update while it interrupts an update: `dispatch`
// runs in whatever context executes the hypercall page, signal handlers included, so it takes
// no lock (a handler re-entering would deadlock on it) and allocates nothing (the allocator is
// not async-signal-safe). Every update is one atomic operation, so a re-entering hypercall is
// served, not refused.
static CALLS: [AtomicU64; HYPERCALL_PAGE_ENTRIES] =
    [const { AtomicU64::new(0) }; HYPERCALL_PAGE_ENTRIES];
static OUT_OF_RANGE: AtomicU64 = AtomicU64::new(0);
static EMULATED_CPUID: AtomicU64 = AtomicU64::new(0);
static CR3: AtomicU64 = AtomicU64::new(0);
static FPU_TS: AtomicBool = AtomicBool::new(false);
static MSRS: Table<64> = Table::new();
static FS_BASE: AtomicU64 = AtomicU64::new(0);
static GS_BASE_KERNEL: AtomicU64 = AtomicU64::new(0);
static GS_BASE_USER: AtomicU64 = AtomicU64::new(0);
static CONSOLE: Log<4096> = Log::new();
/// Handler address per vector (0: not set), and the handler's cs.
static TRAP_ADDRESS: [AtomicU64; 256] = [const { AtomicU64::new(0) }; 256];
static TRAP_CS: [AtomicU64; 256] = [const { AtomicU64::new(0) }; 256];
static GDT_FRAME: AtomicU64 = AtomicU64::new(0);
static GDT_ENTRIES: AtomicU64 = AtomicU64::new(0);
static TLB_FLUSHES: AtomicU64 = AtomicU64::new(0);
static INVLPG: Log<1024> = Log::new();
static CACHE_FLUSHES: AtomicU64 = AtomicU64::new(0);
static BLOCKS: AtomicU64 = AtomicU64::new(0);
static YIELDS: AtomicU64 = AtomicU64::new(0);
static VCPU_DOWN: AtomicBool = AtomicBool::new(false);
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

/// A copy of the current virtual state (allocates: call it outside signal handlers).
pub fn state() -> State {
    State {
        hypercalls: (0u32..)
            .zip(&CALLS)
            .map(|(nr, n)| (nr, load(n)))
            .filter(|(_, n)| *n != 0)
            .collect(),
        out_of_range: load(&OUT_OF_RANGE),
        emulated_cpuid: load(&EMULATED_CPUID),
        cr3: load(&CR3),
        fpu_ts: FPU_TS.load(Ordering::Acquire),
        msrs: MSRS.entries().collect(),
        fs_base: load(&FS_BASE),
        gs_base_kernel: load(&GS_BASE_KERNEL),
        gs_base_user: load(&GS_BASE_USER),
        console: CONSOLE.values().map(|b| b as u8).collect(),
        traps: (0u8..=255)
            .zip(TRAP_ADDRESS.iter().zip(&TRAP_CS))
            .filter(|(_, (address, _))| load(address) != 0)
            .map(|(v, (address, cs))| (v, load(cs) as u16, load(address)))
            .collect(),
        gdt: (load(&GDT_FRAME), load(&GDT_ENTRIES)),
        tlb_flushes: load(&TLB_FLUSHES),
        invlpg: INVLPG.values().collect(),
        cache_flushes: load(&CACHE_FLUSHES),
        blocks: load(&BLOCKS),
        yields: load(&YIELDS),
        vcpu_down: VCPU_DOWN.load(Ordering::Acquire),
        lost: load(&LOST),
    }
}

/// Clears the virtual state and the counters.
pub fn reset() {
    let counters = CALLS.iter().chain(&TRAP_ADDRESS).chain(&TRAP_CS).chain([
        &OUT_OF_RANGE,
        &EMULATED_CPUID,
        &CR3,
        &FS_BASE,
        &GS_BASE_KERNEL,
        &GS_BASE_USER,
        &GDT_FRAME,
        &GDT_ENTRIES,
        &TLB_FLUSHES,
        &CACHE_FLUSHES,
        &BLOCKS,
        &YIELDS,
        &LOST,
    ]);
    for c in counters {
        set(c, 0);
    }
    FPU_TS.store(false, Ordering::Release);
    VCPU_DOWN.store(false, Ordering::Release);
    MSRS.clear();
    CONSOLE.clear();
    INVLPG.clear();
}

static INTERRUPT: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

/// Test hook: `hook` runs once, inside the next hypercall or emulated `cpuid`, after it is
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
/// unmapped or kernel-half address fails with `EFAULT` instead of faulting, which is what Xen's
/// `copy_from_guest`/`copy_to_guest` do, and both system calls are async-signal-safe.
fn copy_guest(address: u64, local: *mut u8, len: usize, write: bool) -> Result<(), i64> {
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
        Err(-EFAULT)
    }
}

/// A structure of Xen's public ABI that the hypervisor copies from and to the guest.
///
/// # Safety
/// Every bit pattern must be a valid value (integers and raw pointers only).
unsafe trait Plain: Sized {}
// SAFETY: integers.
unsafe impl Plain for u32 {}
// SAFETY: integers.
unsafe impl Plain for u64 {}
// SAFETY: integers and a raw pointer.
unsafe impl Plain for xen::pv::PlatformOp {}
// SAFETY: integers.
unsafe impl Plain for xen::pv::ResourceEntry {}
// SAFETY: integers.
unsafe impl Plain for xen::pv::MmuextOp {}
// SAFETY: integers.
unsafe impl Plain for xen::pv::TrapInfo {}

/// Copies `n` values of `T` from guest address `at` into `to` (`copy_from_guest`).
fn read_into<T: Plain>(at: u64, to: &mut [T], n: usize) -> Result<(), i64> {
    let n = n.min(to.len());
    copy_guest(at, to.as_mut_ptr().cast(), n * size_of::<T>(), false)
}

/// One `T` from guest address `at`.
fn read<T: Plain>(at: u64) -> Result<T, i64> {
    let mut v = core::mem::MaybeUninit::<T>::uninit();
    copy_guest(at, v.as_mut_ptr().cast(), size_of::<T>(), false)?;
    // SAFETY: fully written by the copy; any bit pattern is a valid `T`.
    Ok(unsafe { v.assume_init() })
}

/// Copies `from` to guest address `at` (`copy_to_guest`).
fn write<T: Plain>(at: u64, from: &[T]) -> Result<(), i64> {
    copy_guest(at, from.as_ptr().cast_mut().cast(), size_of_val(from), true)
}

/// Whether `a` is a canonical 48-bit address, which Xen requires of handler and segment bases.
fn canonical(a: u64) -> bool {
    (a as i64) << 16 >> 16 == a as i64
}

/// Most operations one `mmuext_op` batch may hold here. Xen takes any count and splits a long
/// batch with a continuation; this hypervisor, which must not loop without bound in a signal
/// handler, refuses a longer one with `-EINVAL`.
const MMUEXT_BATCH: u64 = 1024;
/// Most `trap_info` entries one `set_trap_table` reads here (there are 256 vectors). Xen reads
/// until the terminating entry with continuations; this hypervisor refuses a longer table.
const TRAP_TABLE: usize = 256;
/// `XENPF_resource_op` entries per call (`RESOURCE_ACCESS_MAX_ENTRIES`,
/// `xen/arch/x86/platform_hypercall.c`).
const RESOURCE_ENTRIES: usize = 3;
/// `FIRST_RESERVED_GDT_ENTRY` (`xen/include/public/arch-x86/xen.h`): 14 pages of descriptors.
const GDT_ENTRIES_MAX: u64 = 14 * 4096 / 8;

/// One hypercall. Arguments as Xen receives them (rdi, rsi, rdx, r10, r8); numbers beyond the
/// page's 128 entries answer `-ENOSYS`, as Xen's dispatcher does for numbers it has no handler
/// for (`xen/arch/x86/pv/hypercall.c`). Every guest pointer is read and written through
/// [`copy_guest`], so a bad one answers `-EFAULT`; every loop is bounded. No hypercall here
/// takes a fourth or fifth argument (`mmuext_op`'s foreign domain can only be the caller).
extern "C" fn dispatch(nr: u64, a1: u64, a2: u64, a3: u64, _a4: u64, _a5: u64) -> i64 {
    let Some(count) = CALLS.get(nr as usize) else {
        bump(&OUT_OF_RANGE);
        return -ENOSYS;
    };
    bump(count);
    interrupt();
    let name = pv_abi::xen::hypercall_by_nr(nr as u32).map_or("?", |h| h.name);
    let result = match name {
        "sched_op" => sched_op(a1, a2),
        "vcpu_op" => vcpu_op(a1 as u32, a2 as u32),
        "fpu_taskswitch" => {
            FPU_TS.store(a1 as u32 != 0, Ordering::Release);
            Ok(0)
        }
        "mmuext_op" => mmuext_op(a1, a2 as u32, a3),
        "set_segment_base" => set_segment_base(a1 as u32, a2),
        "platform_op" => platform_op(a1),
        "console_io" => console_io(a1 as u32, a2 as u32, a3),
        "set_trap_table" => set_trap_table(a1),
        "set_gdt" => set_gdt(a1, a2 as u32),
        // Only XENVER_version; Xen answers others it lacks with -ENOSYS (xen/common/kernel.c).
        "xen_version" if a1 as u32 == version::VERSION as u32 => Ok(4 << 16 | 19),
        _ => Err(-ENOSYS),
    };
    result.unwrap_or_else(|e| e)
}

/// `do_sched_op` (`xen/common/sched/core.c`).
fn sched_op(cmd: u64, arg: u64) -> Result<i64, i64> {
    match cmd {
        sched::YIELD => bump(&YIELDS),
        sched::BLOCK => {
            bump(&BLOCKS);
            // SCHEDOP_block unmasks events, like `sti; hlt`.
            let info = xen::vcpu_info();
            if !info.is_null() {
                // SAFETY: the registered vcpu_info lives until `Hypervisor` unregisters it.
                unsafe { (*info).evtchn_upcall_mask = 0 };
            }
        }
        // `struct sched_shutdown { unsigned int reason; }`, copied in or -EFAULT.
        sched::SHUTDOWN => {
            read::<u32>(arg)?;
        }
        _ => return Err(-ENOSYS),
    }
    Ok(0)
}

/// `do_vcpu_op` (`xen/arch/x86/domain.c`): one vCPU, number 0.
fn vcpu_op(cmd: u32, vcpuid: u32) -> Result<i64, i64> {
    if vcpuid != 0 {
        return Err(-ENOENT);
    }
    if cmd as u64 != vcpu::DOWN {
        return Err(-ENOSYS);
    }
    VCPU_DOWN.store(true, Ordering::Release);
    Ok(0)
}

/// `do_mmuext_op` (`xen/arch/x86/mm.c`): ops in order until one fails; the count done is
/// written to `pdone` if given (its failure ignored, as Xen does).
fn mmuext_op(uops: u64, count: u32, pdone: u64) -> Result<i64, i64> {
    if count as u64 > MMUEXT_BATCH {
        return Err(-EINVAL);
    }
    let size = size_of::<xen::pv::MmuextOp>() as u64;
    let mut done = 0u32;
    let mut result = Ok(0);
    while done < count {
        let op = match read::<xen::pv::MmuextOp>(uops.wrapping_add(done as u64 * size)) {
            Ok(op) => op,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        match op.cmd {
            mmuext::NEW_BASEPTR => set(&CR3, op.arg1 << 12),
            mmuext::TLB_FLUSH_LOCAL => bump(&TLB_FLUSHES),
            mmuext::INVLPG_LOCAL => keep(INVLPG.push(op.arg1)),
            mmuext::FLUSH_CACHE => bump(&CACHE_FLUSHES),
            _ => {
                result = Err(-ENOSYS);
                break;
            }
        }
        done += 1;
    }
    if pdone != 0 {
        let _ = write(pdone, &[done]);
    }
    result
}

/// `do_set_segment_base` (`xen/arch/x86/pv/misc-hypercalls.c`): canonical bases only.
fn set_segment_base(which: u32, base: u64) -> Result<i64, i64> {
    let register = match which as u64 {
        segbase::FS => &FS_BASE,
        segbase::GS_KERNEL => &GS_BASE_KERNEL,
        segbase::GS_USER => &GS_BASE_USER,
        _ => return Err(-EINVAL),
    };
    if !canonical(base) {
        return Err(-EINVAL);
    }
    set(register, base);
    Ok(0)
}

/// `do_platform_op` (`xen/arch/x86/platform_hypercall.c`), `XENPF_resource_op` only, on MSRs.
/// Answers the number of entries done.
fn platform_op(at: u64) -> Result<i64, i64> {
    let op = read::<xen::pv::PlatformOp>(at)?;
    if op.interface_version != platform::INTERFACE_VERSION {
        return Err(-EACCES);
    }
    if op.cmd != platform::RESOURCE_OP {
        return Err(-ENOSYS);
    }
    let n = op.nr_entries as usize;
    if n == 0 {
        return Ok(0);
    }
    if n > RESOURCE_ENTRIES {
        return Err(-EINVAL);
    }
    let mut entries: [xen::pv::ResourceEntry; RESOURCE_ENTRIES] =
        core::array::from_fn(|_| xen::pv::ResourceEntry {
            cmd: 0,
            rsvd: 0,
            idx: 0,
            val: 0,
        });
    read_into(op.entries as u64, &mut entries, n)?;
    for e in &mut entries[..n] {
        match e.cmd {
            platform::MSR_READ => e.val = MSRS.get(e.idx),
            platform::MSR_WRITE => keep(MSRS.set(e.idx, e.val)),
            _ => return Err(-EINVAL),
        }
    }
    write(op.entries as u64, &entries[..n])?;
    Ok(n as i64)
}

/// `do_console_io` (`xen/drivers/char/console.c`). A write is copied 128 bytes at a time, as
/// Xen does; once the console log is full the rest is counted in [`State::lost`], not read
/// (the first chunk is always read, so a bad buffer answers `-EFAULT`).
fn console_io(cmd: u32, count: u32, buffer: u64) -> Result<i64, i64> {
    match cmd as u64 {
        console::WRITE => {
            let mut done = 0u32;
            while done < count {
                if done > 0 && CONSOLE.is_full() {
                    LOST.fetch_add((count - done) as u64, Ordering::AcqRel);
                    break;
                }
                let mut chunk = [0u8; 128];
                let n = (count - done).min(128);
                copy_guest(
                    buffer.wrapping_add(done as u64),
                    chunk.as_mut_ptr(),
                    n as usize,
                    false,
                )?;
                for b in &chunk[..n as usize] {
                    keep(CONSOLE.push(*b as u64));
                }
                done += n;
            }
            Ok(0)
        }
        // No input ever waits; Xen refuses counts its int result cannot hold.
        console::READ if count > i32::MAX as u32 => Err(-E2BIG),
        console::READ => Ok(0),
        _ => Err(-ENOSYS),
    }
}

/// `do_set_trap_table` (`xen/arch/x86/pv/callback.c`): sets the vectors the table names, up to
/// the entry whose address is 0; a null table clears every vector.
fn set_trap_table(table: u64) -> Result<i64, i64> {
    if table == 0 {
        TRAP_ADDRESS.iter().for_each(|a| set(a, 0));
        return Ok(0);
    }
    for i in 0..=TRAP_TABLE {
        let at = table.wrapping_add((i * size_of::<xen::pv::TrapInfo>()) as u64);
        let t = read::<xen::pv::TrapInfo>(at)?;
        if t.address == 0 {
            return Ok(0);
        }
        if i == TRAP_TABLE || !canonical(t.address) {
            break;
        }
        set(&TRAP_CS[t.vector as usize], t.cs as u64);
        set(&TRAP_ADDRESS[t.vector as usize], t.address);
    }
    Err(-EINVAL)
}

/// `do_set_gdt` (`xen/arch/x86/pv/descriptor-tables.c`): one frame per 512 entries.
fn set_gdt(frame_list: u64, entries: u32) -> Result<i64, i64> {
    let entries = entries as u64;
    if entries > GDT_ENTRIES_MAX {
        return Err(-EINVAL);
    }
    let mut frames = [0u64; (GDT_ENTRIES_MAX / 512) as usize];
    read_into(frame_list, &mut frames, entries.div_ceil(512) as usize)?;
    set(&GDT_FRAME, frames[0]);
    set(&GDT_ENTRIES, entries);
    Ok(0)
}

/// Common entry of every hypercall-page entry: rax = number (all 64 bits, as Xen reads it),
/// Xen argument registers; calls [`dispatch`] on an aligned stack; returns in rax.
#[unsafe(naked)]
unsafe extern "C" fn entry() {
    core::arch::naked_asm!(
        "push rbp",
        "mov rbp, rsp",
        "and rsp, -16",
        "mov r9, r8",
        "mov r8, r10",
        "mov rcx, rdx",
        "mov rdx, rsi",
        "mov rsi, rdi",
        "mov rdi, rax",
        "call {dispatch}",
        "mov rsp, rbp",
        "pop rbp",
        "ret",
        dispatch = sym dispatch,
    )
}

/// One hypercall-page entry: `mov eax, nr` (zero-extended into rax); `movabs r11, entry; jmp r11` (clobbers rax and r11,
/// like Xen's `syscall` entries), padded with `int3`.
fn page_entry(nr: u32) -> [u8; HYPERCALL_ENTRY_SIZE] {
    let mut e = [0xcc; HYPERCALL_ENTRY_SIZE];
    e[0] = 0xb8;
    e[1..5].copy_from_slice(&nr.to_le_bytes());
    e[5..7].copy_from_slice(&[0x49, 0xbb]);
    e[7..15].copy_from_slice(&(entry as *const () as u64).to_le_bytes());
    e[15..18].copy_from_slice(&[0x41, 0xff, 0xe3]);
    e
}

/// Test entry: hypercall `nr` with any 64-bit number, entered as a hypercall-page entry enters
/// (rax = number), so numbers the page has no entry for reach the dispatcher's checks too.
///
/// # Safety
/// As [`xen::hypercall`]: the arguments must be valid for `nr` where it writes guest memory.
#[doc(hidden)]
pub unsafe fn raw_hypercall(nr: u64, a: [u64; 5]) -> i64 {
    let ret: i64;
    // SAFETY: per the function's contract; `entry` may clobber every C caller-saved register.
    unsafe {
        core::arch::asm!(
            "call {entry}",
            entry = sym entry,
            inlateout("rax") nr as i64 => ret,
            inlateout("rdi") a[0] => _,
            inlateout("rsi") a[1] => _,
            inlateout("rdx") a[2] => _,
            inlateout("r10") a[3] => _,
            inlateout("r8") a[4] => _,
            clobber_abi("C"),
        );
    }
    ret
}

/// `SIGILL` on `XEN_EMULATE_PREFIX cpuid`: emulate it, with Xen's leaves at 0x40000000.
/// Async-signal-safe and re-entrant: the instruction bytes are copied with [`copy_guest`] (the
/// faulting rip may end its page), the count is one atomic add, and the handler runs with
/// `SA_NODEFER` so that a handler interrupting it may emulate a `cpuid` of its own.
extern "C" fn on_sigill(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes this thread's valid ucontext.
    let gregs = unsafe { &mut (*(ctx as *mut libc::ucontext_t)).uc_mcontext.gregs };
    let rip = gregs[libc::REG_RIP as usize] as u64;
    let mut bytes = [0u8; EMULATE_PREFIX.len() + 2];
    let ours = copy_guest(rip, bytes.as_mut_ptr(), bytes.len(), false).is_ok()
        && bytes[..EMULATE_PREFIX.len()] == EMULATE_PREFIX
        && bytes[EMULATE_PREFIX.len()..] == [0x0f, 0xa2];
    if !ours {
        // SAFETY: the arguments the kernel passed.
        return unsafe { chain(sig, info, ctx) };
    }
    bump(&EMULATED_CPUID);
    interrupt();
    let (leaf, sub) = (
        gregs[libc::REG_RAX as usize] as u32,
        gregs[libc::REG_RCX as usize] as u32,
    );
    let r = emulated_cpuid(leaf, sub);
    gregs[libc::REG_RAX as usize] = r[0] as i64;
    gregs[libc::REG_RBX as usize] = r[1] as i64;
    gregs[libc::REG_RCX as usize] = r[2] as i64;
    gregs[libc::REG_RDX as usize] = r[3] as i64;
    gregs[libc::REG_RIP as usize] += bytes.len() as i64;
}

/// The `cpuid` a Xen guest sees: the host's, with Xen's signature at 0x40000000.
pub fn emulated_cpuid(leaf: u32, sub: u32) -> [u32; 4] {
    if leaf == 0x4000_0000 {
        let sig = b"XenVMMXenVMM";
        let word = |i: usize| u32::from_le_bytes([sig[i], sig[i + 1], sig[i + 2], sig[i + 3]]);
        return [0x4000_0002, word(0), word(4), word(8)];
    }
    let r = core::arch::x86_64::__cpuid_count(leaf, sub);
    [r.eax, r.ebx, r.ecx, r.edx]
}

/// The `SIGILL` disposition found at install, read by the handler without a lock: written by
/// `install` (serialised by [`INSTALLED`]) before [`HAS_PREVIOUS`] is set.
struct Previous(UnsafeCell<core::mem::MaybeUninit<libc::sigaction>>);
// SAFETY: written only while HAS_PREVIOUS is false, read only while it is true.
unsafe impl Sync for Previous {}
static PREVIOUS: Previous = Previous(UnsafeCell::new(core::mem::MaybeUninit::uninit()));
static HAS_PREVIOUS: AtomicBool = AtomicBool::new(false);

/// Hands a `SIGILL` that is not ours to the handler installed before.
///
/// # Safety
/// Called from the `SIGILL` handler with its arguments.
unsafe fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: reinstalls the previous disposition (set while HAS_PREVIOUS is true); returning
    // re-executes the instruction, which then faults under it.
    unsafe {
        if HAS_PREVIOUS.load(Ordering::Acquire) {
            libc::sigaction(sig, (*PREVIOUS.0.get()).as_ptr(), core::ptr::null_mut());
        } else {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
    let _ = (info, ctx);
}

/// The installed hypervisor; dropping it uninstalls.
pub struct Hypervisor {
    vcpu: Box<VcpuInfo>,
    _lock: MutexGuard<'static, ()>,
}

static INSTALLED: Mutex<()> = Mutex::new(());

impl Hypervisor {
    /// Fills the hypercall page, registers a `vcpu_info` (events unmasked) and the `SIGILL`
    /// emulation, and clears the state. One at a time per process: a second `install` waits
    /// (on a lock, which no signal handler takes).
    pub fn install() -> Result<Hypervisor, RemapError> {
        let lock = INSTALLED.lock().unwrap_or_else(|p| p.into_inner());
        let page = xen::hypercall_page();
        let mut writer = RemapWriter::new();
        // SAFETY: the hypercall page is 4096 bytes of mapped text.
        let current = unsafe { core::slice::from_raw_parts(page as *const u8, 4096) };
        for nr in 0..HYPERCALL_PAGE_ENTRIES {
            let e = page_entry(nr as u32);
            let at = nr * HYPERCALL_ENTRY_SIZE;
            if current[at..at + HYPERCALL_ENTRY_SIZE] != e {
                // SAFETY: the hypercall page is text of this binary, reserved for the
                // hypervisor to fill; nothing runs it until `install` returns.
                unsafe { writer.stage((page + at) as u64, &e)? };
            }
        }
        writer.commit().map_err(|e| e.error)?;
        let mut vcpu = Box::new(VcpuInfo {
            evtchn_upcall_pending: 0,
            evtchn_upcall_mask: 0,
            evtchn_pending_sel: 0,
            cr2: 0,
            arch_pad: 0,
            time: [0; 4],
        });
        // SAFETY: the box lives in the guard, which unregisters it before dropping it.
        unsafe { xen::set_vcpu_info(&mut *vcpu) };
        // SAFETY: installs the handler and keeps the previous one to restore; PREVIOUS is
        // written while HAS_PREVIOUS is false (the last guard cleared it) under INSTALLED.
        // SA_NODEFER leaves SIGILL unblocked in the handler: a SIGILL raised while blocked
        // kills the process, and a signal handler interrupting ours may emulate a cpuid.
        unsafe {
            let mut action: libc::sigaction = core::mem::zeroed();
            action.sa_sigaction = on_sigill as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER;
            libc::sigaction(libc::SIGILL, &action, (*PREVIOUS.0.get()).as_mut_ptr());
            HAS_PREVIOUS.store(true, Ordering::Release);
        }
        reset();
        Ok(Hypervisor { vcpu, _lock: lock })
    }

    /// This vCPU's shared `vcpu_info` (event mask, pending flag, cr2).
    pub fn vcpu(&mut self) -> &mut VcpuInfo {
        &mut self.vcpu
    }
}

impl Drop for Hypervisor {
    fn drop(&mut self) {
        // SAFETY: restores the handler saved at install; unregisters the vcpu_info first.
        unsafe {
            xen::set_vcpu_info(core::ptr::null_mut());
            if HAS_PREVIOUS.swap(false, Ordering::AcqRel) {
                libc::sigaction(
                    libc::SIGILL,
                    (*PREVIOUS.0.get()).as_ptr(),
                    core::ptr::null_mut(),
                );
            }
        }
    }
}
