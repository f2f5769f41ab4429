//! x86_64 rules on top of the shared ones: the register file of `pv_abi::x86_64`, no generics,
//! no ia64 hyperprivops, and native bodies that survive being copied into sites.

use super::{Abi, Contract, Usage, assign};
use crate::model::{Body, Intrinsic};
use darling::{Error, Result};
use pv_abi::record::MAX_SITE_LEN;
use pv_abi::x86_64::{self as x86, Class, Saved};

pub struct X86;

impl Abi for X86 {
    const NAME: &'static str = "x86_64";
    const ARG_ORDER: &'static [&'static str] = &x86::PV_ARG_ORDER;

    fn lookup(name: &str, usage: Usage) -> std::result::Result<Option<u8>, String> {
        let reg = x86::reg(name).ok_or_else(String::new)?;
        if let Saved::Reserved(why) = reg.saved {
            return Err(why.into());
        }
        match (reg.class, usage) {
            (Class::General, _) => Ok(Some(reg.bit)),
            (Class::Flags, Usage::Clobber) => Ok(None),
            (Class::Flags, _) => {
                Err("only general registers carry values; flags are always clobbered".into())
            }
        }
    }

    fn names() -> Vec<String> {
        x86::REGS.iter().map(|r| r.name.to_string()).collect()
    }

    fn bit_name(bit: u8) -> String {
        x86::reg_name(bit).into()
    }
}

/// Checks an x86_64 declaration and assigns registers.
pub fn x86_64(intr: &Intrinsic) -> Result<Contract> {
    let mut errors = Error::accumulator();
    let contract = assign::<X86>(intr, &mut errors);
    if let Some(c) = intr.consts.first() {
        errors.push(
            Error::custom("x86_64 intrinsics are not generic: one declaration is one descriptor and one set of routines")
                .with_span(c),
        );
    }
    if let Some(span) = intr.linux_form {
        errors.push(
            Error::custom("`form` chooses between ia64 option 3 forms; x86_64 has one")
                .with_span(&span),
        );
    }
    if let Body::Hyperprivop(_, span) = intr.xen() {
        errors.push(
            Error::custom(
                "hyperprivops are Xen/ia64's; on x86_64 write `xen = hypercall(name, ...)`",
            )
            .with_span(span),
        );
    }
    deprivileged(intr, &mut errors);
    for text in super::sequences(intr) {
        let body = text.value();
        let instructions: Vec<&str> = body
            .split([';', '\n'])
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        if body.contains(['{', '}']) {
            errors.push(
                Error::custom("a sequence names registers directly; `{` and `}` are not allowed")
                    .with_span(text),
            );
        }
        if body.to_ascii_lowercase().contains("rip") {
            errors.push(
                Error::custom(
                    "sequences are copied into sites: a RIP-relative operand would point elsewhere",
                )
                .with_span(text),
            );
        }
        let far = instructions.iter().find(|l| {
            let mut words = l.split_whitespace();
            let mnemonic = words.next().unwrap_or("").to_ascii_lowercase();
            let target = words.next().unwrap_or("");
            (mnemonic == "call" || mnemonic.starts_with('j'))
                && !target
                    .trim_end_matches(['f', 'b'])
                    .chars()
                    .all(|c| c.is_ascii_digit())
        });
        if let Some(insn) = far {
            errors.push(
                Error::custom(format!(
                    "`{insn}`: sequences are copied into sites, so they may only branch to local numeric labels; \
                     to call code, use `xen = call(path)` or another binding"
                ))
                .with_span(text),
            );
        }
        let declared = contract.defs() | contract.clobbers;
        for (bit, insn) in written(&instructions) {
            let Some(r) = x86::reg(x86::reg_name(bit)) else {
                continue;
            };
            if contract.complete && declared & 1 << bit == 0 {
                let fix = match r.saved {
                    Saved::Reserved(why) => format!(
                        "`{}` cannot be clobbered ({why}): save and restore it with push/pop",
                        r.name
                    ),
                    _ => format!(
                        "add `{0}` to `clobber` (or save and restore it with push/pop)",
                        r.name
                    ),
                };
                errors.push(
                    Error::custom(format!(
                        "`{insn}` writes `{}`, which is neither `reg` nor in `clobber`: {fix}",
                        r.name
                    ))
                    .with_span(text),
                );
            }
        }
        if instructions.len() > MAX_SITE_LEN {
            errors.push(
                Error::custom(format!(
                    "{} instructions cannot fit a site of at most {MAX_SITE_LEN} bytes",
                    instructions.len()
                ))
                .with_span(text),
            );
        }
    }
    errors.finish_with(contract)
}

/// A backend that runs the guest kernel deprivileged (Xen PV: ring 3) cannot run a privileged
/// native instruction: it faults, or (`cli`, `sti` under IOPL) does nothing. An absent body
/// means the native one, so such a backend must be given a body of its own.
fn deprivileged(intr: &Intrinsic, errors: &mut darling::error::Accumulator) {
    let native = intr.native.value();
    let Some((insn, why)) = pv_abi::sequence::instructions(&native)
        .find_map(|i| x86::privileged(i).map(|why| (i, why)))
    else {
        return;
    };
    for hv in pv_abi::Hypervisor::ALL {
        let abi = hv.abi();
        if abi.deprivileged && intr.backends[hv.index()].given.is_none() {
            errors.push(
                Error::custom(format!(
                    "`{insn}` is privileged ({why}), and {} runs the kernel deprivileged, where it \
                     faults or does nothing: give a body for it, e.g. `{} = call(path)` or \
                     `{} = hypercall(name, ...)` (`{} = native` if it emulates the trap)",
                    abi.display,
                    hv.name(),
                    hv.name(),
                    hv.name()
                ))
                .with_span(&intr.native),
            );
        }
    }
}

/// The general registers a sequence writes and does not restore, each with the first
/// instruction that writes it. Only what `pv_abi::x86_64::writes` classifies counts: an
/// instruction it does not know is left to the byte check (`pv-sites --check`), so the macro
/// reports only writes it is sure of; `push r` before the first write and `pop r` as the last
/// one restore `r`.
fn written<'a>(instructions: &[&'a str]) -> Vec<(u8, &'a str)> {
    let mut first_write: Vec<(u8, &str)> = Vec::new();
    let mut saved = 0u64;
    let mut restored_last = 0u64;
    for insn in instructions {
        let text = insn.trim();
        let mnemonic = pv_abi::sequence::mnemonic(text).to_ascii_lowercase();
        let mask = x86::writes(text).unwrap_or(0) & !(1 << 4);
        if mnemonic == "push"
            && let Some(r) = text
                .split_whitespace()
                .nth(1)
                .and_then(|o| x86::gpr_of(&o.to_ascii_lowercase()))
            && !first_write.iter().any(|(b, _)| *b == r)
        {
            saved |= 1 << r;
        }
        if mnemonic == "pop" {
            restored_last |= mask;
        } else {
            restored_last &= !mask;
        }
        for r in (0..16u8).filter(|r| mask & 1 << r != 0) {
            if !first_write.iter().any(|(b, _)| *b == r) {
                first_write.push((r, insn));
            }
        }
    }
    first_write.retain(|(r, _)| saved & restored_last & 1 << r == 0);
    first_write
}
