use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rdi", native = "hlt", xen = hypercall(sched_op, cmd, 0))]
fn block(command: u64);

fn main() {}
