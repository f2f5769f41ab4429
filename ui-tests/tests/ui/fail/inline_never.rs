use pv_macros::pv_intrinsic;

// The generated function is always `#[inline(always)]`: a `#[inline(never)]` would be overridden.
#[pv_intrinsic(reg = "rax", clobber = [rdx], native = "rdtsc; shl rdx, 32; or rax, rdx", xen = native)]
#[inline(never)]
fn ticks() -> u64;

fn main() {}
