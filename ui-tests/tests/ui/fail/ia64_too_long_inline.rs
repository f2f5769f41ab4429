use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "r8", clobber = [b6], binding = inline_patch, native = "nop.m 0; nop.m 0; nop.m 0; nop.m 0; nop.m 0; nop.m 0; nop.m 0; nop.m 0; nop.m 0; nop.m 0; nop.m 0; nop.m 0; nop.m 0; nop.m 0; nop.m 0; nop.m 0; ", xen = native)]
fn slide(x: u64);

fn main() {}
