//! x86_64 sites: the descriptor's routine fields read through the loader's relocations, the
//! engine's own encoder for the plans, and [`disassemble`] (iced-x86), which the tour shares.

use crate::elf::{Elf, Machine};
use crate::{Planned, SiteInfo, owner, registers};
use iced_x86::{
    Decoder, DecoderOptions, Formatter, Instruction, IntelFormatter, SymbolResolver, SymbolResult,
};
use pv_runtime::arch::ia64::image::Memory;
use pv_runtime::engine::{Shape, encode};
use pv_runtime::site::RawRecord;
use pv_runtime::{Intrinsic, abi::x86_64::FLAGS};
use std::collections::HashMap;
use std::mem::offset_of;
use std::rc::Rc;

pub(crate) fn site(elf: &Elf, names: &Names, r: &RawRecord) -> SiteInfo {
    let field = |offset: usize| elf.pointer(r.desc + offset as u64).unwrap_or(0);
    let (native, xen, slot_ref) = (
        field(offset_of!(Intrinsic, native)),
        field(offset_of!(Intrinsic, xen)),
        field(offset_of!(Intrinsic, slot)),
    );
    let body = elf.read(r.repl, r.repl_len).unwrap_or(&[]);
    let bytes = elf.read(r.site, r.len).unwrap_or(&[]).to_vec();
    let inline_xen = match r.xen_kind {
        pv_runtime::BodyKind::Native => Some(body),
        pv_runtime::BodyKind::Nop => Some(&[][..]),
        _ => None,
    };
    let plan = |shape| -> Planned {
        encode(r, body, shape)
            .map(|b| disassemble(names, &b, r.site))
            .map_err(|e| e.to_string())
    };
    let original = encode(
        r,
        body,
        Shape::Original {
            native,
            slot: slot_ref,
        },
    );
    SiteInfo {
        addr: r.site,
        function: owner(elf, r.site, ""),
        intrinsic: owner(elf, r.desc, "::__PV_DESC"),
        binding: r.binding,
        probe: r.probe,
        len: r.len,
        uses: registers(Machine::X86_64, r.uses),
        defs: registers(Machine::X86_64, r.defs),
        clobbers: registers(Machine::X86_64, r.clobbers & !FLAGS)
            .into_iter()
            .chain(["flags".into()])
            .collect(),
        pristine: original.is_ok_and(|o| o[..] == bytes[..]),
        original: disassemble(names, &bytes, r.site),
        native: plan(Shape::Patched {
            routine: native,
            inline: Some(body),
        }),
        xen: plan(Shape::Patched {
            routine: xen,
            inline: inline_xen,
        }),
        bytes,
    }
}

/// The file's symbols by address.
pub type Names = Rc<HashMap<u64, String>>;

/// Names call targets and memory operands after the file's symbols.
struct Symbols(Names);

impl SymbolResolver for Symbols {
    fn symbol(
        &mut self,
        _: &Instruction,
        _: u32,
        _: Option<u32>,
        address: u64,
        _: u32,
    ) -> Option<SymbolResult<'_>> {
        self.0
            .get(&address)
            .map(|name| SymbolResult::with_str(address, name.as_str()))
    }
}

/// Disassembles `bytes` at `ip` (Intel syntax), naming addresses found in `names`.
pub fn disassemble(names: &Names, bytes: &[u8], ip: u64) -> Vec<String> {
    let mut fmt = IntelFormatter::with_options(Some(Box::new(Symbols(names.clone()))), None);
    fmt.options_mut().set_space_after_operand_separator(true);
    Decoder::with_ip(64, bytes, ip, DecoderOptions::NONE)
        .into_iter()
        .map(|insn| {
            let mut text = String::new();
            fmt.format(&insn, &mut text);
            text
        })
        .collect()
}
