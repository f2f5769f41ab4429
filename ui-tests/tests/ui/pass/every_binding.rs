// The same declaration in each binding, by name and by RFC number; switching the binding
// changes nothing else.
use pv_macros::pv_intrinsic;

#[pv_intrinsic(binding = inline_patch, reg = "rax", clobber = [rdx], native = "rdtsc; shl rdx, 32; or rax, rdx", xen = native)]
fn tsc1() -> u64;
#[pv_intrinsic(binding = 2, reg = "rax", clobber = [rdx], native = "rdtsc; shl rdx, 32; or rax, rdx", xen = native)]
fn tsc2() -> u64;
#[pv_intrinsic(binding = indirect_branch, reg = "rax", clobber = [rdx], native = "rdtsc; shl rdx, 32; or rax, rdx", xen = native)]
fn tsc3() -> u64;
#[pv_intrinsic(binding = 4, reg = "rax", clobber = [rdx], native = "rdtsc; shl rdx, 32; or rax, rdx", xen = native)]
fn tsc4() -> u64;

fn main() {
    let (a, b, c, d) = (tsc1(), tsc2(), tsc3(), tsc4());
    assert!(a <= b && b <= c && c <= d);
    assert_eq!(pv_runtime::sites().filter(|s| !s.as_ref().unwrap().record.probe).count(), 3);
}
