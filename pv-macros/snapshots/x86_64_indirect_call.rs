// #[pv_intrinsic(binding = indirect_call, reg = "rdi", native = "lidt [rdi]", xen = call(xen_load_idt))]
// pub unsafe fn load_idt(ptr: *const u8);

///
/// pv: binding `indirect_call` (RFC option 4) unless the build sets `--cfg pv_binding="..."`; reads rdi; writes rax; clobbers rax, rcx, rdx, rsi, rdi, r8, r9, r10, r11 and flags.
#[inline(always)]
#[allow(unexpected_cfgs)]
pub unsafe fn load_idt(ptr: *const u8) {
    #[cfg(pv_binding = "inline_patch")]
    let __pv_result = {
        /// The intrinsic's descriptor: what the patch engine and the site lister know of it.
        #[used]
        #[unsafe(link_section = "pv_intrinsics")]
        static __PV_DESC: ::pv_runtime::Intrinsic = ::pv_runtime::Intrinsic {
            name: "load_idt",
            module: ::core::module_path!(),
            arch: ::pv_runtime::Arch::X86_64,
            binding: ::pv_runtime::Binding::InlinePatch,
            contract: ::pv_runtime::Contract {
                uses: 0x80,
                defs: 0x80,
                clobbers: 0x10000,
            },
            native: __pv_native,
            backends: [
                ::pv_runtime::Body {
                    kind: ::pv_runtime::BodyKind::Call,
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
            ::core::arch::naked_asm!("lidt [rdi]", "ret",)
        }
        /// The Xen stub: the Xen body under the declared register contract.
        #[unsafe(naked)]
        #[unsafe(link_section = "pv_routines")]
        unsafe extern "C" fn __pv_xen() {
            ::core::arch::naked_asm!(
                "push rax", "push rcx", "push rdx", "push rsi", "push r8", "push r9",
                "push r10", "push r11", "push rbp", "mov rbp, rsp", "and rsp, -16",
                "call {f}", "mov rsp, rbp", "pop rbp", "pop r11", "pop r10", "pop r9",
                "pop r8", "pop rsi", "pop rdx", "pop rcx", "pop rax", "ret", f = sym
                xen_load_idt,
            )
        }
        /// The backend's function must take the declared arguments and return the
        /// declared result.
        const _: unsafe extern "C" fn(*const u8) = xen_load_idt;
        /// The probe: one more instance of the site, run by the self-test with canaries.
        #[unsafe(naked)]
        unsafe extern "C" fn __pv_probe() {
            ::core::arch::naked_asm!(
                "sub rsp, 8", "772:", "lidt [rdi]", "773:",
                "# pad to 5 bytes with pv's nop of each length (pv_abi::x86_64::CALL_PADDING), so a call fits",
                ".fill -(773b - 772b == 0), 5, 0x441f0f",
                ".fill -(773b - 772b == 1), 4, 0x401f0f",
                ".fill -(773b - 772b == 2), 3, 0x1f0f",
                ".fill -(773b - 772b == 3), 2, 0x9066",
                ".fill -(773b - 772b == 4), 1, 0x90", "774:",
                "# a copy of the native body, for apply(Native)",
                ".pushsection pv_repl,\"aR\"", "775:", "lidt [rdi]", "776:",
                ".popsection", "# the site record (pv_abi::record::FIELDS)",
                ".pushsection pv_sites,\"aR\"", ".balign 8", ".short {magic}",
                ".byte {version}, {flags}, {arch}, {binding}, 774b - 772b, 776b - 775b",
                ".quad 772b - .", ".quad 775b - .", ".quad {desc} - .",
                ".quad {uses}, {defs}, {clobbers}", ".popsection", "add rsp, 8", "ret",
                desc = sym __PV_DESC, magic = const 0x7670u16, version = const 1u8, flags
                = const 21u8, arch = const 1u8, binding = const 1u8, uses = const
                0x80u64, defs = const 0x80u64, clobbers = const 0x10000u64,
            )
        }
        // SAFETY: the site honours the declared register contract in every patch state.
        unsafe {
            ::core::arch::asm!(
                "772:", "lidt [rdi]", "773:",
                "# pad to 5 bytes with pv's nop of each length (pv_abi::x86_64::CALL_PADDING), so a call fits",
                ".fill -(773b - 772b == 0), 5, 0x441f0f",
                ".fill -(773b - 772b == 1), 4, 0x401f0f",
                ".fill -(773b - 772b == 2), 3, 0x1f0f",
                ".fill -(773b - 772b == 3), 2, 0x9066",
                ".fill -(773b - 772b == 4), 1, 0x90", "774:",
                "# a copy of the native body, for apply(Native)",
                ".pushsection pv_repl,\"aR\"", "775:", "lidt [rdi]", "776:",
                ".popsection", "# the site record (pv_abi::record::FIELDS)",
                ".pushsection pv_sites,\"aR\"", ".balign 8", ".short {magic}",
                ".byte {version}, {flags}, {arch}, {binding}, 774b - 772b, 776b - 775b",
                ".quad 772b - .", ".quad 775b - .", ".quad {desc} - .",
                ".quad {uses}, {defs}, {clobbers}", ".popsection", desc = sym __PV_DESC,
                magic = const 0x7670u16, version = const 1u8, flags = const 20u8, arch =
                const 1u8, binding = const 1u8, uses = const 0x80u64, defs = const
                0x80u64, clobbers = const 0x10000u64, inout("rdi")
                ::pv_runtime::__private::Reg::to_reg(ptr) => _
            );
        }
    };
    #[cfg(pv_binding = "direct_branch")]
    let __pv_result = {
        /// The intrinsic's descriptor: what the patch engine and the site lister know of it.
        #[used]
        #[unsafe(link_section = "pv_intrinsics")]
        static __PV_DESC: ::pv_runtime::Intrinsic = ::pv_runtime::Intrinsic {
            name: "load_idt",
            module: ::core::module_path!(),
            arch: ::pv_runtime::Arch::X86_64,
            binding: ::pv_runtime::Binding::DirectBranch,
            contract: ::pv_runtime::Contract {
                uses: 0x80,
                defs: 0x80,
                clobbers: 0x10000,
            },
            native: __pv_native,
            backends: [
                ::pv_runtime::Body {
                    kind: ::pv_runtime::BodyKind::Call,
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
            ::core::arch::naked_asm!("lidt [rdi]", "ret",)
        }
        /// The Xen stub: the Xen body under the declared register contract.
        #[unsafe(naked)]
        #[unsafe(link_section = "pv_routines")]
        unsafe extern "C" fn __pv_xen() {
            ::core::arch::naked_asm!(
                "push rax", "push rcx", "push rdx", "push rsi", "push r8", "push r9",
                "push r10", "push r11", "push rbp", "mov rbp, rsp", "and rsp, -16",
                "call {f}", "mov rsp, rbp", "pop rbp", "pop r11", "pop r10", "pop r9",
                "pop r8", "pop rsi", "pop rdx", "pop rcx", "pop rax", "ret", f = sym
                xen_load_idt,
            )
        }
        /// The backend's function must take the declared arguments and return the
        /// declared result.
        const _: unsafe extern "C" fn(*const u8) = xen_load_idt;
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
                ".pushsection pv_repl,\"aR\"", "775:", "lidt [rdi]", "776:",
                ".popsection", "# the site record (pv_abi::record::FIELDS)",
                ".pushsection pv_sites,\"aR\"", ".balign 8", ".short {magic}",
                ".byte {version}, {flags}, {arch}, {binding}, 774b - 772b, 776b - 775b",
                ".quad 772b - .", ".quad 775b - .", ".quad {desc} - .",
                ".quad {uses}, {defs}, {clobbers}", ".popsection", "add rsp, 8", "ret",
                desc = sym __PV_DESC, native = sym __pv_native, magic = const 0x7670u16,
                version = const 1u8, flags = const 21u8, arch = const 1u8, binding =
                const 2u8, uses = const 0x80u64, defs = const 0x80u64, clobbers = const
                0x10000u64,
            )
        }
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
                ".pushsection pv_repl,\"aR\"", "775:", "lidt [rdi]", "776:",
                ".popsection", "# the site record (pv_abi::record::FIELDS)",
                ".pushsection pv_sites,\"aR\"", ".balign 8", ".short {magic}",
                ".byte {version}, {flags}, {arch}, {binding}, 774b - 772b, 776b - 775b",
                ".quad 772b - .", ".quad 775b - .", ".quad {desc} - .",
                ".quad {uses}, {defs}, {clobbers}", ".popsection", desc = sym __PV_DESC,
                native = sym __pv_native, magic = const 0x7670u16, version = const 1u8,
                flags = const 20u8, arch = const 1u8, binding = const 2u8, uses = const
                0x80u64, defs = const 0x80u64, clobbers = const 0x10000u64, inout("rdi")
                ::pv_runtime::__private::Reg::to_reg(ptr) => _
            );
        }
    };
    #[cfg(pv_binding = "indirect_branch")]
    let __pv_result = {
        /// The intrinsic's descriptor: what the patch engine and the site lister know of it.
        #[used]
        #[unsafe(link_section = "pv_intrinsics")]
        static __PV_DESC: ::pv_runtime::Intrinsic = ::pv_runtime::Intrinsic {
            name: "load_idt",
            module: ::core::module_path!(),
            arch: ::pv_runtime::Arch::X86_64,
            binding: ::pv_runtime::Binding::IndirectBranch,
            contract: ::pv_runtime::Contract {
                uses: 0x80,
                defs: 0x80,
                clobbers: 0x10000,
            },
            native: __pv_native,
            backends: [
                ::pv_runtime::Body {
                    kind: ::pv_runtime::BodyKind::Call,
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
            ::core::arch::naked_asm!("lidt [rdi]", "ret",)
        }
        /// The Xen stub: the Xen body under the declared register contract.
        #[unsafe(naked)]
        #[unsafe(link_section = "pv_routines")]
        unsafe extern "C" fn __pv_xen() {
            ::core::arch::naked_asm!(
                "push rax", "push rcx", "push rdx", "push rsi", "push r8", "push r9",
                "push r10", "push r11", "push rbp", "mov rbp, rsp", "and rsp, -16",
                "call {f}", "mov rsp, rbp", "pop rbp", "pop r11", "pop r10", "pop r9",
                "pop r8", "pop rsi", "pop rdx", "pop rcx", "pop rax", "ret", f = sym
                xen_load_idt,
            )
        }
        /// The backend's function must take the declared arguments and return the
        /// declared result.
        const _: unsafe extern "C" fn(*const u8) = xen_load_idt;
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
                ".pushsection pv_repl,\"aR\"", "775:", "lidt [rdi]", "776:",
                ".popsection", "# the site record (pv_abi::record::FIELDS)",
                ".pushsection pv_sites,\"aR\"", ".balign 8", ".short {magic}",
                ".byte {version}, {flags}, {arch}, {binding}, 774b - 772b, 776b - 775b",
                ".quad 772b - .", ".quad 775b - .", ".quad {desc} - .",
                ".quad {uses}, {defs}, {clobbers}", ".popsection", "add rsp, 8", "ret",
                desc = sym __PV_DESC, slot = sym __PV_SLOT, magic = const 0x7670u16,
                version = const 1u8, flags = const 21u8, arch = const 1u8, binding =
                const 3u8, uses = const 0x80u64, defs = const 0x80u64, clobbers = const
                0x10000u64,
            )
        }
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
                ".pushsection pv_repl,\"aR\"", "775:", "lidt [rdi]", "776:",
                ".popsection", "# the site record (pv_abi::record::FIELDS)",
                ".pushsection pv_sites,\"aR\"", ".balign 8", ".short {magic}",
                ".byte {version}, {flags}, {arch}, {binding}, 774b - 772b, 776b - 775b",
                ".quad 772b - .", ".quad 775b - .", ".quad {desc} - .",
                ".quad {uses}, {defs}, {clobbers}", ".popsection", desc = sym __PV_DESC,
                slot = sym __PV_SLOT, magic = const 0x7670u16, version = const 1u8, flags
                = const 20u8, arch = const 1u8, binding = const 3u8, uses = const
                0x80u64, defs = const 0x80u64, clobbers = const 0x10000u64, inout("rdi")
                ::pv_runtime::__private::Reg::to_reg(ptr) => _
            );
        }
    };
    #[cfg(
        any(
            pv_binding = "indirect_call",
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
            name: "load_idt",
            module: ::core::module_path!(),
            arch: ::pv_runtime::Arch::X86_64,
            binding: ::pv_runtime::Binding::IndirectCall,
            contract: ::pv_runtime::Contract {
                uses: 0x80,
                defs: 0x1,
                clobbers: 0x10fc7,
            },
            native: __pv_native,
            backends: [
                ::pv_runtime::Body {
                    kind: ::pv_runtime::BodyKind::Call,
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
        unsafe extern "C" fn __pv_native_contract() {
            ::core::arch::naked_asm!("lidt [rdi]", "ret",)
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
        /// The Xen stub: the Xen body under the declared register contract.
        #[unsafe(naked)]
        #[unsafe(link_section = "pv_routines")]
        unsafe extern "C" fn __pv_xen_contract() {
            ::core::arch::naked_asm!(
                "push rax", "push rcx", "push rdx", "push rsi", "push r8", "push r9",
                "push r10", "push r11", "push rbp", "mov rbp, rsp", "and rsp, -16",
                "call {f}", "mov rsp, rbp", "pop rbp", "pop r11", "pop r10", "pop r9",
                "pop r8", "pop rsi", "pop rdx", "pop rcx", "pop rax", "ret", f = sym
                xen_load_idt,
            )
        }
        /// C-ABI adapter around the Xen stub (option 4).
        #[unsafe(naked)]
        #[unsafe(link_section = "pv_routines")]
        unsafe extern "C" fn __pv_xen() {
            ::core::arch::naked_asm!(
                "call {__pv_xen_contract}", "ret", __pv_xen_contract = sym
                __pv_xen_contract,
            )
        }
        /// The backend's function must take the declared arguments and return the
        /// declared result.
        const _: unsafe extern "C" fn(*const u8) = xen_load_idt;
        /// The probe: a C call through the slot, run by the self-test.
        #[unsafe(naked)]
        unsafe extern "C" fn __pv_probe() {
            ::core::arch::naked_asm!(
                "sub rsp, 8", "call qword ptr [rip + {slot}]", "add rsp, 8", "ret", slot
                = sym __PV_SLOT,
            )
        }
        // SAFETY: the slot always holds a C-ABI routine of this signature (option 4).
        let __pv_f: unsafe extern "C" fn(u64) = unsafe {
            ::core::mem::transmute(__PV_SLOT.get())
        };
        // SAFETY: the routine implements this intrinsic for the backend installed.
        let __pv_ret = unsafe { __pv_f(::pv_runtime::__private::Reg::to_reg(ptr)) };
        let _ = __pv_ret;
    };
    __pv_result
}
