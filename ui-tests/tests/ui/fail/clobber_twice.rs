use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rax", clobber = [rdx, rcx, rdx], native = "rdtsc", xen = native)]
fn get() -> u64;

fn main() {}
