// Every form of `xen = ...`, per-argument registers, and arguments of every register-sized type.
use pv_macros::pv_intrinsic;

extern "C" fn double(x: u32) -> u32 {
    x * 2
}

#[pv_intrinsic(reg = "rax", native = "add eax, eax", xen = call(double))]
fn twice(x: u32) -> u32;
#[pv_intrinsic(arch = x86_64, native = "nop", xen = nop)]
fn nothing();
#[pv_intrinsic(reg = "rdi", native = "inc rdi", xen = asm("add rdi, 1"))]
fn next(p: *const u8) -> *const u8;
#[pv_intrinsic(binding = direct_branch, reg = "rax", native = "mov eax, 1", xen = hypercall(sched_op, 0, flag))]
unsafe fn yield_(#[pv(reg = "rdx")] flag: bool) -> i32;

fn main() {
    assert_eq!(twice(21), 42);
    nothing();
    let s = b"ab";
    assert_eq!(next(s.as_ptr()), s[1..].as_ptr());
    assert_eq!(unsafe { yield_(true) }, 1);
}
