use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rax", native = "rdtsc", hypverv = native)]
fn get() -> u64;

fn main() {}
