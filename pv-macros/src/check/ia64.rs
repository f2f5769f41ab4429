//! ia64 rules on top of the shared ones: the register file of `pv_abi::ia64`, each binding's
//! own clobbers (the seed's option 2 needs `clobber = [b0]`), what a C callee must preserve,
//! hyperprivop operand counts, and constants folded into the site.

use super::{Abi, Contract, Usage, assign};
use crate::messages;
use crate::model::{Body, Intrinsic};
use darling::{Error, Result};
use pv_abi::Binding;
use pv_abi::ia64::asm::Form;
use pv_abi::ia64::{self, Class, Role};

pub struct Ia64;

/// Bundles an option 1 site may span (Linux's stub was 5 bundles), in instruction slots.
const INLINE_ROOM_SLOTS: usize = 5 * 3;

impl Abi for Ia64 {
    const NAME: &'static str = "ia64";
    const ARG_ORDER: &'static [&'static str] = &ia64::PV_ARG_ORDER;

    fn lookup(name: &str, usage: Usage) -> std::result::Result<Option<u8>, String> {
        let reg = ia64::reg(name).ok_or_else(String::new)?;
        if let Role::Fixed(why) = reg.role {
            return Err(why.into());
        }
        if usage != Usage::Clobber && reg.class != Class::General {
            return Err(messages::ia64_not_a_value(reg.class.name()));
        }
        reg.bit
            .map(Some)
            .ok_or_else(|| messages::IA64_NO_PLACE.into())
    }

    fn names() -> Vec<String> {
        ia64::names().map(|n| n.as_str().to_string()).collect()
    }

    fn bit_name(bit: u8) -> String {
        ia64::reg_name(bit).as_str().to_string()
    }
}

