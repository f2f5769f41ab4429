//! Site records (layout in [`pv_abi::record`]): decoding from bytes, which tools share, and the
//! live view the engine walks.

use crate::engine::image::{Image, Section};
use crate::ops::Intrinsic;
use pv_abi::record::{self, offset};
use pv_abi::{Arch, Binding, BodyKind};

/// A field of a record or descriptor that names an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// The record itself.
    Record,
    /// The site's bytes.
    Site,
    /// The copy of the native body.
    Body,
    /// The descriptor.
    Descriptor,
    /// The ops slot.
    Slot,
    /// The intrinsic's name.
    Name,
    /// A copy of a Xen sequence.
    XenBody,
    /// A routine that sites call or a slot holds.
    Routine,
}

impl Field {
    /// What the field is, for messages.
    pub const fn name(self) -> &'static str {
        match self {
            Field::Record => "record",
            Field::Site => "site",
            Field::Body => "native body copy",
            Field::Descriptor => "descriptor",
            Field::Slot => "ops slot",
            Field::Name => "name",
            Field::XenBody => "Xen body copy",
            Field::Routine => "routine",
        }
    }
}

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
    /// The record, or an address it names, lies outside the image's ranges for it.
    Outside(Field),
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
            RecordError::Outside(field) => {
                write!(f, "the {} lies outside the image", field.name())
            }
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
    #[inline]
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

/// Every record of `image`, decoded, in section order; a record that cannot be used comes
/// back as an error with its address, never skipped. The one iteration over records that the
/// engine, the live view and the tools share.
pub fn records<I: Image + ?Sized>(
    image: &I,
) -> impl Iterator<Item = Result<RawRecord, (u64, RecordError)>> + '_ {
    let sites = image.section(Section::Sites);
    (0..sites.len / record::SIZE as u64)
        .map(move |i| record(image, sites.start + i * record::SIZE as u64))
}

/// The record at `at`.
#[inline]
pub fn record<I: Image + ?Sized>(image: &I, at: u64) -> Result<RawRecord, (u64, RecordError)> {
    let bytes: &[u8; record::SIZE] = image
        .read(at, record::SIZE)
        .and_then(|b| b.try_into().ok())
        .ok_or((at, RecordError::Outside(Field::Record)))?;
    RawRecord::parse(bytes, at).map_err(|e| (at, e))
}

/// A site of this process, with its intrinsic's descriptor.
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
        // A transition replaces pages, never unmaps them.
        // SAFETY: `sites` yields only sites in this binary's text, which stays mapped.
        unsafe { core::slice::from_raw_parts(self.addr() as *const u8, self.record.len) }
    }

    /// The copy of the native body the macro placed in `pv_repl`.
    pub fn native_body(&self) -> &'static [u8] {
        // SAFETY: `sites` checked that the copy lies in the read-only `pv_repl` section.
        unsafe { core::slice::from_raw_parts(self.record.repl as *const u8, self.record.repl_len) }
    }
}

/// Every site of this process: records decoded and their site, body copy and descriptor
/// checked against this binary's sections before anything is dereferenced.
#[cfg(feature = "std")]
pub fn sites() -> impl Iterator<Item = Result<Site, (u64, RecordError)>> {
    let image = crate::engine::live::Sections::this_binary();
    let sites = image.section(Section::Sites);
    (0..sites.len / record::SIZE as u64).map(move |i| {
        let r = record(&image, sites.start + i * record::SIZE as u64)?;
        let intrinsics = image.section(Section::Intrinsics);
        let size = core::mem::size_of::<Intrinsic>() as u64;
        let outside = |field| Err((r.at, RecordError::Outside(field)));
        if !intrinsics.contains(r.desc, size) || !(r.desc - intrinsics.start).is_multiple_of(size) {
            return outside(Field::Descriptor);
        }
        if !image
            .section(Section::Repl)
            .contains(r.repl, r.repl_len as u64)
        {
            return outside(Field::Body);
        }
        if !image.is_text(r.site, r.len) {
            return outside(Field::Site);
        }
        // `pv_intrinsics` holds only the `Intrinsic` statics the macro emits.
        // SAFETY: the descriptor field points at an element of `pv_intrinsics`, checked above.
        let intrinsic = unsafe { &*(r.desc as usize as *const Intrinsic) };
        Ok(Site {
            record: r,
            intrinsic,
        })
    })
}
