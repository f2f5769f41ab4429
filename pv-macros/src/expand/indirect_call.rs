//! Option 4: an ordinary C-ABI Rust call through the slot; no site, no record.

use super::Names;
use crate::model::Intrinsic;
use proc_macro2::TokenStream;
use quote::quote;

pub fn call(intr: &Intrinsic, n: &Names) -> TokenStream {
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
        // SAFETY: the slot always holds a C-ABI routine of this signature (option 4).
        quote!(unsafe { ::core::mem::transmute(#slot.get()) })
    };
    quote! {
        let __pv_f: unsafe extern "C" fn(#(#params),*) #ret_ty = #routine;
        // SAFETY: the routine implements this intrinsic for the backend installed.
        let __pv_ret = unsafe { __pv_f(#(#values),*) };
        #finish
    }
}
