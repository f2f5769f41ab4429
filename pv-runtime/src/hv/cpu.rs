//! Trapped instructions: the one `SIGILL`/`SIGSEGV` handler decodes the instruction at the
//! faulting rip and lets the installed personality emulate it, as the real hypervisor would on
//! the exit or `#GP` the instruction causes; anything else goes to the previous handler.
//!
//! In ring 3, `rdmsr`, `wrmsr`, `wbinvd` and `mov crN` raise `#GP` (`SIGSEGV`, `si_code`
//! `SI_KERNEL`); `ud2` raises `#UD` (`SIGILL`); `vmcall`/`vmmcall` raise `#GP` or `#UD` by
//! vendor and by the hypervisor this process runs under (some answer `vmmcall` themselves, and
//! then nothing traps), so both are taken from both signals.
//!
//! Async-signal-safe and re-entrant: the bytes are copied with `copy_guest` (the rip may end
//! its page), the counts are atomic adds, and the handler runs with `SA_NODEFER` so that a
//! handler interrupting it may trap in turn.

use super::{CACHE_FLUSHES, MSR_READS, Personality, bump, copy_guest, personality};
use super::{hyperv, kvm, xen};

/// `SI_KERNEL` (`include/uapi/asm-generic/siginfo.h`): the `si_code` of a `SIGSEGV` sent for a
/// general-protection fault, not a page fault.
const SI_KERNEL: libc::c_int = 0x80;

/// An instruction the hypervisors here emulate.
#[derive(Clone, Copy)]
enum Insn {
    /// `XEN_EMULATE_PREFIX cpuid` (`ud2; .ascii "xen"; cpuid`).
    XenCpuid,
    /// `rdmsr` (0f 32).
    Rdmsr,
    /// `wrmsr` (0f 30).
    Wrmsr,
    /// `wbinvd` (0f 09).
    Wbinvd,
    /// `mov crN, r64` (REX? 0f 22 /r): the control register and the general register number.
    MovToCr { cr: u8, reg: u8 },
    /// `vmcall` (0f 01 c1) or `vmmcall` (0f 01 d9).
    Hypercall,
}

/// Decodes `bytes` (what could be read at rip): the instruction and its length.
fn decode(bytes: &[u8]) -> Option<(Insn, usize)> {
    let (rex, rest) = match bytes {
        [p @ 0x40..=0x4f, rest @ ..] => (*p, rest),
        rest => (0, rest),
    };
    let prefix = usize::from(rex != 0);
    let insn = match rest {
        [p @ .., 0x0f, 0xa2] if rex == 0 && *p == xen::EMULATE_PREFIX => (Insn::XenCpuid, 7),
        [0x0f, 0x32, ..] => (Insn::Rdmsr, 2),
        [0x0f, 0x30, ..] => (Insn::Wrmsr, 2),
        [0x0f, 0x09, ..] => (Insn::Wbinvd, 2),
        [0x0f, 0x22, modrm, ..] => {
            let cr = (modrm >> 3 & 7) | (rex >> 2 & 1) << 3;
            let reg = (modrm & 7) | (rex & 1) << 3;
            (Insn::MovToCr { cr, reg }, 3)
        }
        [0x0f, 0x01, 0xc1 | 0xd9, ..] => (Insn::Hypercall, 3),
        _ => return None,
    };
    Some((insn.0, insn.1 + prefix))
}

/// `gregs` index of general register `n` in the instruction encoding's order.
fn greg(n: u8) -> usize {
    const ORDER: [libc::c_int; 16] = [
        libc::REG_RAX,
        libc::REG_RCX,
        libc::REG_RDX,
        libc::REG_RBX,
        libc::REG_RSP,
        libc::REG_RBP,
        libc::REG_RSI,
        libc::REG_RDI,
        libc::REG_R8,
        libc::REG_R9,
        libc::REG_R10,
        libc::REG_R11,
        libc::REG_R12,
        libc::REG_R13,
        libc::REG_R14,
        libc::REG_R15,
    ];
    ORDER[n as usize & 15] as usize
}

/// The registers of the interrupted context.
struct Regs<'a>(&'a mut [libc::greg_t; 23]);

