//! The contract self-test. Every intrinsic carries a probe: one more instance of its site (or,
//! for option 4, a C call through its slot) in a routine of its own, patched with the others.
//! [`run`] enters it with every general register set from a canary array and returns what each
//! register held afterwards, so a test (or a kernel at boot) can prove that nothing outside the
//! declared contract changed — in every binding and in every patch state.

use crate::ops::{Contract, Intrinsic, Routine};

/// General registers in encoding order (index 4, rsp, is not loaded or compared).
pub type Regs = [u64; 16];

/// Index of rsp in [`Regs`].
pub const RSP: usize = 4;

/// Enters `probe` with `regs` loaded (rsp excepted), returns the registers it left.
#[unsafe(naked)]
unsafe extern "C" fn enter(regs: *mut Regs, probe: Routine) {
    core::arch::naked_asm!(
        // Callee-saved registers of the caller, the array pointer and the probe.
        "push rbx",
        "push rbp",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "push rdi",
        "push rsi",
        "sub rsp, 8",
        "mov rax, [rdi + 0]",
        "mov rcx, [rdi + 8]",
        "mov rdx, [rdi + 16]",
        "mov rbx, [rdi + 24]",
        "mov rbp, [rdi + 40]",
        "mov rsi, [rdi + 48]",
        "mov r8, [rdi + 64]",
        "mov r9, [rdi + 72]",
        "mov r10, [rdi + 80]",
        "mov r11, [rdi + 88]",
        "mov r12, [rdi + 96]",
        "mov r13, [rdi + 104]",
        "mov r14, [rdi + 112]",
        "mov r15, [rdi + 120]",
        "mov rdi, [rdi + 56]",
        "call qword ptr [rsp + 8]",
        "mov [rsp], rax",
        "mov rax, [rsp + 16]",
        "mov [rax + 8], rcx",
        "mov [rax + 16], rdx",
        "mov [rax + 24], rbx",
        "mov [rax + 40], rbp",
        "mov [rax + 48], rsi",
        "mov [rax + 56], rdi",
        "mov [rax + 64], r8",
        "mov [rax + 72], r9",
        "mov [rax + 80], r10",
        "mov [rax + 88], r11",
        "mov [rax + 96], r12",
        "mov [rax + 104], r13",
        "mov [rax + 112], r14",
        "mov [rax + 120], r15",
        "mov rcx, [rsp]",
        "mov [rax], rcx",
        "add rsp, 24",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbp",
        "pop rbx",
        "ret",
    )
}

/// Runs the probe of `intrinsic` with `regs`, returning the registers afterwards.
///
/// # Safety
/// The intrinsic must be safe to execute with these argument registers in the current patch
/// state (e.g. a privileged instruction natively traps in userland).
pub unsafe fn run(intrinsic: &Intrinsic, mut regs: Regs) -> Regs {
    // SAFETY: per the function's contract; `enter` restores every callee-saved register.
    unsafe { enter(&mut regs, intrinsic.probe) };
    regs
}

/// Registers that changed but were neither defined nor clobbered by `contract`, as a mask.
pub fn violations(contract: &Contract, before: &Regs, after: &Regs) -> u64 {
    let allowed = contract.defs | contract.clobbers;
    (0..16)
        .filter(|&i| i != RSP && allowed & 1 << i == 0 && before[i] != after[i])
        .fold(0, |m, i| m | 1 << i)
}
