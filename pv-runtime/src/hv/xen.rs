//! The Xen personality: Xen's side of the x86_64 PV ABI, written from Xen's public headers
//! (`xen/include/public/`) and hypercall handlers (`xen/arch/x86/`, `xen/common/`), cited per
//! definition. Nothing here comes from the guest side (`pv_abi::xen`, [`crate::xen`]); the
//! structures are public so that a layout test can hold both sides against Xen's numbers.

use super::{
    CACHE_FLUSHES, State, VCPUS, bump, canonical, copy_guest, interrupt, keep, load, msr_written,
    read, read_into, set, write,
};
use crate::store::{Log, Table};
use crate::writer::{RemapError, RemapWriter, TextWriter};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Xen's error numbers (`xen/include/public/errno.h`), returned negated.
mod errno {
    pub const ENOENT: i64 = 2;
    pub const E2BIG: i64 = 7;
    pub const EPERM: i64 = 1;
    pub const ENODEV: i64 = 19;
    pub const EACCES: i64 = 13;
    pub const EFAULT: i64 = 14;
    pub const EINVAL: i64 = 22;
    pub const ENOSYS: i64 = 38;
    pub const EOPNOTSUPP: i64 = 95;
}
use errno::*;

/// `__HYPERVISOR_*` (`xen/include/public/xen.h`): the hypercall numbers, by name.
const HYPERCALLS: [(&str, u32); 45] = [
    ("set_trap_table", 0),
    ("mmu_update", 1),
    ("set_gdt", 2),
    ("stack_switch", 3),
    ("set_callbacks", 4),
    ("fpu_taskswitch", 5),
    ("sched_op_compat", 6),
    ("platform_op", 7),
    ("set_debugreg", 8),
    ("get_debugreg", 9),
    ("update_descriptor", 10),
    ("memory_op", 12),
    ("multicall", 13),
    ("update_va_mapping", 14),
    ("set_timer_op", 15),
    ("event_channel_op_compat", 16),
    ("xen_version", 17),
    ("console_io", 18),
    ("physdev_op_compat", 19),
    ("grant_table_op", 20),
    ("vm_assist", 21),
    ("update_va_mapping_otherdomain", 22),
    ("iret", 23),
    ("vcpu_op", 24),
    ("set_segment_base", 25),
    ("mmuext_op", 26),
    ("xsm_op", 27),
    ("nmi_op", 28),
    ("sched_op", 29),
    ("callback_op", 30),
    ("xenoprof_op", 31),
    ("event_channel_op", 32),
    ("physdev_op", 33),
    ("hvm_op", 34),
    ("sysctl", 35),
    ("domctl", 36),
    ("kexec_op", 37),
    ("tmem_op", 38),
    ("argo_op", 39),
    ("xenpmu_op", 40),
    ("dm_op", 41),
    ("hypfs_op", 42),
    ("arch_0", 48),
    ("arch_1", 49),
    ("arch_2", 50),
];

/// The number of the hypercall `name` (as in `xen.h`, without `__HYPERVISOR_`).
pub fn hypercall_nr(name: &str) -> Option<u32> {
    HYPERCALLS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, nr)| *nr)
}

/// Hypercall numbers this hypervisor handles (`xen/include/public/xen.h`).
mod nr {
    pub const SET_TRAP_TABLE: u64 = 0;
    pub const SET_GDT: u64 = 2;
    pub const FPU_TASKSWITCH: u64 = 5;
    pub const PLATFORM_OP: u64 = 7;
    pub const XEN_VERSION: u64 = 17;
    pub const CONSOLE_IO: u64 = 18;
    pub const VCPU_OP: u64 = 24;
    pub const SET_SEGMENT_BASE: u64 = 25;
    pub const MMUEXT_OP: u64 = 26;
    pub const SCHED_OP: u64 = 29;
}

