use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rax", native = "rdtsc", xen = native)]
fn get(&self) -> u64;

fn main() {}
