use pv_macros::pv_intrinsic;

#[pv_intrinsic(arch = x86_64, native = "rdtsc", xen = native)]
fn get() -> u64;

fn main() {}
