use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rflags", native = "pushfq; pop rax", xen = native)]
fn flags() -> u64;

fn main() {}
