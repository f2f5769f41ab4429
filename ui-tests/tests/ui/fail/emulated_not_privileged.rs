use pv_macros::pv_intrinsic;

// `emulated` claims the hypervisor traps the native sequence: `rdtsc` does not trap here.
#[pv_intrinsic(reg = "rax", clobber = [rdx], native = "rdtsc", xen = emulated)]
fn ticks() -> u64;

fn main() {}
