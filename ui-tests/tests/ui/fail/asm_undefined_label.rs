// A branch to a local label the sequence does not define: one error, at the sequence.
use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rax", native = "test rax, rax; jz 3f; inc rax", xen = native)]
fn bump() -> u64;

fn main() {}
