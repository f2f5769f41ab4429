use pv_macros::pv_intrinsic;

#[pv_intrinsic(native = "cli", xen = native)]
fn irq_disable();

fn main() {}
