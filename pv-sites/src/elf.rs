//! An ELF file as pv reads it: sections by address (also as patchable memory for the ia64
//! image engine), symbols (demangled) to name what contains an address, and pointer fields as
//! the loader would relocate them.

use crate::Error;
use object::{Object, ObjectSection, ObjectSymbol, RelocationFlags, elf};
use pv_runtime::arch::ia64::image::Memory;
use std::collections::HashMap;
use std::path::Path;

/// Architectures pv-sites reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Machine {
    /// x86_64 (`EM_X86_64`).
    X86_64,
    /// ia64 (`EM_IA_64`).
    Ia64,
}

/// A loaded ELF file.
pub struct Elf {
    /// Its architecture.
    pub machine: Machine,
    data: Vec<u8>,
    /// (address, size, file offset) of every section with file contents.
    sections: Vec<(u64, u64, usize)>,
    named: HashMap<String, (u64, u64)>,
    /// `R_X86_64_RELATIVE` relocations: where the loader writes base + addend.
    relative: HashMap<u64, u64>,
    /// (address, size, demangled name), sorted by address.
    symbols: Vec<(u64, u64, String)>,
}

impl Elf {
    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<Elf, Error> {
        let data = std::fs::read(path).map_err(|e| Error::Read(path.display().to_string(), e))?;
        let file = object::File::parse(&*data).map_err(|e| Error::Parse(e.to_string()))?;
        // object names no ia64 architecture; the ELF header's e_machine does (EM_IA_64 = 50).
        let machine = match (file.architecture(), raw_machine(&data)) {
            (object::Architecture::X86_64, _) => Machine::X86_64,
            (_, Some(50)) => Machine::Ia64,
            (other, machine) => {
                return Err(Error::ForeignArch(format!(
                    "{other:?} (e_machine {machine:?})"
                )));
            }
        };
        let mut sections = Vec::new();
        let mut named = HashMap::new();
        for s in file.sections() {
            if let Some((offset, size)) = s.file_range() {
                sections.push((s.address(), size, offset as usize));
            }
            if let Ok(name) = s.name() {
                named.insert(name.to_string(), (s.address(), s.size()));
            }
        }
        let mut relative = HashMap::new();
        for (at, r) in file.dynamic_relocations().into_iter().flatten() {
            if let RelocationFlags::Elf {
                r_type: elf::R_X86_64_RELATIVE,
            } = r.flags()
            {
                relative.insert(at, r.addend() as u64);
            }
        }
        let mut symbols: Vec<(u64, u64, String)> = file
            .symbols()
            .filter(|s| s.address() != 0)
            .filter_map(|s| {
                Some((
                    s.address(),
                    s.size(),
                    format!("{:#}", rustc_demangle::demangle(s.name().ok()?)),
                ))
            })
            .collect();
        symbols.sort();
        Ok(Elf {
            machine,
            data,
            sections,
            named,
            relative,
            symbols,
        })
    }

    /// The ia64 engine's tables (`pv_sites`, `pv_intrinsics`), if the file has both.
    pub fn tables(&self) -> Option<pv_runtime::arch::ia64::image::Tables> {
        Some(pv_runtime::arch::ia64::image::Tables {
            sites: self.section("pv_sites")?,
            intrinsics: self.section("pv_intrinsics")?,
        })
    }

    /// The file's bytes, as read or as patched since.
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    /// Writes the file's bytes (as patched) to `path`.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, &self.data)
    }

    /// The address of the symbol named `name` (demangled).
    pub fn symbol(&self, name: &str) -> Option<u64> {
        self.symbols
            .iter()
            .find(|(_, _, n)| n == name)
            .map(|(a, _, _)| *a)
    }

    /// A section's (address, size).
    pub fn section(&self, name: &str) -> Option<(u64, u64)> {
        self.named.get(name).copied()
    }

    /// The 8-byte pointer at `addr` as the program sees it after loading.
    pub fn pointer(&self, addr: u64) -> Option<u64> {
        self.relative
            .get(&addr)
            .copied()
            .or_else(|| Some(u64::from_le_bytes(self.read(addr, 8)?.try_into().ok()?)))
    }

    /// The symbol whose range contains `addr` (or the closest one at or before it).
    pub fn symbol_at(&self, addr: u64) -> Option<&str> {
        let i = self
            .symbols
            .partition_point(|(a, _, _)| *a <= addr)
            .checked_sub(1)?;
        let (start, size, name) = &self.symbols[i];
        (*size == 0 || addr < start + size).then_some(name.as_str())
    }

    /// Every symbol, by address.
    pub fn symbols(&self) -> impl Iterator<Item = (u64, &str)> {
        self.symbols.iter().map(|(a, _, n)| (*a, n.as_str()))
    }

    /// Symbol names by address, to share with a disassembler.
    pub fn names(&self) -> std::rc::Rc<HashMap<u64, String>> {
        std::rc::Rc::new(
            self.symbols
                .iter()
                .map(|(a, _, n)| (*a, n.clone()))
                .collect(),
        )
    }

    fn offset(&self, addr: u64, len: usize) -> Option<usize> {
        let (base, _, off) = self
            .sections
            .iter()
            .find(|(a, size, _)| *a <= addr && addr + len as u64 <= a + size)?;
        Some(off + (addr - base) as usize)
    }
}

fn raw_machine(data: &[u8]) -> Option<u16> {
    Some(u16::from_le_bytes(data.get(18..20)?.try_into().ok()?))
}

impl Memory for Elf {
    fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let off = self.offset(addr, len)?;
        self.data.get(off..off + len)
    }

    /// Patches the file's bytes in memory (the ia64 engine applies plans to images this way;
    /// the lister itself only reads).
    fn write(&mut self, addr: u64, bytes: &[u8]) -> Option<()> {
        let off = self.offset(addr, bytes.len())?;
        self.data
            .get_mut(off..off + bytes.len())?
            .copy_from_slice(bytes);
        Some(())
    }
}
