//! The out-of-line routines every declaration gets, all naked so their register use is exactly
//! what is written here:
//! - the native routine (the native body and `ret`), reached by option 2 and 3 sites;
//! - the Xen stub, which keeps the declared contract: every register the Xen path may clobber
//!   and the contract says is preserved is saved around it (Linux's callee-save thunks);
//! - for option 4, C-ABI adapters around both, since its slot is called as a C function;
//! - the probe: one more instance of the site in a routine of its own, which the self-test runs
//!   with canary values in every register to prove the contract.

use super::{Callers, Names, site};
use crate::check::Contract;
use crate::model::{Body, HypercallArg, Intrinsic};
use proc_macro2::{Span, TokenStream};
use pv_abi::Hypervisor;
use pv_abi::backend::{CallAbi, CallKind};
use pv_abi::record::FLAG_PROBE;
use pv_abi::record::alternative;
use pv_abi::x86_64 as x86;
use quote::{format_ident, quote};

/// The user's native sequence, one instruction per line.
pub fn native_lines(intr: &Intrinsic) -> Vec<String> {
    lines(&intr.native.value())
}

/// A sequence's instructions as asm template lines (`pv_abi::sequence`'s one splitter).
fn lines(text: &str) -> Vec<String> {
    pv_abi::sequence::instructions(text)
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

/// Registers a backend's path may clobber that the contract says are preserved.
fn to_save(may_clobber: u64, c: &Contract) -> u64 {
    may_clobber & !(c.defs() | c.clobbers) & 0xffff
}

/// Moves the hypercall's parameter arguments into `regs` (in order) and its constant ones
/// after them: `(moves, registers written)`.
fn arguments(args: &[HypercallArg], regs: &[u8], c: &Contract) -> (Vec<String>, u64) {
    let (mut src, mut dst, mut consts) = (vec![], vec![], vec![]);
    for (arg, to) in args.iter().zip(regs) {
        match arg {
            HypercallArg::Param(i) => {
                src.push(c.args[*i]);
                dst.push(*to);
            }
            HypercallArg::Const(v) => consts.push(format!("mov {}, {v:#x}", name(*to))),
        }
    }
    let mut lines = parallel_move(&src, &dst);
    lines.extend(consts);
    let written = regs[..args.len().min(regs.len())]
        .iter()
        .fold(0, |m, r| m | 1 << r);
    (lines, written)
}

/// A hypercall made the way `hv`'s ABI says, under the declared contract: every register it
/// writes or its callee may clobber that the contract preserves is saved around it.
fn hypercall_lines(
    intr: &Intrinsic,
    c: &Contract,
    hv: Hypervisor,
    call: &pv_abi::backend::Hypercall,
    args: &[HypercallArg],
) -> Vec<String> {
    let (inner, may_clobber) = match hv.abi().call {
        CallAbi::Page {
            symbol,
            entry_size,
            args: regs,
            clobbers,
        } => {
            let (mut l, written) = arguments(args, regs, c);
            l.push(format!("call {symbol} + {}", call.nr as usize * entry_size));
            (l, clobbers | written)
        }
        CallAbi::Instruction { args: regs } => {
            let (mut l, written) = arguments(args, regs, c);
            l.push(format!("mov eax, {:#x}", call.nr));
            // The instruction is `vmcall` as compiled; the engine writes `vmmcall` over it on
            // AMD CPUs when it patches for this hypervisor (`pv_alternatives`, like Linux's
            // `ALTERNATIVE("vmcall", "vmmcall", X86_FEATURE_VMMCALL)`).
            l.extend([
                "7771:".to_string(),
                "vmcall".into(),
                format!(".pushsection {},\"aR\"", alternative::SECTION),
                ".balign 8".into(),
                ".quad 7771b - .".into(),
                format!(".byte 3, {}", alternative::HYPERCALL_INSTRUCTION),
                ".balign 8".into(),
                ".popsection".into(),
            ]);
            (l, written | 1 << x86::C_RESULT)
        }
        CallAbi::ControlWord { symbol, clobbers } => {
            // rdx = input (or fast input 1), r8 = output (or fast input 2), and for a rep call
            // the count in rcx, shifted into bits 43:32 of the control word below.
            let (rdx, rcx, r8) = (2u8, 1u8, 8u8);
            let regs: &[u8] = match call.kind {
                CallKind::Rep => &[rdx, r8, rcx],
                _ => &[rdx, r8],
            };
            let (mut l, written) = arguments(args, regs, c);
            let code = u64::from(call.nr)
                | if call.kind == CallKind::Fast {
                    pv_abi::hyperv::CONTROL_FAST
                } else {
                    0
                };
            if call.kind == CallKind::Rep {
                l.push(format!("shl rcx, {}", pv_abi::hyperv::CONTROL_REP_SHIFT));
                l.push(format!("or rcx, {code:#x}"));
            } else {
                l.push(format!("mov ecx, {code:#x}"));
            }
            l.push(format!("call {symbol}"));
            (l, clobbers | written)
        }
    };
    let mut inner = inner;
    inner.extend(result_from_rax(intr, c));
    saving(to_save(may_clobber, c), inner)
}

/// A backend's stub lines (without `ret`), or `None` when it runs the native routine.
fn backend_lines(
    intr: &Intrinsic,
    c: &Contract,
    hv: Hypervisor,
) -> Option<(Vec<String>, TokenStream)> {
    match intr.body(hv) {
        // Hyperprivops are rejected by the x86_64 checks.
        Body::Native { .. } | Body::Hyperprivop(..) => None,
        Body::Nop => Some((vec![], quote!())),
        Body::Asm(text) => Some((lines(&text.value()), quote!())),
        Body::Hypercall { call, args, .. } => {
            Some((hypercall_lines(intr, c, hv, call, args), quote!()))
        }
        Body::Call(path) => {
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

/// A naked routine from lines and `sym` operands, in the routines' section, or in ordinary
/// text where `section` is `None` (the probe, which holds a site the engine patches, while the
/// engine refuses a site inside the routines' section). The template carries `span` (the
/// user's sequence), so that an assembler error points at what the user wrote.
fn naked(
    ident: &syn::Ident,
    doc: &str,
    lines: &[String],
    syms: TokenStream,
    span: Span,
    section: Option<&str>,
) -> TokenStream {
    let lines = lines.iter().map(|l| syn::LitStr::new(l, span));
    let section = section.map(|s| quote!(#[unsafe(link_section = #s)]));
    quote! {
        #[doc = #doc]
        #[unsafe(naked)]
        #section
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

/// Where the routines go: the section the engine knows as code it never patches.
const ROUTINES: Option<&str> = Some(pv_abi::record::ROUTINES_SECTION);

/// Every routine of a declaration.
pub fn all(intr: &Intrinsic, c: &Contract, n: &Names, callers: &Callers) -> TokenStream {
    let Names {
        desc,
        slot,
        native,
        backends,
        probe,
    } = n;
    let mut native_body = native_lines(intr);
    native_body.push("ret".into());
    let native_span = intr.native.span();
    let mut out = TokenStream::new();
    let native_contract = format_ident!("__pv_native_contract");
    // Option 4 calls its routines as C functions: the contract routines get C-ABI adapters.
    let contract_name = |routine: &syn::Ident| match callers {
        Callers::Site(_) => routine.clone(),
        Callers::CCall => format_ident!("{routine}_contract"),
    };
    out.extend(naked(
        &contract_name(native),
        " The native routine: the native body, then `ret`.",
        &native_body,
        quote!(),
        native_span,
        ROUTINES,
    ));
    if let Callers::CCall = callers {
        let adapter = c_adapter(intr, c, &native_contract);
        out.extend(naked(
            native,
            " C-ABI adapter around the native routine (option 4).",
            &adapter,
            quote!(__pv_native_contract = sym #native_contract,),
            native_span,
            ROUTINES,
        ));
    }
    for hv in Hypervisor::ALL {
        let Some((mut lines, syms)) = backend_lines(intr, c, hv) else {
            continue;
        };
        lines.push("ret".into());
        let span = match intr.body(hv) {
            Body::Asm(text) => text.span(),
            _ => native_span,
        };
        let routine = &backends[hv.index()];
        let contract = contract_name(routine);
        let display = hv.abi().display;
        out.extend(naked(
            &contract,
            &format!(
                " The {display} stub: the {display} body under the declared register contract."
            ),
            &lines,
            syms,
            span,
            ROUTINES,
        ));
        if let Callers::CCall = callers {
            let adapter = c_adapter(intr, c, &contract);
            out.extend(naked(
                routine,
                &format!(" C-ABI adapter around the {display} stub (option 4)."),
                &adapter,
                quote!(#contract = sym #contract,),
                native_span,
                ROUTINES,
            ));
        }
        if let Body::Call(path) = intr.body(hv) {
            let params = intr.args.iter().map(|a| &a.ty);
            let ret = intr.ret.iter();
            out.extend(quote! {
                /// The backend's function must take the declared arguments and return the
                /// declared result.
                const _: unsafe extern "C" fn(#(#params),*) #(-> #ret)* = #path;
            });
        }
    }
    match callers {
        Callers::Site(site) => {
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
                None,
            ));
        }
        Callers::CCall => {
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
                None,
            ));
        }
    }
    out
}
