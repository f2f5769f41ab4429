//! The declaration as pv understands it, independent of tokens and of the architecture's
//! encoding details. `parse` builds it, `check` validates it, `expand` reads it.

use proc_macro2::Span;
use pv_abi::{Arch, Binding};
use syn::{Attribute, Ident, LitStr, Path, Signature, Type, Visibility};

/// A register name as the user wrote it, with its span for errors.
#[derive(Clone, Debug)]
pub struct RegName {
    pub name: String,
    pub span: Span,
}

/// One declared argument.
pub struct Arg {
    pub ident: Ident,
    pub ty: Type,
    /// `#[pv(reg = "...")]` on the argument, overriding the arch's pv argument order.
    pub reg: Option<RegName>,
}

/// An argument of `xen = hypercall(name, ...)`.
pub enum HypercallArg {
    /// A parameter of the declaration, by name.
    Param(usize),
    /// A constant.
    Const(u64),
}

/// The Xen implementation of an intrinsic.
pub enum Xen {
    /// Xen runs the native sequence unchanged (or emulates it when it traps).
    Native,
    /// Under Xen the intrinsic does nothing: sites become nops.
    Nop,
    /// A replacement instruction sequence with the same register contract.
    Asm(LitStr),
    /// A hypercall through the hypercall page.
    Hypercall {
        call: &'static pv_abi::xen::Hypercall,
        args: Vec<HypercallArg>,
    },
    /// A C-ABI Rust function with the declaration's signature, called through a
    /// callee-save thunk.
    Call(Path),
}

/// One `#[pv_intrinsic]` declaration.
pub struct Intrinsic {
    /// The user's own attributes (doc comments), kept on the generated function.
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    /// The signature with `#[pv(...)]` argument attributes removed.
    pub sig: Signature,
    pub arch: Arch,
    pub binding: Binding,
    pub args: Vec<Arg>,
    pub ret: Option<Type>,
    /// The register carrying argument 0 and the result.
    pub reg: Option<RegName>,
    pub clobbers: Vec<RegName>,
    /// The native instruction sequence, in Intel syntax with fixed register names.
    pub native: LitStr,
    pub xen: Xen,
}

impl Intrinsic {
    pub fn name(&self) -> &Ident {
        &self.sig.ident
    }
}
