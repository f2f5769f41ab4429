use pv_macros::pv_intrinsic;

// An empty backend body is `nop`, which says so.
#[pv_intrinsic(arch = x86_64, native = "pause", xen = asm("; # nothing"))]
fn relax();

fn main() {}
