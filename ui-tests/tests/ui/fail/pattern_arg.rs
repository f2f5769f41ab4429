use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rdi", native = "nop", xen = native)]
fn set((a, b): (u32, u32));

fn main() {}
