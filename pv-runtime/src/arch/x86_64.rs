//! The x86_64 forms the engine writes or expects: `call rel32`, `call [rip + disp32]` and the
//! nop padding of `pv_abi::x86_64::NOPS`. Each encoder checks its range and says so rather than
//! wrap.

pub use pv_abi::x86_64::{CALL_REL32_LEN, CALL_RIP_LEN, fill_nops};

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
