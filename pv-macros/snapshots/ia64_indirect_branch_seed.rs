// #[pv_intrinsic(binding = indirect_branch, reg = "r8", clobber = [r2, b0, b1], native = "mov r8=cpuid[r8]", xen = hyperprivop(get_cpuid))]
// pub fn get_cpuid(index: u64) -> u64;

#[doc(hidden)]
#[allow(unexpected_cfgs)]
mod __pv_ia64_get_cpuid {
    #[allow(unused_imports)]
    use super::*;
    /// This declaration as data: the catalogue writer regenerates its assembly from it
    /// on any host, and on ia64 the site records point at it.
    #[used]
    #[unsafe(link_section = "pv_ia64_decls")]
    static __PV_DECL: ::pv_runtime::arch::ia64::Decl<'static> = ::pv_runtime::arch::ia64::Decl {
        name: "get_cpuid",
        module: ::pv_runtime::abi::ia64::asm::enclosing(::core::module_path!()),
        binding: ::pv_runtime::Binding::IndirectBranch,
        form: ::pv_runtime::arch::ia64::Form::Seed,
        args: &[8u8],
        carrier: ::core::option::Option::Some(8u8),
        clobbers: 0x300000004,
        native: "mov r8=cpuid[r8]",
        xen: ::pv_runtime::arch::ia64::XenBody::Hyperprivop(20u32),
    };
    #[cfg(target_arch = "ia64")]
    #[inline(always)]
    pub fn get_cpuid(index: u64) -> u64 {
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
        // SAFETY: the site honours the declared register contract in every patch state.
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
                "\tdata2 {magic}",
                "\tdata1 {version}, {flags}, {arch}, {binding}, {len}, {repl_len}",
                "\tdata8 772b - .", "\tdata8 775b - .", "\tdata8 {desc} - .",
                "\tdata8 {uses}, {defs}, {clobbers}", ".popsection", desc = sym
                __PV_DECL, slot = sym __PV_SLOT, magic = const 0x7670u16, version = const
                1u8, flags = const 12u8, arch = const 2u8, binding = const 3u8, len =
                const 64u8, repl_len = const 16u8, uses = const 0x100u64, defs = const
                0x100u64, clobbers = const 0x200000300000004u64, inout("r8")
                ::pv_runtime::__private::Reg::to_reg(index) => __pv_ret, out("r2") _,
                out("b0") _, out("b1") _, out("ar.pfs") _
            )
        };
        <u64 as ::pv_runtime::__private::Reg>::from_reg(__pv_ret)
    }
}
#[allow(unused_imports)]
pub use __pv_ia64_get_cpuid::*;
