use pv_macros::pv_intrinsic;

// `cli` is privileged: a Xen PV kernel runs in ring 3, so an absent Xen body is an error.
#[pv_intrinsic(arch = x86_64, native = "cli")]
unsafe fn irq_disable();

fn main() {}
