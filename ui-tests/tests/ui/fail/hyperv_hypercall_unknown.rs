use pv_macros::pv_intrinsic;

#[pv_intrinsic(arch = x86_64, native = "pause", hyperv = hypercall(notify_long_spin_waits, count))]
fn spin_wait(count: u64);

fn main() {}
