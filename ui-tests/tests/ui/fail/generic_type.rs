use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rax", native = "rdtsc", xen = native)]
fn get<T>() -> u64;

fn main() {}
