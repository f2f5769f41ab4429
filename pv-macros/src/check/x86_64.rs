//! x86_64 rules on top of the shared ones: the register file of `pv_abi::x86_64`, no generics,
//! no ia64 hyperprivops, and native bodies that survive being copied into sites.

use super::{Abi, Contract, Usage, assign};
use crate::messages;
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
            (Class::Flags, _) => Err(messages::FLAGS_AS_REG.into()),
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
        errors.push(Error::custom(messages::X86_GENERIC).with_span(c));
    }
    if let Some(span) = intr.linux_form {
        errors.push(Error::custom(messages::X86_FORM).with_span(&span));
    }
    if let Body::Hyperprivop(_, span) = intr.xen() {
        errors.push(Error::custom(messages::X86_HYPERPRIVOP).with_span(span));
    }
    if intr.binding == pv_abi::Binding::IndirectCall && intr.args.len() > x86::C_ARGS.len() {
        errors.push(
            Error::custom(messages::option4_too_many_args(
                x86::C_ARGS.len(),
                intr.args.len(),
            ))
            .with_span(intr.name()),
        );
    }
    deprivileged(intr, &mut errors);
    for text in super::sequences(intr) {
        stack(text, &mut errors);
        let body = text.value();
        let instructions: Vec<&str> = pv_abi::sequence::instructions(&body).collect();
        if body.contains(['{', '}']) {
            errors.push(Error::custom(messages::SEQUENCE_BRACES).with_span(text));
        }
        if body.to_ascii_lowercase().contains("rip") {
            errors.push(Error::custom(messages::RIP_RELATIVE).with_span(text));
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
        if let Some(message) = att_syntax(&instructions)
            .or_else(|| undefined_label(&instructions))
            .or_else(|| misspelt(&instructions))
        {
            errors.push(Error::custom(message).with_span(text));
        }
        if let Some(insn) = far {
            errors.push(Error::custom(messages::far_branch(insn)).with_span(text));
        }
        let declared = contract.defs() | contract.clobbers;
        for (bit, insn) in written(&instructions) {
            let Some(r) = x86::reg(x86::reg_name(bit)) else {
                continue;
            };
            if contract.complete && declared & 1 << bit == 0 {
                let fix = match r.saved {
                    Saved::Reserved(why) => messages::save_reserved(r.name, why),
                    _ => messages::add_clobber(r.name),
                };
                errors.push(
                    Error::custom(messages::undeclared_write(insn, r.name, &fix)).with_span(text),
                );
            }
        }
        if instructions.len() > MAX_SITE_LEN {
            errors.push(
                Error::custom(messages::native_too_long(instructions.len(), MAX_SITE_LEN))
                    .with_span(text),
            );
        }
    }
    errors.finish_with(contract)
}

/// The first privileged instruction of a sequence, with why it is.
fn first_privileged(text: &str) -> Option<(&str, &'static str)> {
    pv_abi::sequence::instructions(text).find_map(|i| x86::privileged(i).map(|why| (i, why)))
}

/// A backend that runs the guest kernel deprivileged (Xen PV: ring 3) cannot run a privileged
/// instruction: it faults, or (`cli`, `sti` under IOPL) does nothing. So such a backend must
/// not run one, neither as the native body (absent, or `native`) nor in an `asm` body of its
/// own — unless the declaration says the hypervisor traps and emulates it (`emulated`), the one
/// escape, which then has to be true of a privileged instruction. Hardware-virtualized
/// backends run privileged instructions (they trap and work), so only `emulated`'s claim is
/// checked for them.
fn deprivileged(intr: &Intrinsic, errors: &mut darling::error::Accumulator) {
    let native = intr.native.value();
    let privileged = first_privileged(&native);
    for hv in pv_abi::Hypervisor::ALL {
        let abi = hv.abi();
        let k = hv.name();
        let backend = &intr.backends[hv.index()];
        match (&backend.body, backend.given, privileged) {
            (Body::Native { emulated: true }, Some(span), None) => errors.push(
                Error::custom(messages::emulated_not_privileged(k, abi.display)).with_span(&span),
            ),
            (Body::Native { emulated: false }, given, Some((insn, why))) if abi.deprivileged => {
                let (what, span) = match given {
                    None => (" it".to_string(), intr.native.span()),
                    Some(span) => (format!(" `{k} = native`"), span),
                };
                errors.push(
                    Error::custom(messages::privileged_native(
                        insn,
                        why,
                        k,
                        abi.display,
                        &what,
                    ))
                    .with_span(&span),
                );
            }
            (Body::Asm(text), _, _) if abi.deprivileged => {
                if let Some((insn, why)) = first_privileged(&text.value()) {
                    errors.push(
                        Error::custom(messages::privileged_asm(insn, why, abi.display))
                            .with_span(text),
                    );
                }
            }
            _ => {}
        }
    }
}

