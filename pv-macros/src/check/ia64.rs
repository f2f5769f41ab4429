//! ia64 rules on top of the shared ones: the register file of `pv_abi::ia64`, each binding's
//! own clobbers (the seed's option 2 needs `clobber = [b0]`), what a C callee must preserve,
//! hyperprivop operand counts, and constants folded into the site.

use super::{Abi, Contract, Usage, assign};
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
            return Err(format!(
                "a {} cannot carry a value; use a general register (r8 is the pv convention)",
                reg.class.name()
            ));
        }
        reg.bit
            .map(Some)
            .ok_or_else(|| "it has no place in a pv contract".into())
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
                Error::custom(format!(
                    "`{}`: {} has no ia64 guest ABI; ia64 intrinsics have a Xen body only",
                    hv.name(),
                    hv.abi().display
                ))
                .with_span(&span),
            );
        }
    }
    if intr.backends[pv_abi::Hypervisor::Xen.index()]
        .given
        .is_none()
    {
        errors.push(
            Error::custom(
                "missing `xen = ...`: Xen/ia64 runs the kernel at privilege level 1, where the \
                 privileged operations ia64 intrinsics stand for fault or misbehave; write \
                 `xen = native` (Xen emulates the fault), `xen = nop`, `xen = asm(\"...\")`, \
                 `xen = hyperprivop(name)`, `xen = hypercall(name, args...)` or `xen = call(path)`",
            )
            .with_span(intr.name()),
        );
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
        errors.push(
            Error::custom("`form = linux` is a form of option 3 (`indirect_branch`)")
                .with_span(&span),
        );
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
            Error::custom(format!(
                "`{}` must be in `clobber`: {}; add `clobber = [{}]`",
                missing.join("`, `"),
                ia64::abi(intr.binding, form).own_reason,
                missing.join(", ")
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
                errors.push(c.error(format!(
                        "`{}` is preserved by the C convention, and option 4 is a C call: its callee cannot \
                         clobber it; choose option 1-3 (the compiler saves it around the site) or save it in the sequence",
                    c.name
                )));
            }
        }
    }
    match intr.xen() {
        Body::Hyperprivop(h, span) => {
            if h.args as usize != intr.args.len() {
                errors.push(
                    Error::custom(format!(
                        "hyperprivop `{}` takes {} operand(s) in r8, r9, r10, r11, r14; the declaration has {} argument(s)",
                        h.name,
                        h.args,
                        intr.args.len()
                    ))
                    .with_span(span),
                );
            }
            if h.result != intr.ret.is_some() {
                let says = if h.result { "returns a value in r8" } else { "returns nothing" };
                errors.push(Error::custom(format!("hyperprivop `{}` {says}; the declaration disagrees", h.name)).with_span(span));
            }
        }
        Body::Hypercall { span, .. } if intr.binding == Binding::InlinePatch || form == Form::Linux => errors.push(
            Error::custom(
                "a Xen/ia64 hypercall (`break 0x1000`, number in r2) takes its arguments in stacked registers \
                 r32-r36, which only a routine entered with `br.call` can allocate: use option 2, option 3 in \
                 the seed's form, or option 4",
            )
            .with_span(span),
        ),
        Body::Call(path) if form == Form::Linux && intr.binding == Binding::IndirectBranch => errors.push(
            Error::custom(
                "routines of option 3 in Linux's form are entered with `br.cond`, without a register frame \
                 of their own, so they cannot call a C function: use the seed's form or option 2 for `xen = call(...)`",
            )
            .with_span(path),
        ),
        Body::Call(path) if intr.binding == Binding::InlinePatch => errors.push(
            Error::custom(
                "ia64 option 1 sites are patched by copying a body into their bundles, and a Rust function \
                 cannot be copied: use `direct_branch` or `indirect_branch` for `xen = call(...)`",
            )
            .with_span(path),
        ),
        _ => {}
    }
    for text in super::sequences(intr) {
        let body = text.value();
        if let Some(insn) = pv_abi::ia64::asm::unknown_unit(&body) {
            errors.push(
                Error::custom(format!(
                    "`{insn}`: pv does not know which unit (M, I, A, B, F, L+X) this instruction needs, so it \
                     cannot bundle it; write lower-case GNU as mnemonics of the instructions pv supports"
                ))
                .with_span(text),
            );
        }
        for name in placeholders(&body) {
            if intr.consts.iter().any(|c| *c == name) {
                continue;
            }
            let why = if intr.args.iter().any(|a| a.ident == name) {
                format!(
                    "`{name}` is a run-time argument: a value folded into the site must be a compile-time \
                     constant; declare it as a const generic parameter, e.g. `<const {}: u16>`",
                    name.to_uppercase()
                )
            } else {
                format!("`{{{name}}}` names no const generic parameter of this declaration")
            };
            errors.push(Error::custom(why).with_span(text));
        }
        let frameless = intr.binding == Binding::InlinePatch || form == Form::Linux;
        if frameless && let Some((r, insn)) = stacked_write(&body) {
            let form_name = if form == Form::Linux {
                "option 3 in Linux's form runs its routines with `br.cond`"
            } else {
                "option 1 copies the sequence into the site"
            };
            errors.push(
                Error::custom(format!(
                    "`{insn}` writes `{r}`, a stacked register, and {form_name}, without a register \
                     frame of its own: `{r}` is a register of the function the site is in; use a \
                     scratch register (r2, r3, r14-r31) and declare it in `clobber`"
                ))
                .with_span(text),
            );
        }
        let declared = contract.clobbers
            | contract.defs()
            | pv_abi::ia64::asm::Decl::implicit_mask(intr.binding, form);
        for (bit, insn) in written(&body) {
            if contract.complete && declared & 1 << bit == 0 {
                let r = ia64::reg_name(bit);
                errors.push(
                    Error::custom(format!(
                        "`{insn}` writes `{r}`, which is neither `reg` nor in `clobber`: add `{r}` to `clobber`"
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
                Error::custom(format!(
                    "{slots} instructions exceed the room of an option 1 site ({INLINE_ROOM_SLOTS} slots in 5 bundles)"
                ))
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
        let text = insn
            .split_once(')')
            .filter(|_| insn.starts_with('('))
            .map_or(insn, |(_, rest)| rest.trim());
        let (_, operands) = text.split_once(char::is_whitespace)?;
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

/// The registers (mask bits) an ia64 sequence writes, each with the first instruction that
/// does: the operands left of `=`, and a base register post-incremented (`[r2],8`).
fn written(body: &str) -> Vec<(u8, &str)> {
    let mut found: Vec<(u8, &str)> = Vec::new();
    for insn in pv_abi::ia64::asm::instructions(body) {
        let text = insn
            .split_once(')')
            .filter(|_| insn.starts_with('('))
            .map_or(insn, |(_, rest)| rest.trim());
        let Some((_, operands)) = text.split_once(char::is_whitespace) else {
            continue;
        };
        let (dst, src) = operands.split_once('=').unwrap_or(("", operands));
        let post_increment = src
            .split_once("],")
            .and_then(|(base, _)| base.trim().strip_prefix('['));
        let names = dst
            .split(',')
            .map(str::trim)
            .filter(|d| !d.starts_with('['))
            .chain(post_increment);
        // Writes to r0 and p0 are architectural no-ops (`cmp.ne p6,p0 = ...`).
        let regs = names.filter(|n| !matches!(*n, "r0" | "p0"));
        for bit in regs.filter_map(|n| ia64::reg(n).and_then(|r| r.bit)) {
            if !found.iter().any(|(b, _)| *b == bit) {
                found.push((bit, insn));
            }
        }
    }
    found
}
