// #[pv_intrinsic(binding = indirect_branch, reg = "r8", clobber = [r2, b0, b1], native = "mov r8=cpuid[r8]", xen = hyperprivop(get_cpuid))]
// pub fn get_cpuid(index: u64) -> u64;

#[doc(hidden)]
#[allow(unexpected_cfgs)]
mod __pv_ia64_get_cpuid {
    #[allow(unused_imports)]
    use super::*;
    #[cfg(target_arch = "ia64")]
    #[inline(always)]
    pub fn get_cpuid(index: u64) -> u64 {
        /// This declaration as data; the site records point at it.
        #[used]
        #[unsafe(link_section = "pv_ia64_decls")]
        static __PV_DECL: ::pv_runtime::arch::ia64::Decl<'static> = ::pv_runtime::arch::ia64::Decl {
            name: "get_cpuid",
            module: ::core::module_path!(),
            binding: ::pv_runtime::Binding::IndirectBranch,
            form: ::pv_runtime::arch::ia64::Form::Seed,
            args: &[8u8],
            carrier: ::core::option::Option::Some(8u8),
            clobbers: 0x300000004,
            native: "mov r8=cpuid[r8]",
            xen: ::pv_runtime::arch::ia64::XenBody::Hyperprivop(20u32),
        };
        /// The native routine: the native body, then the return to the site.
        #[unsafe(naked)]
        unsafe extern "C" fn __pv_native() {
            ::core::arch::naked_asm!(
                "{{ .mmi", "\tmov r8=cpuid[r8] ;;", "\tnop.m 0", "\tnop.i 0 ;;", "}}",
                "{{ .mib", "\tnop.m 0", "\tnop.i 0", "\tbr.ret.sptk.many b0 ;;", "}}"
            )
        }
        /// The ops-table slot (option 3 sites load their target from it).
        static __PV_SLOT: ::pv_runtime::Slot = ::pv_runtime::Slot::new(__pv_native);
        let __pv_ret: u64;
        unsafe {
            ::core::arch::asm!(
                "\t.serialize.data", "\t.serialize.instruction", "772:", "{{ .mlx",
                "\tnop.m 0", "\tmovl r2={slot} ;;", "}}", "{{ .mmi", "\tld8 r2=[r2] ;;",
                "\tnop.m 0", "\tnop.i 0 ;;", "}}", "{{ .mii", "\tnop.m 0",
                "\tmov b1=r2 ;;", "\tnop.i 0 ;;", "}}", "{{ .mib", "\tnop.m 0",
                "\tnop.i 0", "\tbr.call.sptk.many b0=b1 ;;", "}}",
                ".pushsection pv_repl,\"aR\"", "\t.align 16", "775:",
                "\t.serialize.data", "\t.serialize.instruction", "{{ .mmi",
                "\tmov r8=cpuid[r8] ;;", "\tnop.m 0", "\tnop.i 0 ;;", "}}",
                ".popsection", ".pushsection pv_sites,\"aR\"", "\t.align 8",
                "\tdata2 0x7670", "\tdata1 1, 12, 2, 3, 64, 16", "\tdata8 772b - .",
                "\tdata8 775b - .", "\tdata8 {desc} - .", "\tdata8 0x100",
                "\tdata8 0x100", "\tdata8 0x200000300000004", ".popsection", desc = sym
                __PV_DECL, slot = sym __PV_SLOT, inout("r8")
                ::pv_runtime::__private::Reg::to_reg(index) => __pv_ret, out("r2") _,
                out("b0") _, out("b1") _, out("ar.pfs") _
            )
        };
        <u64 as ::pv_runtime::__private::Reg>::from_reg(__pv_ret)
    }
}
#[allow(unused_imports)]
pub use __pv_ia64_get_cpuid::*;
#[doc(hidden)]
#[allow(unexpected_cfgs)]
const _: () = {
    /// This ia64 declaration as data, for the catalogue writer.
    #[cfg(not(target_arch = "ia64"))]
    #[used]
    #[unsafe(link_section = "pv_ia64_decls")]
    static DECL: ::pv_runtime::arch::ia64::Decl<'static> = ::pv_runtime::arch::ia64::Decl {
        name: "get_cpuid",
        module: ::core::module_path!(),
        binding: ::pv_runtime::Binding::IndirectBranch,
        form: ::pv_runtime::arch::ia64::Form::Seed,
        args: &[8u8],
        carrier: ::core::option::Option::Some(8u8),
        clobbers: 0x300000004,
        native: "mov r8=cpuid[r8]",
        xen: ::pv_runtime::arch::ia64::XenBody::Hyperprivop(20u32),
    };
};
