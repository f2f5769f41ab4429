use pv_macros::pv_intrinsic;

// rsp-relative data moves between bindings (a call pushes a return address).
#[pv_intrinsic(reg = "rax", native = "mov rax, [rsp + 8]", xen = native)]
fn peek() -> u64;

fn main() {}
