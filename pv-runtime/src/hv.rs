//! An in-process test hypervisor that speaks the Xen x86_64 hypercall ABI, so the Xen path of
//! every intrinsic runs in ordinary tests and in the tour.
//!
//! [`Hypervisor::install`] fills the hypercall page (through [`RemapWriter`], like any other
//! text) with entries that load the hypercall number and jump to a common entry, which calls
//! `dispatch` with the Xen argument registers. It registers a `vcpu_info` and a `SIGILL`
//! handler that emulates `XEN_EMULATE_PREFIX cpuid`. The virtual CPU state it keeps and the
//! calls it counts are read with [`state`]. Dropping the guard restores the previous `SIGILL`
//! handler and unregisters the `vcpu_info`; the page stays filled.

use crate::writer::{RemapError, RemapWriter, TextWriter};
use crate::xen::{self, EMULATE_PREFIX, HYPERCALL_ENTRY_SIZE, HYPERCALL_PAGE_ENTRIES, VcpuInfo};
use pv_abi::xen::{console, mmuext, platform, sched, segbase, vcpu};
use std::boxed::Box;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::vec::Vec;

/// The virtual CPU as the hypervisor sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    /// Calls per hypercall number.
    pub hypercalls: BTreeMap<u32, u64>,
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
    /// Bytes written with `console_io(CONSOLEIO_write)`.
    pub console: Vec<u8>,
    /// (vector, cs, handler) from the last `set_trap_table`s.
    pub traps: Vec<(u8, u16, u64)>,
    /// (first frame, entries) of the last `set_gdt`.
    pub gdt: (u64, u64),
    /// `MMUEXT_TLB_FLUSH_LOCAL` operations.
    pub tlb_flushes: u64,
    /// Addresses of `MMUEXT_INVLPG_LOCAL` operations, in order.
    pub invlpg: Vec<u64>,
    /// `MMUEXT_FLUSH_CACHE` operations.
    pub cache_flushes: u64,
    /// `sched_op(SCHEDOP_block)` calls.
    pub blocks: u64,
    /// `sched_op(SCHEDOP_yield)` calls.
    pub yields: u64,
    /// Whether `vcpu_op(VCPUOP_down)` took the vCPU down.
    pub vcpu_down: bool,
}

impl State {
    /// Calls of the hypercall named `name`.
    pub fn calls(&self, name: &str) -> u64 {
        pv_abi::xen::hypercall(name)
            .and_then(|h| self.hypercalls.get(&h.nr))
            .copied()
            .unwrap_or(0)
    }

    /// All hypercalls made.
    pub fn total_calls(&self) -> u64 {
        self.hypercalls.values().sum()
    }
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    let mut guard = STATE.lock().unwrap_or_else(|p| p.into_inner());
    f(guard.get_or_insert_with(State::default))
}

/// A copy of the current virtual state.
pub fn state() -> State {
    with(|s| s.clone())
}

/// Clears the virtual state and the counters.
pub fn reset() {
    with(|s| *s = State::default());
}

/// One hypercall. Arguments as Xen receives them (rdi, rsi, rdx, r10, r8).
extern "C" fn dispatch(nr: u64, a1: u64, a2: u64, a3: u64, a4: u64, _a5: u64) -> i64 {
    let nr = nr as u32;
    with(|s| {
        *s.hypercalls.entry(nr).or_default() += 1;
        let name = pv_abi::xen::hypercall_by_nr(nr).map_or("?", |h| h.name);
        // SAFETY (for the pointer arguments below): the guest passes pointers to structures of
        // the hypercall's public ABI, valid for the duration of the call.
        match name {
            "sched_op" => match a1 {
                sched::BLOCK => {
                    s.blocks += 1;
                    // SCHEDOP_block unmasks events, like `sti; hlt`.
                    unsafe { (*xen::vcpu_info()).evtchn_upcall_mask = 0 };
                }
                sched::YIELD => s.yields += 1,
                sched::SHUTDOWN => {}
                _ => return -38,
            },
            "vcpu_op" if a1 == vcpu::DOWN => s.vcpu_down = true,
            "fpu_taskswitch" => s.fpu_ts = a1 != 0,
            "mmuext_op" => {
                for i in 0..a2 as usize {
                    let op = unsafe { &*(a1 as *const xen::pv::MmuextOp).add(i) };
                    match op.cmd {
                        mmuext::NEW_BASEPTR => s.cr3 = op.arg1 << 12,
                        mmuext::TLB_FLUSH_LOCAL => s.tlb_flushes += 1,
                        mmuext::INVLPG_LOCAL => s.invlpg.push(op.arg1),
                        mmuext::FLUSH_CACHE => s.cache_flushes += 1,
                        _ => return -38,
                    }
                }
                let _ = a3;
            }
            "set_segment_base" => match a1 {
                segbase::FS => s.fs_base = a2,
                segbase::GS_KERNEL => s.gs_base_kernel = a2,
                segbase::GS_USER => s.gs_base_user = a2,
                _ => return -22,
            },
            "platform_op" => {
                let op = unsafe { &*(a1 as *const xen::pv::PlatformOp) };
                if op.cmd != platform::RESOURCE_OP
                    || op.interface_version != platform::INTERFACE_VERSION
                {
                    return -38;
                }
                for i in 0..op.nr_entries as usize {
                    let e = unsafe { &mut *op.entries.add(i) };
                    match e.cmd {
                        platform::MSR_READ => e.val = s.msrs.get(&e.idx).copied().unwrap_or(0),
                        platform::MSR_WRITE => {
                            s.msrs.insert(e.idx, e.val);
                        }
                        _ => return -22,
                    }
                }
            }
            "console_io" => match a1 {
                console::WRITE => {
                    let bytes =
                        unsafe { core::slice::from_raw_parts(a3 as *const u8, a2 as usize) };
                    s.console.extend_from_slice(bytes);
                }
                console::READ => return 0,
                _ => return -38,
            },
            "set_trap_table" => {
                let mut p = a1 as *const xen::pv::TrapInfo;
                s.traps.clear();
                loop {
                    let t = unsafe { &*p };
                    if t.address == 0 {
                        break;
                    }
                    s.traps.push((t.vector, t.cs, t.address));
                    p = unsafe { p.add(1) };
                }
            }
            "set_gdt" => s.gdt = (unsafe { *(a1 as *const u64) }, a2),
            "xen_version" => return 4 << 16 | 19,
            _ => {
                let _ = a4;
                return -38;
            }
        }
        0
    })
}