/// Every mnemonic that changes the stack pointer other than by a balanced push/pop, and those
/// that leave the function a site is in.
const RETURNS: [&str; 5] = ["ret", "retf", "iret", "iretq", "sysret"];

/// A site's sequence runs in its caller's frame, and in another patch state at another depth
/// (a call pushes a return address): it must leave rsp as it found it, may not read it, and
/// must not return. The first problem of each kind is reported, at the sequence.
fn stack(text: &syn::LitStr, errors: &mut darling::error::Accumulator) {
    let body = text.value();
    let mut depth = 0i32;
    let mut first_push = None;
    let (mut returned, mut moved, mut read) = (false, false, false);
    let mut report = |msg: String| errors.push(Error::custom(msg).with_span(text));
    for insn in pv_abi::sequence::instructions(&body).filter(|i| !i.starts_with('#')) {
        let mnemonic = pv_abi::sequence::mnemonic(insn).to_ascii_lowercase();
        let operands: Vec<String> = insn
            .get(insn.to_ascii_lowercase().find(&mnemonic).unwrap_or(0) + mnemonic.len()..)
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_ascii_lowercase)
            .collect();
        let names_rsp = |o: &String| {
            o.split(|c: char| !c.is_ascii_alphanumeric())
                .any(|w| x86::gpr_of(w) == Some(4))
        };
        if RETURNS.contains(&mnemonic.as_str()) && !returned {
            returned = true;
            report(messages::sequence_ret(insn));
            continue;
        }
        match mnemonic.as_str() {
            "push" | "pushf" | "pushfq" => {
                depth += 1;
                first_push = first_push.or(Some(insn));
            }
            "pop" | "popf" | "popfq" => depth -= 1,
            _ => {}
        }
        if depth < 0 && !moved {
            moved = true;
            report(messages::pop_unbalanced(insn));
        }
        // push and pop move rsp by the depth counted above, and a call or return is an error
        // of its own; anything else that writes it (per the table the byte check agrees with)
        // moves the frame.
        let pushes_or_pops = matches!(
            mnemonic.as_str(),
            "push" | "pushf" | "pushfq" | "pop" | "popf" | "popfq" | "call" | "ret" | "retq"
        );
        let writes_rsp = matches!(mnemonic.as_str(), "leave" | "enter")
            || (!pushes_or_pops && x86::writes(insn).is_some_and(|m| m & 1 << 4 != 0));
        if writes_rsp && !moved {
            moved = true;
            report(messages::moves_rsp(insn));
        } else if !writes_rsp && !read && operands.iter().any(names_rsp) {
            read = true;
            report(messages::reads_rsp(insn));
        }
    }
    if depth > 0 && !moved {
        let insn = first_push.unwrap_or_default();
        report(messages::push_unbalanced(insn, depth));
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

/// AT&T syntax (`movq %rax, %rdx`), which the assembler rejects with "unknown token in
/// expression" once for every copy of the sequence and, for the routines' copies, without a
/// location. In an Intel-syntax instruction `%` is only the modulo operator, never directly
/// before a name, so `%` followed by a letter is AT&T's register prefix. Directives (`.ascii
/// "%s"`) are skipped: their strings may hold anything.
fn att_syntax(instructions: &[&str]) -> Option<String> {
    let insn = instructions.iter().find(|i| {
        !i.starts_with(['#', '.'])
            && i.as_bytes()
                .windows(2)
                .any(|w| w[0] == b'%' && w[1].is_ascii_alphabetic())
    })?;
    Some(messages::att_syntax(insn))
}

/// The assembler's spellings that iced-x86 spells otherwise or not at all: condition-code
/// synonyms (Intel SDM vol. 2, "Jcc", "SETcc", "CMOVcc": `jz` = `je`, `jnae` = `jb`, …) for the
/// three families, `movabs`, and the size-suffixed forms LLVM's Intel parser accepts.
fn synonyms() -> impl Iterator<Item = String> {
    const CC: [&str; 14] = [
        "z", "nz", "c", "nc", "nae", "nb", "na", "nbe", "pe", "po", "nge", "nl", "ng", "nle",
    ];
    const OTHERS: [&str; 14] = [
        "movabs", "pushq", "popq", "pushw", "popw", "callq", "jmpq", "retq", "retn", "leaveq",
        "lretq", "sysretq", "iretd", "int1",
    ];
    ["j", "set", "cmov"]
        .into_iter()
        .flat_map(|f| CC.iter().map(move |cc| format!("{f}{cc}")))
        .chain(OTHERS.iter().map(|s| s.to_string()))
}

/// Every mnemonic iced-x86 knows (its table covers every instruction it decodes), lower case.
fn mnemonics() -> &'static std::collections::HashSet<String> {
    static ALL: std::sync::OnceLock<std::collections::HashSet<String>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        iced_x86::Mnemonic::values()
            .filter(|m| *m != iced_x86::Mnemonic::INVALID)
            .map(|m| format!("{m:?}").to_ascii_lowercase())
            .chain(synonyms())
            .collect()
    })
}

