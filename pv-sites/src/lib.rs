//! `pv-sites`: every pv patch site of a built binary, from the file alone — where it is, which
//! function holds it, which intrinsic and binding, its register contract, its bytes
//! disassembled (iced-x86 for x86_64, pv's bundle decoder for ia64), and what the Native and
//! Xen plans would write there. The records are read by the engine's own iteration, and the
//! plans come from its own codecs, over the file as an [`pv_runtime::Image`]: the listing is
//! what the engine would do.

#![warn(missing_docs)]
pub mod check;
pub mod elf;
mod ia64;
pub mod render;
pub mod x86_64;

pub use elf::Machine;
use pv_runtime::engine::{Buf, State, site_bytes};
use pv_runtime::site::{RawRecord, RecordError};
use pv_runtime::{Arch, Binding, Image, Target};
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
    if elf.section(pv_runtime::engine::Section::Sites).len == 0 {
        return Err(Error::NoSites);
    }
    let arch = elf.arch();
    let records = pv_runtime::site::records(&elf)
        .map(|r| match r {
            Ok(r) if r.arch != arch => Err(Error::RecordArch(r.at, r.arch)),
            Ok(r) => Ok(r),
            Err((at, e)) => Err(Error::Record(at, e)),
        })
        .collect::<Result<Vec<RawRecord>, Error>>()?;
    let names = elf.names();
    let sites = records
        .iter()
        .map(|r| {
            let disassemble = |bytes: &[u8]| match elf.machine {
                Machine::X86_64 => x86_64::disassemble(&names, bytes, r.site),
                Machine::Ia64 => ia64::disassemble(&elf, bytes, r.site),
            };
            site(&elf, r, disassemble)
        })
        .collect();
    Ok(Listing {
        path: path.display().to_string(),
        machine: elf.machine,
        sites,
    })
}

/// One site: its bytes, and what each state would hold, from the engine's codec.
fn site(elf: &elf::Elf, r: &RawRecord, disassemble: impl Fn(&[u8]) -> Vec<String>) -> SiteInfo {
    let mut buf = Buf::default();
    let mut plan = |state: State| -> Planned {
        site_bytes(elf, r, &state, &mut buf)
            .map(|_| disassemble(&buf))
            .map_err(|e| e.to_string())
    };
    let (native, xen) = (
        plan(State::Patched(Target::Native)),
        plan(State::Patched(Target::XEN)),
    );
    let bytes = elf.read(r.site, r.len).unwrap_or(&[]).to_vec();
    let descriptor = pv_runtime::engine::descriptor(elf, r.desc);
    let pristine = site_bytes(elf, r, &State::Original, &mut buf).is_ok() && buf[..] == bytes[..];
    let machine = elf.machine;
    SiteInfo {
        addr: r.site,
        function: owner(elf, r.site, ""),
        intrinsic: match machine {
            Machine::X86_64 => owner(elf, r.desc, "::__PV_DESC"),
            Machine::Ia64 => descriptor.map_or("?".into(), |d| d.name(elf).to_string()),
        },
        binding: r.binding,
        probe: r.probe,
        len: r.len,
        uses: registers(machine, r.uses),
        defs: registers(machine, r.defs),
        clobbers: match machine {
            Machine::X86_64 => registers(machine, r.clobbers & !pv_runtime::abi::x86_64::FLAGS)
                .into_iter()
                .chain(["flags".into()])
                .collect(),
            Machine::Ia64 => registers(machine, r.clobbers),
        },
        pristine,
        original: disassemble(&bytes),
        native,
        xen,
        bytes,
    }
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
