//! Tokens → [`Intrinsic`]: the attribute arguments through darling (unknown keys get "did you
//! mean"), the function declaration through syn. Every problem is pushed to the accumulator
//! with its own span; nothing here panics.

use crate::did_you_mean::did_you_mean;
use crate::messages;
use crate::model::{Arg, Backend, Body, HypercallArg, Intrinsic, RegName};
use darling::ast::NestedMeta;
use darling::error::Accumulator;
use darling::{Error, FromMeta, Result};
use proc_macro2::{Span, TokenStream};
use pv_abi::backend::Abi;
use pv_abi::{Arch, Binding, Hypervisor};
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, FnArg, ForeignItemFn, GenericParam, Lit, LitStr, Pat, ReturnType};

/// The attribute's arguments, as written.
#[derive(FromMeta)]
struct Args {
    arch: Option<ArchArg>,
    reg: Option<RegArg>,
    clobber: Option<RegList>,
    binding: Option<BindingArg>,
    native: Option<LitStr>,
    xen: Option<BodyArg>,
    kvm: Option<BodyArg>,
    hyperv: Option<BodyArg>,
    form: Option<FormArg>,
    /// Accepted only to explain why `asm!` options cannot apply to a site.
    options: Option<RegList>,
}

/// `arch = x86_64` or `arch = "ia64"`.
struct ArchArg(Arch, Span);

/// `reg = "r8"`: a string, as in the seed.
struct RegArg(LitStr);

impl FromMeta for RegArg {
    fn from_expr(expr: &Expr) -> Result<Self> {
        match expr {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => Ok(RegArg(s.clone())),
            _ => Err(Error::custom(match word(expr) {
                Some(w) => messages::reg_not_string(&w),
                None => messages::REG_NOT_NAME.to_string(),
            })
            .with_span(expr)),
        }
    }
}

/// `form = linux` or `form = seed` (ia64 option 3).
struct FormArg(bool, Span);

impl FromMeta for FormArg {
    fn from_expr(expr: &Expr) -> Result<Self> {
        match word(expr).as_deref() {
            Some("linux") => Ok(FormArg(true, expr.span())),
            Some("seed") => Ok(FormArg(false, expr.span())),
            _ => Err(Error::custom(messages::UNKNOWN_FORM).with_span(expr)),
        }
    }
}

/// `binding = indirect_branch` or `binding = 3`.
struct BindingArg(Binding, Span);

/// `clobber = [rcx, rdx]`, `clobber = [b0, ar.ccv]`.
struct RegList(Vec<RegName>, Span);

/// `xen = ...`, `kvm = ...`, `hyperv = ...`: kept as an expression until the declaration's
/// parameters are known.
struct BodyArg(Expr);

/// A register-like word: `rax`, `"rax"`, `ar.ccv`.
fn word(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Path(p) => p.path.get_ident().map(|i| i.to_string()),
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Some(s.value()),
        Expr::Field(f) => match &f.member {
            syn::Member::Named(m) => Some(format!("{}.{m}", word(&f.base)?)),
            syn::Member::Unnamed(_) => None,
        },
        _ => None,
    }
}

impl FromMeta for ArchArg {
    fn from_expr(expr: &Expr) -> Result<Self> {
        let found = word(expr).and_then(|w| Arch::from_name(&w));
        found
            .map(|a| ArchArg(a, expr.span()))
            .ok_or_else(|| Error::custom(messages::UNKNOWN_ARCH).with_span(expr))
    }
}

impl FromMeta for BindingArg {
    fn from_expr(expr: &Expr) -> Result<Self> {
        let found = match expr {
            Expr::Lit(ExprLit {
                lit: Lit::Int(n), ..
            }) => n.base10_parse::<u8>().ok().and_then(Binding::from_number),
            _ => word(expr).and_then(|w| Binding::from_name(&w)),
        };
        found
            .map(|b| BindingArg(b, expr.span()))
            .ok_or_else(|| Error::custom(messages::UNKNOWN_BINDING).with_span(expr))
    }
}

