use pv_macros::pv_intrinsic;

// `sched_op` is Xen's; KVM's hypercalls are its own table.
#[pv_intrinsic(arch = x86_64, native = "nop", kvm = hypercall(sched_op, 1, 0))]
fn yield_cpu();

fn main() {}