/// Bytes per hypercall-page entry: entry `i` is at `page + 32 * i` (`hypercall_page_initialise`
/// in `xen/arch/x86/pv/hypercall.c`).
const ENTRY_SIZE: usize = 32;
/// Entries in the one-page hypercall page.
const ENTRIES: usize = 4096 / ENTRY_SIZE;
/// `XEN_EMULATE_PREFIX` (`xen/include/public/arch-x86/xen.h`): `ud2; .ascii "xen"`.
pub(super) const EMULATE_PREFIX: [u8; 5] = [0x0f, 0x0b, 0x78, 0x65, 0x6e];
/// `SCHEDOP_*` (`xen/include/public/sched.h`).
const SCHEDOP_YIELD: u64 = 0;
const SCHEDOP_BLOCK: u64 = 1;
const SCHEDOP_SHUTDOWN: u64 = 2;
/// `VCPUOP_down` (`xen/include/public/vcpu.h`).
const VCPUOP_DOWN: u32 = 2;
/// `MMUEXT_*` (`xen/include/public/xen.h`).
const MMUEXT_NEW_BASEPTR: u32 = 5;
const MMUEXT_TLB_FLUSH_LOCAL: u32 = 6;
const MMUEXT_INVLPG_LOCAL: u32 = 7;
const MMUEXT_TLB_FLUSH_ALL: u32 = 10;
const MMUEXT_INVLPG_ALL: u32 = 11;
const MMUEXT_FLUSH_CACHE: u32 = 12;
/// `CONSOLEIO_*` (`xen/include/public/xen.h`).
const CONSOLEIO_WRITE: u32 = 0;
const CONSOLEIO_READ: u32 = 1;
/// `SEGBASE_*` (`xen/include/public/arch-x86/xen-x86_64.h`).
const SEGBASE_FS: u32 = 0;
const SEGBASE_GS_USER: u32 = 1;
const SEGBASE_GS_KERNEL: u32 = 2;
/// `XENVER_version` (`xen/include/public/version.h`).
const XENVER_VERSION: u32 = 0;
/// The version this hypervisor reports: 4.19.
const VERSION: u32 = 4 << 16 | 19;
/// `XENPF_*` (`xen/include/public/platform.h`).
const XENPF_INTERFACE_VERSION: u32 = 0x0300_0001;
const XENPF_RESOURCE_OP: u32 = 61;
const XEN_RESOURCE_OP_MSR_READ: u32 = 0;
const XEN_RESOURCE_OP_MSR_WRITE: u32 = 1;
/// `RESOURCE_ACCESS_MAX_ENTRIES` (`xen/arch/x86/platform_hypercall.c`).
const RESOURCE_ENTRIES: usize = 3;
/// Physical CPUs of this hypervisor's host, numbered 0..: `XENPF_resource_op.cpu` names one.
pub const PCPUS: u32 = 4;
/// `FIRST_RESERVED_GDT_ENTRY` (`xen/include/public/arch-x86/xen.h`): 14 pages of descriptors.
const GDT_ENTRIES_MAX: u64 = 14 * 4096 / 8;
/// `TI_GET_IF` (`xen/include/public/arch-x86/xen.h`): `trap_info.flags` bit 2, "clear the
/// event mask on entry" (Xen's `pv/traps.c` turns it into `TBF_INTERRUPT`).
const TI_IF: u8 = 1 << 2;

/// MSR indices (`xen/arch/x86/include/asm/msr-index.h`).
mod msr {
    pub const IA32_TSC: u32 = 0x10;
    pub const PPIN: u32 = 0x4f;
    pub const TSX_FORCE_ABORT: u32 = 0x10f;
    pub const TSX_CTRL: u32 = 0x122;
    pub const MCU_OPT_CTRL: u32 = 0x123;
    pub const IA32_THERM_STATUS: u32 = 0x19c;
    pub const TEMPERATURE_TARGET: u32 = 0x1a2;
    pub const PACKAGE_THERM_STATUS: u32 = 0x1b1;
    pub const IA32_CMT_EVTSEL: u32 = 0xc8d;
    pub const IA32_CMT_CTR: u32 = 0xc8e;
    pub const EFER: u32 = 0xc000_0080;
    pub const FS_BASE: u32 = 0xc000_0100;
    pub const GS_BASE: u32 = 0xc000_0101;
    pub const SHADOW_GS_BASE: u32 = 0xc000_0102;
}

/// Xen's own EFER as a PV guest reads it: SCE | LME | LMA | NXE (`EFER_*` in
/// `xen/arch/x86/include/asm/msr-index.h`), which every x86_64 Xen runs with.
const EFER: u64 = 1 | 1 << 8 | 1 << 10 | 1 << 11;