impl FromMeta for RegList {
    fn from_expr(expr: &Expr) -> Result<Self> {
        let Expr::Array(array) = expr else {
            return Err(Error::custom(messages::CLOBBER_NOT_LIST).with_span(expr));
        };
        let mut errors = Error::accumulator();
        let regs = array
            .elems
            .iter()
            .filter_map(|e| {
                let name = word(e).map(|name| RegName::new(name, e));
                errors.handle(
                    name.ok_or_else(|| Error::custom(messages::CLOBBER_NOT_NAME).with_span(e)),
                )
            })
            .collect();
        errors.finish_with(RegList(regs, expr.span()))
    }
}

impl FromMeta for BodyArg {
    fn from_expr(expr: &Expr) -> Result<Self> {
        Ok(BodyArg(expr.clone()))
    }
}

/// Resolves `hv = ...` against the declared parameters and `hv`'s hypercall table.
fn body(hv: Hypervisor, expr: &Expr, args: &[Arg]) -> Result<Body> {
    match expr {
        Expr::Path(p) if p.path.is_ident("native") => Ok(Body::Native { emulated: false }),
        Expr::Path(p) if p.path.is_ident("emulated") => Ok(Body::Native { emulated: true }),
        Expr::Path(p) if p.path.is_ident("nop") => Ok(Body::Nop),
        Expr::Call(call) => {
            let form = word(&call.func).unwrap_or_default();
            let inputs: Vec<&Expr> = call.args.iter().collect();
            match (form.as_str(), inputs.as_slice()) {
                (
                    "asm",
                    [
                        Expr::Lit(ExprLit {
                            lit: Lit::Str(s), ..
                        }),
                    ],
                ) => Ok(Body::Asm(s.clone())),
                ("call", [Expr::Path(p)]) => Ok(Body::Call(p.path.clone())),
                ("hypercall", [name, rest @ ..]) => hypercall(hv.abi(), name, rest, args),
                ("hyperprivop", [name]) if hv == Hypervisor::Xen => hyperprivop(name),
                _ => Err(Error::custom(messages::backend_forms(hv)).with_span(expr)),
            }
        }
        _ => Err(Error::custom(messages::backend_forms(hv)).with_span(expr)),
    }
}

fn hyperprivop(name: &Expr) -> Result<Body> {
    let word = word(name).unwrap_or_default();
    match pv_abi::ia64::hyperprivop(&word) {
        Some(h) => Ok(Body::Hyperprivop(h, name.span())),
        None => {
            let names = pv_abi::ia64::HYPERPRIVOPS.iter().map(|h| h.name);
            Err(Error::custom(messages::unknown_hyperprivop(
                &word,
                &did_you_mean(&word, names),
            ))
            .with_span(name))
        }
    }
}

fn hypercall(abi: &Abi, name: &Expr, rest: &[&Expr], args: &[Arg]) -> Result<Body> {
    if let Expr::Lit(ExprLit {
        lit: Lit::Int(n), ..
    }) = name
    {
        let known = n
            .base10_parse::<u32>()
            .ok()
            .and_then(|nr| abi.hypercalls.iter().find(|h| h.nr == nr));
        return Err(Error::custom(messages::hypercall_by_number(
            abi,
            &n.to_string(),
            known.map(|h| h.name),
        ))
        .with_span(name));
    }
    let word = word(name).unwrap_or_default();
    let Some(call) = abi.hypercall(&word) else {
        let names = abi.hypercalls.iter().map(|h| h.name);
        return Err(Error::custom(messages::unknown_hypercall(
            abi,
            &word,
            &did_you_mean(&word, names),
        ))
        .with_span(name));
    };
    let mut errors = Error::accumulator();
    if rest.len() != call.args as usize {
        errors.push(
            Error::custom(messages::hypercall_arg_count(
                call.name,
                call.args,
                rest.len(),
            ))
            .with_span(name),
        );
    }
    let hargs = rest
        .iter()
        .filter_map(|e| {
            let arg = match e {
                Expr::Lit(ExprLit {
                    lit: Lit::Int(n), ..
                }) => n
                    .base10_parse::<u64>()
                    .map(HypercallArg::Const)
                    .map_err(Error::from),
                Expr::Path(p) => p
                    .path
                    .get_ident()
                    .and_then(|i| args.iter().position(|a| a.ident == *i))
                    .map(HypercallArg::Param)
                    .ok_or_else(|| Error::custom(messages::HYPERCALL_ARG_UNKNOWN).with_span(e)),
                _ => Err(Error::custom(messages::HYPERCALL_ARG_EXPR).with_span(e)),
            };
            errors.handle(arg)
        })
        .collect();
    errors.finish_with(Body::Hypercall {
        call,
        args: hargs,
        span: name.span(),
    })
}

