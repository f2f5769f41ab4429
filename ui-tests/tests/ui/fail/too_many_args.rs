use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rax", native = "nop", xen = native)]
fn many(a: u64, b: u64, c: u64, d: u64, e: u64, f: u64, g: u64, h: u64);

fn main() {}
