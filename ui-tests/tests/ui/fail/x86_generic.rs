use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rax", clobber = [rcx, rdx], native = "rdmsr", xen = emulated)]
fn rdmsr<const MSR: u32>() -> u64;

fn main() {}
