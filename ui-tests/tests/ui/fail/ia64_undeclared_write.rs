// Linux's intrin_local_irq_restore body writes p6 and p7.
use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "r8", arch = ia64, binding = inline_patch,
    native = "cmp.ne p6,p7=r8,r0; (p6) ssm psr.i; (p7) rsm psr.i; (p6) srlz.d", xen = native)]
fn intrin_local_irq_restore(flags: u64);

fn main() {}
