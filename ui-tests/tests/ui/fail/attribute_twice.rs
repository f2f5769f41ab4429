use pv_macros::pv_intrinsic;

// One attribute per declaration: a second would expand again, on the generated function.
#[pv_intrinsic(reg = "rax", native = "mov eax, 1", xen = native)]
#[pv_intrinsic(reg = "rax", native = "mov eax, 2", xen = native)]
fn one() -> u32;

fn main() {}
