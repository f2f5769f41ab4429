use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rax", clobber = [rdxx], native = "nop", xen = native)]
fn get(x: u64) -> u64;

fn main() {}
