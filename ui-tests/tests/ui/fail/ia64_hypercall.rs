use pv_macros::pv_intrinsic;

// An option 1 site is copied into; a hypercall needs a routine with a frame of its own.
#[pv_intrinsic(reg = "r8", arch = ia64, binding = inline_patch, native = "nop.m 0", xen = hypercall(sched_op, 1, 0))]
fn block(unused: u64);

fn main() {}
