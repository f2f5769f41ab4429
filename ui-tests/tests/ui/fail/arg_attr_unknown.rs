use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rax", native = "nop", xen = native)]
fn set(#[pv(regg = "rdi")] value: u64);

fn main() {}