impl Regs<'_> {
    fn get(&self, r: libc::c_int) -> u64 {
        self.0[r as usize] as u64
    }
    fn set(&mut self, r: libc::c_int, v: u64) {
        self.0[r as usize] = v as i64;
    }
    /// edx:eax, as `wrmsr` reads them.
    fn edx_eax(&self) -> u64 {
        self.get(libc::REG_RDX) << 32 | (self.get(libc::REG_RAX) & 0xffff_ffff)
    }
    /// Sets edx:eax (upper halves zeroed), as `rdmsr` does.
    fn set_edx_eax(&mut self, v: u64) {
        self.set(libc::REG_RAX, v & 0xffff_ffff);
        self.set(libc::REG_RDX, v >> 32);
    }
}

/// Emulates `insn` for the installed personality; `false` if it does not (the guest's fault).
fn emulate(insn: Insn, sig: libc::c_int, regs: &mut Regs) -> bool {
    let who = personality();
    match insn {
        Insn::XenCpuid if who == Personality::Xen && sig == libc::SIGILL => {
            bump(&xen::EMULATED_CPUID);
            super::interrupt();
            let r = super::cpuid(
                regs.get(libc::REG_RAX) as u32,
                regs.get(libc::REG_RCX) as u32,
            );
            for (reg, v) in [libc::REG_RAX, libc::REG_RBX, libc::REG_RCX, libc::REG_RDX]
                .into_iter()
                .zip(r)
            {
                regs.set(reg, v as u64);
            }
            true
        }
        Insn::XenCpuid => false,
        Insn::Rdmsr => {
            let index = regs.get(libc::REG_RCX) as u32;
            let value = match who {
                Personality::Xen => xen::rdmsr(index),
                Personality::Kvm => kvm::rdmsr(index),
                Personality::HyperV => hyperv::rdmsr(index),
            };
            let Some(value) = value else { return false };
            bump(&MSR_READS);
            super::interrupt();
            regs.set_edx_eax(value);
            true
        }
        Insn::Wrmsr => {
            let (index, value) = (regs.get(libc::REG_RCX) as u32, regs.edx_eax());
            super::interrupt();
            match who {
                Personality::Xen => xen::wrmsr(index, value),
                Personality::Kvm => kvm::wrmsr(index, value),
                Personality::HyperV => hyperv::wrmsr(index, value),
            }
        }
        // Xen emulates wbinvd for PV guests (`emul-priv-op.c`: a flush where the domain may
        // flush caches, else ignored); KVM and Hyper-V guests execute or exit on it. Counted.
        Insn::Wbinvd => {
            bump(&CACHE_FLUSHES);
            super::interrupt();
            true
        }
        Insn::MovToCr { cr: 4, reg } if who == Personality::Xen => {
            super::interrupt();
            xen::write_cr4(regs.0[greg(reg)] as u64);
            true
        }
        Insn::MovToCr { .. } => false,
        Insn::Hypercall if who == Personality::Kvm => {
            let args = [
                regs.get(libc::REG_RBX),
                regs.get(libc::REG_RCX),
                regs.get(libc::REG_RDX),
                regs.get(libc::REG_RSI),
            ];
            let ret = kvm::hypercall(regs.get(libc::REG_RAX), args);
            regs.set(libc::REG_RAX, ret as u64);
            true
        }
        Insn::Hypercall => false,
    }
}

/// The `SIGILL` and `SIGSEGV` handler.
pub(super) extern "C" fn on_trap(
    sig: libc::c_int,
    info: *mut libc::siginfo_t,
    ctx: *mut libc::c_void,
) {
    // SAFETY: the kernel passes valid siginfo and this thread's valid ucontext.
    let (code, gregs) = unsafe {
        (
            (*info).si_code,
            &mut (*(ctx as *mut libc::ucontext_t)).uc_mcontext.gregs,
        )
    };
    let rip = gregs[libc::REG_RIP as usize] as u64;
    let mut bytes = [0u8; 7];
    // The longest prefix that can be read: the instruction may end its page.
    let n = [7, 4, 3, 2]
        .into_iter()
        .find(|&n| copy_guest(rip, bytes.as_mut_ptr(), n, false).is_ok())
        .unwrap_or(0);
    let trap = sig == libc::SIGILL || code == SI_KERNEL;
    let mut regs = Regs(gregs);
    match decode(&bytes[..n]) {
        Some((insn, len)) if trap && emulate(insn, sig, &mut regs) => {
            regs.set(libc::REG_RIP, rip + len as u64);
        }
        // SAFETY: the arguments the kernel passed.
        _ => unsafe { super::chain(sig, info, ctx) },
    }
}