/// cr4 bits (`X86_CR4_*`, `xen/arch/x86/include/asm/x86-defns.h`).
mod cr4 {
    pub const TSD: u64 = 1 << 2;
    pub const DE: u64 = 1 << 3;
    pub const PAE: u64 = 1 << 5;
    pub const MCE: u64 = 1 << 6;
    pub const OSFXSR: u64 = 1 << 9;
    pub const OSXMMEXCPT: u64 = 1 << 10;
    pub const FSGSBASE: u64 = 1 << 16;
    pub const OSXSAVE: u64 = 1 << 18;
}

/// `struct trap_info` (`xen/include/public/arch-x86/xen.h`), 16 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TrapInfo {
    /// Exception vector.
    pub vector: u8,
    /// 0-1: privilege level; 2: clear the event mask on entry (`TI_GET_DPL`, `TI_GET_IF`).
    pub flags: u8,
    /// Code selector.
    pub cs: u16,
    /// Code offset; 0 ends a table.
    pub address: u64,
}

/// `struct xenpf_resource_entry` (`xen/include/public/platform.h`), 24 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ResourceEntry {
    /// `union { uint32_t cmd; int32_t ret; } u`: the command in, the error of a failed entry
    /// out.
    pub u: u32,
    /// Reserved, must be 0.
    pub rsvd: u32,
    /// The MSR index (64 bits; Xen refuses one with high bits set).
    pub idx: u64,
    /// The value read or to write.
    pub val: u64,
}

/// `struct xenpf_resource_op` (`xen/include/public/platform.h`), 16 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ResourceOp {
    /// Entries at `entries`.
    pub nr_entries: u32,
    /// The physical CPU to access.
    pub cpu: u32,
    /// `XEN_GUEST_HANDLE(xenpf_resource_entry_t)`: the guest address of the entries.
    pub entries: u64,
}

/// `struct xen_platform_op` (`xen/include/public/platform.h`), 136 bytes: the union `u` is
/// `uint8_t pad[128]` with 64-bit members; this hypervisor reads its `resource_op` member.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct PlatformOp {
    /// `XENPF_*` command.
    pub cmd: u32,
    /// `XENPF_INTERFACE_VERSION`.
    pub interface_version: u32,
    /// `u.resource_op`.
    pub resource_op: ResourceOp,
    /// The rest of `u`.
    pub pad: [u64; 14],
}

/// `struct mmuext_op` (`xen/include/public/xen.h`), 24 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct MmuextOp {
    /// `MMUEXT_*`.
    pub cmd: u32,
    /// `arg1`: a frame number or a linear address.
    pub arg1: u64,
    /// `arg2`: a count, a cpumask or a frame.
    pub arg2: u64,
}

/// `struct vcpu_info` (`xen/include/public/xen.h`, with `arch_vcpu_info` from
/// `arch-x86/xen.h`), 64 bytes on x86_64.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct VcpuInfo {
    /// `evtchn_upcall_pending`: set by Xen when an event is pending.
    pub evtchn_upcall_pending: u8,
    /// `evtchn_upcall_mask`: the guest's virtual interrupt flag (nonzero masks).
    pub evtchn_upcall_mask: u8,
    /// `evtchn_pending_sel`.
    pub evtchn_pending_sel: u64,
    /// `arch.cr2`.
    pub cr2: u64,
    /// `arch.pad`.
    pub arch_pad: u64,
    /// `struct vcpu_time_info time`.
    pub time: [u64; 4],
}

// SAFETY: integers.
unsafe impl super::Plain for TrapInfo {}
// SAFETY: integers.
unsafe impl super::Plain for ResourceEntry {}
// SAFETY: integers.
unsafe impl super::Plain for PlatformOp {}
// SAFETY: integers.
unsafe impl super::Plain for MmuextOp {}

/// Whether `trap_info.flags` asks Xen to mask events on entry (`TI_GET_IF`).
pub(super) fn ti_get_if(flags: u8) -> bool {
    flags & TI_IF != 0
}

