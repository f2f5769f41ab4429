//! The model × the architecture's ABI table → the register contract, or every violation at
//! once, each at the token that causes it. The rules shared by both architectures live here
//! (arch inference, register assignment, types); [`x86_64`] and [`ia64`] add their own.

mod ia64;
mod x86_64;

pub use ia64::ia64;
pub use x86_64::x86_64;

use crate::did_you_mean::did_you_mean;
use crate::messages;
use crate::model::{Body, Intrinsic, RegName};
use darling::error::Accumulator;
use darling::{Error, Result};
use pv_abi::Arch;
use syn::Type;

/// Which architectures know a register name.
fn arches_of(name: &str) -> Vec<Arch> {
    let mut found = Vec::new();
    if pv_abi::x86_64::reg(name).is_some() {
        found.push(Arch::X86_64);
    }
    if pv_abi::ia64::is_reg(name) {
        found.push(Arch::Ia64);
    }
    found
}

/// Decides the architecture: explicit `arch = ...`, or the one every register name belongs to.
pub fn arch(intr: &Intrinsic) -> Result<Arch> {
    if let Some((arch, _)) = intr.arch {
        return Ok(arch);
    }
    let name = intr.name();
    let mut names: Vec<RegName> = intr.reg.iter().cloned().collect();
    names.extend(intr.clobbers.iter().cloned());
    names.extend(intr.args.iter().filter_map(|a| a.reg.clone()));
    if let Some(unknown) = names.iter().find(|n| arches_of(&n.name).is_empty()) {
        return Err(unknown.error(messages::unknown_register(
            &unknown.name,
            &unknown_hint(&unknown.name),
        )));
    }
    let mut candidates = vec![Arch::X86_64, Arch::Ia64];
    let mut conflict = None;
    for n in &names {
        let of = arches_of(&n.name);
        if !candidates.is_empty() {
            candidates.retain(|a| of.contains(a));
            conflict = conflict.or(candidates.is_empty().then_some(n));
        }
    }
    match candidates.as_slice() {
        [one] => Ok(*one),
        [] => {
            let message = messages::CONFLICTING_ARCH;
            Err(conflict.map_or_else(
                || Error::custom(message).with_span(name),
                |n| n.error(message),
            ))
        }
        _ => {
            let list: Vec<&str> = names.iter().map(|n| n.name.as_str()).collect();
            let message = messages::ambiguous_arch(&list);
            Err(names.first().map_or_else(
                || Error::custom(&message).with_span(name),
                |n| n.error(&message),
            ))
        }
    }
}

/// A suggestion for a name neither architecture knows: the 64-bit name of an x86_64
/// sub-register, or the closest name of either register file.
fn unknown_hint(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    if let Some(bit) = pv_abi::x86_64::gpr_of(&lower) {
        return messages::whole_register(pv_abi::x86_64::reg_name(bit));
    }
    let names = pv_abi::x86_64::REGS
        .iter()
        .map(|r| r.name.to_string())
        .chain(pv_abi::ia64::names().map(|n| n.as_str().to_string()));
    did_you_mean(&lower, names)
}

/// The register contract of a checked declaration, in the arch's mask bits.
pub struct Contract {
    /// Register (bit) carrying each argument, in declaration order.
    pub args: Vec<u8>,
    /// Register carrying argument 0 (unless overridden) and the result.
    pub carrier: Option<u8>,
    /// Declared clobbers (flags excluded on x86_64: always clobbered).
    pub clobbers: u64,
    /// Whether every named register resolved; checks that need the whole contract skip
    /// otherwise (the unresolved name is already an error).
    pub complete: bool,
}

impl Contract {
    /// Registers the site reads.
    pub fn uses(&self) -> u64 {
        self.args.iter().fold(0, |m, r| m | 1 << r)
    }
    /// Registers the site writes as its result (the carrier is always written).
    pub fn defs(&self) -> u64 {
        self.carrier.map_or(0, |r| 1 << r)
    }
}

/// How a declaration uses a register, for messages.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    Carrier,
    Clobber,
    Argument,
}

impl Usage {
    fn what(self) -> &'static str {
        match self {
            Usage::Carrier => "`reg`",
            Usage::Clobber => "clobbered",
            Usage::Argument => "an argument register",
        }
    }
}

/// An architecture's register file as the checks see it.
pub trait Abi {
    const NAME: &'static str;
    /// The pv argument order after `reg`.
    const ARG_ORDER: &'static [&'static str];
    /// The register's mask bit for this usage, `Ok(None)` if it is accepted but needs no bit
    /// (flags in `clobber`), or why it cannot be used so.
    fn lookup(name: &str, usage: Usage) -> std::result::Result<Option<u8>, String>;
    fn names() -> Vec<String>;
    fn bit_name(bit: u8) -> String;
}

fn resolve<A: Abi>(
    name: &RegName,
    usage: Usage,
    errors: &mut Accumulator,
    complete: &mut bool,
) -> Option<u8> {
    let found = A::lookup(&name.name, usage);
    *complete &= found.is_ok();
    match found {
        Ok(bit) => bit,
        Err(why) if why.is_empty() => {
            let suggestion = did_you_mean(&name.name, A::names());
            errors.push(name.error(messages::unknown_arch_register(
                A::NAME,
                &name.name,
                &suggestion,
            )));
            None
        }
        Err(why) => {
            errors.push(name.error(messages::cannot_be_used(&name.name, usage.what(), &why)));
            None
        }
    }
}

