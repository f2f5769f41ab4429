use pv_macros::pv_intrinsic;

// The seed's option 2 (`br.call b0=native_get_cpuid`) writes b0.
#[pv_intrinsic(reg = "r8", clobber = [], binding = direct_branch, arch = ia64, native = "mov r8=cpuid[r8]", xen = hyperprivop(get_cpuid))]
fn get_cpuid(index: u64) -> u64;

fn main() {}
