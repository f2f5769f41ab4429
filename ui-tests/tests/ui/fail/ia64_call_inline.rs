use pv_macros::pv_intrinsic;

extern "C" fn xen_fc(addr: u64) {
    let _ = addr;
}

#[pv_intrinsic(reg = "r8", clobber = [b6], binding = inline_patch, native = "fc r8", xen = call(xen_fc))]
fn fc(addr: u64);

fn main() {}
