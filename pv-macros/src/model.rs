//! The declaration as pv understands it, independent of tokens and of the architecture's
//! encoding details. `parse` builds it, `check` validates it, `expand` reads it.

use proc_macro2::{Span, TokenStream};
use pv_abi::{Arch, Binding};
use quote::ToTokens;
use syn::{Attribute, Ident, LitStr, Path, Signature, Type, Visibility};

/// A register name as the user wrote it, with its tokens for errors.
#[derive(Clone, Debug)]
pub struct RegName {
    pub name: String,
    pub tokens: TokenStream,
}

impl RegName {
    pub fn new(name: String, tokens: &impl ToTokens) -> Self {
        RegName {
            name,
            tokens: tokens.to_token_stream(),
        }
    }

    /// An error spanning every token of the name (`ar.ccv` is three).
    pub fn error(&self, msg: impl std::fmt::Display) -> darling::Error {
        syn::Error::new_spanned(&self.tokens, msg).into()
    }
}

/// One declared argument.
pub struct Arg {
    pub ident: Ident,
    pub ty: Type,
    /// `#[pv(reg = "...")]` on the argument, overriding the arch's pv argument order.
    pub reg: Option<RegName>,
}

/// An argument of `hypercall(name, ...)`.
pub enum HypercallArg {
    /// A parameter of the declaration, by name.
    Param(usize),
    /// A constant.
    Const(u64),
}

/// How one backend (a hypervisor) implements an intrinsic.
pub enum Body {
    /// The backend runs the native sequence unchanged (`native`), or traps on it and emulates it
    /// (`emulated`: the same site and routine, but the declaration says that a deprivileged
    /// backend handles the privileged instruction, which `native` may not claim).
    Native { emulated: bool },
    /// Under the backend the intrinsic does nothing: sites become nops.
    Nop,
    /// A replacement instruction sequence with the same register contract.
    Asm(LitStr),
    /// A hypercall, made the way the backend's ABI says.
    Hypercall {
        call: &'static pv_abi::backend::Hypercall,
        args: Vec<HypercallArg>,
        span: Span,
    },
    /// A C-ABI Rust function with the declaration's signature, called through a
    /// callee-save thunk.
    Call(Path),
    /// An ia64 hyperprivop: `break` with its number.
    Hyperprivop(&'static pv_abi::ia64::Hyperprivop, Span),
}

impl Body {
    /// What the body is, as records and descriptors encode it.
    pub fn kind(&self) -> pv_abi::BodyKind {
        use pv_abi::BodyKind;
        match self {
            Body::Native { .. } => BodyKind::Native,
            Body::Nop => BodyKind::Nop,
            Body::Asm(_) => BodyKind::Asm,
            Body::Hypercall { .. } => BodyKind::Hypercall,
            Body::Call(_) => BodyKind::Call,
            Body::Hyperprivop(..) => BodyKind::Hyperprivop,
        }
    }
}

/// One backend's body as declared: absent (the native body runs) or given, with the span of
/// its key for errors about it.
pub struct Backend {
    pub body: Body,
    pub given: Option<Span>,
}

/// One `#[pv_intrinsic]` declaration.
pub struct Intrinsic {
    /// The user's own attributes (doc comments), kept on the generated function.
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    /// The signature with `#[pv(...)]` argument attributes removed.
    pub sig: Signature,
    /// `arch = ...` as written, with its span. Only `check::arch` decides the architecture,
    /// since it may have to from the register names (parse keeps what was written).
    pub arch: Option<(Arch, Span)>,
    pub binding: Binding,
    /// `form = linux` (ia64 option 3 in Linux's form), with its span.
    pub linux_form: Option<Span>,
    pub args: Vec<Arg>,
    /// Const generic parameters: compile-time constants a template may name as `{NAME}`
    /// (folded into the site, like ia64 getreg/setreg register numbers).
    pub consts: Vec<Ident>,
    pub ret: Option<Type>,
    /// The register carrying argument 0 and the result.
    pub reg: Option<RegName>,
    pub clobbers: Vec<RegName>,
    /// Where `clobber = [...]` and `binding = ...` were written, for errors about them.
    pub clobber_span: Option<Span>,
    pub binding_span: Option<Span>,
    /// The native instruction sequence, in Intel syntax with fixed register names.
    pub native: LitStr,
    /// Every backend by [`pv_abi::Hypervisor`] index: `xen`, `kvm`, `hyperv`.
    pub backends: [Backend; 3],
}

impl Intrinsic {
    pub fn name(&self) -> &Ident {
        &self.sig.ident
    }

    /// The body `hv` runs.
    pub fn body(&self, hv: pv_abi::Hypervisor) -> &Body {
        &self.backends[hv.index()].body
    }

    /// The Xen body (the one ia64 has).
    pub fn xen(&self) -> &Body {
        self.body(pv_abi::Hypervisor::Xen)
    }
}
