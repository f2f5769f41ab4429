use pv_macros::pv_intrinsic;

// A hypercall is named, so that its table entry (and argument count) is known.
#[pv_intrinsic(arch = x86_64, native = "pause", xen = hypercall(29, 0, 0))]
fn relax();

fn main() {}
