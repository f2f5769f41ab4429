// r8 and r9 exist on both architectures.
use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "r8", clobber = [r9], native = "nop", xen = native)]
fn get(x: u64) -> u64;

fn main() {}
