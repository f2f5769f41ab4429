use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rdi", native = "nop", xen = native)]
fn set(value: &u64);

fn main() {}