/// `#[pv(reg = "...")]` (or the misplaced `#[pv(constant)]`) on one argument, stripped.
fn arg_attrs(attrs: &mut Vec<syn::Attribute>, errors: &mut Accumulator) -> Option<RegName> {
    let mut reg = None;
    attrs.retain(|attr| {
        if !attr.path().is_ident("pv") {
            return true;
        }
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("reg") {
                let s: LitStr = meta.value()?.parse()?;
                reg = Some(RegName::new(s.value(), &s));
                Ok(())
            } else if meta.path.is_ident("constant") {
                Err(meta.error(messages::CONSTANT_ATTR))
            } else {
                Err(meta.error(messages::ARG_ATTR_UNKNOWN))
            }
        });
        errors.handle(parsed.map_err(Error::from));
        false
    });
    reg
}

/// Rejects what a declaration cannot be: async, const, extern "ABI", variadic, type or
/// lifetime generic. Const generics are kept (constants folded into the site).
fn shape(decl: &ForeignItemFn, errors: &mut Accumulator) -> Vec<syn::Ident> {
    let sig = &decl.sig;
    let mut no = |tokens: &dyn ToTokens, what: &str| {
        errors.push(Error::custom(messages::cannot_be(what)).with_span(&tokens.to_token_stream()))
    };
    if let Some(t) = &sig.asyncness {
        no(t, messages::ASYNC);
    }
    if let Some(t) = &sig.constness {
        no(t, messages::CONST);
    }
    if let Some(abi) = &sig.abi {
        no(abi, messages::EXTERN);
    }
    if let Some(v) = &sig.variadic {
        no(v, messages::VARIADIC);
    }
    if let Some(w) = &sig.generics.where_clause {
        no(w, messages::WHERE);
    }
    let mut consts = Vec::new();
    for p in &sig.generics.params {
        match p {
            GenericParam::Const(c) => consts.push(c.ident.clone()),
            GenericParam::Type(t) => no(t, messages::GENERIC_TYPE),
            GenericParam::Lifetime(l) => no(l, messages::GENERIC_LIFETIME),
        }
    }
    consts
}

/// Whether an attribute is `#[pv_intrinsic]` (by any path ending so).
pub fn is_pv_intrinsic(attr: &syn::Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "pv_intrinsic")
}

/// Rejects the user's attributes that pv would silently override or that cannot apply: a
/// second `#[pv_intrinsic]`, `#[inline(...)]` (the generated function is always
/// `#[inline(always)]`) and `#[target_feature]`.
fn attributes(attrs: &[syn::Attribute], errors: &mut Accumulator) {
    for attr in attrs {
        let message = if is_pv_intrinsic(attr) {
            messages::ATTRIBUTE_TWICE
        } else if attr.path().is_ident("inline") {
            messages::INLINE_ATTR
        } else if attr.path().is_ident("target_feature") {
            messages::TARGET_FEATURE
        } else {
            continue;
        };
        errors.push(Error::custom(message).with_span(attr));
    }
}

