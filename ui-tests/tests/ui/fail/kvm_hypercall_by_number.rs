use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rdi", native = "pause", kvm = hypercall(11, apicid))]
fn yield_to(apicid: u32);

fn main() {}