/// Assigns registers: `reg`, the clobbers, and each argument (override, `reg`, or the next
/// free register of the pv argument order).
pub fn assign<A: Abi>(intr: &Intrinsic, errors: &mut Accumulator) -> Contract {
    let mut complete = true;
    let carrier = intr
        .reg
        .as_ref()
        .and_then(|r| resolve::<A>(r, Usage::Carrier, errors, &mut complete));
    let mut clobbers = 0u64;
    for c in &intr.clobbers {
        let Some(bit) = resolve::<A>(c, Usage::Clobber, errors, &mut complete) else {
            continue;
        };
        if clobbers & 1 << bit != 0 {
            errors.push(c.error(messages::clobber_twice(&c.name)));
        }
        if Some(bit) == carrier {
            errors.push(c.error(messages::reg_in_clobber(&c.name)));
        }
        clobbers |= 1 << bit;
    }

    let mut args = Vec::new();
    let mut order = A::ARG_ORDER
        .iter()
        .filter_map(|n| A::lookup(n, Usage::Argument).ok().flatten());
    for (i, arg) in intr.args.iter().enumerate() {
        check_type(&arg.ty, errors);
        let bit = match (&arg.reg, i, carrier) {
            (Some(name), _, _) => resolve::<A>(name, Usage::Argument, errors, &mut complete),
            (None, 0, Some(c)) => Some(c),
            (None, 0, None) if intr.reg.is_some() => None,
            (None, 0, None) => {
                errors.push(Error::custom(messages::ARG0_WITHOUT_REG).with_span(&arg.ident));
                None
            }
            (None, _, _) => {
                let next = order
                    .by_ref()
                    .find(|b| !args.contains(b) && Some(*b) != carrier);
                if next.is_none() {
                    errors.push(
                        Error::custom(messages::too_many_args(A::NAME, A::ARG_ORDER))
                            .with_span(&arg.ident),
                    );
                }
                next
            }
        };
        if let Some(bit) = bit {
            if args.contains(&bit) {
                errors.push(
                    Error::custom(messages::argument_register_twice(&A::bit_name(bit)))
                        .with_span(&arg.ident),
                );
            }
            args.push(bit);
        }
    }
    if let Some(ty) = &intr.ret {
        check_type(ty, errors);
        if intr.reg.is_none() && !matches!(ty, Type::Never(_)) {
            complete = false;
            errors.push(Error::custom(messages::RESULT_WITHOUT_REG).with_span(ty));
        }
    }
    if is_empty(&intr.native.value()) {
        errors.push(Error::custom(messages::NATIVE_EMPTY).with_span(&intr.native));
    }
    for hv in pv_abi::Hypervisor::ALL {
        let (backend, name) = (&intr.backends[hv.index()], hv.name());
        match (&backend.body, backend.given) {
            (Body::Nop, Some(span)) if intr.ret.is_some() => {
                errors.push(Error::custom(messages::nop_with_result(name)).with_span(&span))
            }
            (Body::Asm(text), _) if is_empty(&text.value()) => errors.push(
                Error::custom(messages::backend_asm_empty(hv.abi().display, name)).with_span(text),
            ),
            _ => {}
        }
    }
    Contract {
        args,
        carrier,
        clobbers,
        complete,
    }
}

/// Whether a sequence holds no instruction: nothing, separators, or comments (`# ...`,
/// `// ...`), which the assembler reads as nothing.
fn is_empty(text: &str) -> bool {
    pv_abi::sequence::instructions(text).all(|i| i.starts_with('#') || i.starts_with("//"))
}

/// The instruction sequences a declaration supplies: the native one, and the Xen one if it is
/// `xen = asm(...)`.
pub fn sequences(intr: &Intrinsic) -> impl Iterator<Item = &syn::LitStr> {
    let bodies = intr.backends.iter().filter_map(|b| match &b.body {
        crate::model::Body::Asm(s) => Some(s),
        _ => None,
    });
    std::iter::once(&intr.native).chain(bodies)
}

/// Only values that fit one 64-bit register cross a site; each other type gets a message that
/// says what to write instead.
fn check_type(ty: &Type, errors: &mut Accumulator) {
    const SCALARS: [&str; 12] = [
        "u8", "u16", "u32", "u64", "usize", "i8", "i16", "i32", "i64", "isize", "bool", "char",
    ];
    const WIDE: [&str; 5] = ["u128", "i128", "f32", "f64", "str"];
    let name = match ty {
        Type::Path(p) if p.qself.is_none() => p.path.get_ident().map(ToString::to_string),
        _ => None,
    };
    let message = match ty {
        Type::Ptr(_) => return,
        Type::Path(_) if name.as_deref().is_some_and(|n| SCALARS.contains(&n)) => return,
        Type::Never(_) => messages::NEVER_TYPE.to_string(),
        Type::Reference(r) => {
            let ptr = if r.mutability.is_some() {
                "*mut"
            } else {
                "*const"
            };
            messages::reference(ptr)
        }
        Type::Path(p) if name.as_deref().is_none_or(|n| !WIDE.contains(&n)) => {
            let shown = p
                .path
                .segments
                .last()
                .map_or(String::new(), |s| s.ident.to_string());
            messages::not_a_register_value(&shown)
        }
        _ => messages::WIDE_TYPE.to_string(),
    };
    errors.push(Error::custom(message).with_span(ty));
}
