//! The `SIGSEGV` handler: decode the faulting instruction, emulate it against the virtual CPU,
//! count it, skip it. The fault is synchronous, but the instruction may belong to an
//! asynchronous signal's handler that interrupted anything — the allocator, or this handler
//! itself — so the handler is async-signal-safe: no lock, no allocation (iced-x86 decodes into
//! a stack value), atomics for the state, system calls to read guest memory. iced-x86 builds
//! its decoder tables on first use, allocating under a `Once`: [`warm_decoder`] does that
//! before the handler is installed, or a signal arriving during a handler's first decode would
//! wait for that `Once` forever (seen: the signal-storm test hung in 1 run of 10).

use crate::regs::Regs;
use crate::{
    CACHE_FLUSHES, CONSOLE, CONSOLE_PORT, CR, GDTR, HALTS, IDTR, INTERRUPTS, INVLPG, MSRS,
    PORT_WRITES, TRAPS, keep,
};
use iced_x86::{Decoder, DecoderOptions, Instruction, Mnemonic, OpKind, Register};
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

/// A trapped instruction, as the monitor counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Trap {
    /// `cli`.
    Cli,
    /// `sti`.
    Sti,
    /// `hlt`.
    Hlt,
    /// `in` (imm8 or dx port; byte, word or dword).
    In,
    /// `out` (imm8 or dx port; byte, word or dword).
    Out,
    /// `rdmsr`.
    Rdmsr,
    /// `wrmsr`.
    Wrmsr,
    /// `mov crN, r`.
    MovToCr,
    /// `mov r, crN`.
    MovFromCr,
    /// `invlpg`.
    Invlpg,
    /// `wbinvd`.
    Wbinvd,
    /// `lgdt`.
    Lgdt,
    /// `lidt`.
    Lidt,
    /// `cpuid` (with CPUID faulting).
    Cpuid,
    /// `rdtsc` (with TSC faulting).
    Rdtsc,
    /// `rdtscp` (with TSC faulting).
    Rdtscp,
}

impl Trap {
    /// Every trap, in declaration order: `ALL[t as usize] == t`.
    pub(crate) const ALL: [Trap; 16] = [
        Trap::Cli,
        Trap::Sti,
        Trap::Hlt,
        Trap::In,
        Trap::Out,
        Trap::Rdmsr,
        Trap::Wrmsr,
        Trap::MovToCr,
        Trap::MovFromCr,
        Trap::Invlpg,
        Trap::Wbinvd,
        Trap::Lgdt,
        Trap::Lidt,
        Trap::Cpuid,
        Trap::Rdtsc,
        Trap::Rdtscp,
    ];
}

impl std::fmt::Display for Trap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Trap::Cli => "cli",
            Trap::Sti => "sti",
            Trap::Hlt => "hlt",
            Trap::In => "in",
            Trap::Out => "out",
            Trap::Rdmsr => "rdmsr",
            Trap::Wrmsr => "wrmsr",
            Trap::MovToCr => "mov crN, r",
            Trap::MovFromCr => "mov r, crN",
            Trap::Invlpg => "invlpg",
            Trap::Wbinvd => "wbinvd",
            Trap::Lgdt => "lgdt",
            Trap::Lidt => "lidt",
            Trap::Cpuid => "cpuid",
            Trap::Rdtsc => "rdtsc",
            Trap::Rdtscp => "rdtscp",
        };
        f.write_str(name)
    }
}

static CPUID_FAULTING: AtomicBool = AtomicBool::new(false);
static TSC_FAULTING: AtomicBool = AtomicBool::new(false);

pub(crate) fn set_faulting(cpuid: bool, tsc: bool) {
    CPUID_FAULTING.store(cpuid, Ordering::SeqCst);
    TSC_FAULTING.store(tsc, Ordering::SeqCst);
}

