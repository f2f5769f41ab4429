use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rax", native = "call helper", xen = native)]
fn get() -> u64;

fn main() {}
