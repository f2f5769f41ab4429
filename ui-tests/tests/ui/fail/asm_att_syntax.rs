// AT&T syntax in a backend body (sequences are Intel syntax): one error, at the body.
use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rax", clobber = [rdx], native = "mov rdx, rax", xen = asm("movq %rax, %rdx"))]
fn copy(x: u64);

fn main() {}