fn cr_index(r: Register) -> Option<usize> {
    [
        Register::CR0,
        Register::CR1,
        Register::CR2,
        Register::CR3,
        Register::CR4,
    ]
    .iter()
    .position(|c| *c == r)
}

/// Builds iced-x86's lazily initialised decoder tables now, outside any signal handler.
pub(crate) fn warm_decoder() {
    let nop = [0x90u8];
    let _ = Decoder::with_ip(64, &nop, 0, DecoderOptions::NONE).decode();
}

/// Runs `f` with asynchronous signals blocked: while the monitor turns a fault off for one real
/// instruction, a signal handler's own `cpuid` or `rdtsc` would run unseen, and its emulation
/// would turn the fault back on under us. Synchronous faults stay deliverable.
fn signals_held<R>(f: impl FnOnce() -> R) -> R {
    // pthread_sigmask is async-signal-safe; the old mask is restored before returning.
    // SAFETY: sigset manipulation on locals only.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        for sync in [
            libc::SIGSEGV,
            libc::SIGILL,
            libc::SIGBUS,
            libc::SIGFPE,
            libc::SIGTRAP,
        ] {
            libc::sigdelset(&mut all, sync);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        let r = f();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        r
    }
}

/// Runs `f` with `rdtsc` allowed, then traps it again.
fn untrapped_tsc<R>(f: impl FnOnce() -> R) -> R {
    signals_held(|| {
        // SAFETY: per-thread TSC mode switches, restored before returning.
        unsafe { libc::prctl(libc::PR_SET_TSC, libc::PR_TSC_ENABLE) };
        let r = f();
        // SAFETY: as above.
        unsafe { libc::prctl(libc::PR_SET_TSC, libc::PR_TSC_SIGSEGV) };
        r
    })
}

/// Copies guest memory at `at` into `to` with `process_vm_readv` on this process: an unmapped
/// address fails instead of faulting inside the handler, and the call is async-signal-safe.
fn read_guest(at: u64, to: &mut [u8]) -> bool {
    let local = libc::iovec {
        iov_base: to.as_mut_ptr().cast(),
        iov_len: to.len(),
    };
    let remote = libc::iovec {
        iov_base: at as *mut libc::c_void,
        iov_len: to.len(),
    };
    // SAFETY: `local` is `to`; the kernel checks `remote`.
    let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    n == to.len() as isize
}

fn set(a: &std::sync::atomic::AtomicU64, v: u64) {
    a.store(v, Ordering::Release);
}

fn bump(a: &std::sync::atomic::AtomicU64) {
    a.fetch_add(1, Ordering::AcqRel);
}

