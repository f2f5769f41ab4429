use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rax", native = "nop", xen = native)]
fn get(x: u128) -> [u8; 16];

fn main() {}
