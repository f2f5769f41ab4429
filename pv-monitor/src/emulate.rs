//! The `SIGSEGV` handler: decode the faulting instruction, emulate it against the virtual CPU,
//! count it, skip it. The signal is synchronous — it comes from the guest's own privileged
//! instruction, never from inside the allocator — so the handler may use the state's lock.

use crate::regs::Regs;
use crate::{CONSOLE_PORT, VCpu, with_state};
use iced_x86::{Decoder, DecoderOptions, Instruction, Mnemonic, OpKind, Register};
use std::sync::atomic::{AtomicBool, Ordering};

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

/// Runs `f` with `rdtsc` allowed, then traps it again.
fn untrapped_tsc<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: per-thread TSC mode switches, restored before returning.
    unsafe { libc::prctl(libc::PR_SET_TSC, libc::PR_TSC_ENABLE) };
    let r = f();
    unsafe { libc::prctl(libc::PR_SET_TSC, libc::PR_TSC_SIGSEGV) };
    r
}

/// Emulates one instruction; `None` if the monitor cannot.
fn emulate(insn: &Instruction, regs: &mut Regs, cpu: &mut VCpu) -> Option<Trap> {
    let port = |regs: &Regs, op: u32| -> Option<u16> {
        match insn.op_kind(op) {
            OpKind::Immediate8 => Some(insn.immediate8() as u16),
            OpKind::Register => Some(regs.get(insn.op_register(op))? as u16),
            _ => None,
        }
    };
    Some(match insn.mnemonic() {
        Mnemonic::Cli => {
            cpu.interrupts = false;
            Trap::Cli
        }
        Mnemonic::Sti => {
            cpu.interrupts = true;
            Trap::Sti
        }
        Mnemonic::Hlt => {
            cpu.halts += 1;
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
                cpu.console.push(value as u8);
            } else {
                cpu.port_writes.push((p, value));
            }
            Trap::Out
        }
        Mnemonic::Rdmsr => {
            let msr = regs.raw(libc::REG_RCX) as u32;
            regs.set_edx_eax(cpu.msrs.get(&msr).copied().unwrap_or(0));
            Trap::Rdmsr
        }
        Mnemonic::Wrmsr => {
            let msr = regs.raw(libc::REG_RCX) as u32;
            cpu.msrs.insert(msr, regs.edx_eax());
            Trap::Wrmsr
        }
        Mnemonic::Mov if insn.op_count() == 2 => {
            let (dst, src) = (insn.op0_register(), insn.op1_register());
            match (cr_index(dst), cr_index(src)) {
                (Some(cr), None) => {
                    cpu.cr[cr] = regs.get(src)?;
                    Trap::MovToCr
                }
                (None, Some(cr)) => {
                    regs.set(dst, cpu.cr[cr])?;
                    Trap::MovFromCr
                }
                _ => return None,
            }
        }
        Mnemonic::Invlpg => {
            cpu.invlpg.push(regs.address(insn)?);
            Trap::Invlpg
        }
        Mnemonic::Wbinvd => {
            cpu.cache_flushes += 1;
            Trap::Wbinvd
        }
        Mnemonic::Lgdt | Mnemonic::Lidt => {
            let at = regs.address(insn)? as usize;
            // SAFETY: the guest's own memory operand of 10 bytes; the guest is this process.
            let (limit, base) = unsafe {
                (
                    (at as *const u16).read_unaligned(),
                    ((at + 2) as *const u64).read_unaligned(),
                )
            };
            if insn.mnemonic() == Mnemonic::Lgdt {
                cpu.gdtr = (base, limit);
                Trap::Lgdt
            } else {
                cpu.idtr = (base, limit);
                Trap::Lidt
            }
        }
        Mnemonic::Cpuid if CPUID_FAULTING.load(Ordering::SeqCst) => {
            let (leaf, sub) = (
                regs.raw(libc::REG_RAX) as u32,
                regs.raw(libc::REG_RCX) as u32,
            );
            // SAFETY: this thread's CPUID mode, off for one real `cpuid`, then on again.
            let r = unsafe {
                libc::syscall(libc::SYS_arch_prctl, crate::ARCH_SET_CPUID, 1);
                let r = core::arch::x86_64::__cpuid_count(leaf, sub);
                libc::syscall(libc::SYS_arch_prctl, crate::ARCH_SET_CPUID, 0);
                r
            };
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
    // SAFETY: the default disposition; returning re-executes the instruction, which now kills
    // the process with SIGSEGV.
    unsafe { libc::signal(libc::SIGSEGV, libc::SIG_DFL) };
}

pub(crate) extern "C" fn on_sigsegv(
    _: libc::c_int,
    _: *mut libc::siginfo_t,
    ctx: *mut libc::c_void,
) {
    // SAFETY: the kernel passes this thread's ucontext; the faulting rip points at the
    // guest's code, of which we read at most one instruction (15 bytes, within its page).
    let gregs = unsafe { &mut (*(ctx as *mut libc::ucontext_t)).uc_mcontext.gregs };
    let rip = gregs[libc::REG_RIP as usize] as u64;
    let room = (4096 - (rip & 4095)).min(15) as usize;
    let bytes = unsafe { std::slice::from_raw_parts(rip as *const u8, room) };
    let insn = Decoder::with_ip(64, bytes, rip, DecoderOptions::NONE).decode();
    let mut regs = Regs(gregs);
    let trap = if insn.is_invalid() {
        None
    } else {
        with_state(|cpu| {
            emulate(&insn, &mut regs, cpu).inspect(|t| *cpu.traps.entry(*t).or_default() += 1)
        })
    };
    match trap {
        Some(_) => regs.set_raw(libc::REG_RIP, rip + insn.len() as u64),
        None => refuse(rip, bytes),
    }
}