static CALLS: [AtomicU64; ENTRIES] = [const { AtomicU64::new(0) }; ENTRIES];
static OUT_OF_RANGE: AtomicU64 = AtomicU64::new(0);
pub(super) static EMULATED_CPUID: AtomicU64 = AtomicU64::new(0);
static CR3: AtomicU64 = AtomicU64::new(0);
static CR4: AtomicU64 = AtomicU64::new(0);
static CR4_WRITES: AtomicU64 = AtomicU64::new(0);
static FPU_TS: AtomicBool = AtomicBool::new(false);
/// Values of the `XENPF_resource_op` MSRs, by index (the test host has no real ones).
static RESOURCE_MSRS: Table<16> = Table::new();
static FS_BASE: AtomicU64 = AtomicU64::new(0);
static GS_BASE_KERNEL: AtomicU64 = AtomicU64::new(0);
static GS_BASE_USER: AtomicU64 = AtomicU64::new(0);
static CONSOLE: Log<4096> = Log::new();
/// Handler address per vector (0: not set), its cs and its flags.
static TRAP_ADDRESS: [AtomicU64; 256] = [const { AtomicU64::new(0) }; 256];
static TRAP_CS: [AtomicU64; 256] = [const { AtomicU64::new(0) }; 256];
static TRAP_FLAGS: [AtomicU64; 256] = [const { AtomicU64::new(0) }; 256];
static GDT_FRAME: AtomicU64 = AtomicU64::new(0);
static GDT_ENTRIES: AtomicU64 = AtomicU64::new(0);
static TLB_FLUSHES: AtomicU64 = AtomicU64::new(0);
static INVLPG: Log<1024> = Log::new();
static TLB_FLUSHES_ALL: AtomicU64 = AtomicU64::new(0);
static INVLPG_ALL: Log<1024> = Log::new();
static BLOCKS: AtomicU64 = AtomicU64::new(0);
static YIELDS: AtomicU64 = AtomicU64::new(0);
static VCPUS_DOWN: AtomicU64 = AtomicU64::new(0);

/// Copies the Xen state into `s`.
pub(super) fn fill(s: &mut State) {
    s.hypercalls = (0u32..)
        .zip(&CALLS)
        .map(|(nr, n)| (nr, load(n)))
        .filter(|(_, n)| *n != 0)
        .collect();
    s.out_of_range = load(&OUT_OF_RANGE);
    s.emulated_cpuid = load(&EMULATED_CPUID);
    s.cr3 = load(&CR3);
    s.cr4 = load(&CR4);
    s.cr4_writes = load(&CR4_WRITES);
    s.fpu_ts = FPU_TS.load(Ordering::Acquire);
    s.fs_base = load(&FS_BASE);
    s.gs_base_kernel = load(&GS_BASE_KERNEL);
    s.gs_base_user = load(&GS_BASE_USER);
    s.console = CONSOLE.values().map(|b| b as u8).collect();
    let set_vectors = || (0u8..=255).filter(|&v| load(&TRAP_ADDRESS[v as usize]) != 0);
    s.traps = set_vectors()
        .map(|v| {
            let i = v as usize;
            (v, load(&TRAP_CS[i]) as u16, load(&TRAP_ADDRESS[i]))
        })
        .collect();
    s.trap_flags = set_vectors()
        .map(|v| (v, load(&TRAP_FLAGS[v as usize]) as u8))
        .collect();
    s.gdt = (load(&GDT_FRAME), load(&GDT_ENTRIES));
    s.tlb_flushes = load(&TLB_FLUSHES);
    s.invlpg = INVLPG.values().collect();
    s.tlb_flushes_all = load(&TLB_FLUSHES_ALL);
    s.invlpg_all = INVLPG_ALL.values().collect();
    s.blocks = load(&BLOCKS);
    s.yields = load(&YIELDS);
    s.vcpus_down = load(&VCPUS_DOWN);
    s.vcpu_down = s.vcpus_down != 0;
}

/// Clears the Xen state.
pub(super) fn reset() {
    let counters = CALLS
        .iter()
        .chain(&TRAP_ADDRESS)
        .chain(&TRAP_CS)
        .chain(&TRAP_FLAGS)
        .chain([
            &OUT_OF_RANGE,
            &EMULATED_CPUID,
            &CR3,
            &CR4,
            &CR4_WRITES,
            &FS_BASE,
            &GS_BASE_KERNEL,
            &GS_BASE_USER,
            &GDT_FRAME,
            &GDT_ENTRIES,
            &TLB_FLUSHES,
            &TLB_FLUSHES_ALL,
            &BLOCKS,
            &YIELDS,
            &VCPUS_DOWN,
        ]);
    for c in counters {
        set(c, 0);
    }
    FPU_TS.store(false, Ordering::Release);
    RESOURCE_MSRS.clear();
    CONSOLE.clear();
    INVLPG.clear();
    INVLPG_ALL.clear();
}