/// Parses the declaration. `Err` carries every problem found.
pub fn intrinsic(args: TokenStream, item: TokenStream) -> Result<Intrinsic> {
    let mut errors = Error::accumulator();
    let args = errors.handle(
        NestedMeta::parse_meta_list(args)
            .map_err(Error::from)
            .and_then(|list| Args::from_list(&list)),
    );
    let decl = errors.handle(declaration(item));
    let (Some(args), Some(mut decl)) = (args, decl) else {
        errors.finish()?;
        return Err(internal());
    };
    let consts = shape(&decl, &mut errors);
    attributes(&decl.attrs, &mut errors);
    for option in args.options.iter().flat_map(|o| &o.0) {
        errors.push(Error::custom(messages::asm_option(&option.name)).with_span(&option.tokens));
    }

    let mut params = Vec::new();
    for input in decl.sig.inputs.iter_mut() {
        match input {
            FnArg::Typed(pat) => {
                let reg = arg_attrs(&mut pat.attrs, &mut errors);
                match &*pat.pat {
                    Pat::Ident(id) if id.by_ref.is_none() && id.subpat.is_none() => {
                        params.push(Arg {
                            ident: id.ident.clone(),
                            ty: (*pat.ty).clone(),
                            reg,
                        })
                    }
                    other => errors.push(Error::custom(messages::PATTERN_ARG).with_span(other)),
                }
            }
            FnArg::Receiver(r) => errors.push(Error::custom(messages::METHOD).with_span(r)),
        }
    }
    let ret = match &decl.sig.output {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => Some((**ty).clone()),
    };
    let given = [&args.xen, &args.kvm, &args.hyperv];
    let backends = Hypervisor::ALL.map(|hv| match given[hv.index()] {
        Some(BodyArg(expr)) => errors.handle(body(hv, expr, &params)).map(|body| Backend {
            body,
            given: Some(expr.span()),
        }),
        None => Some(Backend {
            body: Body::Native { emulated: false },
            given: None,
        }),
    });
    let native = args.native.clone().or_else(|| {
        errors.push(Error::custom(messages::MISSING_NATIVE).with_span(&decl.sig.ident));
        None
    });
    let clobber_span = args.clobber.as_ref().map(|c| c.1);
    let clobbers = args.clobber.map_or_else(Vec::new, |c| c.0);
    errors.finish()?;
    let [Some(xen), Some(kvm), Some(hyperv)] = backends else {
        return Err(internal());
    };
    let Some(native) = native else {
        return Err(internal());
    };
    Ok(Intrinsic {
        attrs: decl.attrs,
        vis: decl.vis,
        sig: decl.sig,
        arch: args.arch.map(|a| (a.0, a.1)),
        binding: args.binding.as_ref().map_or(Binding::InlinePatch, |b| b.0),
        binding_span: args.binding.as_ref().map(|b| b.1),
        linux_form: args.form.as_ref().filter(|f| f.0).map(|f| f.1),
        clobber_span,
        args: params,
        consts,
        ret,
        reg: args.reg.map(|s| RegName::new(s.0.value(), &s.0)),
        clobbers,
        native,
        backends: [xen, kvm, hyperv],
    })
}

/// The item must be a bodiless function declaration.
fn declaration(item: TokenStream) -> Result<ForeignItemFn> {
    if let Ok(decl) = syn::parse2::<ForeignItemFn>(item.clone()) {
        return Ok(decl);
    }
    match syn::parse2::<syn::ItemFn>(item.clone()) {
        Ok(f) => Err(Error::custom(messages::HAS_BODY).with_span(&f.block)),
        Err(_) => {
            let span = item
                .clone()
                .into_iter()
                .next()
                .map_or(Span::call_site(), |t| t.span());
            Err(Error::custom(messages::NOT_A_FUNCTION).with_span(&span))
        }
    }
}

/// A part failed without saying why: a bug in pv, reported as an error rather than a panic.
fn internal() -> Error {
    Error::custom(messages::INTERNAL)
}
