// The ia64 declaration patterns of the catalogue: predicated sequences, predicates and ar.ccv
// as clobbers, several operands, no operand, `xen = nop`, `xen = asm(...)`, `xen = call(...)`,
// and a const generic folded into the template.
use pv_macros::pv_intrinsic;

extern "C" fn xen_set_rr(index: u64, value: u64) {
    let _ = (index, value);
}

#[pv_intrinsic(reg = "r8", clobber = [p6, p7], binding = inline_patch,
    native = "cmp.ne p6,p7=r8,r0; (p6) ssm psr.i; (p7) rsm psr.i; (p6) srlz.d", xen = native)]
fn intrin_local_irq_restore(flags: u64);
#[pv_intrinsic(reg = "r8", clobber = [b0], binding = direct_branch, native = "mov rr[r8]=r9", xen = call(xen_set_rr))]
fn set_rr(index: u64, value: u64);
#[pv_intrinsic(arch = ia64, clobber = [r2, r3], binding = inline_patch, native = "rsm psr.i",
    xen = asm("movl r2=0xfffffffffff00001; mov r3=1; st1 [r2]=r3"))]
fn rsm_i();
#[pv_intrinsic(reg = "r8", clobber = [ar.ccv], binding = inline_patch, native = "ptc.ga r8,r9", xen = hyperprivop(ptc_ga))]
fn ptcga(addr: u64, size: u64);
#[pv_intrinsic(reg = "r8", clobber = [b0], binding = direct_branch, native = "mov r8=ar.k{N}", xen = native)]
fn get_kr<const N: u8>() -> u64;
#[pv_intrinsic(arch = ia64, native = "srlz.d", xen = nop)]
fn serialize();

fn main() {
    let names: Vec<&str> = pv_runtime::arch::ia64::decls().iter().map(|d| d.name).collect();
    for n in ["intrin_local_irq_restore", "set_rr", "rsm_i", "ptcga", "get_kr", "serialize"] {
        assert!(names.contains(&n), "{n} in {names:?}");
    }
}
