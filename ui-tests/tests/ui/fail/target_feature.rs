use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rax", native = "popcnt rax, rax", xen = native)]
#[target_feature(enable = "popcnt")]
fn count(x: u64) -> u64;

fn main() {}
