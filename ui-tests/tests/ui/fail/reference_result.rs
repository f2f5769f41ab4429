use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rax", native = "nop", xen = native)]
fn get(x: u64) -> &'static mut u64;

fn main() {}
