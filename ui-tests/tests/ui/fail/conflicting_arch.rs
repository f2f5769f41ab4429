use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rax", clobber = [b0], native = "nop", xen = native)]
fn get(x: u64) -> u64;

fn main() {}
