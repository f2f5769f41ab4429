//! [`Intrinsic`] → tokens. One module per binding supplies the call site; [`site`] writes the
//! record every site carries, [`routines`] the out-of-line native routine, the Xen stub, the
//! C-ABI adapters of option 4 and the self-test probe. Everything generated for a declaration
//! lives inside the generated function's body, the one scope from which its `asm!` can name
//! them; nothing else enters the caller's namespace.

mod direct_branch;
mod ia64;
mod indirect_branch;
mod indirect_call;
mod inline_patch;
mod routines;
mod site;

use crate::check::{self, Contract};
use crate::model::{Body, Intrinsic};
use proc_macro2::TokenStream;
use pv_abi::record::{self, Record};
use pv_abi::x86_64 as x86;
use pv_abi::{Arch, Binding};
use quote::{format_ident, quote, quote_spanned};

/// The attribute's whole job: parse, check, expand, or report.
pub fn intrinsic(args: TokenStream, item: TokenStream) -> TokenStream {
    let intr = match crate::parse::intrinsic(args, item.clone()) {
        Ok(intr) => intr,
        Err(e) => return fallback(e, item),
    };
    let checked = match check::arch(&intr) {
        Ok(Arch::X86_64) => check::x86_64(&intr).map(|c| x86_64(intr, &c)),
        Ok(Arch::Ia64) => check::ia64(&intr).map(|c| ia64::expand(&intr, &c)),
        Err(e) => Err(e),
    };
    checked.unwrap_or_else(|e| fallback(e, item))
}

/// The errors, plus the declared function with a diverging body so callers still type-check
/// and the user sees only the real problems (thiserror's `fallback`).
pub fn fallback(errors: darling::Error, item: TokenStream) -> TokenStream {
    let errors = errors.write_errors();
    let Ok(mut decl) = syn::parse2::<syn::ForeignItemFn>(item) else {
        return errors;
    };
    // Keep only what an ordinary function can be, so the fallback adds no errors of its own.
    let sig = &mut decl.sig;
    (sig.constness, sig.asyncness, sig.abi, sig.variadic) = (None, None, None, None);
    sig.inputs = std::mem::take(&mut sig.inputs)
        .into_iter()
        .filter(|i| matches!(i, syn::FnArg::Typed(_)))
        .collect();
    for input in sig.inputs.iter_mut() {
        if let syn::FnArg::Typed(pat) = input {
            pat.attrs.retain(|a| !a.path().is_ident("pv"));
        }
    }
    // A second `#[pv_intrinsic]` would expand again, on a function with a body.
    decl.attrs.retain(|a| !crate::parse::is_pv_intrinsic(a));
    let syn::ForeignItemFn {
        attrs, vis, sig, ..
    } = decl;
    quote! {
        #errors
        #(#attrs)*
        #[allow(unused_variables)]
        #vis #sig { ::core::unimplemented!("#[pv_intrinsic] declaration with errors") }
    }
}

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
}

/// A call site: the instruction lines between the site labels and the `sym` operands they use.
pub struct SiteAsm {
    pub lines: Vec<String>,
    pub syms: TokenStream,
}

/// The contract a binding presents to its callers: the declared one for options 1-3, the C ABI
/// for option 4.
fn presented(intr: &Intrinsic, c: &Contract) -> (u64, u64, u64) {
    match intr.binding {
        Binding::IndirectCall => {
            let args = x86::C_ARGS[..intr.args.len()]
                .iter()
                .fold(0, |m, b| m | 1 << b);
            (args, 1 << x86::C_RESULT, x86::C_CLOBBERS)
        }
        _ => (c.uses(), c.defs(), c.clobbers | x86::FLAGS),
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
fn x86_64(mut intr: Intrinsic, c: &Contract) -> TokenStream {
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
            let message = format!(
                "`{POLICY_CFG} = \"{name}\"` cannot apply to `{}`: option 4 is a C call, which passes \
                 at most {} arguments in registers, and it has {}",
                intr.name(),
                x86::C_ARGS.len(),
                intr.args.len()
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

/// One binding's body: the descriptor, the routines and the site (or option 4's call).
fn bound(intr: &Intrinsic, c: &Contract) -> TokenStream {
    let n = Names::new();
    let site = match intr.binding {
        Binding::InlinePatch => Some(inline_patch::site(intr)),
        Binding::DirectBranch => Some(direct_branch::site(&n)),
        Binding::IndirectBranch => Some(indirect_branch::site(&n)),
        Binding::IndirectCall => None,
    };
    let routines = routines::all(intr, c, &n, site.as_ref());
    let descriptor = descriptor(intr, c, &n);
    let body = match &site {
        Some(site) => site::call(intr, c, &n, site),
        None => indirect_call::call(intr, &n),
    };
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

/// The `const` operands a record template written with [`Numbers::Operands`] names: each
/// number field under its field name, typed by its size, masks in hex.
///
/// [`Numbers::Operands`]: pv_abi::record::Numbers::Operands
fn record_operands(record: &Record) -> TokenStream {
    record::FIELDS
        .iter()
        .filter_map(|(field, size)| match record.value(*field) {
            record::Value::Int(n) => {
                let name = format_ident!("{}", field.name());
                let lit = match size {
                    1 => format!("{n}u8"),
                    2 => format!("{n:#x}u16"),
                    4 => format!("{n:#x}u32"),
                    _ => format!("{n:#x}u64"),
                };
                let lit = syn::LitInt::new(&lit, proc_macro2::Span::call_site());
                Some(quote!(#name = const #lit,))
            }
            _ => None,
        })
        .collect()
}

fn variant(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| w[..1].to_uppercase() + &w[1..])
        .collect()
}
