use pv_macros::pv_intrinsic;

// Separators alone are no instruction.
#[pv_intrinsic(reg = "rax", native = ";;", xen = native)]
fn nothing() -> u64;

fn main() {}
