use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rax", native = "nop", xen = native)]
fn two(a: u64, #[pv(reg = "rcx")] b: u64, #[pv(reg = "rcx")] c: u64);

fn main() {}
