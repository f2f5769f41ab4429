use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rax", native = "nop", xen = native)]
struct Get;

fn main() {}
