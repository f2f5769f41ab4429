// #[pv_intrinsic(binding = inline_patch, reg = "rax", clobber = [rdx], native = "rdtsc; shl rdx, 32; or rax, rdx", xen = native)]
// pub fn rdtsc() -> u64;

///
/// pv: binding `inline_patch` (RFC option 1) unless the build sets `--cfg pv_binding="..."`; reads none; writes rax; clobbers rdx and flags.
#[inline(always)]
#[allow(unexpected_cfgs)]
pub fn rdtsc() -> u64 {
    #[cfg(
        any(
            pv_binding = "inline_patch",
            not(
                any(
                    pv_binding = "inline_patch",
                    pv_binding = "direct_branch",
                    pv_binding = "indirect_branch",
                    pv_binding = "indirect_call"
                )
            )
        )
    )]
    let __pv_result = {
        /// The intrinsic's descriptor: what the patch engine and the site lister know of it.
        #[used]
        #[unsafe(link_section = "pv_intrinsics")]
        static __PV_DESC: ::pv_runtime::Intrinsic = ::pv_runtime::Intrinsic {
            name: "rdtsc",
            module: ::core::module_path!(),
            arch: ::pv_runtime::Arch::X86_64,
            binding: ::pv_runtime::Binding::InlinePatch,
            contract: ::pv_runtime::Contract {
                uses: 0x0,
                defs: 0x1,
                clobbers: 0x10004,
            },
            native: __pv_native,
            backends: [
                ::pv_runtime::Body {
                    kind: ::pv_runtime::BodyKind::Native,
                    routine: __pv_native,
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
            ::core::arch::naked_asm!("rdtsc", "shl rdx, 32", "or rax, rdx", "ret",)
        }
        /// The probe: one more instance of the site, run by the self-test with canaries.
        #[unsafe(naked)]
        unsafe extern "C" fn __pv_probe() {
            ::core::arch::naked_asm!(
                "sub rsp, 8", "772:", "rdtsc", "shl rdx, 32", "or rax, rdx", "773:",
                "# pad to 5 bytes with pv's nop of each length (pv_abi::x86_64::CALL_PADDING), so a call fits",
                ".fill -(773b - 772b == 0), 5, 0x441f0f",
                ".fill -(773b - 772b == 1), 4, 0x401f0f",
                ".fill -(773b - 772b == 2), 3, 0x1f0f",
                ".fill -(773b - 772b == 3), 2, 0x9066",
                ".fill -(773b - 772b == 4), 1, 0x90", "774:",
                "# a copy of the native body, for apply(Native)",
                ".pushsection pv_repl,\"aR\"", "775:", "rdtsc", "shl rdx, 32",
                "or rax, rdx", "776:", ".popsection",
                "# the site record (pv_abi::record::FIELDS)",
                ".pushsection pv_sites,\"aR\"", ".balign 8", ".short {magic}",
                ".byte {version}, {flags}, {arch}, {binding}, 774b - 772b, 776b - 775b",
                ".quad 772b - .", ".quad 775b - .", ".quad {desc} - .",
                ".quad {uses}, {defs}, {clobbers}", ".popsection", "add rsp, 8", "ret",
                desc = sym __PV_DESC, magic = const 0x7670u16, version = const 1u8, flags
                = const 1u8, arch = const 1u8, binding = const 1u8, uses = const 0x0u64,
                defs = const 0x1u64, clobbers = const 0x10004u64,
            )
        }
        let __pv_ret: u64;
        // SAFETY: the site honours the declared register contract in every patch state.
        unsafe {
            ::core::arch::asm!(
                "772:", "rdtsc", "shl rdx, 32", "or rax, rdx", "773:",
                "# pad to 5 bytes with pv's nop of each length (pv_abi::x86_64::CALL_PADDING), so a call fits",
                ".fill -(773b - 772b == 0), 5, 0x441f0f",
                ".fill -(773b - 772b == 1), 4, 0x401f0f",
                ".fill -(773b - 772b == 2), 3, 0x1f0f",
                ".fill -(773b - 772b == 3), 2, 0x9066",
                ".fill -(773b - 772b == 4), 1, 0x90", "774:",
                "# a copy of the native body, for apply(Native)",
                ".pushsection pv_repl,\"aR\"", "775:", "rdtsc", "shl rdx, 32",
                "or rax, rdx", "776:", ".popsection",
                "# the site record (pv_abi::record::FIELDS)",
                ".pushsection pv_sites,\"aR\"", ".balign 8", ".short {magic}",
                ".byte {version}, {flags}, {arch}, {binding}, 774b - 772b, 776b - 775b",
                ".quad 772b - .", ".quad 775b - .", ".quad {desc} - .",
                ".quad {uses}, {defs}, {clobbers}", ".popsection", desc = sym __PV_DESC,
                magic = const 0x7670u16, version = const 1u8, flags = const 0u8, arch =
                const 1u8, binding = const 1u8, uses = const 0x0u64, defs = const 0x1u64,
                clobbers = const 0x10004u64, out("rax") __pv_ret, out("rdx") _
            );
        }
        <u64 as ::pv_runtime::__private::Reg>::from_reg(__pv_ret)
    };
    #[cfg(pv_binding = "direct_branch")]
    let __pv_result = {
        /// The intrinsic's descriptor: what the patch engine and the site lister know of it.
        #[used]
        #[unsafe(link_section = "pv_intrinsics")]
        static __PV_DESC: ::pv_runtime::Intrinsic = ::pv_runtime::Intrinsic {
            name: "rdtsc",
            module: ::core::module_path!(),
            arch: ::pv_runtime::Arch::X86_64,
            binding: ::pv_runtime::Binding::DirectBranch,
            contract: ::pv_runtime::Contract {
                uses: 0x0,
                defs: 0x1,
                clobbers: 0x10004,
            },
            native: __pv_native,
            backends: [
                ::pv_runtime::Body {
                    kind: ::pv_runtime::BodyKind::Native,
                    routine: __pv_native,
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
            ::core::arch::naked_asm!("rdtsc", "shl rdx, 32", "or rax, rdx", "ret",)
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
                ".fill -(773b - 772b == 3), 2, 0x9066",
                ".fill -(773b - 772b == 4), 1, 0x90", "774:",
                "# a copy of the native body, for apply(Native)",
                ".pushsection pv_repl,\"aR\"", "775:", "rdtsc", "shl rdx, 32",
                "or rax, rdx", "776:", ".popsection",
                "# the site record (pv_abi::record::FIELDS)",
                ".pushsection pv_sites,\"aR\"", ".balign 8", ".short {magic}",
                ".byte {version}, {flags}, {arch}, {binding}, 774b - 772b, 776b - 775b",
                ".quad 772b - .", ".quad 775b - .", ".quad {desc} - .",
                ".quad {uses}, {defs}, {clobbers}", ".popsection", "add rsp, 8", "ret",
                desc = sym __PV_DESC, native = sym __pv_native, magic = const 0x7670u16,
                version = const 1u8, flags = const 1u8, arch = const 1u8, binding = const
                2u8, uses = const 0x0u64, defs = const 0x1u64, clobbers = const
                0x10004u64,
            )
        }
        let __pv_ret: u64;
        // SAFETY: the site honours the declared register contract in every patch state.
        unsafe {
            ::core::arch::asm!(
                "772:", "call {native}", "773:",
                "# pad to 5 bytes with pv's nop of each length (pv_abi::x86_64::CALL_PADDING), so a call fits",
                ".fill -(773b - 772b == 0), 5, 0x441f0f",
                ".fill -(773b - 772b == 1), 4, 0x401f0f",
                ".fill -(773b - 772b == 2), 3, 0x1f0f",
                ".fill -(773b - 772b == 3), 2, 0x9066",
                ".fill -(773b - 772b == 4), 1, 0x90", "774:",
                "# a copy of the native body, for apply(Native)",
                ".pushsection pv_repl,\"aR\"", "775:", "rdtsc", "shl rdx, 32",
                "or rax, rdx", "776:", ".popsection",
                "# the site record (pv_abi::record::FIELDS)",
                ".pushsection pv_sites,\"aR\"", ".balign 8", ".short {magic}",
                ".byte {version}, {flags}, {arch}, {binding}, 774b - 772b, 776b - 775b",
                ".quad 772b - .", ".quad 775b - .", ".quad {desc} - .",
                ".quad {uses}, {defs}, {clobbers}", ".popsection", desc = sym __PV_DESC,
                native = sym __pv_native, magic = const 0x7670u16, version = const 1u8,
                flags = const 0u8, arch = const 1u8, binding = const 2u8, uses = const
                0x0u64, defs = const 0x1u64, clobbers = const 0x10004u64, out("rax")
                __pv_ret, out("rdx") _
            );
        }
        <u64 as ::pv_runtime::__private::Reg>::from_reg(__pv_ret)
    };
    #[cfg(pv_binding = "indirect_branch")]
    let __pv_result = {
        /// The intrinsic's descriptor: what the patch engine and the site lister know of it.
        #[used]
        #[unsafe(link_section = "pv_intrinsics")]
        static __PV_DESC: ::pv_runtime::Intrinsic = ::pv_runtime::Intrinsic {
            name: "rdtsc",
            module: ::core::module_path!(),
            arch: ::pv_runtime::Arch::X86_64,
            binding: ::pv_runtime::Binding::IndirectBranch,
            contract: ::pv_runtime::Contract {
                uses: 0x0,
                defs: 0x1,
                clobbers: 0x10004,
            },
            native: __pv_native,
            backends: [
                ::pv_runtime::Body {
                    kind: ::pv_runtime::BodyKind::Native,
                    routine: __pv_native,
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
            ::core::arch::naked_asm!("rdtsc", "shl rdx, 32", "or rax, rdx", "ret",)
        }
        /// The probe: one more instance of the site, run by the self-test with canaries.
        #[unsafe(naked)]
        unsafe extern "C" fn __pv_probe() {
            ::core::arch::naked_asm!(
                "sub rsp, 8", "772:", "call qword ptr [rip + {slot}]", "773:",
                "# pad to 5 bytes with pv's nop of each length (pv_abi::x86_64::CALL_PADDING), so a call fits",
                ".fill -(773b - 772b == 0), 5, 0x441f0f",
                ".fill -(773b - 772b == 1), 4, 0x401f0f",
                ".fill -(773b - 772b == 2), 3, 0x1f0f",
                ".fill -(773b - 772b == 3), 2, 0x9066",
                ".fill -(773b - 772b == 4), 1, 0x90", "774:",
                "# a copy of the native body, for apply(Native)",
                ".pushsection pv_repl,\"aR\"", "775:", "rdtsc", "shl rdx, 32",
                "or rax, rdx", "776:", ".popsection",
                "# the site record (pv_abi::record::FIELDS)",
                ".pushsection pv_sites,\"aR\"", ".balign 8", ".short {magic}",
                ".byte {version}, {flags}, {arch}, {binding}, 774b - 772b, 776b - 775b",
                ".quad 772b - .", ".quad 775b - .", ".quad {desc} - .",
                ".quad {uses}, {defs}, {clobbers}", ".popsection", "add rsp, 8", "ret",
                desc = sym __PV_DESC, slot = sym __PV_SLOT, magic = const 0x7670u16,
                version = const 1u8, flags = const 1u8, arch = const 1u8, binding = const
                3u8, uses = const 0x0u64, defs = const 0x1u64, clobbers = const
                0x10004u64,
            )
        }
        let __pv_ret: u64;
        // SAFETY: the site honours the declared register contract in every patch state.
        unsafe {
            ::core::arch::asm!(
                "772:", "call qword ptr [rip + {slot}]", "773:",
                "# pad to 5 bytes with pv's nop of each length (pv_abi::x86_64::CALL_PADDING), so a call fits",
                ".fill -(773b - 772b == 0), 5, 0x441f0f",
                ".fill -(773b - 772b == 1), 4, 0x401f0f",
                ".fill -(773b - 772b == 2), 3, 0x1f0f",
                ".fill -(773b - 772b == 3), 2, 0x9066",
                ".fill -(773b - 772b == 4), 1, 0x90", "774:",
                "# a copy of the native body, for apply(Native)",
                ".pushsection pv_repl,\"aR\"", "775:", "rdtsc", "shl rdx, 32",
                "or rax, rdx", "776:", ".popsection",
                "# the site record (pv_abi::record::FIELDS)",
                ".pushsection pv_sites,\"aR\"", ".balign 8", ".short {magic}",
                ".byte {version}, {flags}, {arch}, {binding}, 774b - 772b, 776b - 775b",
                ".quad 772b - .", ".quad 775b - .", ".quad {desc} - .",
                ".quad {uses}, {defs}, {clobbers}", ".popsection", desc = sym __PV_DESC,
                slot = sym __PV_SLOT, magic = const 0x7670u16, version = const 1u8, flags
                = const 0u8, arch = const 1u8, binding = const 3u8, uses = const 0x0u64,
                defs = const 0x1u64, clobbers = const 0x10004u64, out("rax") __pv_ret,
                out("rdx") _
            );
        }
        <u64 as ::pv_runtime::__private::Reg>::from_reg(__pv_ret)
    };
    #[cfg(pv_binding = "indirect_call")]
    let __pv_result = {
        /// The intrinsic's descriptor: what the patch engine and the site lister know of it.
        #[used]
        #[unsafe(link_section = "pv_intrinsics")]
        static __PV_DESC: ::pv_runtime::Intrinsic = ::pv_runtime::Intrinsic {
            name: "rdtsc",
            module: ::core::module_path!(),
            arch: ::pv_runtime::Arch::X86_64,
            binding: ::pv_runtime::Binding::IndirectCall,
            contract: ::pv_runtime::Contract {
                uses: 0x0,
                defs: 0x1,
                clobbers: 0x10fc7,
            },
            native: __pv_native,
            backends: [
                ::pv_runtime::Body {
                    kind: ::pv_runtime::BodyKind::Native,
                    routine: __pv_native,
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
        unsafe extern "C" fn __pv_native_contract() {
            ::core::arch::naked_asm!("rdtsc", "shl rdx, 32", "or rax, rdx", "ret",)
        }
        /// C-ABI adapter around the native routine (option 4).
        #[unsafe(naked)]
        #[unsafe(link_section = "pv_routines")]
        unsafe extern "C" fn __pv_native() {
            ::core::arch::naked_asm!(
                "call {__pv_native_contract}", "ret", __pv_native_contract = sym
                __pv_native_contract,
            )
        }
        /// The probe: a C call through the slot, run by the self-test.
        #[unsafe(naked)]
        unsafe extern "C" fn __pv_probe() {
            ::core::arch::naked_asm!(
                "sub rsp, 8", "call qword ptr [rip + {slot}]", "add rsp, 8", "ret", slot
                = sym __PV_SLOT,
            )
        }
        // SAFETY: the slot always holds a C-ABI routine of this signature (option 4).
        let __pv_f: unsafe extern "C" fn() -> u64 = unsafe {
            ::core::mem::transmute(__PV_SLOT.get())
        };
        // SAFETY: the routine implements this intrinsic for the backend installed.
        let __pv_ret = unsafe { __pv_f() };
        <u64 as ::pv_runtime::__private::Reg>::from_reg(__pv_ret)
    };
    __pv_result
}
