use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rax", native = "rdtsc", clobber = [rdx], xen = hyperprivop(get_cpuid))]
fn get() -> u64;

fn main() {}
