use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "r8", clobber = [r4, b6], binding = indirect_call, native = "mov r4=r8", xen = native)]
fn stash(value: u64);

fn main() {}
