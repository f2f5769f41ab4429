use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rax", clobber = [rdx, 1], native = "nop", xen = native)]
fn get() -> u64;

fn main() {}
