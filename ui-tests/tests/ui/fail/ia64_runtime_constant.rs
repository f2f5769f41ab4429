use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "r8", clobber = [b0], binding = direct_branch, native = "mov r8=ar.k{kr}", xen = native)]
fn get_kr(#[pv(reg = "r9")] kr: u64) -> u64;

fn main() {}
