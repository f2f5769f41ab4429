//! `pv-sites --check`: the register contract proven from the machine code. Every site, native
//! body copy, routine, backend stub, adapter and probe of a built file is decoded and held
//! against the contract its record or descriptor states, with an instruction table that is
//! not pv's own:
//! - `x86_64`: iced-x86's instruction info;
//! - `ia64`: the decoder and read/write table of pv's ia64 interpreter (`pv-ia64-sim`),
//!   written from the Itanium manuals apart from pv-abi's templates and register tables.

use crate::Error;
use crate::elf::{Elf, Machine};
use pv_runtime::Image;
use pv_runtime::engine::{Descriptor, Section};
use std::path::Path;

mod ia64;
mod x86_64;

/// One contract violation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The intrinsic (its path), or `?`.
    pub intrinsic: String,
    /// The body: which site or routine, and where.
    pub body: String,
    /// The offending instruction's address (ia64: its bundle's).
    pub addr: u64,
    /// The offending instruction, disassembled (x86_64: Intel syntax; ia64: as GNU objdump
    /// prints it).
    pub instruction: String,
    /// What is wrong, naming the register where there is one.
    pub what: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}: {:#x} `{}`: {}",
            self.intrinsic, self.body, self.addr, self.instruction, self.what
        )
    }
}

/// The result of checking one file.
#[derive(Clone, Debug, Default)]
pub struct Checked {
    /// Sites checked (one per record).
    pub sites: usize,
    /// Routines checked: native routines, backend stubs, option 4 adapters, probes.
    pub routines: usize,
    /// Every violation found.
    pub violations: Vec<Violation>,
}

/// Checks every site and routine of the ELF file at `path` against its contract.
pub fn check(path: &Path) -> Result<Checked, Error> {
    let elf = Elf::load(path)?;
    match elf.machine {
        Machine::X86_64 => x86_64::check(&elf),
        Machine::Ia64 => ia64::check(&elf),
    }
}

/// Every descriptor of `pv_intrinsics` (each `size` bytes), each read and checked by the engine.
fn descriptors(elf: &Elf, size: usize) -> Result<Vec<Descriptor>, Error> {
    let section = elf.section(Section::Intrinsics);
    let size = size as u64;
    (0..section.len / size)
        .map(|i| {
            let at = section.start + i * size;
            pv_runtime::engine::descriptor(elf, at)
                .map_err(|e| Error::Parse(format!("descriptor at {at:#x}: {e}")))
        })
        .collect()
}

/// The bytes of the sized symbol starting at `addr`: a routine's extent.
fn extent(elf: &Elf, addr: u64) -> Option<&[u8]> {
    let size = elf.symbol_size(addr)?;
    elf.read(addr, size as usize)
}
