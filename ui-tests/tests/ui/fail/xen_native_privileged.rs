use pv_macros::pv_intrinsic;

// Xen PV runs the kernel in ring 3: `xen = native` would run `cli` there, where it does nothing.
#[pv_intrinsic(arch = x86_64, native = "cli", xen = native)]
unsafe fn irq_disable();

fn main() {}
