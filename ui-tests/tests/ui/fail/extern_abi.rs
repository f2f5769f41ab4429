use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rax", native = "rdtsc", xen = native)]
extern "C" fn get() -> u64;

fn main() {}
