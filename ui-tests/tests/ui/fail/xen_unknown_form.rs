use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rax", native = "nop", xen = emulate)]
fn get() -> u64;

fn main() {}
