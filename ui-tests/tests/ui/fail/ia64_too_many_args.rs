use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "r8", clobber = [b6], native = "nop.m 0", xen = native)]
fn six(a: u64, b: u64, c: u64, d: u64, e: u64, f: u64);

fn main() {}
