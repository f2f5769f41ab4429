//! ia64 sites: pv's bundle decoder to read them.

use crate::elf::Elf;
use pv_runtime::arch::ia64::codec::{self, Insn, Unit};

/// The instructions of the bundles, nops folded into a count.
pub(crate) fn disassemble(elf: &Elf, bytes: &[u8], at: u64) -> Vec<String> {
    let mut out = Vec::new();
    let mut nop_bundles = 0;
    for (i, chunk) in bytes.chunks_exact(16).enumerate() {
        let ip = at + 16 * i as u64;
        let bundle: codec::Bundle = chunk.try_into().unwrap_or([0; 16]);
        let Some(insns) = codec::decode(&bundle, ip) else {
            out.push(format!("reserved template {:#x}", bundle[0] & 0x1f));
            continue;
        };
        let real: Vec<String> = insns
            .iter()
            .filter(|i| {
                !matches!(
                    i,
                    Insn::Nop(Unit::M | Unit::I | Unit::F | Unit::B, 0) | Insn::Long
                )
            })
            .map(|i| name_target(elf, i))
            .collect();
        if real.is_empty() {
            nop_bundles += 1;
        }
        out.extend(real);
    }
    if nop_bundles > 0 {
        out.push(format!("({nop_bundles} nop bundles)"));
    }
    out
}

fn name_target(elf: &Elf, insn: &Insn) -> String {
    match insn {
        Insn::Branch { target, .. } => match elf.symbols().find(|(a, _)| a == target) {
            Some((_, name)) => format!("{insn} <{name}>"),
            None => insn.to_string(),
        },
        _ => insn.to_string(),
    }
}
