use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "r8", clobber = [b0], binding = direct_branch, native = "nop.m 0", xen = hypercall(sched_op, 1, 0))]
fn block(unused: u64);

fn main() {}
