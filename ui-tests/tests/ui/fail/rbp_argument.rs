use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rax", native = "nop", xen = native)]
fn get(#[pv(reg = "rbp")] frame: u64) -> u64;

fn main() {}
