use pv_macros::pv_intrinsic;

extern "C" fn wrong(x: u32) -> u32 {
    x
}

#[pv_intrinsic(reg = "rax", native = "nop", xen = call(wrong))]
fn get(x: u64) -> u64;

fn main() {}
