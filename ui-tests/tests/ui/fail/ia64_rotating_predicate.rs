use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "r8", clobber = [p16, ar.pfs], native = "mov r8=cpuid[r8]", xen = native)]
fn get_cpuid(index: u64) -> u64;

fn main() {}
