use pv_macros::pv_intrinsic;

// A sequence is copied into sites: `ret` would return from the caller.
#[pv_intrinsic(reg = "rax", native = "mov eax, 1; ret", xen = native)]
fn one() -> u32;

fn main() {}
