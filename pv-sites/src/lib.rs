//! `pv-sites`: every pv patch site of a built binary, from the file alone — where it is, which
//! function holds it, which intrinsic and binding, its register contract, its bytes
//! disassembled (iced-x86 for x86_64, pv's bundle decoder for ia64), and what the Native and
//! Xen plans would write there. The record layout, the planners and the codecs are pv-runtime's
//! own, so the listing is what the engine would do.

#![warn(missing_docs)]
pub mod elf;
mod ia64;
pub mod render;
pub mod x86_64;

pub use elf::Machine;
use pv_runtime::abi::record;
use pv_runtime::site::{RawRecord, RecordError};
use pv_runtime::{Arch, Binding};
use std::path::Path;

/// Why a file cannot be listed.
#[derive(Debug)]
pub enum Error {
    /// The file could not be read: path and I/O error.
    Read(String, std::io::Error),
    /// The file is not an ELF file pv-sites can parse.
    Parse(String),
    /// Not an x86_64 or ia64 ELF file.
    ForeignArch(String),
    /// No `pv_sites` section, or an empty one.
    NoSites,
    /// A record pv-sites cannot read (an unknown version, say).
    Record(u64, RecordError),
    /// A record for another architecture than the file's.
    RecordArch(u64, Arch),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Read(path, e) => write!(f, "cannot read {path}: {e}"),
            Error::Parse(e) => write!(f, "not an ELF file pv-sites can read: {e}"),
            Error::ForeignArch(a) => {
                write!(f, "a {a} binary: pv-sites reads x86_64 and ia64 ELF files")
            }
            Error::NoSites => {
                f.write_str("no pv site records (section pv_sites is absent or empty)")
            }
            Error::Record(at, e) => write!(f, "record at {at:#x}: {e}"),
            Error::RecordArch(at, a) => write!(
                f,
                "record at {at:#x} is for {}, not this file's architecture",
                a.name()
            ),
        }
    }
}

impl std::error::Error for Error {}

/// A planned patch: the instructions the engine would write, or why it could not.
pub type Planned = Result<Vec<String>, String>;

/// One site, as read from the file.
#[derive(Clone, Debug)]
pub struct SiteInfo {
    /// Address of the site.
    pub addr: u64,
    /// The function containing the site (demangled symbol), or `?`.
    pub function: String,
    /// The intrinsic's path, or `?`.
    pub intrinsic: String,
    /// How the site reaches the intrinsic.
    pub binding: Binding,
    /// Whether this is the intrinsic's self-test probe site.
    pub probe: bool,
    /// Site length in bytes.
    pub len: usize,
    /// Registers the site reads.
    pub uses: Vec<String>,
    /// Registers the site defines.
    pub defs: Vec<String>,
    /// Registers the site may clobber (x86_64: flags always listed).
    pub clobbers: Vec<String>,
    /// Whether the site holds what the compiler emitted (else it was changed in the file).
    pub pristine: bool,
    /// The site's bytes in the file.
    pub bytes: Vec<u8>,
    /// The site's instructions now.
    pub original: Vec<String>,
    /// What `apply(Native)` would write.
    pub native: Planned,
    /// What `apply(Xen)` would write.
    pub xen: Planned,
}

/// Every site of one file.
#[derive(Clone, Debug)]
pub struct Listing {
    /// The file's path, as given.
    pub path: String,
    /// The file's architecture.
    pub machine: Machine,
    /// Every site, in record order.
    pub sites: Vec<SiteInfo>,
}

/// Reads the file at `path` and lists its sites.
pub fn list(path: &Path) -> Result<Listing, Error> {
    let elf = elf::Elf::load(path)?;
    let (start, size) = elf
        .section(record::SITES_SECTION)
        .filter(|(_, size)| *size > 0)
        .ok_or(Error::NoSites)?;
    let arch = match elf.machine {
        Machine::X86_64 => Arch::X86_64,
        Machine::Ia64 => Arch::Ia64,
    };
    let mut records = Vec::new();
    for at in (start..start + size).step_by(record::SIZE) {
        let bytes: &[u8; record::SIZE] =
            pv_runtime::arch::ia64::image::Memory::read(&elf, at, record::SIZE)
                .and_then(|b| b.try_into().ok())
                .ok_or(Error::NoSites)?;
        let r = RawRecord::parse(bytes, at).map_err(|e| Error::Record(at, e))?;
        if r.arch != arch {
            return Err(Error::RecordArch(at, r.arch));
        }
        records.push(r);
    }
    let sites = match elf.machine {
        Machine::X86_64 => {
            let names = elf.names();
            records
                .iter()
                .map(|r| x86_64::site(&elf, &names, r))
                .collect()
        }
        Machine::Ia64 => records.iter().map(|r| ia64::site(&elf, r)).collect(),
    };
    Ok(Listing {
        path: path.display().to_string(),
        machine: elf.machine,
        sites,
    })
}

/// Names of the registers of `mask`.
fn registers(machine: Machine, mask: u64) -> Vec<String> {
    (0..64u8)
        .filter(|b| mask & 1 << b != 0)
        .map(|b| match machine {
            Machine::X86_64 => pv_runtime::abi::x86_64::reg_name(b).to_string(),
            Machine::Ia64 => pv_runtime::abi::ia64::reg_name(b).as_str().to_string(),
        })
        .collect()
}

/// The symbol containing `addr`, without a trailing `::__PV_DESC`-style item name.
fn owner(elf: &elf::Elf, addr: u64, item: &str) -> String {
    elf.symbol_at(addr).map_or("?".into(), |s| {
        s.strip_suffix(item).unwrap_or(s).to_string()
    })
}
