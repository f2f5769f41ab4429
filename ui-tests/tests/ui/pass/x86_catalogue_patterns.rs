// The x86_64 declaration patterns of the catalogue, run: per-argument registers, a pointer
// argument, an argument-less `unsafe fn`, explicit `rflags`, a callee-saved clobber under
// option 4 (the adapter saves it), doc comments kept.
use pv_macros::pv_intrinsic;

#[repr(C)]
#[derive(Default)]
struct Regs {
    eax: u32,
    ebx: u32,
    ecx: u32,
    edx: u32,
}

#[pv_intrinsic(binding = direct_branch, reg = "rdi", clobber = [rax, rcx, rdx],
    native = "push rbx; mov eax, [rdi]; mov ecx, [rdi + 8]; cpuid;
              mov [rdi], eax; mov [rdi + 4], ebx; mov [rdi + 8], ecx; mov [rdi + 12], edx; pop rbx",
    xen = native)]
/// cpuid in place.
unsafe fn cpuid(regs: *mut Regs);

#[pv_intrinsic(binding = indirect_branch, reg = "rax", clobber = [rflags],
    native = "lea rax, [rcx + rdx]", xen = native)]
fn add(#[pv(reg = "rcx")] a: u64, #[pv(reg = "rdx")] b: u64) -> u64;

#[pv_intrinsic(binding = indirect_call, reg = "rax", clobber = [r12],
    native = "mov r12, rax; lea rax, [r12 + 1]", xen = native)]
fn succ(x: u64) -> u64;

#[pv_intrinsic(binding = inline_patch, arch = x86_64, native = "pause", xen = nop)]
unsafe fn relax();

fn main() {
    let mut r = Regs::default();
    unsafe { cpuid(&mut r) };
    assert!(r.eax >= 1);
    assert_eq!(add(40, 2), 42);
    assert_eq!(succ(41), 42);
    unsafe { relax() };
}
