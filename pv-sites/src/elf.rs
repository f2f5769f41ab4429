//! An ELF file as pv reads it: an [`Image`] for the engine (sections by address, code ranges,
//! pointer fields as the loader would relocate them) that it can also patch in memory through
//! [`TextWriter`], and symbols (demangled) to name what contains an address.

use crate::Error;
use object::{Object, ObjectSection, ObjectSymbol, RelocationFlags, SectionKind, elf};
use pv_runtime::Image;
use pv_runtime::abi::record;
use pv_runtime::engine::{Section, Span};
use pv_runtime::writer::{CommitError, Fault, Faults, TextWriter, WriteStats};
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
    /// Executable sections.
    code: Vec<Span>,
    named: HashMap<String, (u64, u64)>,
    /// `R_X86_64_RELATIVE` relocations: where the loader writes base + addend.
    relative: HashMap<u64, u64>,
    /// (address, size, demangled name), sorted by address.
    symbols: Vec<(u64, u64, String)>,
    /// Writes staged by the engine, until committed into `data`.
    staged: Vec<(u64, Vec<u8>)>,
    faults: Faults,
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
        let mut code = Vec::new();
        let mut named = HashMap::new();
        for s in file.sections() {
            if let Some((offset, size)) = s.file_range() {
                sections.push((s.address(), size, offset as usize));
                if s.kind() == SectionKind::Text {
                    code.push(Span::new(s.address(), size));
                }
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
            code,
            named,
            relative,
            symbols,
            staged: Vec::new(),
            faults: Faults::default(),
        })
    }

    /// Makes the next transition fail once at `fault` (tests of the engine's transactions).
    pub fn inject(&mut self, fault: Fault) {
        self.faults.inject(fault);
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

    /// A section's (address, size), by name.
    pub fn section_named(&self, name: &str) -> Option<(u64, u64)> {
        self.named.get(name).copied()
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

    /// The size of a sized symbol starting at `addr` (a function: naked routines have sizes).
    pub fn symbol_size(&self, addr: u64) -> Option<u64> {
        let from = self.symbols.partition_point(|(a, _, _)| *a < addr);
        self.symbols[from..]
            .iter()
            .take_while(|(a, _, _)| *a == addr)
            .map(|(_, size, _)| *size)
            .find(|size| *size > 0)
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
            .find(|(a, size, _)| Span::new(*a, *size).contains(addr, len as u64))?;
        Some(off + (addr - base) as usize)
    }

    /// Overwrites `bytes` at `addr` in the file's memory, outside any transaction, and returns
    /// what was there (`None`, writing nothing, if the file holds no such range). For tests
    /// that corrupt an image's tables or text on purpose and put the bytes back afterwards;
    /// the engine itself writes only through [`TextWriter`] and [`Image::set_slot`].
    pub fn poke(&mut self, addr: u64, bytes: &[u8]) -> Option<Vec<u8>> {
        self.write(addr, bytes)
    }

    /// Writes `bytes` at `addr` in the file's memory; what was there before.
    fn write(&mut self, addr: u64, bytes: &[u8]) -> Option<Vec<u8>> {
        let off = self.offset(addr, bytes.len())?;
        let place = self.data.get_mut(off..off + bytes.len())?;
        let old = place.to_vec();
        place.copy_from_slice(bytes);
        Some(old)
    }
}

fn raw_machine(data: &[u8]) -> Option<u16> {
    Some(u16::from_le_bytes(data.get(18..20)?.try_into().ok()?))
}

impl Image for Elf {
    fn arch(&self) -> pv_runtime::Arch {
        match self.machine {
            Machine::X86_64 => pv_runtime::Arch::X86_64,
            Machine::Ia64 => pv_runtime::Arch::Ia64,
        }
    }

    fn section(&self, section: Section) -> Span {
        let name = match section {
            Section::Sites => record::SITES_SECTION,
            Section::Repl => record::REPL_SECTION,
            Section::Intrinsics => record::INTRINSICS_SECTION,
            Section::Slots => record::SLOTS_SECTION,
            Section::XenBodies => record::XEN_BODIES_SECTION,
            Section::Alternatives => record::alternative::SECTION,
            Section::Routines => record::ROUTINES_SECTION,
        };
        self.section_named(name)
            .map_or(Span::default(), |(a, size)| Span::new(a, size))
    }

    fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let off = self.offset(addr, len)?;
        self.data.get(off..off + len)
    }

    fn is_text(&self, addr: u64, len: usize) -> bool {
        self.code.iter().any(|c| c.contains(addr, len as u64))
    }

    /// The pointer as the program sees it after loading (`R_X86_64_RELATIVE` applied).
    fn pointer(&self, addr: u64) -> Option<u64> {
        self.relative
            .get(&addr)
            .copied()
            .or_else(|| Some(u64::from_le_bytes(self.read(addr, 8)?.try_into().ok()?)))
    }

    unsafe fn set_slot(&mut self, addr: u64, value: u64) {
        // The engine checked the slot lies in the file's slot section.
        let _ = self.write(addr, &value.to_le_bytes());
    }
}

/// Why patching the file's memory failed.
#[derive(Debug)]
pub enum PatchError {
    /// The bytes lie outside the file's code.
    NotCode(u64),
    /// A failure injected with [`Elf::inject`].
    Injected(Fault),
}

impl std::fmt::Display for PatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PatchError::NotCode(a) => write!(f, "{a:#x} is not code of the file"),
            PatchError::Injected(fault) => write!(f, "injected failure: {fault:?}"),
        }
    }
}

/// The file's memory as text the engine patches: writes are staged, then committed one by
/// one with what they replaced kept, so a failure puts every byte back.
impl TextWriter for Elf {
    type Error = PatchError;

    unsafe fn stage(&mut self, addr: u64, bytes: &[u8]) -> Result<(), PatchError> {
        if let Some(fault) = self.faults.stage() {
            return Err(PatchError::Injected(fault));
        }
        if !self.is_text(addr, bytes.len()) {
            return Err(PatchError::NotCode(addr));
        }
        self.staged.push((addr, bytes.to_vec()));
        Ok(())
    }

    fn abort(&mut self) {
        self.staged.clear();
        self.faults.restart();
    }

    fn commit(&mut self) -> Result<WriteStats, CommitError<PatchError>> {
        let staged = std::mem::take(&mut self.staged);
        let mut undo = Vec::with_capacity(staged.len());
        let mut failure = None;
        for (k, (addr, bytes)) in staged.iter().enumerate() {
            if let Some(fault) = self.faults.step(k) {
                failure = Some(PatchError::Injected(fault));
                break;
            }
            // Staging checked the range: the write cannot miss.
            if let Some(old) = self.write(*addr, bytes) {
                undo.push((*addr, old));
            }
        }
        if failure.is_none() {
            failure = self.faults.serialise().map(PatchError::Injected);
        }
        self.abort();
        match failure {
            None => Ok(WriteStats {
                pages: 0,
                runs: staged.len(),
                protection_calls: 0,
            }),
            Some(error) => {
                let restored = undo
                    .iter()
                    .rev()
                    .all(|(addr, old)| self.write(*addr, old).is_some());
                Err(CommitError { error, restored })
            }
        }
    }
}