/// Emulates one instruction against the virtual CPU; `None` if the monitor cannot.
fn emulate(insn: &Instruction, regs: &mut Regs) -> Option<Trap> {
    let port = |regs: &Regs, op: u32| -> Option<u16> {
        match insn.op_kind(op) {
            OpKind::Immediate8 => Some(insn.immediate8() as u16),
            OpKind::Register => Some(regs.get(insn.op_register(op))? as u16),
            _ => None,
        }
    };
    Some(match insn.mnemonic() {
        Mnemonic::Cli => {
            INTERRUPTS.store(false, Ordering::Release);
            Trap::Cli
        }
        Mnemonic::Sti => {
            INTERRUPTS.store(true, Ordering::Release);
            Trap::Sti
        }
        Mnemonic::Hlt => {
            bump(&HALTS);
            Trap::Hlt
        }
        Mnemonic::In => {
            let p = port(regs, 1)?;
            let value = if p == CONSOLE_PORT {
                CONSOLE_PORT as u64
            } else {
                u64::MAX
            };
            regs.set(insn.op0_register(), value)?;
            Trap::In
        }
        Mnemonic::Out => {
            let p = port(regs, 0)?;
            let value = regs.get(insn.op1_register())? as u32;
            if p == CONSOLE_PORT {
                keep(CONSOLE.push(value as u8 as u64));
            } else {
                keep(PORT_WRITES.push((p as u64) << 32 | value as u64));
            }
            Trap::Out
        }
        Mnemonic::Rdmsr => {
            let msr = regs.raw(libc::REG_RCX) as u32;
            regs.set_edx_eax(MSRS.get(msr));
            Trap::Rdmsr
        }
        Mnemonic::Wrmsr => {
            let msr = regs.raw(libc::REG_RCX) as u32;
            keep(MSRS.set(msr, regs.edx_eax()));
            Trap::Wrmsr
        }
        Mnemonic::Mov if insn.op_count() == 2 => {
            let (dst, src) = (insn.op0_register(), insn.op1_register());
            match (cr_index(dst), cr_index(src)) {
                (Some(cr), None) => {
                    set(&CR[cr], regs.get(src)?);
                    Trap::MovToCr
                }
                (None, Some(cr)) => {
                    regs.set(dst, CR[cr].load(Ordering::Acquire))?;
                    Trap::MovFromCr
                }
                _ => return None,
            }
        }
        Mnemonic::Invlpg => {
            keep(INVLPG.push(regs.address(insn)?));
            Trap::Invlpg
        }
        Mnemonic::Wbinvd => {
            bump(&CACHE_FLUSHES);
            Trap::Wbinvd
        }
        Mnemonic::Lgdt | Mnemonic::Lidt => {
            // The 10-byte operand; unreadable, the instruction is refused (a CPU would #PF).
            let mut operand = [0u8; 10];
            if !read_guest(regs.address(insn)?, &mut operand) {
                return None;
            }
            let limit = u16::from_le_bytes([operand[0], operand[1]]);
            let base = u64::from_le_bytes(operand[2..].try_into().ok()?);
            let (register, trap) = if insn.mnemonic() == Mnemonic::Lgdt {
                (&GDTR, Trap::Lgdt)
            } else {
                (&IDTR, Trap::Lidt)
            };
            set(&register[0], base);
            set(&register[1], limit as u64);
            trap
        }
        Mnemonic::Cpuid if CPUID_FAULTING.load(Ordering::SeqCst) => {
            let (leaf, sub) = (
                regs.raw(libc::REG_RAX) as u32,
                regs.raw(libc::REG_RCX) as u32,
            );
            // SAFETY: this thread's CPUID mode, off for one real `cpuid`, then on again.
            let r = signals_held(|| unsafe {
                libc::syscall(libc::SYS_arch_prctl, crate::ARCH_SET_CPUID, 1);
                let r = core::arch::x86_64::__cpuid_count(leaf, sub);
                libc::syscall(libc::SYS_arch_prctl, crate::ARCH_SET_CPUID, 0);
                r
            });
            for (reg, v) in [
                (libc::REG_RAX, r.eax),
                (libc::REG_RBX, r.ebx),
                (libc::REG_RCX, r.ecx),
                (libc::REG_RDX, r.edx),
            ] {
                regs.set_raw(reg, v as u64);
            }
            Trap::Cpuid
        }
        Mnemonic::Rdtsc if TSC_FAULTING.load(Ordering::SeqCst) => {
            // SAFETY: `rdtsc` with TSC reads allowed for this one instruction.
            regs.set_edx_eax(untrapped_tsc(|| unsafe { core::arch::x86_64::_rdtsc() }));
            Trap::Rdtsc
        }
        Mnemonic::Rdtscp if TSC_FAULTING.load(Ordering::SeqCst) => {
            let mut aux = 0u32;
            // SAFETY: as for rdtsc.
            regs.set_edx_eax(untrapped_tsc(|| unsafe {
                core::arch::x86_64::__rdtscp(&mut aux)
            }));
            regs.set_raw(libc::REG_RCX, aux as u64);
            Trap::Rdtscp
        }
        _ => return None,
    })
}