/// Checks an ia64 declaration and assigns registers.
pub fn ia64(intr: &Intrinsic) -> Result<Contract> {
    let mut errors = Error::accumulator();
    let contract = assign::<Ia64>(intr, &mut errors);
    let declared = contract.clobbers | contract.defs();

    for hv in [pv_abi::Hypervisor::Kvm, pv_abi::Hypervisor::HyperV] {
        if let Some(span) = intr.backends[hv.index()].given {
            errors.push(
                Error::custom(messages::ia64_backend(hv.name(), hv.abi().display)).with_span(&span),
            );
        }
    }
    if intr.backends[pv_abi::Hypervisor::Xen.index()]
        .given
        .is_none()
    {
        errors.push(Error::custom(messages::IA64_MISSING_XEN).with_span(intr.name()));
    }
    let form = if intr.linux_form.is_some() {
        Form::Linux
    } else {
        Form::Seed
    };
    if let Some(span) = intr
        .linux_form
        .filter(|_| intr.binding != Binding::IndirectBranch)
    {
        errors.push(Error::custom(messages::IA64_FORM_NOT_OPTION3).with_span(&span));
    }
    let missing: Vec<&str> = ia64::own_clobbers(intr.binding, form)
        .iter()
        .copied()
        .filter(|r| {
            ia64::reg(r)
                .and_then(|r| r.bit)
                .is_some_and(|b| declared & 1 << b == 0)
        })
        .collect();
    if !missing.is_empty() {
        errors.push(
            Error::custom(messages::ia64_own_clobbers(
                &missing,
                ia64::abi(intr.binding, form).own_reason,
            ))
            .with_span(
                &intr
                    .clobber_span
                    .unwrap_or(intr.binding_span.unwrap_or(intr.name().span())),
            ),
        );
    }
    if intr.binding == Binding::IndirectCall {
        for c in &intr.clobbers {
            if ia64::reg(&c.name).is_some_and(|r| r.role == Role::Preserved) {
                errors.push(c.error(messages::ia64_preserved_option4(&c.name)));
            }
        }
    }
    match intr.xen() {
        Body::Hyperprivop(h, span) => {
            if h.args as usize != intr.args.len() {
                errors.push(
                    Error::custom(messages::hyperprivop_count(h.name, h.args, intr.args.len()))
                        .with_span(span),
                );
            }
            if h.result != intr.ret.is_some() {
                errors.push(
                    Error::custom(messages::hyperprivop_result(h.name, h.result)).with_span(span),
                );
            }
        }
        Body::Hypercall { span, .. }
            if intr.binding == Binding::InlinePatch || form == Form::Linux =>
        {
            errors.push(Error::custom(messages::IA64_HYPERCALL_FRAMELESS).with_span(span))
        }
        Body::Call(path) if form == Form::Linux && intr.binding == Binding::IndirectBranch => {
            errors.push(Error::custom(messages::IA64_LINUX_FORM_CALL).with_span(path))
        }
        Body::Call(path) if intr.binding == Binding::InlinePatch => {
            errors.push(Error::custom(messages::IA64_CALL_INLINE).with_span(path))
        }
        _ => {}
    }
    for text in super::sequences(intr) {
        let body = text.value();
        if let Some(insn) = pv_abi::ia64::asm::unknown_unit(&body) {
            errors.push(Error::custom(messages::ia64_unknown_unit(insn)).with_span(text));
        }
        for name in placeholders(&body) {
            if intr.consts.iter().any(|c| *c == name) {
                continue;
            }
            let why = if intr.args.iter().any(|a| a.ident == name) {
                messages::ia64_runtime_constant(&name)
            } else {
                messages::ia64_unknown_placeholder(&name)
            };
            errors.push(Error::custom(why).with_span(text));
        }
        let frameless = intr.binding == Binding::InlinePatch || form == Form::Linux;
        if frameless && let Some((r, insn)) = stacked_write(&body) {
            errors.push(
                Error::custom(messages::ia64_stacked_write(insn, r, form == Form::Linux))
                    .with_span(text),
            );
        }
        let declared = contract.clobbers
            | contract.defs()
            | pv_abi::ia64::asm::Decl::implicit_mask(intr.binding, form);
        for (bit, insn) in written(&body) {
            if contract.complete && declared & 1 << bit == 0 {
                let name = ia64::reg_name(bit);
                let r = name.as_str();
                errors.push(
                    Error::custom(messages::undeclared_write(
                        insn,
                        r,
                        &messages::ia64_add_clobber(r),
                    ))
                    .with_span(text),
                );
            }
        }
        let slots = pv_abi::sequence::instructions(&body)
            .filter(|l| !l.ends_with(':'))
            .count();
        if intr.binding == Binding::InlinePatch && slots > INLINE_ROOM_SLOTS {
            errors.push(
                Error::custom(messages::ia64_too_long_inline(slots, INLINE_ROOM_SLOTS))
                    .with_span(text),
            );
        }
    }
    errors.finish_with(contract)
}

/// The `{name}` placeholders of a template.
fn placeholders(text: &str) -> Vec<String> {
    text.split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(n, _)| n.trim().to_string()))
        .collect()
}

/// The first stacked register (r32-r127) a sequence writes, with the instruction: registers
/// that belong to the enclosing frame where the sequence has none of its own.
fn stacked_write(body: &str) -> Option<(&str, &str)> {
    pv_abi::ia64::asm::instructions(body).find_map(|insn| {
        let (_, operands) = ia64::parts(insn)?;
        let (dst, _) = operands.split_once('=')?;
        dst.split(',')
            .map(str::trim)
            .find(|d| {
                d.strip_prefix('r')
                    .and_then(|n| n.parse::<u8>().ok())
                    .is_some_and(|n| (32..=127).contains(&n))
            })
            .map(|r| (r, insn))
    })
}

/// The registers (mask bits) an ia64 sequence writes (`pv_abi::ia64::writes`), each with the
/// first instruction that does.
fn written(body: &str) -> Vec<(u8, &str)> {
    let mut found: Vec<(u8, &str)> = Vec::new();
    for insn in pv_abi::ia64::asm::instructions(body) {
        let mask = ia64::writes(insn);
        for bit in (0..64).filter(|b| mask & 1 << b != 0) {
            if !found.iter().any(|(b, _)| *b == bit) {
                found.push((bit, insn));
            }
        }
    }
    found
}
