use pv_macros::pv_intrinsic;

// Any other change of the stack pointer is refused, balanced or not.
#[pv_intrinsic(reg = "rax", native = "sub rsp, 8; mov eax, 1; add rsp, 8", xen = native)]
fn one() -> u32;

fn main() {}
