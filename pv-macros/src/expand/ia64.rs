//! ia64 expansion. No Rust target exists for ia64, so a declaration yields two things from the
//! same templates (`pv_abi::ia64::asm`): the function with its call site as `asm!`, under
//! `cfg(target_arch = "ia64")`, and — on every host — the declaration as data in the
//! `pv_ia64_decls` section, from which the catalogue writer regenerates the identical assembly.

use crate::check::Contract;
use crate::model::{Body, Intrinsic};
use proc_macro2::TokenStream;
use pv_abi::ia64::asm::{Decl, Form, HypercallArg, Symbols, XenBody};
use pv_abi::record::{self, Numbers};
use quote::quote;

/// Placeholders that survive brace escaping and become `asm!` operands.
const NATIVE: &str = "\u{1}native\u{1}";
const SLOT: &str = "\u{1}slot\u{1}";
const DESC: &str = "\u{1}desc\u{1}";

pub fn expand(intr: &Intrinsic, c: &Contract) -> TokenStream {
    let native = intr.native.value();
    let xen_text = match intr.xen() {
        Body::Asm(s) => Some(s.value()),
        _ => None,
    };
    let hypercall_args: Vec<HypercallArg> = match intr.xen() {
        Body::Hypercall { args, .. } => args
            .iter()
            .map(|a| match a {
                crate::model::HypercallArg::Param(i) => HypercallArg::Reg(c.args[*i]),
                crate::model::HypercallArg::Const(v) => HypercallArg::Const(*v),
            })
            .collect(),
        _ => Vec::new(),
    };
    let call_path = match intr.xen() {
        Body::Call(p) => Some(quote!(#p).to_string().replace(' ', "")),
        _ => None,
    };
    let xen = match intr.xen() {
        Body::Native { .. } => XenBody::Native,
        Body::Nop => XenBody::Nop,
        Body::Asm(_) => XenBody::Asm(xen_text.as_deref().unwrap_or("")),
        Body::Hyperprivop(h, _) => XenBody::Hyperprivop(h.nr),
        Body::Call(_) => XenBody::Call(call_path.as_deref().unwrap_or("")),
        Body::Hypercall { call, .. } => XenBody::Hypercall(call.nr, &hypercall_args),
    };
    let name = intr.name().to_string();
    let form = if intr.linux_form.is_some() {
        Form::Linux
    } else {
        Form::Seed
    };
    // The module path is known only where the expansion lands: `data` emits `module_path!()`.
    let decl = Decl {
        name: &name,
        module: "",
        binding: intr.binding,
        form,
        args: &c.args,
        carrier: c.carrier,
        clobbers: c.clobbers,
        native: &native,
        xen,
    };
    let data = data(&decl);
    let function = function(intr, &decl);
    // `target_arch = "ia64"` is not a target rustc knows: the lint is silenced on an enclosing
    // module (it cannot be on the item itself), whose items a glob re-exports — none off ia64,
    // and never the private declaration data.
    let module = quote::format_ident!("__pv_ia64_{}", intr.name());
    let vis = &intr.vis;
    quote! {
        #[doc(hidden)]
        #[allow(unexpected_cfgs)]
        mod #module {
            #[allow(unused_imports)]
            use super::*;
            /// This declaration as data: the catalogue writer regenerates its assembly from it
            /// on any host, and on ia64 the site records point at it.
            #[used]
            #[unsafe(link_section = "pv_ia64_decls")]
            static __PV_DECL: ::pv_runtime::arch::ia64::Decl<'static> = #data;
            #function
        }
        #[allow(unused_imports)]
        #vis use #module::*;
    }
}

/// The `Decl` as a constant expression.
fn data(d: &Decl) -> TokenStream {
    let Decl {
        name,
        args,
        native,
        clobbers,
        ..
    } = d;
    let clobbers_hex = syn::LitInt::new(&format!("{clobbers:#x}"), proc_macro2::Span::call_site());
    let binding = quote::format_ident!("{}", super::variant(d.binding.name()));
    let form = match d.form {
        Form::Seed => quote!(Seed),
        Form::Linux => quote!(Linux),
    };
    let carrier = match d.carrier {
        Some(b) => quote!(::core::option::Option::Some(#b)),
        None => quote!(::core::option::Option::None),
    };
    let xen = match d.xen {
        XenBody::Native => quote!(Native),
        XenBody::Nop => quote!(Nop),
        XenBody::Asm(t) => quote!(Asm(#t)),
        XenBody::Hyperprivop(nr) => quote!(Hyperprivop(#nr)),
        XenBody::Call(path) => quote!(Call(#path)),
        XenBody::Hypercall(nr, args) => {
            let args = args.iter().map(|a| match a {
                HypercallArg::Reg(bit) => {
                    quote!(::pv_runtime::abi::ia64::asm::HypercallArg::Reg(#bit))
                }
                HypercallArg::Const(v) => {
                    quote!(::pv_runtime::abi::ia64::asm::HypercallArg::Const(#v))
                }
            });
            quote!(Hypercall(#nr, &[#(#args),*]))
        }
    };
    quote! {
        ::pv_runtime::arch::ia64::Decl {
            name: #name,
            module: ::pv_runtime::abi::ia64::asm::enclosing(::core::module_path!()),
            binding: ::pv_runtime::Binding::#binding,
            form: ::pv_runtime::arch::ia64::Form::#form,
            args: &[#(#args),*],
            carrier: #carrier,
            clobbers: #clobbers_hex,
            native: #native,
            xen: ::pv_runtime::arch::ia64::XenBody::#xen,
        }
    }
}

/// The function for an ia64 build: the site as `asm!`, arguments bound to their registers.
fn function(intr: &Intrinsic, d: &Decl) -> TokenStream {
    let mut text = String::new();
    let symbols = Symbols {
        site: ("772:", "772b"),
        repl: ("775:", "775b"),
        native: NATIVE,
        slot: SLOT,
        desc: DESC,
    };
    let _ = d.site_as(&mut text, &symbols, false, Numbers::Operands);
    let record = d.record(&symbols, false);
    let mut text = text
        .replace('{', "{{")
        .replace('}', "}}")
        .replace(NATIVE, "{native}")
        .replace(SLOT, "{slot}")
        .replace(DESC, "{desc}");
    // The record's numbers are `{field}` operands too.
    let numbers = record::FIELDS
        .iter()
        .filter(|(f, _)| matches!(record.value(*f), record::Value::Int(_)));
    for (field, _) in numbers {
        let name = field.name();
        text = text.replace(&format!("{{{{{name}}}}}"), &format!("{{{name}}}"));
    }
    let record = super::record_operands(&record);
    // Const generic parameters named in the template become `const` operands.
    let consts: Vec<TokenStream> = intr
        .consts
        .iter()
        .map(|c| {
            text = text.replace(&format!("{{{{{c}}}}}"), &format!("{{{c}}}"));
            quote!(#c = const #c,)
        })
        .collect();
    let text: Vec<String> = text.lines().map(String::from).collect();
    let reg = |b: u8| pv_abi::ia64::reg_name(b).as_str().to_string();
    let has_ret = intr.ret.is_some() && d.carrier.is_some();
    let mut ops: Vec<TokenStream> = intr
        .args
        .iter()
        .zip(d.args)
        .map(|(a, b)| {
            let (r, id) = (reg(*b), &a.ident);
            let out = if has_ret && Some(*b) == d.carrier {
                quote!(__pv_ret)
            } else {
                quote!(_)
            };
            quote!(inout(#r) ::pv_runtime::__private::Reg::to_reg(#id) => #out)
        })
        .collect();
    let (decl_ret, finish) = match (&intr.ret, d.carrier) {
        (Some(ty), Some(b)) => {
            if !d.args.contains(&b) {
                let r = reg(b);
                ops.push(quote!(lateout(#r) __pv_ret));
            }
            (
                quote!(let __pv_ret: u64;),
                quote!(<#ty as ::pv_runtime::__private::Reg>::from_reg(__pv_ret)),
            )
        }
        _ => (quote!(), quote!()),
    };
    let clobbers = (0..64u8)
        .filter(|b| (d.clobbers | d.implicit_clobbers()) & 1 << b != 0 && !d.args.contains(b));
    ops.extend(clobbers.map(|b| {
        let r = reg(b);
        quote!(out(#r) _)
    }));
    let syms = match d.binding {
        pv_abi::Binding::DirectBranch => quote!(native = sym __pv_native,),
        pv_abi::Binding::IndirectBranch => quote!(slot = sym __PV_SLOT,),
        _ => quote!(),
    };
    let mut native_routine = String::new();
    let _ = pv_abi::ia64::asm::bundles(&mut native_routine, d.native);
    let _ = pv_abi::ia64::asm::bundle(&mut native_routine, d.ret());
    let native_routine: Vec<String> = native_routine
        .replace('{', "{{")
        .replace('}', "}}")
        .lines()
        .map(String::from)
        .collect();
    let Intrinsic { attrs, sig, .. } = intr;
    quote! {
        #(#attrs)*
        #[cfg(target_arch = "ia64")]
        #[inline(always)]
        pub #sig {
            /// The native routine: the native body, then the return to the site.
            #[unsafe(naked)]
            unsafe extern "C" fn __pv_native() {
                ::core::arch::naked_asm!(#(#native_routine),*)
            }
            /// The ops-table slot (option 3 sites load their target from it).
            static __PV_SLOT: ::pv_runtime::Slot = ::pv_runtime::Slot::new(__pv_native);
            #decl_ret
            // SAFETY: `safety::SITE`: the site honours the register contract in every patch state.
            unsafe { ::core::arch::asm!(#(#text),*, desc = sym __PV_DECL, #syms #record #(#consts)* #(#ops),*) };
            #finish
        }
    }
}