/// Writes `text` to standard error with `write(2)`, which a signal handler may call.
fn say(text: &[u8]) {
    // SAFETY: a plain write of a valid buffer.
    unsafe { libc::write(2, text.as_ptr().cast(), text.len()) };
}

fn hex(mut n: u64, out: &mut [u8]) -> usize {
    let digits = b"0123456789abcdef";
    let mut tmp = [0u8; 16];
    let mut i = 0;
    loop {
        tmp[i] = digits[(n & 0xf) as usize];
        n >>= 4;
        i += 1;
        if n == 0 {
            break;
        }
    }
    for j in 0..i {
        out[j] = tmp[i - 1 - j];
    }
    i
}

/// Reports an instruction the monitor cannot emulate, then lets the fault take its default
/// course (the process ends): skipping it would run the guest on wrong state.
fn refuse(rip: u64, bytes: &[u8]) {
    let mut line = [0u8; 160];
    let prefix = b"pv-monitor: cannot emulate the instruction at 0x";
    line[..prefix.len()].copy_from_slice(prefix);
    let mut n = prefix.len();
    n += hex(rip, &mut line[n..]);
    line[n..n + 8].copy_from_slice(b", bytes:");
    n += 8;
    for b in bytes.iter().take(15) {
        line[n] = b' ';
        n += 1;
        if *b < 16 {
            line[n] = b'0';
            n += 1;
        }
        n += hex(*b as u64, &mut line[n..]);
    }
    line[n] = b'\n';
    say(&line[..=n]);
    // Returning re-executes the instruction, which then kills the process with SIGSEGV.
    // SAFETY: installs the default disposition.
    unsafe { libc::signal(libc::SIGSEGV, libc::SIG_DFL) };
}

static INTERRUPT: AtomicPtr<()> = AtomicPtr::new(std::ptr::null_mut());

/// Test hook: `hook` runs once, inside the handler of the next trap, after the instruction is
/// decoded and before it is emulated and counted — where the state used to be held under a
/// lock. Tests raise a signal there whose handler traps in turn.
#[doc(hidden)]
pub fn interrupt_next(hook: fn()) {
    INTERRUPT.store(hook as *mut (), Ordering::Release);
}

/// Runs the hook set by [`interrupt_next`], once.
fn interrupt() {
    let hook = INTERRUPT.swap(std::ptr::null_mut(), Ordering::AcqRel);
    if !hook.is_null() {
        // SAFETY: only `interrupt_next` stores here, and it stores a `fn()`.
        let hook: fn() = unsafe { std::mem::transmute::<*mut (), fn()>(hook) };
        hook();
    }
}

pub(crate) extern "C" fn on_sigsegv(
    _: libc::c_int,
    _: *mut libc::siginfo_t,
    ctx: *mut libc::c_void,
) {
    // SAFETY: the kernel passes this thread's ucontext.
    let gregs = unsafe { &mut (*(ctx as *mut libc::ucontext_t)).uc_mcontext.gregs };
    let rip = gregs[libc::REG_RIP as usize] as u64;
    // At most one instruction (15 bytes), within rip's page: copied, since a fault on
    // instruction fetch leaves rip unmapped.
    let mut code = [0u8; 15];
    let room = (4096 - (rip & 4095)).min(15) as usize;
    // Unreadable (a jump to unmapped memory): no bytes, an invalid instruction, refused.
    let bytes: &[u8] = if read_guest(rip, &mut code[..room]) {
        &code[..room]
    } else {
        &[]
    };
    let insn = Decoder::with_ip(64, bytes, rip, DecoderOptions::NONE).decode();
    let mut regs = Regs(gregs);
    let trap = if insn.is_invalid() {
        None
    } else {
        interrupt();
        emulate(&insn, &mut regs).inspect(|t| bump(&TRAPS[*t as usize]))
    };
    match trap {
        Some(_) => regs.set_raw(libc::REG_RIP, rip + insn.len() as u64),
        None => refuse(rip, bytes),
    }
}
