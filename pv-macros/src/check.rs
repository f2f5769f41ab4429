//! The model × the architecture's ABI table → the register contract, or every violation at
//! once, each at the token that causes it.

use crate::model::{Arg, Intrinsic, RegName};
use crate::parse::did_you_mean;
use darling::{Error, Result};
use proc_macro2::Span;
use pv_abi::x86_64::{self as x86, Class, Saved};
use pv_abi::{Arch, ia64};
use syn::{Ident, LitStr, Type};

/// Which architectures know a register name.
fn arches_of(name: &str) -> Vec<Arch> {
    let mut found = Vec::new();
    if x86::reg(name).is_some() {
        found.push(Arch::X86_64);
    }
    if ia64::is_reg(name) {
        found.push(Arch::Ia64);
    }
    found
}

/// Decides the architecture: explicit `arch = ...`, or the one every register name belongs to.
pub fn arch(
    explicit: &Option<(Arch, Span)>,
    reg: &Option<LitStr>,
    clobbers: &[RegName],
    args: &[Arg],
    name: &Ident,
) -> Result<Arch> {
    let mut names: Vec<RegName> = reg
        .iter()
        .map(|s| RegName {
            name: s.value(),
            span: s.span(),
        })
        .collect();
    names.extend(clobbers.iter().cloned());
    names.extend(args.iter().filter_map(|a| a.reg.clone()));
    if let Some((arch, _)) = explicit {
        return Ok(*arch);
    }
    let mut candidates = vec![Arch::X86_64, Arch::Ia64];
    let mut conflict = None;
    for n in &names {
        let of = arches_of(&n.name);
        if !of.is_empty() && !candidates.is_empty() {
            candidates.retain(|a| of.contains(a));
            conflict = conflict.or(candidates.is_empty().then_some(n));
        }
    }
    match candidates.as_slice() {
        [one] => Ok(*one),
        [] => {
            let n = conflict.map_or(name.span(), |n| n.span);
            Err(Error::custom(
                "this register belongs to another architecture than the ones before it: name registers \
                 of one architecture, and add `arch = x86_64` or `arch = ia64` if names are shared",
            )
            .with_span(&n))
        }
        _ => {
            let span = names.first().map_or(name.span(), |n| n.span);
            let why = if names.is_empty() {
                "no register is named".to_string()
            } else {
                let list: Vec<&str> = names.iter().map(|n| n.name.as_str()).collect();
                format!("`{}` exist on both x86_64 and ia64", list.join("`, `"))
            };
            Err(Error::custom(format!(
                "cannot infer the architecture: {why}; add `arch = x86_64` or `arch = ia64`"
            ))
            .with_span(&span))
        }
    }
}

/// The x86_64 register contract of a checked declaration.
pub struct Contract {
    /// Register (bit) carrying each argument, in declaration order.
    pub args: Vec<u8>,
    /// Register carrying argument 0 (unless overridden) and the result.
    pub carrier: Option<u8>,
    /// Declared clobbers (general registers only; flags are always clobbered).
    pub clobbers: u64,
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

fn x86_reg(name: &RegName, what: &str, errors: &mut darling::error::Accumulator) -> Option<u8> {
    let Some(reg) = x86::reg(&name.name) else {
        let suggestion = did_you_mean(&name.name, x86::REGS.iter().map(|r| r.name));
        errors.push(
            Error::custom(format!(
                "unknown x86_64 register `{}`{suggestion}",
                name.name
            ))
            .with_span(&name.span),
        );
        return None;
    };
    if let Saved::Reserved(why) = reg.saved {
        errors.push(
            Error::custom(format!("`{}` cannot be {what}: {why}", reg.name)).with_span(&name.span),
        );
        return None;
    }
    if reg.class != Class::General {
        errors.push(
            Error::custom(format!("`{}` cannot be {what}: only general registers carry values; flags are always clobbered", reg.name))
                .with_span(&name.span),
        );
        return None;
    }
    Some(reg.bit)
}

/// Checks an x86_64 declaration and assigns registers.
pub fn x86_64(intr: &Intrinsic) -> Result<Contract> {
    let mut errors = Error::accumulator();
    let carrier = intr
        .reg
        .as_ref()
        .and_then(|r| x86_reg(r, "`reg`", &mut errors));

    let mut clobbers = 0u64;
    for c in &intr.clobbers {
        if c.name == "rflags" {
            continue;
        }
        if let Some(bit) = x86_reg(c, "clobbered", &mut errors) {
            if clobbers & 1 << bit != 0 {
                errors.push(
                    Error::custom(format!("`{}` is listed twice in `clobber`", c.name))
                        .with_span(&c.span),
                );
            }
            if Some(bit) == carrier {
                errors.push(
                    Error::custom(format!(
                        "`{}` is `reg`, which is always written: remove it from `clobber`",
                        c.name
                    ))
                    .with_span(&c.span),
                );
            }
            clobbers |= 1 << bit;
        }
    }

    let mut args = Vec::new();
    let mut order = x86::PV_ARG_ORDER
        .iter()
        .filter_map(|n| x86::reg(n))
        .map(|r| r.bit);
    for (i, arg) in intr.args.iter().enumerate() {
        check_type(&arg.ty, &mut errors);
        let bit = match (&arg.reg, i, carrier) {
            (Some(name), _, _) => x86_reg(name, "an argument register", &mut errors),
            (None, 0, Some(c)) => Some(c),
            (None, 0, None) if intr.reg.is_some() => None,
            (None, 0, None) => {
                errors.push(
                    Error::custom("argument 0 needs a register: add `reg = \"...\"` or `#[pv(reg = \"...\")]`")
                        .with_span(&arg.ident),
                );
                None
            }
            (None, _, _) => {
                let next = order
                    .by_ref()
                    .find(|b| !args.contains(b) && Some(*b) != carrier);
                if next.is_none() {
                    errors.push(
                        Error::custom("more arguments than x86_64 pv argument registers")
                            .with_span(&arg.ident),
                    );
                }
                next
            }
        };
        if let Some(bit) = bit {
            if args.contains(&bit) {
                errors.push(
                    Error::custom(format!("two arguments in `{}`", x86::reg_name(bit)))
                        .with_span(&arg.ident),
                );
            }
            args.push(bit);
        }
    }
    if let Some(ty) = &intr.ret {
        check_type(ty, &mut errors);
        if intr.reg.is_none() {
            errors.push(
                Error::custom("a result needs a register: add `reg = \"...\"`").with_span(ty),
            );
        }
    }
    if intr.native.value().contains(['{', '}']) {
        errors.push(
            Error::custom(
                "the native sequence names registers directly; `{` and `}` are not allowed",
            )
            .with_span(&intr.native),
        );
    }
    errors.finish_with(Contract {
        args,
        carrier,
        clobbers,
    })
}

/// Only values that fit one 64-bit register cross a site.
fn check_type(ty: &Type, errors: &mut darling::error::Accumulator) {
    const SCALARS: [&str; 13] = [
        "u8", "u16", "u32", "u64", "usize", "i8", "i16", "i32", "i64", "isize", "bool", "char",
        "()",
    ];
    let fits = match ty {
        Type::Ptr(_) => true,
        Type::Path(p) => {
            p.qself.is_none()
                && p.path
                    .get_ident()
                    .is_some_and(|i| SCALARS.contains(&i.to_string().as_str()))
        }
        _ => false,
    };
    if !fits {
        errors.push(
            Error::custom(
                "does not fit one register: use an integer, `bool`, or a raw pointer (≤ 64 bits)",
            )
            .with_span(ty),
        );
    }
}
