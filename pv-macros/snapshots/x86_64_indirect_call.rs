// #[pv_intrinsic(binding = indirect_call, reg = "rdi", native = "lidt [rdi]", xen = call(xen_load_idt))]
// pub unsafe fn load_idt(ptr: *const u8);

///
/// pv: binding `indirect_call` (RFC option 4); reads rdi; writes rax; clobbers rax, rcx, rdx, rsi, rdi, r8, r9, r10, r11 and flags.
#[inline(always)]
pub unsafe fn load_idt(ptr: *const u8) {
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
            "call {__pv_xen_contract}", "ret", __pv_xen_contract = sym __pv_xen_contract,
        )
    }
    /// The backend's function must take the declared arguments and return the
    /// declared result.
    const _: unsafe extern "C" fn(*const u8) = xen_load_idt;
    /// The probe: a C call through the slot, run by the self-test.
    #[unsafe(naked)]
    unsafe extern "C" fn __pv_probe() {
        ::core::arch::naked_asm!(
            "sub rsp, 8", "call qword ptr [rip + {slot}]", "add rsp, 8", "ret", slot =
            sym __PV_SLOT,
        )
    }
    let __pv_f: unsafe extern "C" fn(u64) = unsafe {
        ::core::mem::transmute(__PV_SLOT.get())
    };
    let __pv_ret = unsafe { __pv_f(::pv_runtime::__private::Reg::to_reg(ptr)) };
    let _ = __pv_ret;
}
