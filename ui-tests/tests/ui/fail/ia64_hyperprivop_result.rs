use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "r8", clobber = [b6], native = "fc r8", xen = hyperprivop(get_cpuid))]
fn flush(addr: u64);

fn main() {}
