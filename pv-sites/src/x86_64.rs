//! x86_64 sites: [`disassemble`] (iced-x86), which the tour shares.

use iced_x86::{
    Decoder, DecoderOptions, Formatter, Instruction, IntelFormatter, SymbolResolver, SymbolResult,
};
use std::collections::HashMap;
use std::rc::Rc;

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
