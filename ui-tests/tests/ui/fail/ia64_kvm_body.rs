use pv_macros::pv_intrinsic;

// KVM and Hyper-V have no ia64 guest ABI.
#[pv_intrinsic(arch = ia64, reg = "r8", native = "mov r8=ar.itc", xen = native, kvm = native)]
fn get_itc() -> u64;

fn main() {}
