use pv_macros::pv_intrinsic;

#[pv_intrinsic(arch = x86_64, native = "nop", xen = native)]
fn set(value: u64);

fn main() {}
