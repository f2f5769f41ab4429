//! A linked ia64 ELF image in the interpreter's memory: every allocated section at its
//! address, and the symbol table.

use crate::mem::Memory;
use object::{Object, ObjectSection, ObjectSymbol, SectionKind};
use std::collections::HashMap;

/// A loaded image.
pub struct Image {
    /// Its allocated sections in memory.
    pub mem: Memory,
    /// Symbols by name.
    pub symbols: HashMap<String, u64>,
    /// The global pointer the linker chose (`__gp`), if any.
    pub gp: Option<u64>,
    /// (address, bytes) of every executable section.
    pub code: Vec<(u64, Vec<u8>)>,
}

/// `EM_IA_64`.
const EM_IA_64: u16 = 50;

impl Image {
    /// Parses an ia64 ELF file.
    pub fn parse(data: &[u8]) -> Result<Image, String> {
        let file = object::File::parse(data).map_err(|e| e.to_string())?;
        let machine = data.get(18..20).map(|b| u16::from_le_bytes([b[0], b[1]]));
        if machine != Some(EM_IA_64) || !file.is_little_endian() {
            return Err(format!(
                "not a little-endian ia64 ELF file (e_machine {machine:?})"
            ));
        }
        let mut mem = Memory::default();
        let mut code = Vec::new();
        for s in file.sections() {
            // In a linked image, only allocated sections have an address.
            if s.address() == 0 || s.size() == 0 {
                continue;
            }
            if s.kind() == SectionKind::UninitializedData {
                mem.map(s.address(), s.size());
                continue;
            }
            let bytes = s.data().map_err(|e| e.to_string())?;
            mem.load(s.address(), bytes);
            if s.kind() == SectionKind::Text {
                code.push((s.address(), bytes.to_vec()));
            }
        }
        let symbols: HashMap<String, u64> = file
            .symbols()
            .filter_map(|s| Some((s.name().ok()?.to_string(), s.address())))
            .filter(|(n, _)| !n.is_empty())
            .collect();
        let gp = symbols.get("__gp").copied();
        Ok(Image {
            mem,
            symbols,
            gp,
            code,
        })
    }

    /// Reads and parses the file at `path`.
    pub fn load(path: &std::path::Path) -> Result<Image, String> {
        let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Image::parse(&data)
    }

    /// The address of symbol `name`.
    pub fn symbol(&self, name: &str) -> Option<u64> {
        self.symbols.get(name).copied()
    }
}
