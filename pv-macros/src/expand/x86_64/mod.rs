//! x86_64: one function per declaration whose body holds one block per binding (the build's
//! `pv_binding` cfg keeps one). Each block is the descriptor, the routines ([`routines`]: the
//! native routine, the backend stubs, option 4's C-ABI adapters, the probe) and what callers
//! run: the site ([`site`]: the instructions the binding's table row names, nop padding, the
//! native copy and the record) or, for option 4, a C call through the slot.

mod routines;
mod site;

use super::variant;
use crate::check::Contract;
use crate::model::{Body, Intrinsic};
use proc_macro2::TokenStream;
use pv_abi::Binding;
use pv_abi::x86_64::{self as x86, SiteForm};
use quote::{format_ident, quote, quote_spanned};

/// Names of the generated items, scoped inside the generated function.
pub struct Names {
    pub desc: syn::Ident,
    pub slot: syn::Ident,
    pub native: syn::Ident,
    /// The stub of each backend, by [`pv_abi::Hypervisor`] index.
    pub backends: [syn::Ident; 3],
    pub probe: syn::Ident,
}

impl Names {
    fn new() -> Self {
        Names {
            desc: format_ident!("__PV_DESC"),
            slot: format_ident!("__PV_SLOT"),
            native: format_ident!("__pv_native"),
            backends: pv_abi::Hypervisor::ALL.map(|hv| format_ident!("__pv_{}", hv.name())),
            probe: format_ident!("__pv_probe"),
        }
    }

