//! The site every option 1-3 call site (and each probe) shares: labels around the instructions,
//! nop padding up to the room a `call rel32` needs, a copy of the native body in `pv_repl`, and
//! the versioned, PC-relative record in `pv_sites` (layout in `pv_abi::record`).

use super::{Names, SiteAsm, routines};
use crate::check::Contract;
use crate::model::Intrinsic;
use proc_macro2::TokenStream;
use pv_abi::record::{self, Dialect, Numbers, Record, Value};
use pv_abi::x86_64 as x86;
use quote::{format_ident, quote};

/// The asm lines of a complete site (instructions, padding, native copy, record) and the
/// `const` operands its record names.
pub fn lines(
    intr: &Intrinsic,
    c: &Contract,
    site: &SiteAsm,
    flags: u8,
) -> (Vec<String>, TokenStream) {
    let (uses, defs, clobbers) = super::presented(intr, c);
    let record = Record {
        flags: flags | (intr.xen().kind() as u8) << record::XEN_KIND_SHIFT,
        arch: pv_abi::Arch::X86_64,
        binding: intr.binding,
        len: Value::Expr("774b - 772b"),
        repl_len: Value::Expr("776b - 775b"),
        site: "772b",
        repl: "775b",
        desc: "{desc}",
        uses,
        defs,
        clobbers,
    };
    let mut l = vec!["772:".to_string()];
    l.extend(site.lines.iter().cloned());
    l.push("773:".into());
    // Pad to the room of a `call rel32` with the nop the engine writes there. The site's length
    // is known only at layout time: in a release build the instructions between 772 and 773
    // are relaxable fragments, so `773b - 772b` is not absolute yet where `.if` would need it,
    // and `.if` fails. A `.fill`'s repeat count may wait for layout: it is 1 (gas's true is
    // -1) for the one line whose length matches, 0 for the others.
    l.push("# pad to 5 bytes with pv's nop of each length (pv_abi::x86_64::CALL_PADDING), so a call fits".into());
    l.extend(x86::CALL_PADDING.iter().enumerate().map(|(k, nop)| {
        format!(
            ".fill -(773b - 772b == {k}), {}, {nop:#x}",
            x86::CALL_REL32_LEN - k
        )
    }));
    l.push("774:".into());
    l.push("# a copy of the native body, for apply(Native)".into());
    l.push(format!(".pushsection {},\"aR\"", record::REPL_SECTION));
    l.push("775:".into());
    l.extend(routines::native_lines(intr));
    l.push("776:".into());
    l.push(".popsection".into());
    l.push("# the site record (pv_abi::record::FIELDS)".into());
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = record.write(&mut text, Dialect::X86_64, Numbers::Operands);
    l.extend(text.lines().map(String::from));
    (l, crate::expand::record_operands(&record))
}

/// The generated function's body for options 1-3: the site as inline asm, with the argument
/// registers bound to the declared contract.
pub fn call(intr: &Intrinsic, c: &Contract, n: &Names, site: &SiteAsm) -> TokenStream {
    // Spanned at the user's sequence, so that an assembler error points at it.
    let (lines, record) = lines(intr, c, site, 0);
    let lines = lines
        .into_iter()
        .map(|l| syn::LitStr::new(&l, intr.native.span()));
    let desc = &n.desc;
    let syms = &site.syms;
    let ret = format_ident!("__pv_ret");
    let has_ret = intr.ret.is_some();
    let out = || if has_ret { quote!(#ret) } else { quote!(_) };
    let mut ops = Vec::new();
    for (arg, bit) in intr.args.iter().zip(&c.args) {
        let r = x86::reg_name(*bit);
        let id = &arg.ident;
        let value = quote!(::pv_runtime::__private::Reg::to_reg(#id));
        ops.push(if Some(*bit) == c.carrier {
            let o = out();
            quote!(inout(#r) #value => #o)
        } else if c.clobbers & 1 << bit != 0 {
            quote!(inout(#r) #value => _)
        } else {
            quote!(in(#r) #value)
        });
    }
    if let Some(bit) = c.carrier.filter(|b| !c.args.contains(b)) {
        let r = x86::reg_name(bit);
        let o = out();
        ops.push(quote!(out(#r) #o));
    }
    for bit in (0..16u8).filter(|b| c.clobbers & 1 << b != 0 && !c.args.contains(b)) {
        let r = x86::reg_name(bit);
        ops.push(quote!(out(#r) _));
    }
    let (decl, finish) = match &intr.ret {
        Some(ty) => (
            quote!(let #ret: u64;),
            quote!(<#ty as ::pv_runtime::__private::Reg>::from_reg(#ret)),
        ),
        None => (quote!(), quote!()),
    };
    quote! {
        #decl
        // A site may become a call, so it is neither `nostack` nor `preserves_flags`.
        // SAFETY: `safety::SITE`: the site honours the register contract in every patch state.
        unsafe {
            ::core::arch::asm!(
                #(#lines),*,
                desc = sym #desc,
                #syms
                #record
                #(#ops),*
            );
        }
        #finish
    }
}
