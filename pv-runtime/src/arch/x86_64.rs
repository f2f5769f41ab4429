//! The x86_64 side of the engine: the forms it writes or expects (`call rel32`,
//! `call [rip + disp32]`, the nop padding of `pv_abi::x86_64::NOPS`), each encoder checking its
//! range rather than wrapping, and [`X86_64Codec`]: what a site holds in each state, and how an
//! [`Intrinsic`] descriptor is laid out.

use crate::engine::image::Image;
use crate::engine::{Buf, Codec, Descriptor, PlanError, Shape, Span};
use crate::ops::{Body, Contract, Intrinsic};
use crate::site::RawRecord;
use core::mem::offset_of;
pub use pv_abi::x86_64::{CALL_REL32_LEN, CALL_RIP_LEN, fill_nops};
use pv_abi::{Arch, Binding, BodyKind};

/// The displacement from the end of an instruction at `at` of length `len` to `target`, if it
/// fits a signed 32-bit field.
fn rel32(at: usize, len: usize, target: usize) -> Option<i32> {
    let next = at.wrapping_add(len) as i64;
    i32::try_from((target as i64).wrapping_sub(next)).ok()
}

/// `call rel32` (`e8 disp32`) at `at` to `target`; `None` if out of ±2 GiB.
pub fn call_rel32(at: usize, target: usize) -> Option<[u8; CALL_REL32_LEN]> {
    let d = rel32(at, CALL_REL32_LEN, target)?.to_le_bytes();
    Some([0xe8, d[0], d[1], d[2], d[3]])
}

/// `call qword ptr [rip + disp32]` (`ff 15 disp32`) at `at` through the pointer at `slot`.
pub fn call_rip(at: usize, slot: usize) -> Option<[u8; CALL_RIP_LEN]> {
    let d = rel32(at, CALL_RIP_LEN, slot)?.to_le_bytes();
    Some([0xff, 0x15, d[0], d[1], d[2], d[3]])
}

/// The x86_64 site codec.
pub struct X86_64Codec;

/// Offsets of a `&str`'s pointer and length: the language leaves their order open, so it is
/// read off a real one.
fn str_fields() -> (u64, u64) {
    let probe: &'static str = "pv";
    // SAFETY: a `&str` is two pointer-sized words, its address and its length.
    let words: [usize; 2] = unsafe { core::mem::transmute(probe) };
    if words[0] == probe.as_ptr() as usize {
        (0, 8)
    } else {
        (8, 0)
    }
}

impl Codec for X86_64Codec {
    const ARCH: Arch = Arch::X86_64;
    const DESCRIPTOR_SIZE: u64 = core::mem::size_of::<Intrinsic>() as u64;

