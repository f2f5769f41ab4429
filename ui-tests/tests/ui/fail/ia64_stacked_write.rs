use pv_macros::pv_intrinsic;

// Option 1 copies the sequence into the site, in the frame of the function the site is in.
#[pv_intrinsic(binding = inline_patch, arch = ia64, reg = "r8", native = "mov r32=r8", xen = native)]
fn spill(x: u64) -> u64;

fn main() {}
