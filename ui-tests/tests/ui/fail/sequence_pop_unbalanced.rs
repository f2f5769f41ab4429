use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rax", native = "pop rax", xen = native)]
fn top() -> u64;

fn main() {}