/// Common entry of every hypercall-page entry: eax = number, Xen argument registers; calls
/// [`dispatch`] on an aligned stack; returns in rax.
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
        "mov edi, eax",
        "call {dispatch}",
        "mov rsp, rbp",
        "pop rbp",
        "ret",
        dispatch = sym dispatch,
    )
}

/// One hypercall-page entry: `mov eax, nr; movabs r11, entry; jmp r11` (clobbers rax and r11,
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

/// `SIGILL` on `XEN_EMULATE_PREFIX cpuid`: emulate it, with Xen's leaves at 0x40000000.
extern "C" fn on_sigill(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid ucontext; the faulting rip points at mapped text.
    unsafe {
        let gregs = &mut (*(ctx as *mut libc::ucontext_t)).uc_mcontext.gregs;
        let rip = gregs[libc::REG_RIP as usize] as *const u8;
        let bytes = core::slice::from_raw_parts(rip, EMULATE_PREFIX.len() + 2);
        if bytes[..EMULATE_PREFIX.len()] != EMULATE_PREFIX
            || bytes[EMULATE_PREFIX.len()..] != [0x0f, 0xa2]
        {
            return chain(sig, info, ctx);
        }
        let (leaf, sub) = (
            gregs[libc::REG_RAX as usize] as u32,
            gregs[libc::REG_RCX as usize] as u32,
        );
        let r = emulated_cpuid(leaf, sub);
        gregs[libc::REG_RAX as usize] = r[0] as i64;
        gregs[libc::REG_RBX as usize] = r[1] as i64;
        gregs[libc::REG_RCX as usize] = r[2] as i64;
        gregs[libc::REG_RDX as usize] = r[3] as i64;
        gregs[libc::REG_RIP as usize] += (EMULATE_PREFIX.len() + 2) as i64;
    }
    with(|s| s.emulated_cpuid += 1);
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

static PREVIOUS: Mutex<Option<libc::sigaction>> = Mutex::new(None);

/// Hands a `SIGILL` that is not ours to the handler installed before.
unsafe fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let previous = *PREVIOUS.lock().unwrap_or_else(|p| p.into_inner());
    // SAFETY: reinstalls the previous disposition; returning re-executes the instruction,
    // which then faults under it.
    unsafe {
        match previous {
            Some(prev) => libc::sigaction(sig, &prev, core::ptr::null_mut()),
            None => libc::signal(sig, libc::SIG_DFL) as libc::c_int,
        };
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
    /// emulation, and clears the state. One at a time per process: a second `install` waits.
    pub fn install() -> Result<Hypervisor, RemapError> {
        let lock = INSTALLED.lock().unwrap_or_else(|p| p.into_inner());
        let page = xen::hypercall_page();
        let mut writer = RemapWriter::new();
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
        // SAFETY: installs a SA_SIGINFO handler and keeps the previous one to restore.
        unsafe {
            let mut action: libc::sigaction = core::mem::zeroed();
            action.sa_sigaction = on_sigill as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO;
            let mut previous: libc::sigaction = core::mem::zeroed();
            libc::sigaction(libc::SIGILL, &action, &mut previous);
            *PREVIOUS.lock().unwrap_or_else(|p| p.into_inner()) = Some(previous);
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
            if let Some(prev) = PREVIOUS.lock().unwrap_or_else(|p| p.into_inner()).take() {
                libc::sigaction(libc::SIGILL, &prev, core::ptr::null_mut());
            }
        }
    }
}
