use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rax", native = "rdtsc", xen = native)]
async fn get() -> u64;

fn main() {}
