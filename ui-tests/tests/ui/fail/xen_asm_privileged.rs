use pv_macros::pv_intrinsic;

// A Xen body is run deprivileged too: a privileged instruction in it faults.
#[pv_intrinsic(reg = "rax", clobber = [rcx, rdx], native = "mov ecx, 0x10; rdmsr", xen = asm("mov ecx, 0x10; rdmsr"))]
unsafe fn read_tsc_msr() -> u64;

fn main() {}
