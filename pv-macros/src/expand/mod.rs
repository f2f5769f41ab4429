//! [`Intrinsic`] → tokens, architecture first: [`x86_64`] and [`ia64`] each expand a checked
//! declaration, and within an architecture the binding decides the call site. Everything
//! generated for a declaration lives inside the generated function's body, the one scope from
//! which its `asm!` can name them; nothing else enters the caller's namespace.

mod ia64;
mod x86_64;

use crate::check;
use proc_macro2::TokenStream;
use pv_abi::Arch;
use pv_abi::record::{self, Record};
use quote::{format_ident, quote};

/// The attribute's whole job: parse, check, expand, or report.
pub fn intrinsic(args: TokenStream, item: TokenStream) -> TokenStream {
    let intr = match crate::parse::intrinsic(args, item.clone()) {
        Ok(intr) => intr,
        Err(e) => return fallback(e, item),
    };
    let checked = match check::arch(&intr) {
        Ok(Arch::X86_64) => check::x86_64(&intr).map(|c| x86_64::expand(intr, &c)),
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

/// Why each `unsafe` block the expansion emits is sound. Token streams carry no comments, so the
/// expansion snapshots (`snapshots.rs`) print these above the blocks they justify; the
/// generating code says `// SAFETY:` with the same constant's name.
#[cfg(test)]
pub mod safety {
    /// A site's `asm!`.
    pub const SITE: &str = "the site honours the declared register contract in every patch state.";
    /// Reading an option 4 slot as the routine's own type.
    pub const SLOT_TYPE: &str =
        "the slot always holds a C-ABI routine of this signature (option 4).";
    /// Calling the routine an option 4 slot holds.
    pub const SLOT_CALL: &str = "the routine implements this intrinsic for the backend installed.";
}
