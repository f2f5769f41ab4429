use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rax", native = "rdtsc", xen = native)]
fn get() -> u64 where u64: Copy;

fn main() {}
