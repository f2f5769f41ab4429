use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "r8", clobber = [b6], native = "zap r8", xen = native)]
fn zap(x: u64) -> u64;

fn main() {}
