use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "r8", clobber = [b6], native = "mov r8=cpuid[r8]", xen = hyperprivop(get_cpuid))]
fn get_cpuid(index: u64, extra: u64) -> u64;

fn main() {}
