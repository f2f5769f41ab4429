use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "r8", clobber = [b0], binding = direct_branch, native = "mov r8=r9", xen = native)]
fn getreg(#[pv(constant)] regnum: u16) -> u64;

fn main() {}