/// Most operations one `mmuext_op` batch may hold here. Xen takes any count and splits a long
/// batch with a continuation; this hypervisor, which must not loop without bound in a signal
/// handler, refuses a longer one with `-EINVAL`.
const MMUEXT_BATCH: u64 = 1024;
/// Most `trap_info` entries one `set_trap_table` reads here (there are 256 vectors). Xen reads
/// until the terminating entry with continuations; this hypervisor refuses a longer table.
const TRAP_TABLE: usize = 256;

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
    let result = match nr {
        nr::SCHED_OP => sched_op(a1, a2),
        nr::VCPU_OP => vcpu_op(a1 as u32, a2 as u32),
        nr::FPU_TASKSWITCH => {
            FPU_TS.store(a1 as u32 != 0, Ordering::Release);
            Ok(0)
        }
        nr::MMUEXT_OP => mmuext_op(a1, a2 as u32, a3),
        nr::SET_SEGMENT_BASE => set_segment_base(a1 as u32, a2),
        nr::PLATFORM_OP => platform_op(a1),
        nr::CONSOLE_IO => console_io(a1 as u32, a2 as u32, a3),
        nr::SET_TRAP_TABLE => set_trap_table(a1),
        nr::SET_GDT => set_gdt(a1, a2 as u32),
        // Only XENVER_version; Xen answers others it lacks with -ENOSYS (xen/common/kernel.c).
        nr::XEN_VERSION if a1 as u32 == XENVER_VERSION => Ok(VERSION as i64),
        _ => Err(-ENOSYS),
    };
    result.unwrap_or_else(|e| e)
}

/// `copy_from_guest`/`copy_to_guest` failures are `-EFAULT`.
fn fault<T>(r: Result<T, ()>) -> Result<T, i64> {
    r.map_err(|()| -EFAULT)
}

/// `do_sched_op` (`xen/common/sched/core.c`).
fn sched_op(cmd: u64, arg: u64) -> Result<i64, i64> {
    match cmd {
        SCHEDOP_YIELD => bump(&YIELDS),
        SCHEDOP_BLOCK => {
            bump(&BLOCKS);
            // SCHEDOP_block unmasks events, like `sti; hlt`.
            let info = crate::xen::vcpu_info().cast::<VcpuInfo>();
            if !info.is_null() {
                // SAFETY: the registered vcpu_info lives until `Hypervisor` unregisters it.
                unsafe { (*info).evtchn_upcall_mask = 0 };
            }
        }
        // `struct sched_shutdown { unsigned int reason; }`, copied in or -EFAULT.
        SCHEDOP_SHUTDOWN => {
            fault(read::<u32>(arg))?;
        }
        _ => return Err(-ENOSYS),
    }
    Ok(0)
}

/// `do_vcpu_op` (`xen/arch/x86/domain.c`, `xen/common/domain.c`): `vcpuid` names the target
/// vCPU of the domain (-ENOENT if it has none of that id); `VCPUOP_down` takes it down.
fn vcpu_op(cmd: u32, vcpuid: u32) -> Result<i64, i64> {
    if vcpuid >= VCPUS {
        return Err(-ENOENT);
    }
    if cmd != VCPUOP_DOWN {
        return Err(-ENOSYS);
    }
    VCPUS_DOWN.fetch_or(1 << vcpuid, Ordering::AcqRel);
    Ok(0)
}

