use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rax", native = "mov rax, {x}", xen = native)]
fn get() -> u64;

fn main() {}
