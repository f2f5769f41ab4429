// A Xen/ia64 hypercall from a routine entered with `br.call` (option 2): the routine allocates
// r32-r36 for the arguments, puts the number in r2 and does `break 0x1000`.
use pv_macros::pv_intrinsic;
use pv_runtime::abi::ia64::asm::{HypercallArg, XenBody};

#[pv_intrinsic(reg = "r8", clobber = [b0], binding = direct_branch, native = "nop.m 0",
    xen = hypercall(sched_op, 1, timeout))]
fn block(timeout: u64);

fn main() {
    let d = pv_runtime::arch::ia64::decls().iter().find(|d| d.name == "block").unwrap();
    match d.xen {
        XenBody::Hypercall(29, args) => assert_eq!(args, [HypercallArg::Const(1), HypercallArg::Reg(8)]),
        other => panic!("{other:?}"),
    }
}