/// A misspelt mnemonic (`movv`), which the assembler reports once per copy of the sequence —
/// for the routines' copies without a location. The macro errs only when it is sure: the word
/// is no mnemonic iced-x86 knows nor one of the assembler's [`synonyms`], nor a prefix,
/// directive or label, and one edit turns it into a known mnemonic (the shortest such is
/// suggested). Anything else is left to the assembler.
fn misspelt(instructions: &[&str]) -> Option<String> {
    const PREFIXES: [&str; 13] = [
        "lock", "rep", "repe", "repz", "repne", "repnz", "data16", "data32", "addr32", "notrack",
        "xacquire", "xrelease", "bnd",
    ];
    let known = mnemonics();
    instructions.iter().find_map(|insn| {
        let word = insn
            .split_whitespace()
            .map(str::to_ascii_lowercase)
            .find(|w| !w.ends_with(':') && !PREFIXES.contains(&w.as_str()))?;
        if word.starts_with(['.', '#']) || known.contains(&word) {
            return None;
        }
        let meant = known
            .iter()
            .filter(|m| crate::did_you_mean::distance(&word, m) == 1)
            .min_by_key(|m| (m.len(), m.as_str()))?;
        Some(messages::misspelt_mnemonic(insn, &word, meant))
    })
}

/// A branch to a local numeric label the sequence does not define in that direction (`3f`
/// with no `3:` after it, `3b` with none before). The assembler would resolve it to a label of
/// another copy or site, or fail at the end of the object with "Undefined temporary symbol",
/// which names no source line; a sequence may branch only within itself.
fn undefined_label(instructions: &[&str]) -> Option<String> {
    // Each instruction's leading `N:` definitions, then what follows them.
    let split = |insn: &str| -> (Vec<String>, String) {
        let mut labels = Vec::new();
        let mut rest = insn.trim();
        while let Some((label, after)) = rest.split_once(':')
            && !label.is_empty()
            && label.chars().all(|c| c.is_ascii_digit())
        {
            labels.push(label.to_string());
            rest = after.trim_start();
        }
        (labels, rest.to_string())
    };
    let lines: Vec<(Vec<String>, String)> = instructions
        .iter()
        .filter(|i| !i.starts_with('#'))
        .map(|i| split(i))
        .collect();
    for (at, (_, insn)) in lines.iter().enumerate() {
        let mut words = insn.split_whitespace();
        let mnemonic = words.next().unwrap_or("").to_ascii_lowercase();
        let Some(target) = words.next() else { continue };
        if !(mnemonic == "call" || mnemonic.starts_with('j') || mnemonic.starts_with("loop")) {
            continue;
        }
        let (label, forward) = match target.split_at(target.len().saturating_sub(1)) {
            (l, "f") => (l, true),
            (l, "b") => (l, false),
            _ => continue,
        };
        if label.is_empty() || !label.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let defines = |(labels, _): &(Vec<String>, String)| labels.iter().any(|l| l == label);
        // A label on the branch's own line stands before it.
        let found = if forward {
            lines[at + 1..].iter().any(defines)
        } else {
            lines[..=at].iter().any(defines)
        };
        if !found {
            let (place, side) = if forward {
                ("after", "f")
            } else {
                ("before", "b")
            };
            return Some(messages::undefined_label(insn.trim(), label, side, place));
        }
    }
    None
}
