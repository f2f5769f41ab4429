// One declaration with a body per hypervisor: Xen's through its hypercall page, KVM's with
// `vmcall`/`vmmcall`, Hyper-V's through its page with a control word.
use pv_macros::pv_intrinsic;

#[pv_intrinsic(arch = x86_64, binding = direct_branch, reg = "rdi", native = "pause",
    xen = hypercall(sched_op, 0, 0),
    kvm = hypercall(sched_yield, apicid),
    hyperv = hypercall(notify_long_spin_wait, apicid))]
fn yield_to(apicid: u64);

#[pv_intrinsic(arch = x86_64, binding = indirect_call, reg = "rdi", native = "nop",
    kvm = hypercall(send_ipi, 1, 0, apicid, vector),
    hyperv = hypercall(send_ipi, vector, apicid))]
fn ipi(apicid: u64, vector: u64);

fn main() {
    let d = pv_runtime::intrinsics()
        .iter()
        .find(|i| i.name == "yield_to")
        .expect("descriptor");
    for hv in pv_runtime::Hypervisor::ALL {
        assert_eq!(d.backend(hv).kind, pv_runtime::BodyKind::Hypercall);
        assert_ne!(d.backend(hv).routine as usize, d.native as usize);
    }
    let _ = (yield_to as fn(u64), ipi as fn(u64, u64));
}
