use pv_macros::pv_intrinsic;

#[pv_intrinsic(arch = x86_64, native = "hlt", xen = hypercall(sched_op, 1))]
fn block();

fn main() {}
