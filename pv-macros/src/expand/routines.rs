//! The out-of-line routines every declaration gets, all naked so their register use is exactly
//! what is written here:
//! - the native routine (the native body and `ret`), reached by option 2 and 3 sites;
//! - the Xen stub, which keeps the declared contract: every register the Xen path may clobber
//!   and the contract says is preserved is saved around it (Linux's callee-save thunks);
//! - for option 4, C-ABI adapters around both, since its slot is called as a C function;
//! - the probe: one more instance of the site in a routine of its own, which the self-test runs
//!   with canary values in every register to prove the contract.

use super::{Names, SiteAsm, site};
use crate::check::Contract;
use crate::model::{HypercallArg, Intrinsic, Xen};
use proc_macro2::{Span, TokenStream};
use pv_abi::record::FLAG_PROBE;
use pv_abi::x86_64 as x86;
use pv_abi::xen::HYPERCALL_ENTRY_SIZE;
use quote::{format_ident, quote};

/// The user's native sequence, one instruction per line.
pub fn native_lines(intr: &Intrinsic) -> Vec<String> {
    split(&intr.native.value())
}

fn split(text: &str) -> Vec<String> {
    text.split([';', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

fn name(bit: u8) -> &'static str {
    x86::reg_name(bit)
}

/// General registers of a mask, in encoding order.
fn bits(mask: u64) -> impl DoubleEndedIterator<Item = u8> + Clone {
    (0..16u8).filter(move |b| mask & 1 << b != 0)
}

/// Saves `mask` around `inner`.
fn saving(mask: u64, inner: Vec<String>) -> Vec<String> {
    let mut l: Vec<String> = bits(mask).map(|b| format!("push {}", name(b))).collect();
    l.extend(inner);
    l.extend(bits(mask).rev().map(|b| format!("pop {}", name(b))));
    l
}

/// Moves `src[i]` to `dst[i]` for all `i` at once (sources may overlap destinations): every
/// source is pushed before any destination is popped.
fn parallel_move(src: &[u8], dst: &[u8]) -> Vec<String> {
    let pairs: Vec<(u8, u8)> = src
        .iter()
        .copied()
        .zip(dst.iter().copied())
        .filter(|(s, d)| s != d)
        .collect();
    let mut l: Vec<String> = pairs
        .iter()
        .map(|(s, _)| format!("push {}", name(*s)))
        .collect();
    l.extend(pairs.iter().rev().map(|(_, d)| format!("pop {}", name(*d))));
    l
}

/// `mov carrier, rax` after a call that returns in rax, if the declaration has a result.
fn result_from_rax(intr: &Intrinsic, c: &Contract) -> Option<String> {
    let carrier = c
        .carrier
        .filter(|r| intr.ret.is_some() && *r != x86::C_RESULT)?;
    Some(format!("mov {}, rax", name(carrier)))
}

/// Registers the Xen path may clobber that the contract says are preserved.
fn to_save(may_clobber: u64, c: &Contract) -> u64 {
    may_clobber & !(c.defs() | c.clobbers) & 0xffff
}

/// The Xen stub's lines (without `ret`), or `None` when Xen runs the native routine.
fn xen_lines(intr: &Intrinsic, c: &Contract) -> Option<(Vec<String>, TokenStream)> {
    match &intr.xen {
        // Hyperprivops are rejected by the x86_64 checks.
        Xen::Native | Xen::Hyperprivop(..) => None,
        Xen::Nop => Some((vec![], quote!())),
        Xen::Asm(text) => Some((split(&text.value()), quote!())),
        Xen::Hypercall { call, args, .. } => {
            let (mut src, mut dst, mut consts) = (vec![], vec![], vec![]);
            for (arg, to) in args.iter().zip(x86::XEN_ARGS) {
                match arg {
                    HypercallArg::Param(i) => {
                        src.push(c.args[*i]);
                        dst.push(to);
                    }
                    HypercallArg::Const(v) => consts.push(format!("mov {}, {v:#x}", name(to))),
                }
            }
            let mut inner = parallel_move(&src, &dst);
            inner.extend(consts);
            inner.push(format!(
                "call {} + {}",
                pv_abi::xen::HYPERCALL_PAGE_SYMBOL,
                call.nr as usize * HYPERCALL_ENTRY_SIZE
            ));
            inner.extend(result_from_rax(intr, c));
            Some((saving(to_save(x86::XEN_CLOBBERS, c), inner), quote!()))
        }
        Xen::Call(path) => {
            let mut inner = vec![
                "push rbp".into(),
                "mov rbp, rsp".into(),
                "and rsp, -16".into(),
            ];
            inner.extend(parallel_move(&c.args, &x86::C_ARGS[..c.args.len()]));
            inner.push("call {f}".into());
            inner.extend(result_from_rax(intr, c));
            inner.extend(["mov rsp, rbp".into(), "pop rbp".into()]);
            Some((
                saving(to_save(x86::C_CLOBBERS, c), inner),
                quote!(f = sym #path,),
            ))
        }
    }
}

/// A naked routine from lines and `sym` operands. The template carries `span` (the user's
/// sequence), so that an assembler error points at what the user wrote.
fn naked(
    ident: &syn::Ident,
    doc: &str,
    lines: &[String],
    syms: TokenStream,
    span: Span,
) -> TokenStream {
    let lines = lines.iter().map(|l| syn::LitStr::new(l, span));
    quote! {
        #[doc = #doc]
        #[unsafe(naked)]
        unsafe extern "C" fn #ident() {
            ::core::arch::naked_asm!(#(#lines),*, #syms)
        }
    }
}

/// A C-ABI adapter around the contract routine `target` (option 4).
fn c_adapter(intr: &Intrinsic, c: &Contract, target: &syn::Ident) -> Vec<String> {
    let mut inner = parallel_move(&x86::C_ARGS[..c.args.len()], &c.args);
    inner.push(format!("call {{{target}}}"));
    if let Some(carrier) = c
        .carrier
        .filter(|r| intr.ret.is_some() && *r != x86::C_RESULT)
    {
        inner.push(format!("mov rax, {}", name(carrier)));
    }
    let mut l = saving((c.clobbers | c.defs()) & x86::C_PRESERVED_USABLE, inner);
    l.push("ret".into());
    l
}

/// Every routine of a declaration.
pub fn all(intr: &Intrinsic, c: &Contract, n: &Names, site: Option<&SiteAsm>) -> TokenStream {
    let Names {
        desc,
        slot,
        native,
        xen,
        probe,
    } = n;
    let mut native_body = native_lines(intr);
    native_body.push("ret".into());
    let xen_stub = xen_lines(intr, c).map(|(mut lines, syms)| {
        lines.push("ret".into());
        (lines, syms)
    });
    let native_span = intr.native.span();
    let xen_span = match &intr.xen {
        Xen::Asm(text) => text.span(),
        _ => native_span,
    };
    let mut out = TokenStream::new();
    let (native_contract, xen_contract) = (
        format_ident!("__pv_native_contract"),
        format_ident!("__pv_xen_contract"),
    );
    let contract_routines = match site {
        Some(_) => (native.clone(), xen.clone()),
        None => (native_contract.clone(), xen_contract.clone()),
    };
    out.extend(naked(
        &contract_routines.0,
        " The native routine: the native body, then `ret`.",
        &native_body,
        quote!(),
        native_span,
    ));
    if let Some((lines, syms)) = &xen_stub {
        out.extend(naked(
            &contract_routines.1,
            " The Xen stub: the Xen implementation under the declared register contract.",
            lines,
            syms.clone(),
            xen_span,
        ));
    }
    match site {
        Some(site) => {
            let mut lines = vec!["sub rsp, 8".to_string()];
            let (site_lines, record) = site::lines(intr, c, site, FLAG_PROBE);
            lines.extend(site_lines);
            lines.extend(["add rsp, 8".into(), "ret".into()]);
            let syms = &site.syms;
            out.extend(naked(
                probe,
                " The probe: one more instance of the site, run by the self-test with canaries.",
                &lines,
                quote!(desc = sym #desc, #syms #record),
                native_span,
            ));
        }
        None => {
            let native_adapter = c_adapter(intr, c, &native_contract);
            out.extend(naked(
                native,
                " C-ABI adapter around the native routine (option 4).",
                &native_adapter,
                quote!(__pv_native_contract = sym #native_contract,),
                native_span,
            ));
            if xen_stub.is_some() {
                let xen_adapter = c_adapter(intr, c, &xen_contract);
                out.extend(naked(
                    xen,
                    " C-ABI adapter around the Xen stub (option 4).",
                    &xen_adapter,
                    quote!(__pv_xen_contract = sym #xen_contract,),
                    native_span,
                ));
            }
            let lines: Vec<String> = [
                "sub rsp, 8",
                "call qword ptr [rip + {slot}]",
                "add rsp, 8",
                "ret",
            ]
            .map(String::from)
            .into();
            out.extend(naked(
                probe,
                " The probe: a C call through the slot, run by the self-test.",
                &lines,
                quote!(slot = sym #slot,),
                native_span,
            ));
        }
    }
    if let Xen::Call(path) = &intr.xen {
        let params = intr.args.iter().map(|a| &a.ty);
        let ret = intr.ret.iter();
        out.extend(quote! {
            /// The Xen function must take the declared arguments and return the declared result.
            const _: unsafe extern "C" fn(#(#params),*) #(-> #ret)* = #path;
        });
    }
    out
}
