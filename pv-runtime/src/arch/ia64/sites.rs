//! The ia64 side of the engine: what a site holds in each state, and the descriptor blocks the
//! `.S` writer emits (layout in [`pv_abi::ia64::asm::desc`]; addresses absolute, ia64 images
//! being linked at a fixed address).
//!
//! - Bundle sites (option 1) get a body copied in when it fits, padded with nop bundles.
//! - Branch sites (option 2) get the body when it fits one bundle, else their `br.call` is
//!   retargeted (within ±16 MiB, or refused).
//! - Option 3 sites get the body when it fits, else stay indirect through their slot; in
//!   Linux's form the slot holds a function descriptor (the descriptor block's `FORM` byte says
//!   so, and must agree with the record's flag).

use super::codec::{self, Unit};
use crate::engine::image::Image;
use crate::engine::{Buf, Codec, Descriptor, PlanError, Shape, Span};
use crate::site::{Field, RawRecord};
use pv_abi::ia64::asm::desc;
use pv_abi::record::FLAG_IA64_LINUX_FORM;
use pv_abi::{Arch, Binding, BodyKind};

/// The ia64 site codec.
pub struct Ia64Codec;

/// Fills `pad` with nop bundles.
fn nop_bundles(pad: &mut [u8]) {
    for chunk in pad.chunks_exact_mut(16) {
        chunk.copy_from_slice(&codec::nop_bundle());
    }
}

/// `head` (whole bundles), then nop bundles up to `len`.
fn padded(out: &mut Buf, head: &[u8], len: usize) -> Result<(), PlanError> {
    if !head.len().is_multiple_of(16) || !len.is_multiple_of(16) {
        return Err(PlanError::BodyTooLong);
    }
    out.set(head, len, nop_bundles)
}

/// `bundles`, then nop bundles up to `len`.
fn of(out: &mut Buf, bundles: &[codec::Bundle], len: usize) -> Result<(), PlanError> {
    let mut head = [0u8; 16 * 5];
    let n = bundles.len() * 16;
    for (i, b) in bundles.iter().enumerate() {
        head[i * 16..i * 16 + 16].copy_from_slice(b);
    }
    padded(out, &head[..n], len)
}

/// Linux's `__PARAVIRT_BR` through `slot`, packed as `pv_abi::ia64::asm`'s template (and
/// arch/ia64/include/asm/paravirt_privop.h) packs it: templates, slot order and stops.
fn linux_stub(slot: u64) -> Result<[codec::Bundle; 5], PlanError> {
    use codec::template::{MI_I, MIB, MII, STOP};
    let nop_i = codec::nop_i(0);
    // `mov r16 = gp` and `mov gp = r16` are `adds rX = 0, rY` (A4), as GNU as encodes them.
    let mov = |to: u8, from: u8| codec::adds(to, 0, from).ok_or(PlanError::OutOfRange);
    // `adds r17 = 1f-1b, r17`: from the bundle `mov r17 = ip` reads to the one after the branch.
    let back = codec::adds(17, 3 * 16, 17).ok_or(PlanError::OutOfRange)?;
    let entry = codec::ld8_inc(3, 2, 8).ok_or(PlanError::OutOfRange)?;
    Ok([
        codec::alone_long(codec::movl(2, slot)),
        codec::pack(
            MII | STOP,
            [codec::ld8(2, 2), codec::mov_from_ip(17), mov(16, 1)?],
        ),
        codec::pack(MI_I, [entry, back, codec::mov_to_br(7, 3)]),
        codec::pack(
            MIB,
            [
                codec::ld8(1, 2),
                codec::mov_to_br(6, 17),
                codec::br_cond_indirect(7),
            ],
        ),
        codec::pack(MII | STOP, [mov(1, 16)?, nop_i, nop_i]),
    ])
}

