use pv_macros::pv_intrinsic;

// A site of nops writes nothing to `reg`: a backend `nop` cannot give a result.
#[pv_intrinsic(reg = "rax", native = "mov eax, 1", xen = nop)]
fn one() -> u32;

fn main() {}
