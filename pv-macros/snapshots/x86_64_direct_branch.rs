// #[pv_intrinsic(binding = direct_branch, reg = "rdi", clobber = [rax, rcx, rdx], native = "push rbx; mov eax, [rdi]; cpuid; mov [rdi], eax; pop rbx", xen = asm("push rbx; mov eax, [rdi]; ud2; .ascii \"xen\"; cpuid; mov [rdi], eax; pop rbx"))]
// /// cpuid leaf `[regs]`, eax only.
// pub unsafe fn cpuid_eax(regs: *mut u32);

/// cpuid leaf `[regs]`, eax only.
///
/// pv: binding `direct_branch` (RFC option 2); reads rdi; writes rdi; clobbers rax, rcx, rdx and flags.
#[inline(always)]
pub unsafe fn cpuid_eax(regs: *mut u32) {
    /// The intrinsic's descriptor: what the patch engine and the site lister know of it.
    #[used]
    #[unsafe(link_section = "pv_intrinsics")]
    static __PV_DESC: ::pv_runtime::Intrinsic = ::pv_runtime::Intrinsic {
        name: "cpuid_eax",
        module: ::core::module_path!(),
        arch: ::pv_runtime::Arch::X86_64,
        binding: ::pv_runtime::Binding::DirectBranch,
        contract: ::pv_runtime::Contract {
            uses: 0x80,
            defs: 0x80,
            clobbers: 0x10007,
        },
        native: __pv_native,
        backends: [
            ::pv_runtime::Body {
                kind: ::pv_runtime::BodyKind::Asm,
                routine: __pv_xen,
            },
            ::pv_runtime::Body {
                kind: ::pv_runtime::BodyKind::Native,
                routine: __pv_native,
            },
            ::pv_runtime::Body {
                kind: ::pv_runtime::BodyKind::Native,
                routine: __pv_native,
            },
        ],
        probe: __pv_probe,
        slot: &__PV_SLOT,
    };
    /// The intrinsic's ops-table slot, initialised to the native routine.
    #[unsafe(link_section = "pv_slots")]
    static __PV_SLOT: ::pv_runtime::Slot = ::pv_runtime::Slot::new(__pv_native);
    /// The native routine: the native body, then `ret`.
    #[unsafe(naked)]
    #[unsafe(link_section = "pv_routines")]
    unsafe extern "C" fn __pv_native() {
        ::core::arch::naked_asm!(
            "push rbx", "mov eax, [rdi]", "cpuid", "mov [rdi], eax", "pop rbx", "ret",
        )
    }
    /// The Xen stub: the Xen body under the declared register contract.
    #[unsafe(naked)]
    #[unsafe(link_section = "pv_routines")]
    unsafe extern "C" fn __pv_xen() {
        ::core::arch::naked_asm!(
            "push rbx", "mov eax, [rdi]", "ud2", ".ascii \"xen\"", "cpuid",
            "mov [rdi], eax", "pop rbx", "ret",
        )
    }
    /// The probe: one more instance of the site, run by the self-test with canaries.
    #[unsafe(naked)]
    unsafe extern "C" fn __pv_probe() {
        ::core::arch::naked_asm!(
            "sub rsp, 8", "772:", "call {native}", "773:",
            "# pad to 5 bytes with pv's nop of each length (pv_abi::x86_64::CALL_PADDING), so a call fits",
            ".fill -(773b - 772b == 0), 5, 0x441f0f",
            ".fill -(773b - 772b == 1), 4, 0x401f0f",
            ".fill -(773b - 772b == 2), 3, 0x1f0f",
            ".fill -(773b - 772b == 3), 2, 0x9066", ".fill -(773b - 772b == 4), 1, 0x90",
            "774:", "# a copy of the native body, for apply(Native)",
            ".pushsection pv_repl,\"aR\"", "775:", "push rbx", "mov eax, [rdi]", "cpuid",
            "mov [rdi], eax", "pop rbx", "776:", ".popsection",
            "# the site record (pv_abi::record::FIELDS)", ".pushsection pv_sites,\"aR\"",
            ".balign 8", ".short {magic}",
            ".byte {version}, {flags}, {arch}, {binding}, 774b - 772b, 776b - 775b",
            ".quad 772b - .", ".quad 775b - .", ".quad {desc} - .",
            ".quad {uses}, {defs}, {clobbers}", ".popsection", "add rsp, 8", "ret", desc
            = sym __PV_DESC, native = sym __pv_native, magic = const 0x7670u16, version =
            const 1u8, flags = const 9u8, arch = const 1u8, binding = const 2u8, uses =
            const 0x80u64, defs = const 0x80u64, clobbers = const 0x10007u64,
        )
    }
    unsafe {
        ::core::arch::asm!(
            "772:", "call {native}", "773:",
            "# pad to 5 bytes with pv's nop of each length (pv_abi::x86_64::CALL_PADDING), so a call fits",
            ".fill -(773b - 772b == 0), 5, 0x441f0f",
            ".fill -(773b - 772b == 1), 4, 0x401f0f",
            ".fill -(773b - 772b == 2), 3, 0x1f0f",
            ".fill -(773b - 772b == 3), 2, 0x9066", ".fill -(773b - 772b == 4), 1, 0x90",
            "774:", "# a copy of the native body, for apply(Native)",
            ".pushsection pv_repl,\"aR\"", "775:", "push rbx", "mov eax, [rdi]", "cpuid",
            "mov [rdi], eax", "pop rbx", "776:", ".popsection",
            "# the site record (pv_abi::record::FIELDS)", ".pushsection pv_sites,\"aR\"",
            ".balign 8", ".short {magic}",
            ".byte {version}, {flags}, {arch}, {binding}, 774b - 772b, 776b - 775b",
            ".quad 772b - .", ".quad 775b - .", ".quad {desc} - .",
            ".quad {uses}, {defs}, {clobbers}", ".popsection", desc = sym __PV_DESC,
            native = sym __pv_native, magic = const 0x7670u16, version = const 1u8, flags
            = const 8u8, arch = const 1u8, binding = const 2u8, uses = const 0x80u64,
            defs = const 0x80u64, clobbers = const 0x10007u64, inout("rdi")
            ::pv_runtime::__private::Reg::to_reg(regs) => _, out("rax") _, out("rcx") _,
            out("rdx") _
        );
    }
}
