use pv_macros::pv_intrinsic;

// A comment alone is no instruction.
#[pv_intrinsic(reg = "rax", native = "# the time stamp counter", xen = native)]
fn nothing() -> u64;

fn main() {}
