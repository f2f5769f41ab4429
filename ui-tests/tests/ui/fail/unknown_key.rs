// Unknown keys get a suggestion; every problem is reported at once.
use pv_macros::pv_intrinsic;

#[pv_intrinsic(regg = "rax", clobbers = [rdx], native = "nop", xen = native)]
fn get(x: u64) -> u64;

fn main() {}
