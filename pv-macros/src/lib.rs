//! `#[pv_intrinsic]`: one annotated function declaration becomes the native inline asm, a
//! patch-site record, an ops-table slot, the out-of-line routines and the Xen stub.
//!
//! The data flows one way: [`parse`] turns tokens into the [`model`], [`check`] validates it
//! against the architecture's ABI table (all errors at once, each at its token), and [`expand`]
//! writes one binding's code. On error, [`expand::fallback`] keeps the declared function so the
//! rest of the crate still type-checks and the user sees only the real problems.
//!
//! See the `pv` crate README for the syntax, the bindings and the register contract.

mod check;
mod expand;
mod model;
mod parse;

use proc_macro::TokenStream;

/// Declares a paravirtual intrinsic. See the crate documentation of `pv` for the syntax.
#[proc_macro_attribute]
pub fn pv_intrinsic(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::intrinsic(args.into(), item.into()).into()
}

#[cfg(test)]
mod robustness;
