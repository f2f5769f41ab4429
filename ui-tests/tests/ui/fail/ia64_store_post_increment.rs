// A store with post-increment writes its base register, as Linux's Xen ssm_i moves its mask
// pointer to the pending byte (`st1.rel [r8]=r0,-1`): here the pointer is argument 1, in r9,
// which the contract keeps.
use pv_macros::pv_intrinsic;

#[pv_intrinsic(arch = ia64, binding = inline_patch, reg = "r8",
    native = "ssm psr.i", xen = asm("st1.rel [r9]=r0,-1; ld1.acq r8=[r9]"))]
fn unmask(pending: u64, mask: u64) -> u64;

fn main() {}
