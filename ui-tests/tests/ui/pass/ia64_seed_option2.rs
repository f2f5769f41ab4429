// The user's own declaration: the seed's option 2 (`br.call b0=native_get_cpuid`), with r8 for
// argument 0 and the result and b0 declared clobbered. On a non-ia64 host it exists as data.
use pv_macros::pv_intrinsic;
use pv_runtime::Binding;
use pv_runtime::arch::ia64::{XenBody, decls};

#[pv_intrinsic(reg = "r8", clobber = [b0], binding = direct_branch,
    native = "mov r8=cpuid[r8]", xen = hyperprivop(get_cpuid))]
/// `cpuid` register `index`.
pub fn get_cpuid(index: u64) -> u64;

fn main() {
    let d = decls().iter().find(|d| d.name == "get_cpuid").expect("declared");
    assert_eq!(d.binding, Binding::DirectBranch);
    assert_eq!((d.args, d.carrier), (&[8u8][..], Some(8)));
    assert_eq!(d.clobbers, 1 << 32, "b0");
    assert!(matches!(d.xen, XenBody::Hyperprivop(0x14)));
    let mut site = String::new();
    let symbols = pv_runtime::abi::ia64::asm::Symbols {
        site: ("s:", "s"),
        repl: ("r:", "r"),
        native: "native_get_cpuid",
        slot: "slot",
        desc: "desc",
    };
    d.site(&mut site, &symbols, false).unwrap();
    assert!(site.contains("br.call.sptk.many b0=native_get_cpuid"), "{site}");
}