    /// Reads an [`Intrinsic`] field by field through the image (never through a reference:
    /// a corrupt one would be undefined behaviour), pointers as the loader relocates them.
    fn descriptor<I: Image + ?Sized>(image: &I, at: u64) -> Result<Descriptor, PlanError> {
        let outside = PlanError::Outside(crate::site::Field::Descriptor);
        let b = image
            .read(at, Self::DESCRIPTOR_SIZE as usize)
            .ok_or(outside)?;
        let word = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or_default());
        let pointer = |o: usize| image.pointer(at + o as u64).ok_or(outside);
        if Arch::from_code(b[offset_of!(Intrinsic, arch)]) != Some(Arch::X86_64) {
            return Err(PlanError::Descriptor("architecture"));
        }
        let binding = Binding::from_number(b[offset_of!(Intrinsic, binding)])
            .ok_or(PlanError::Descriptor("binding"))?;
        let mut kinds = [BodyKind::Native; 3];
        let mut routines = [0; 3];
        for (i, (kind, routine)) in kinds.iter_mut().zip(&mut routines).enumerate() {
            let body = offset_of!(Intrinsic, backends) + i * core::mem::size_of::<Body>();
            *kind = BodyKind::from_code(b[body + offset_of!(Body, kind)])
                .ok_or(PlanError::Descriptor("body kind"))?;
            *routine = pointer(body + offset_of!(Body, routine))?;
        }
        let (name_ptr, name_len) = str_fields();
        let name = offset_of!(Intrinsic, name);
        let contract = offset_of!(Intrinsic, contract);
        Ok(Descriptor {
            at,
            name: Span::new(
                pointer(name + name_ptr as usize)?,
                word(name + name_len as usize),
            ),
            binding,
            contract: Some(Contract {
                uses: word(contract + offset_of!(Contract, uses)),
                defs: word(contract + offset_of!(Contract, defs)),
                clobbers: word(contract + offset_of!(Contract, clobbers)),
            }),
            native: pointer(offset_of!(Intrinsic, native))?,
            routines,
            slot: pointer(offset_of!(Intrinsic, slot))?,
            kinds,
            xen_body: None,
            fdesc: false,
        })
    }

    #[inline(always)]
    fn encode(
        r: &RawRecord,
        d: &Descriptor,
        native: &[u8],
        shape: Shape,
        out: &mut Buf,
    ) -> Result<(), PlanError> {
        if !r.binding.has_site() {
            return Err(PlanError::NoSite);
        }
        // The macro pads every site to the room the binding's table row gives.
        if r.len < pv_abi::x86_64::binding(r.binding).room() {
            return Err(PlanError::Disagrees("site length"));
        }
        let (at, len) = (r.site as usize, r.len);
        let mut call = |target: u64| {
            let c = call_rel32(at, target as usize).ok_or(PlanError::OutOfRange)?;
            out.set(&c, len, fill_nops)
        };
        match shape {
            Shape::Original => match r.binding {
                Binding::InlinePatch => out.set(native, len, fill_nops),
                Binding::DirectBranch => call(d.native),
                Binding::IndirectBranch => {
                    let c = call_rip(at, d.slot as usize).ok_or(PlanError::OutOfRange)?;
                    out.set(&c, len, fill_nops)
                }
                Binding::IndirectCall => Err(PlanError::NoSite),
            },
            Shape::Patched {
                inline: Some(body), ..
            } if body.len() <= len => out.set(body, len, fill_nops),
            Shape::Patched { routine, .. } => call(routine),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iced_x86::{Decoder, DecoderOptions, Mnemonic, OpKind};
    use std::{vec, vec::Vec};

    fn decode(bytes: &[u8], ip: u64) -> Vec<iced_x86::Instruction> {
        Decoder::with_ip(64, bytes, ip, DecoderOptions::NONE)
            .into_iter()
            .collect()
    }

    #[test]
    fn call_rel32_decodes_to_its_target() {
        for (at, target) in [
            (0x1000usize, 0x2000usize),
            (0x7fff_0000, 0x1000),
            (0x1000, 0x1005),
        ] {
            let bytes = call_rel32(at, target).expect("in range");
            let insns = decode(&bytes, at as u64);
            assert_eq!(insns.len(), 1);
            assert_eq!(insns[0].mnemonic(), Mnemonic::Call);
            assert_eq!(insns[0].near_branch_target(), target as u64);
            assert_eq!(insns[0].len(), CALL_REL32_LEN);
        }
    }

    #[test]
    fn call_rel32_refuses_far_targets() {
        assert_eq!(call_rel32(0x1000, 0x1_0000_1000), None);
        assert_eq!(call_rel32(0x1_0000_1000, 0x10), None);
    }

    #[test]
    fn call_rip_reads_the_slot() {
        let bytes = call_rip(0x40_0000, 0x40_2000).expect("in range");
        let insns = decode(&bytes, 0x40_0000);
        assert_eq!(insns.len(), 1);
        assert_eq!(insns[0].mnemonic(), Mnemonic::Call);
        assert_eq!(insns[0].op0_kind(), OpKind::Memory);
        assert!(insns[0].is_ip_rel_memory_operand());
        assert_eq!(insns[0].ip_rel_memory_address(), 0x40_2000);
    }

    #[test]
    fn nop_fill_is_only_nops_for_every_length() {
        for len in 1usize..=40 {
            let mut buf = vec![0u8; len];
            fill_nops(&mut buf);
            let insns = decode(&buf, 0);
            assert!(
                insns.iter().all(|i| i.mnemonic() == Mnemonic::Nop),
                "len {len}: {insns:?}"
            );
            assert_eq!(insns.iter().map(|i| i.len()).sum::<usize>(), len);
            assert_eq!(insns.len(), len.div_ceil(9), "fewest nops for {len}");
        }
    }
}
