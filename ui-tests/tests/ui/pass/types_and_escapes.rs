// What item 5 and the new rules accept: `char` both ways, `xen = emulated` for a privileged
// instruction Xen traps and emulates, comments and balanced push/pop in a sequence, and a
// backend `nop` on an intrinsic without a result.
use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rax", native = "# the next character
    inc eax", xen = native)]
fn next(c: char) -> char;

#[pv_intrinsic(reg = "rax", native = "push rcx; mov ecx, eax; add eax, ecx; pop rcx", kvm = asm("add eax, eax"))]
fn double(x: u32) -> u32;

#[pv_intrinsic(arch = x86_64, native = "wbinvd", xen = emulated, kvm = emulated)]
/// Xen traps `wbinvd` from a PV guest and emulates it (Linux keeps it native too).
unsafe fn wbinvd();

#[pv_intrinsic(arch = x86_64, native = "pause", hyperv = nop)]
fn relax();

fn main() {
    assert_eq!(next('a'), 'b');
    assert_eq!(double(21), 42);
    relax();
    let _ = wbinvd as unsafe fn();
}
