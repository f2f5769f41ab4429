use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rdi", native = "nop", xen = native)]
fn log(fmt: *const u8, args: ...);

fn main() {}