/// The bytes of an option 1-3 site as assembled.
fn original(r: &RawRecord, d: &Descriptor, native: &[u8], out: &mut Buf) -> Result<(), PlanError> {
    let len = r.len;
    match r.binding {
        Binding::InlinePatch => padded(out, native, len),
        Binding::DirectBranch => {
            let call = codec::br_call(r.site, 0, d.native).ok_or(PlanError::OutOfRange)?;
            of(out, &[codec::alone(Unit::B, call)], len)
        }
        Binding::IndirectBranch if d.fdesc != (r.flags & FLAG_IA64_LINUX_FORM != 0) => {
            Err(PlanError::Disagrees("form"))
        }
        Binding::IndirectBranch if d.fdesc => of(out, &linux_stub(d.slot)?, len),
        Binding::IndirectBranch => {
            let bundles = [
                codec::alone_long(codec::movl(2, d.slot)),
                codec::alone(Unit::M, codec::ld8(2, 2)),
                codec::alone(Unit::I, codec::mov_to_br(1, 2)),
                codec::alone(Unit::B, codec::br_call_indirect(0, 1)),
            ];
            of(out, &bundles, len)
        }
        Binding::IndirectCall => Err(PlanError::NoSite),
    }
}

impl Codec for Ia64Codec {
    const ARCH: Arch = Arch::Ia64;
    const DESCRIPTOR_SIZE: u64 = desc::SIZE as u64;

    fn descriptor<I: Image + ?Sized>(image: &I, at: u64) -> Result<Descriptor, PlanError> {
        let b = image
            .read(at, desc::SIZE)
            .ok_or(PlanError::Outside(Field::Descriptor))?;
        let word = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or_default());
        let half = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap_or_default());
        let binding =
            Binding::from_number(b[desc::BINDING]).ok_or(PlanError::Descriptor("binding"))?;
        let xen_kind = u8::try_from(half(desc::XEN_KIND))
            .ok()
            .and_then(BodyKind::from_code)
            .ok_or(PlanError::Descriptor("body kind"))?;
        // The name is NUL-terminated, at most 32 bytes.
        let name_at = word(desc::NAME);
        let name_len = (1..=32)
            .rev()
            .find_map(|n| image.read(name_at, n))
            .map(|bytes| bytes.iter().position(|c| *c == 0).unwrap_or(bytes.len()))
            .ok_or(PlanError::Outside(Field::Name))?;
        let xen_body = match xen_kind {
            BodyKind::Asm | BodyKind::Hyperprivop => {
                Some(Span::new(word(desc::XEN_BODY), half(desc::XEN_LEN).into()))
            }
            _ => None,
        };
        Ok(Descriptor {
            at,
            name: Span::new(name_at, name_len as u64),
            binding,
            contract: None,
            native: word(desc::NATIVE),
            // KVM and Hyper-V have no ia64 ABI: under them an ia64 intrinsic runs natively.
            routines: [word(desc::XEN), word(desc::NATIVE), word(desc::NATIVE)],
            slot: word(desc::SLOT),
            kinds: [xen_kind, BodyKind::Native, BodyKind::Native],
            xen_body,
            fdesc: match b[desc::FORM] {
                0 => false,
                1 if binding == Binding::IndirectBranch => true,
                _ => return Err(PlanError::Descriptor("form")),
            },
        })
    }

    fn encode(
        r: &RawRecord,
        d: &Descriptor,
        native: &[u8],
        shape: Shape,
        out: &mut Buf,
    ) -> Result<(), PlanError> {
        let Shape::Patched { routine, inline } = shape else {
            return original(r, d, native, out);
        };
        match (inline, r.binding) {
            (_, Binding::IndirectCall) => Err(PlanError::NoSite),
            (Some(body), _) if body.len() <= r.len => padded(out, body, r.len),
            (_, Binding::DirectBranch) => {
                let call = codec::br_call(r.site, 0, routine).ok_or(PlanError::OutOfRange)?;
                of(out, &[codec::alone(Unit::B, call)], r.len)
            }
            (_, Binding::IndirectBranch) => original(r, d, native, out),
            (_, Binding::InlinePatch) => Err(PlanError::BodyTooLong),
        }
    }
}
