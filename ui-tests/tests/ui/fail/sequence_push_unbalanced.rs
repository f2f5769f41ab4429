use pv_macros::pv_intrinsic;

// Every push needs its pop: the site must leave the stack as it found it.
#[pv_intrinsic(reg = "rax", native = "push rax; mov eax, 1", xen = native)]
fn one() -> u32;

fn main() {}