    /// The `sym` operands a site template names (`{native}`, `{slot}`): `asm!` refuses an
    /// operand its template does not use.
    fn named_in(&self, template: &str) -> TokenStream {
        [("native", &self.native), ("slot", &self.slot)]
            .into_iter()
            .filter(|(name, _)| template.contains(&format!("{{{name}}}")))
            .map(|(name, routine)| {
                let name = format_ident!("{name}");
                quote!(#name = sym #routine,)
            })
            .collect()
    }
}

/// A call site: the instruction lines between the site labels and the `sym` operands they use.
pub struct SiteAsm {
    pub lines: Vec<String>,
    pub syms: TokenStream,
}

/// The contract a binding presents to its callers: the declared one for options 1-3, the C ABI
/// for option 4.
fn presented(intr: &Intrinsic, c: &Contract) -> (u64, u64, u64) {
    let implicit = x86::binding(intr.binding).implicit_clobbers;
    if intr.binding.uses_contract() {
        (c.uses(), c.defs(), c.clobbers | implicit)
    } else {
        let args = x86::C_ARGS[..intr.args.len()]
            .iter()
            .fold(0, |m, b| m | 1 << b);
        (args, 1 << x86::C_RESULT, implicit)
    }
}

/// The cfg a build sets to force one binding on every x86_64 intrinsic, whatever each
/// declaration says (`RUSTFLAGS='--cfg pv_binding="indirect_call"'`).
pub const POLICY_CFG: &str = "pv_binding";

/// The generated function. Its signature is the declaration's; its body is one block per
/// binding, each under the `cfg` that selects it: `pv_binding = "<name>"` forces that binding,
/// and without any `pv_binding` the declared one is built. A proc macro cannot read the user
/// crate's `cfg`s, so it emits every choice and lets the compiler keep one. Checks do not
/// depend on the binding on x86_64, so every block is valid if the declaration is.
pub fn expand(mut intr: Intrinsic, c: &Contract) -> TokenStream {
    let declared = intr.binding;
    let names = Binding::ALL.map(Binding::name);
    let policy = format_ident!("{POLICY_CFG}");
    let mut blocks = Vec::new();
    for binding in Binding::ALL {
        intr.binding = binding;
        let name = binding.name();
        let cfg = if binding == declared {
            quote!(any(#policy = #name, not(any(#(#policy = #names),*))))
        } else {
            quote!(#policy = #name)
        };
        let block = if binding == Binding::IndirectCall && intr.args.len() > x86::C_ARGS.len() {
            // Only a forced policy gets here: the checks refuse such a declaration of option 4.
            let message = crate::messages::policy_option4_too_many_args(
                POLICY_CFG,
                name,
                &intr.name().to_string(),
                x86::C_ARGS.len(),
                intr.args.len(),
            );
            quote!(::core::compile_error!(#message); ::core::unreachable!())
        } else {
            bound(&intr, c)
        };
        blocks.push(quote! {
            #[cfg(#cfg)]
            let __pv_result = { #block };
        });
    }
    intr.binding = declared;
    let contract_doc = contract_doc(&intr, c);
    let Intrinsic {
        attrs, vis, sig, ..
    } = &intr;
    // The item carries the declaration's span, so that errors about it (a duplicate name, say)
    // point at the name rather than at the attribute. `pv_binding` is pv's own cfg: a crate
    // that never sets it need not declare it.
    quote_spanned! {intr.name().span()=>
        #(#attrs)*
        #[doc = ""]
        #[doc = #contract_doc]
        #[inline(always)]
        #[allow(unexpected_cfgs)]
        #vis #sig {
            #(#blocks)*
            __pv_result
        }
    }
}

/// How callers reach the intrinsic under one binding, which is all the routines need to know
/// of it.
pub enum Callers {
    /// Options 1-3: a patchable site, written as inline asm.
    Site(SiteAsm),
    /// Option 4: a C call through the slot, with no site; the routines get C-ABI adapters.
    CCall,
}

/// One binding's body: the descriptor, the routines and the site (or option 4's call). The
/// binding's row in `pv_abi::x86_64::BINDINGS` says what its site holds.
fn bound(intr: &Intrinsic, c: &Contract) -> TokenStream {
    let n = Names::new();
    let (callers, body) = match x86::binding(intr.binding).site {
        Some(form) => {
            let site = match form {
                SiteForm::Native => SiteAsm {
                    lines: routines::native_lines(intr),
                    syms: quote!(),
                },
                SiteForm::Call { template, .. } => SiteAsm {
                    lines: vec![template.into()],
                    syms: n.named_in(template),
                },
            };
            let body = site::call(intr, c, &n, &site);
            (Callers::Site(site), body)
        }
        None => (Callers::CCall, c_call(intr, &n)),
    };
    let routines = routines::all(intr, c, &n, &callers);
    let descriptor = descriptor(intr, c, &n);
    quote! {
        #descriptor
        #routines
        #body
    }
}

/// One line of rustdoc saying how the intrinsic is bound and what it may clobber.
fn contract_doc(intr: &Intrinsic, c: &Contract) -> String {
    let regs = |m: u64| -> String {
        let names: Vec<&str> = (0..16)
            .filter(|b| m & 1 << b != 0)
            .map(x86::reg_name)
            .collect();
        if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        }
    };
    let (uses, defs, clobbers) = presented(intr, c);
    format!(
        " pv: binding `{}` (RFC option {}) unless the build sets `--cfg {POLICY_CFG}=\"...\"`; \
         reads {}; writes {}; clobbers {} and flags.",
        intr.binding.name(),
        intr.binding.rfc_number(),
        regs(uses),
        regs(defs),
        regs(clobbers & !x86::FLAGS),
    )
}

/// The descriptor and the ops-table slot.
fn descriptor(intr: &Intrinsic, c: &Contract, n: &Names) -> TokenStream {
    let Names {
        desc,
        slot,
        native,
        backends,
        probe,
    } = n;
    let name = intr.name().to_string();
    let binding = format_ident!("{}", variant(intr.binding.name()));
    let (uses, defs, clobbers) = presented(intr, c);
    let [uses, defs, clobbers] = [uses, defs, clobbers]
        .map(|m| syn::LitInt::new(&format!("{m:#x}"), proc_macro2::Span::call_site()));
    // A backend whose body is native runs the native routine (or emulates what traps).
    let bodies = pv_abi::Hypervisor::ALL.map(|hv| {
        let kind = format_ident!("{}", variant(intr.body(hv).kind().name()));
        let routine = match intr.body(hv) {
            Body::Native { .. } => native,
            _ => &backends[hv.index()],
        };
        quote!(::pv_runtime::Body { kind: ::pv_runtime::BodyKind::#kind, routine: #routine })
    });
    quote! {
        /// The intrinsic's descriptor: what the patch engine and the site lister know of it.
        #[used]
        #[unsafe(link_section = "pv_intrinsics")]
        static #desc: ::pv_runtime::Intrinsic = ::pv_runtime::Intrinsic {
            name: #name,
            module: ::core::module_path!(),
            arch: ::pv_runtime::Arch::X86_64,
            binding: ::pv_runtime::Binding::#binding,
            contract: ::pv_runtime::Contract { uses: #uses, defs: #defs, clobbers: #clobbers },
            native: #native,
            backends: [#(#bodies),*],
            probe: #probe,
            slot: &#slot,
        };
        /// The intrinsic's ops-table slot, initialised to the native routine.
        #[unsafe(link_section = "pv_slots")]
        static #slot: ::pv_runtime::Slot = ::pv_runtime::Slot::new(#native);
    }
}

/// Option 4's body: an ordinary C-ABI Rust call through the slot; no site, no record.
fn c_call(intr: &Intrinsic, n: &Names) -> TokenStream {
    let slot = &n.slot;
    let params = intr.args.iter().map(|_| quote!(u64));
    let values = intr.args.iter().map(|a| {
        let id = &a.ident;
        quote!(::pv_runtime::__private::Reg::to_reg(#id))
    });
    let (ret_ty, finish) = match &intr.ret {
        Some(ty) => (
            quote!(-> u64),
            quote!(<#ty as ::pv_runtime::__private::Reg>::from_reg(__pv_ret)),
        ),
        None => (quote!(), quote!(let _ = __pv_ret;)),
    };
    // A routine without arguments or result already has the slot's type.
    let routine = if intr.args.is_empty() && intr.ret.is_none() {
        quote!(#slot.get())
    } else {
        // SAFETY: `safety::SLOT_TYPE`: the slot always holds a C-ABI routine of this signature.
        quote!(unsafe { ::core::mem::transmute(#slot.get()) })
    };
    quote! {
        let __pv_f: unsafe extern "C" fn(#(#params),*) #ret_ty = #routine;
        // SAFETY: `safety::SLOT_CALL`: the routine implements this intrinsic for the backend.
        let __pv_ret = unsafe { __pv_f(#(#values),*) };
        #finish
    }
}
