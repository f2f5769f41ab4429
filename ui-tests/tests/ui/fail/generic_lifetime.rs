use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rdi", native = "nop", xen = native)]
fn touch<'a>(p: *const u8);

fn main() {}
