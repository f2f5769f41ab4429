use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rax", native = "nop", xen = native)]
fn get(x: u64) -> u64 {
    x
}

fn main() {}
