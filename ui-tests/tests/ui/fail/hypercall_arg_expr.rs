use pv_macros::pv_intrinsic;

#[pv_intrinsic(arch = x86_64, native = "hlt", xen = hypercall(sched_op, 1 + 1, 0))]
fn block();

fn main() {}
