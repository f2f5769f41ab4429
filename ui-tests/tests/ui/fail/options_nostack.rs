use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rax", clobber = [rdx], native = "rdtsc", xen = native, options = [nostack, preserves_flags])]
fn get() -> u64;

fn main() {}
