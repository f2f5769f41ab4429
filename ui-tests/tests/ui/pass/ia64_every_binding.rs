// The seed's four options for one ia64 intrinsic: only `binding` and the binding's own
// clobbers change.
use pv_macros::pv_intrinsic;

#[pv_intrinsic(binding = inline_patch, arch = ia64, reg = "r8", native = "mov r8=cpuid[r8]", xen = hyperprivop(get_cpuid))]
fn cpuid1(index: u64) -> u64;
#[pv_intrinsic(binding = 2, reg = "r8", clobber = [b0], native = "mov r8=cpuid[r8]", xen = hyperprivop(get_cpuid))]
fn cpuid2(index: u64) -> u64;
#[pv_intrinsic(binding = indirect_branch, reg = "r8", clobber = [r2, b0, b1], native = "mov r8=cpuid[r8]", xen = hyperprivop(get_cpuid))]
fn cpuid3(index: u64) -> u64;
#[pv_intrinsic(binding = 4, arch = ia64, reg = "r8", native = "mov r8=cpuid[r8]", xen = hyperprivop(get_cpuid))]
fn cpuid4(index: u64) -> u64;

fn main() {
    let decls = pv_runtime::arch::ia64::decls();
    for (name, size) in [("cpuid1", 16), ("cpuid2", 16), ("cpuid3", 64), ("cpuid4", 0)] {
        let d = decls.iter().find(|d| d.name == name).unwrap();
        assert_eq!(d.site_size(), size, "{name}");
    }
}