/// `do_mmuext_op` (`xen/arch/x86/mm.c`): ops in order until one fails; the count done is
/// written to `pdone` if given (its failure ignored, as Xen does).
fn mmuext_op(uops: u64, count: u32, pdone: u64) -> Result<i64, i64> {
    if count as u64 > MMUEXT_BATCH {
        return Err(-EINVAL);
    }
    let size = size_of::<MmuextOp>() as u64;
    let mut done = 0u32;
    let mut result = Ok(0);
    while done < count {
        let op = match fault(read::<MmuextOp>(uops.wrapping_add(done as u64 * size))) {
            Ok(op) => op,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        match op.cmd {
            MMUEXT_NEW_BASEPTR => set(&CR3, op.arg1 << 12),
            MMUEXT_TLB_FLUSH_LOCAL => bump(&TLB_FLUSHES),
            MMUEXT_INVLPG_LOCAL => keep(INVLPG.push(op.arg1)),
            MMUEXT_TLB_FLUSH_ALL => bump(&TLB_FLUSHES_ALL),
            MMUEXT_INVLPG_ALL => keep(INVLPG_ALL.push(op.arg1)),
            MMUEXT_FLUSH_CACHE => bump(&CACHE_FLUSHES),
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
    let register = match which {
        SEGBASE_FS => &FS_BASE,
        SEGBASE_GS_KERNEL => &GS_BASE_KERNEL,
        SEGBASE_GS_USER => &GS_BASE_USER,
        _ => return Err(-EINVAL),
    };
    if !canonical(base) {
        return Err(-EINVAL);
    }
    set(register, base);
    Ok(0)
}

/// Whether `XENPF_resource_op` may access MSR `idx` with `cmd` (`allow_access_msr` and
/// `resource_access` in `xen/arch/x86/platform_hypercall.c`): reads of the TSC and a few
/// thermal and identification MSRs; writes of the CMT selector and counter only.
fn resource_msr_allowed(cmd: u32, idx: u32) -> bool {
    use msr::*;
    match cmd {
        XEN_RESOURCE_OP_MSR_WRITE => matches!(idx, IA32_CMT_EVTSEL | IA32_CMT_CTR),
        _ => matches!(
            idx,
            IA32_TSC
                | IA32_CMT_EVTSEL
                | IA32_CMT_CTR
                | TSX_FORCE_ABORT
                | TSX_CTRL
                | MCU_OPT_CTRL
                | IA32_THERM_STATUS
                | TEMPERATURE_TARGET
                | PACKAGE_THERM_STATUS
                | PPIN
        ),
    }
}

/// `check_resource_access` (`xen/arch/x86/platform_hypercall.c`): the error of entry `e`, or 0.
fn check_resource_entry(e: &ResourceEntry) -> i64 {
    if e.rsvd != 0 {
        return -EINVAL;
    }
    match e.u {
        XEN_RESOURCE_OP_MSR_READ | XEN_RESOURCE_OP_MSR_WRITE if e.idx >> 32 != 0 => -EINVAL,
        XEN_RESOURCE_OP_MSR_READ | XEN_RESOURCE_OP_MSR_WRITE
            if !resource_msr_allowed(e.u, e.idx as u32) =>
        {
            -EPERM
        }
        XEN_RESOURCE_OP_MSR_READ | XEN_RESOURCE_OP_MSR_WRITE => 0,
        _ => -EOPNOTSUPP,
    }
}

/// `do_platform_op` (`xen/arch/x86/platform_hypercall.c`), `XENPF_resource_op` only. The
/// caller is treated as the hardware domain (Xen refuses others with `xsm_platform_op`).
///
/// As Xen: the entries are checked first and processing stops at the first bad one, whose
/// `u.ret` receives the error; `cpu` must be an online physical CPU (`-ENODEV`); the entries
/// done, plus the failed one, are copied back; the result is the number done. `IA32_TSC` reads
/// give the TSC (Xen gives scaled system time); the other MSRs on the list are the values
/// written here (0 until written), not a real host's.
fn platform_op(at: u64) -> Result<i64, i64> {
    let op = fault(read::<PlatformOp>(at))?;
    if op.interface_version != XENPF_INTERFACE_VERSION {
        return Err(-EACCES);
    }
    if op.cmd != XENPF_RESOURCE_OP {
        return Err(-ENOSYS);
    }
    let ra = op.resource_op;
    let n = ra.nr_entries as usize;
    if n == 0 {
        return Ok(0);
    }
    if n > RESOURCE_ENTRIES {
        return Err(-EINVAL);
    }
    let mut entries = [ResourceEntry::default(); RESOURCE_ENTRIES];
    fault(read_into(ra.entries, &mut entries, n))?;
    let mut done = 0;
    while done < n {
        let ret = check_resource_entry(&entries[done]);
        if ret != 0 {
            entries[done].u = ret as i32 as u32;
            break;
        }
        done += 1;
    }
    if done == 0 {
        fault(write(ra.entries, &entries[..1]))?;
        return Ok(0);
    }
    if ra.cpu >= PCPUS {
        return Err(-ENODEV);
    }
    for e in &mut entries[..done] {
        let idx = e.idx as u32;
        match e.u {
            XEN_RESOURCE_OP_MSR_READ if idx == msr::IA32_TSC => {
                // SAFETY: rdtsc is allowed in userland (the monitor's TSC trap is handled).
                e.val = unsafe { core::arch::x86_64::_rdtsc() }
            }
            XEN_RESOURCE_OP_MSR_READ => e.val = RESOURCE_MSRS.get(idx),
            _ => {
                keep(RESOURCE_MSRS.set(idx, e.val));
                keep(super::MSRS.set(idx, e.val));
            }
        }
    }
    let back = if done < n { done + 1 } else { n };
    fault(write(ra.entries, &entries[..back]))?;
    Ok(done as i64)
}

/// `do_console_io` (`xen/drivers/char/console.c`). A write is copied 128 bytes at a time, as
/// Xen does; once the console log is full the rest is counted in [`State::lost`], not read
/// (the first chunk is always read, so a bad buffer answers `-EFAULT`).
fn console_io(cmd: u32, count: u32, buffer: u64) -> Result<i64, i64> {
    match cmd {
        CONSOLEIO_WRITE => {
            let mut done = 0u32;
            while done < count {
                if done > 0 && CONSOLE.is_full() {
                    super::LOST.fetch_add((count - done) as u64, Ordering::AcqRel);
                    break;
                }
                let mut chunk = [0u8; 128];
                let n = (count - done).min(128);
                fault(copy_guest(
                    buffer.wrapping_add(done as u64),
                    chunk.as_mut_ptr(),
                    n as usize,
                    false,
                ))?;
                for b in &chunk[..n as usize] {
                    keep(CONSOLE.push(*b as u64));
                }
                done += n;
            }
            Ok(0)
        }
        // No input ever waits; Xen refuses counts its int result cannot hold.
        CONSOLEIO_READ if count > i32::MAX as u32 => Err(-E2BIG),
        CONSOLEIO_READ => Ok(0),
        _ => Err(-ENOSYS),
    }
}

/// `do_set_trap_table` (`xen/arch/x86/pv/callback.c`): sets the vectors the table names, with
/// their flags, up to the entry whose address is 0; a null table clears every vector.
fn set_trap_table(table: u64) -> Result<i64, i64> {
    if table == 0 {
        TRAP_ADDRESS.iter().for_each(|a| set(a, 0));
        return Ok(0);
    }
    for i in 0..=TRAP_TABLE {
        let at = table.wrapping_add((i * size_of::<TrapInfo>()) as u64);
        let t = fault(read::<TrapInfo>(at))?;
        if t.address == 0 {
            return Ok(0);
        }
        if i == TRAP_TABLE || !canonical(t.address) {
            break;
        }
        let v = t.vector as usize;
        set(&TRAP_CS[v], t.cs as u64);
        set(&TRAP_FLAGS[v], t.flags as u64);
        set(&TRAP_ADDRESS[v], t.address);
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
    fault(read_into(
        frame_list,
        &mut frames,
        entries.div_ceil(512) as usize,
    ))?;
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

/// One hypercall-page entry: `mov eax, nr` (zero-extended into rax); `movabs r11, entry;
/// jmp r11` (clobbers rax and r11, like Xen's `syscall` entries), padded with `int3`.
fn page_entry(nr: u32) -> [u8; ENTRY_SIZE] {
    let mut e = [0xcc; ENTRY_SIZE];
    e[0] = 0xb8;
    e[1..5].copy_from_slice(&nr.to_le_bytes());
    e[5..7].copy_from_slice(&[0x49, 0xbb]);
    e[7..15].copy_from_slice(&(entry as *const () as u64).to_le_bytes());
    e[15..18].copy_from_slice(&[0x41, 0xff, 0xe3]);
    e
}

/// Stages the hypercall page's entries that differ from what it holds.
pub(super) fn fill_page(writer: &mut RemapWriter) -> Result<(), RemapError> {
    let page = crate::xen::hypercall_page();
    // SAFETY: the hypercall page is 4096 bytes of mapped text.
    let current = unsafe { core::slice::from_raw_parts(page as *const u8, 4096) };
    for nr in 0..ENTRIES {
        let e = page_entry(nr as u32);
        let at = nr * ENTRY_SIZE;
        if current[at..at + ENTRY_SIZE] != e {
            // Nothing runs it until `install` returns.
            // SAFETY: the hypercall page is this binary's text, reserved for the hypervisor.
            unsafe { writer.stage((page + at) as u64, &e)? };
        }
    }
    Ok(())
}

/// Test entry: hypercall `nr` with any 64-bit number, entered as a hypercall-page entry enters
/// (rax = number), so numbers the page has no entry for reach the dispatcher's checks too.
///
/// # Safety
/// As [`crate::xen::hypercall`]: the arguments must be valid for `nr` where it writes guest
/// memory.
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

/// `XEN_CPUID_SIGNATURE_E[BCD]X` (`xen/include/public/arch-x86/cpuid.h`): "XenVMMXenVMM".
const SIGNATURE: [u32; 3] = [0x566e_6558, 0x6558_4d4d, 0x4d4d_566e];
/// The hypercall-page MSR Xen reports in leaf base+2 EBX (`xen/arch/x86/cpuid.c`,
/// `cpuid_hypervisor_leaves`; 0x40000200 when Viridian leaves are present).
const HYPERCALL_MSR: u32 = 0x4000_0000;

/// Xen's leaves (`xen/include/public/arch-x86/cpuid.h`) at `XEN_CPUID_FIRST_LEAF` 0x40000000:
/// base = max leaf and signature; base+1 = version; base+2 = hypercall pages (1) and their MSR.
/// Xen reports more leaves (time, HVM, PV); this hypervisor has these three, and says so in its
/// max leaf. Linux's `xen_cpuid_base` requires max - base ≥ 2.
pub(super) fn cpuid(leaf: u32) -> Option<[u32; 4]> {
    match leaf {
        0x4000_0000 => Some([0x4000_0002, SIGNATURE[0], SIGNATURE[1], SIGNATURE[2]]),
        0x4000_0001 => Some([VERSION, 0, 0, 0]),
        0x4000_0002 => Some([1, HYPERCALL_MSR, 0, 0]),
        _ => None,
    }
}

/// A trapped `rdmsr` under Xen PV (`read_msr` in `xen/arch/x86/pv/emul-priv-op.c`), for the
/// MSRs this hypervisor emulates: the segment bases (the guest's), the TSC, EFER. Others:
/// `None`, the `#GP` Xen gives for an MSR it does not emulate (unless `msr_relaxed`).
pub(super) fn rdmsr(index: u32) -> Option<u64> {
    match index {
        msr::FS_BASE => Some(load(&FS_BASE)),
        msr::GS_BASE => Some(load(&GS_BASE_KERNEL)),
        msr::SHADOW_GS_BASE => Some(load(&GS_BASE_USER)),
        // SAFETY: rdtsc is allowed in userland.
        msr::IA32_TSC => Some(unsafe { core::arch::x86_64::_rdtsc() }),
        msr::EFER => Some(EFER),
        _ => None,
    }
}

/// A trapped `wrmsr` under Xen PV (`write_msr` in `xen/arch/x86/pv/emul-priv-op.c`): the
/// segment bases, canonical only; anything else is the `#GP` Xen gives (`false`).
pub(super) fn wrmsr(index: u32, value: u64) -> bool {
    let register = match index {
        msr::FS_BASE => &FS_BASE,
        msr::GS_BASE => &GS_BASE_KERNEL,
        msr::SHADOW_GS_BASE => &GS_BASE_USER,
        _ => return false,
    };
    if !canonical(value) {
        return false;
    }
    set(register, value);
    msr_written(index, value);
    true
}

/// A trapped `mov cr4, reg` under Xen PV (`write_cr` in `xen/arch/x86/pv/emul-priv-op.c`):
/// never a fault; Xen keeps `pv_fixup_guest_cr4(v, value)` (`xen/arch/x86/pv/domain.c`): of
/// the guest's bits only `PV_CR4_GUEST_MASK` (TSD, DE, FSGSBASE, OSXSAVE, the last two only if
/// the CPU policy has them), plus Xen's own `PV_CR4_GUEST_VISIBLE_MASK` bits (PAE, MCE,
/// OSFXSR, OSXMMEXCPT, all set by an x86_64 Xen). Every other bit the guest asks for is
/// dropped.
pub(super) fn write_cr4(value: u64) {
    let leaf1 = super::cpuid(1, 0);
    let leaf7 = super::cpuid(7, 0);
    let mut guest = cr4::TSD | cr4::DE;
    if leaf7[1] & 1 != 0 {
        guest |= cr4::FSGSBASE;
    }
    if leaf1[2] & 1 << 26 != 0 {
        guest |= cr4::OSXSAVE;
    }
    let visible = cr4::PAE | cr4::MCE | cr4::OSFXSR | cr4::OSXMMEXCPT;
    bump(&CR4_WRITES);
    set(&CR4, value & guest | visible);
}
