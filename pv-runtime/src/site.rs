//! Site records (layout in [`pv_abi::record`]): decoding from bytes, which tools share, and the
//! live view the engine walks.

use crate::ops::Intrinsic;
use pv_abi::record::{self, offset};
use pv_abi::{Arch, Binding, BodyKind};

/// Why a record cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordError {
    /// Not a pv record (wrong magic): the section is corrupt or from something else.
    Magic(u16),
    /// A record version this runtime does not know.
    Version(u8),
    /// An arch code pv does not know.
    Arch(u8),
    /// A binding byte that is not an RFC option number.
    Binding(u8),
    /// Longer than the engine's site buffer.
    TooLong(u8),
    /// A body-kind code that is no [`BodyKind`].
    BodyKind(u8),
}

impl core::fmt::Display for RecordError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RecordError::Magic(m) => write!(f, "not a pv site record (magic {m:#06x})"),
            RecordError::Version(v) => write!(
                f,
                "site record version {v}, this runtime reads {}",
                record::VERSION
            ),
            RecordError::Arch(a) => write!(f, "unknown arch code {a}"),
            RecordError::Binding(b) => write!(f, "unknown binding {b}"),
            RecordError::BodyKind(k) => write!(f, "unknown body kind {k}"),
            RecordError::TooLong(l) => {
                write!(f, "site or body of {l} bytes exceeds the engine's buffer")
            }
        }
    }
}

/// A record decoded from its bytes, with every PC-relative field resolved against the
/// record's own address (`at`), so it works on a live image and on a file alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawRecord {
    /// Address of the record itself.
    pub at: u64,
    /// Whether this is the intrinsic's self-test probe site.
    pub probe: bool,
    /// All flag bits (`pv_abi::record::FLAG_*`).
    pub flags: u8,
    /// How Xen implements the intrinsic, from the flags.
    pub xen_kind: BodyKind,
    /// Architecture of the site.
    pub arch: Arch,
    /// How the site reaches the intrinsic.
    pub binding: Binding,
    /// Site length in bytes.
    pub len: usize,
    /// Length of the native body copy.
    pub repl_len: usize,
    /// Address of the site.
    pub site: u64,
    /// Address of the native body copy in `pv_repl`.
    pub repl: u64,
    /// Address of the intrinsic's descriptor.
    pub desc: u64,
    /// Registers the site reads (arch mask bits).
    pub uses: u64,
    /// Registers the site defines (arch mask bits).
    pub defs: u64,
    /// Registers the site may clobber (arch mask bits).
    pub clobbers: u64,
}

impl RawRecord {
    /// Decodes the record stored at address `at`.
    pub fn parse(bytes: &[u8; record::SIZE], at: u64) -> Result<RawRecord, RecordError> {
        let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap_or_default());
        let rel = |o: usize| at.wrapping_add(o as u64).wrapping_add(u64_at(o));
        let magic = u16::from_le_bytes([bytes[offset::MAGIC], bytes[offset::MAGIC + 1]]);
        if magic != record::MAGIC {
            return Err(RecordError::Magic(magic));
        }
        if bytes[offset::VERSION] != record::VERSION {
            return Err(RecordError::Version(bytes[offset::VERSION]));
        }
        let arch =
            Arch::from_code(bytes[offset::ARCH]).ok_or(RecordError::Arch(bytes[offset::ARCH]))?;
        let binding = Binding::from_number(bytes[offset::BINDING])
            .ok_or(RecordError::Binding(bytes[offset::BINDING]))?;
        let len = bytes[offset::LEN];
        // x86_64 sites fit the engine's buffer; ia64 ones are whole bundles, at most 15.
        let max = if arch == Arch::X86_64 {
            record::MAX_SITE_LEN
        } else {
            240
        };
        if len as usize > max || bytes[offset::REPL_LEN] as usize > max {
            return Err(RecordError::TooLong(len.max(bytes[offset::REPL_LEN])));
        }
        let kind = bytes[offset::FLAGS] >> record::XEN_KIND_SHIFT & 0b111;
        let xen_kind = BodyKind::from_code(kind).ok_or(RecordError::BodyKind(kind))?;
        Ok(RawRecord {
            at,
            probe: bytes[offset::FLAGS] & record::FLAG_PROBE != 0,
            flags: bytes[offset::FLAGS],
            xen_kind,
            arch,
            binding,
            len: len as usize,
            repl_len: bytes[offset::REPL_LEN] as usize,
            site: rel(offset::SITE),
            repl: rel(offset::REPL),
            desc: rel(offset::DESC),
            uses: u64_at(offset::USES),
            defs: u64_at(offset::DEFS),
            clobbers: u64_at(offset::CLOBBERS),
        })
    }
}

/// A live site of this process.
#[derive(Clone, Copy)]
pub struct Site {
    /// The site's record, decoded.
    pub record: RawRecord,
    /// The intrinsic the record's descriptor field points at.
    pub intrinsic: &'static Intrinsic,
}

impl Site {
    /// Address of the site.
    pub fn addr(&self) -> usize {
        self.record.site as usize
    }

    /// The bytes the site holds now.
    pub fn current(&self) -> &'static [u8] {
        // SAFETY: the record names a range of this binary's text, which stays mapped.
        unsafe { core::slice::from_raw_parts(self.addr() as *const u8, self.record.len) }
    }

    /// The copy of the native body the macro placed in `pv_repl`.
    pub fn native_body(&self) -> &'static [u8] {
        // SAFETY: as above, for the read-only `pv_repl` section.
        unsafe { core::slice::from_raw_parts(self.record.repl as *const u8, self.record.repl_len) }
    }
}

unsafe extern "Rust" {
    #[link_name = "__start_pv_sites"]
    static START: [u8; 0];
    #[link_name = "__stop_pv_sites"]
    static STOP: [u8; 0];
}

/// Keeps `pv_sites`, and so its bounds, defined in a binary without sites.
#[used]
#[unsafe(link_section = "pv_sites")]
static ANCHOR: [u64; 0] = [];

/// The `pv_sites` section of this binary.
fn section() -> &'static [u8] {
    // SAFETY: the linker defines both bounds around the section (the anchor guarantees it
    // exists); it is read-only for the life of the process.
    unsafe {
        let start = (&raw const START).cast::<u8>();
        let stop = (&raw const STOP).cast::<u8>();
        core::slice::from_raw_parts(start, stop.offset_from(start) as usize)
    }
}

/// Every site record of this binary, decoded; records that cannot be used are returned as
/// errors with their address, never skipped silently.
pub fn sites() -> impl Iterator<Item = Result<Site, (usize, RecordError)>> {
    section().chunks_exact(record::SIZE).map(|chunk| {
        let at = chunk.as_ptr() as usize;
        let bytes: &[u8; record::SIZE] = chunk.try_into().unwrap_or(&[0; record::SIZE]);
        let record = RawRecord::parse(bytes, at as u64).map_err(|e| (at, e))?;
        // SAFETY: a record with the right magic and version was emitted by the macro, whose
        // descriptor field points at the intrinsic's `Intrinsic` static.
        let intrinsic = unsafe { &*(record.desc as usize as *const Intrinsic) };
        Ok(Site { record, intrinsic })
    })
}
