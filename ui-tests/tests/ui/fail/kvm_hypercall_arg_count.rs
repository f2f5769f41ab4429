use pv_macros::pv_intrinsic;

#[pv_intrinsic(arch = x86_64, native = "nop", kvm = hypercall(kick_cpu, apicid))]
fn kick(apicid: u32);

fn main() {}
