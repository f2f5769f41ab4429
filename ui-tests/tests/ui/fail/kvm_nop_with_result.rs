use pv_macros::pv_intrinsic;

// The rule holds for every backend, not only Xen.
#[pv_intrinsic(reg = "rax", native = "mov eax, 1", kvm = nop)]
fn one() -> u32;

fn main() {}
