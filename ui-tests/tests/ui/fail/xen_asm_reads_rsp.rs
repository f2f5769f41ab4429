use pv_macros::pv_intrinsic;

// The stack rules hold for backend bodies as well.
#[pv_intrinsic(reg = "rax", native = "xor eax, eax", xen = asm("lea rax, [rsp]"))]
fn sp() -> u64;

fn main() {}
