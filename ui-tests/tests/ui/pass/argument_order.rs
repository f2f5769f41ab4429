// The x86_64 pv argument order: `reg`, then rdi, rsi, rdx, rcx, r8, r9 skipping taken registers.
use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rax", native = "add rax, rdi; add rax, rsi; add rax, rdx; add rax, rcx; add rax, r8; add rax, r9", xen = native)]
fn sum7(a: u64, b: u64, c: u64, d: u64, e: u64, f: u64, g: u64) -> u64;

#[pv_intrinsic(reg = "rdi", native = "sub rdi, rsi", xen = native)]
fn c_order(a: u64, b: u64) -> u64;

fn main() {
    assert_eq!(sum7(1, 2, 3, 4, 5, 6, 7), 28);
    assert_eq!(c_order(50, 8), 42);
    let i = pv_runtime::intrinsics().iter().find(|i| i.name == "sum7").unwrap();
    assert_eq!(i.contract.uses, 0b11_1100_0111, "rax rcx rdx rsi rdi r8 r9");
}
