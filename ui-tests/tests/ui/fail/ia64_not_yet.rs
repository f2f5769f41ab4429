// The user's own ia64 declaration parses into the model; the ia64 backend comes later.
use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "r8", clobber = [b0], binding = direct_branch, native = "mov r8=cpuid[r8]", xen = native)]
fn get_cpuid(index: u64) -> u64;

fn main() {}
