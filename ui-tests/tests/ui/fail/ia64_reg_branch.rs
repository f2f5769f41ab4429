use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "b0", native = "mov r8=cpuid[r8]", xen = native)]
fn get_cpuid(index: u64) -> u64;

fn main() {}
