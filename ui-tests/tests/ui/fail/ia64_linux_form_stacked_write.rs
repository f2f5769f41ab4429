use pv_macros::pv_intrinsic;

// Linux-form routines run without a frame of their own.
#[pv_intrinsic(binding = indirect_branch, form = linux, arch = ia64, reg = "r8", clobber = [r2, r3, r16, r17, b6, b7],
    native = "(p6) mov r40=r8", xen = native)]
fn spill(x: u64) -> u64;

fn main() {}
