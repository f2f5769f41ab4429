use pv_macros::pv_intrinsic;

// Option 4 is a C call: six register arguments at most (the pv order takes seven).
#[pv_intrinsic(binding = indirect_call, reg = "rax", native = "add rax, rdi; add rax, rsi; add rax, rdx; add rax, rcx; add rax, r8; add rax, r9", xen = native)]
fn sum7(a: u64, b: u64, c: u64, d: u64, e: u64, f: u64, g: u64) -> u64;

fn main() {}
