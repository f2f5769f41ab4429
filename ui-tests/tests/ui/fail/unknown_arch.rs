use pv_macros::pv_intrinsic;

#[pv_intrinsic(arch = arm64, native = "nop", xen = native)]
fn get();

fn main() {}
