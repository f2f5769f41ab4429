use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rax", native = "mov eax, 1; leave", xen = native)]
fn one() -> u32;

fn main() {}
