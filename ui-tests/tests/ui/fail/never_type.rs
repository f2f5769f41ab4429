use pv_macros::pv_intrinsic;

#[pv_intrinsic(arch = x86_64, native = "ud2", xen = native)]
unsafe fn stop() -> !;

fn main() {}
