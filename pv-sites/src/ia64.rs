//! ia64 sites: the image engine's planner over the file, pv's bundle decoder to read them.

use crate::elf::{Elf, Machine};
use crate::{Planned, SiteInfo, registers};
use pv_runtime::arch::ia64::codec::{self, Insn, Unit};
use pv_runtime::arch::ia64::image::{Descriptor, Memory, State, Target, bytes};
use pv_runtime::site::RawRecord;

pub fn site(elf: &Elf, r: &RawRecord) -> SiteInfo {
    let current = elf.read(r.site, r.len).unwrap_or(&[]).to_vec();
    let desc = Descriptor::read(elf, r.desc);
    let plan = |state| -> Planned {
        let d = desc.ok_or("no descriptor block")?;
        bytes(elf, r, &d, state)
            .map(|b| disassemble(elf, &b, r.site))
            .map_err(|e| e.to_string())
    };
    let original = desc.and_then(|d| bytes(elf, r, &d, State::Original).ok());
    SiteInfo {
        addr: r.site,
        function: elf.symbol_at(r.site).unwrap_or("?").to_string(),
        intrinsic: desc.map_or("?".into(), |d| d.name(elf).to_string()),
        binding: r.binding,
        probe: r.probe,
        len: r.len,
        uses: registers(Machine::Ia64, r.uses),
        defs: registers(Machine::Ia64, r.defs),
        clobbers: registers(Machine::Ia64, r.clobbers),
        pristine: original.is_some_and(|o| o[..] == current[..]),
        original: disassemble(elf, &current, r.site),
        native: plan(State::Patched(Target::Native)),
        xen: plan(State::Patched(Target::Xen)),
        bytes: current,
    }
}

/// The instructions of the bundles, nops folded into a count.
fn disassemble(elf: &Elf, bytes: &[u8], at: u64) -> Vec<String> {
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
