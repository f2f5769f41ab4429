//! The guest's IDT: the 32 exception vectors, each a stub that reports the exception on the
//! console and exits with failure, and vector 0x30, the wake-up interrupt of the halt
//! workload, which only counts.
//!
//! Gate layout and the vectors that push an error code (8, 10-14, 17, 21, 29, 30): Intel SDM
//! Vol. 3A, "64-Bit Mode IDT" and the table "Protected-Mode Exceptions and Interrupts"; the
//! frame the CPU pushes (SS, RSP, RFLAGS, CS, RIP, then the error code): "64-Bit Mode Stack
//! Frame".

use crate::console;
use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};
use pv::x86_64::DescriptorTablePointer;

/// The vector the halt workload's wake-up arrives on.
pub const WAKE_VECTOR: usize = 0x30;
/// Gates: the exceptions and everything up to the wake-up vector.
const GATES: usize = WAKE_VECTOR + 1;

/// Wake-up interrupts taken; incremented by the vector 0x30 stub.
#[unsafe(no_mangle)]
static PV_GUEST_WAKEUPS: AtomicU64 = AtomicU64::new(0);

global_asm!(
    ".pushsection .text.pv_guest_idt, \"ax\", @progbits",
    ".macro pv_guest_exc n, err",
    "pv_guest_exc_\\n:",
    ".if \\err == 0",
    "push 0",
    ".endif",
    "push \\n",
    "jmp pv_guest_exc_common",
    ".endm",
    "pv_guest_exc 0, 0",
    "pv_guest_exc 1, 0",
    "pv_guest_exc 2, 0",
    "pv_guest_exc 3, 0",
    "pv_guest_exc 4, 0",
    "pv_guest_exc 5, 0",
    "pv_guest_exc 6, 0",
    "pv_guest_exc 7, 0",
    "pv_guest_exc 8, 1",
    "pv_guest_exc 9, 0",
    "pv_guest_exc 10, 1",
    "pv_guest_exc 11, 1",
    "pv_guest_exc 12, 1",
    "pv_guest_exc 13, 1",
    "pv_guest_exc 14, 1",
    "pv_guest_exc 15, 0",
    "pv_guest_exc 16, 0",
    "pv_guest_exc 17, 1",
    "pv_guest_exc 18, 0",
    "pv_guest_exc 19, 0",
    "pv_guest_exc 20, 0",
    "pv_guest_exc 21, 1",
    "pv_guest_exc 22, 0",
    "pv_guest_exc 23, 0",
    "pv_guest_exc 24, 0",
    "pv_guest_exc 25, 0",
    "pv_guest_exc 26, 0",
    "pv_guest_exc 27, 0",
    "pv_guest_exc 28, 0",
    "pv_guest_exc 29, 1",
    "pv_guest_exc 30, 1",
    "pv_guest_exc 31, 0",
    // [rsp] = vector, [rsp + 8] = error code, [rsp + 16] = rip.
    "pv_guest_exc_common:",
    "mov rdi, [rsp]",
    "mov rsi, [rsp + 8]",
    "mov rdx, [rsp + 16]",
    "and rsp, -16",
    "call {exception}",
    // The wake-up interrupt: count it and return (interrupt gate: IF is restored by iretq).
    "pv_guest_wake:",
    "lock inc qword ptr [rip + PV_GUEST_WAKEUPS]",
    "iretq",
    ".popsection",
    //
    ".pushsection .rodata.pv_guest_idt, \"a\", @progbits",
    ".balign 8",
    "pv_guest_exc_table:",
    ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
    ".quad pv_guest_exc_\\n",
    ".endr",
    ".popsection",
    exception = sym exception,
);

unsafe extern "C" {
    /// The 32 exception stubs' addresses, in vector order.
    static pv_guest_exc_table: [u64; 32];
    /// The wake-up stub.
    fn pv_guest_wake();
}

/// One 16-byte 64-bit interrupt gate (SDM Vol. 3A, "64-Bit Mode IDT").
#[derive(Clone, Copy)]
#[repr(C, align(16))]
struct Gate([u64; 2]);

/// The IDT, filled by [`init`].
static mut IDT: [Gate; GATES] = [Gate([0; 2]); GATES];

/// A present ring-0 interrupt gate to `handler` through code selector 0x08.
fn gate(handler: u64) -> Gate {
    let low = (handler & 0xffff)
        | 0x08 << 16
        | 0x8e << 40 // P, DPL 0, type 0xe: 64-bit interrupt gate
        | (handler >> 16 & 0xffff) << 48;
    Gate([low, handler >> 32])
}

/// The `lidt` operand for the IDT.
pub fn pointer() -> DescriptorTablePointer {
    DescriptorTablePointer {
        limit: (core::mem::size_of::<[Gate; GATES]>() - 1) as u16,
        base: (&raw const IDT) as u64,
    }
}

/// Fills the IDT and loads it (raw `lidt`: the boot path runs before patching).
pub fn init() {
    // SAFETY: a plain read of the initialised array of stub addresses (global_asm above).
    let stubs = unsafe { &pv_guest_exc_table };
    let mut table = [Gate([0; 2]); GATES];
    for (g, stub) in table.iter_mut().zip(stubs) {
        *g = gate(*stub);
    }
    table[WAKE_VECTOR] = gate(pv_guest_wake as *const () as u64);
    // SAFETY: one CPU, interrupts off, nothing reads the IDT while it is replaced.
    unsafe { IDT = table };
    let ptr = pointer();
    // SAFETY: `ptr` describes the IDT just filled, whose gates all point at valid stubs.
    unsafe { core::arch::asm!("lidt [{}]", in(reg) &raw const ptr, options(readonly, nostack)) };
}

/// Wake-up interrupts taken so far.
pub fn wakeups() -> u64 {
    PV_GUEST_WAKEUPS.load(Ordering::Relaxed)
}

/// Every exception stub ends here: report and exit with failure.
extern "C" fn exception(vector: u64, error: u64, rip: u64) -> ! {
    let cr2: u64;
    // SAFETY: reading cr2 has no side effect; the guest runs in ring 0.
    unsafe { core::arch::asm!("mov {}, cr2", out(reg) cr2, options(nomem, nostack)) };
    console::puts("exception vector=");
    console::dec(vector);
    console::puts(" rip=");
    console::hex(rip);
    console::puts(" error=");
    console::hex(error);
    console::puts(" cr2=");
    console::hex(cr2);
    console::puts("\n");
    console::exit(console::FAILURE)
}
