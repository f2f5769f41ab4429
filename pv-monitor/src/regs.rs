//! The guest's registers as the signal frame holds them, by iced-x86 register.

use iced_x86::Register;

/// `gregs` index of a full 64-bit general register.
fn index(full: Register) -> Option<usize> {
    Some(match full {
        Register::RAX => libc::REG_RAX,
        Register::RCX => libc::REG_RCX,
        Register::RDX => libc::REG_RDX,
        Register::RBX => libc::REG_RBX,
        Register::RSP => libc::REG_RSP,
        Register::RBP => libc::REG_RBP,
        Register::RSI => libc::REG_RSI,
        Register::RDI => libc::REG_RDI,
        Register::R8 => libc::REG_R8,
        Register::R9 => libc::REG_R9,
        Register::R10 => libc::REG_R10,
        Register::R11 => libc::REG_R11,
        Register::R12 => libc::REG_R12,
        Register::R13 => libc::REG_R13,
        Register::R14 => libc::REG_R14,
        Register::R15 => libc::REG_R15,
        _ => return None,
    } as usize)
}

/// The signal frame's general registers.
pub struct Regs<'a>(pub &'a mut [libc::greg_t; 23]);

impl Regs<'_> {
    /// The value of `r` (any width).
    pub fn get(&self, r: Register) -> Option<u64> {
        let full = self.0[index(r.full_register())?] as u64;
        Some(match r.size() {
            8 => full,
            4 => full & 0xffff_ffff,
            2 => full & 0xffff,
            _ if r.is_gpr8()
                && matches!(r, Register::AH | Register::CH | Register::DH | Register::BH) =>
            {
                full >> 8 & 0xff
            }
            _ => full & 0xff,
        })
    }

    /// Writes `r` as the CPU would: 32-bit writes zero-extend, 8 and 16-bit ones merge.
    pub fn set(&mut self, r: Register, value: u64) -> Option<()> {
        let i = index(r.full_register())?;
        let old = self.0[i] as u64;
        let new = match r.size() {
            8 => value,
            4 => value & 0xffff_ffff,
            2 => old & !0xffff | value & 0xffff,
            _ => old & !0xff | value & 0xff,
        };
        self.0[i] = new as libc::greg_t;
        Some(())
    }

    /// `edx:eax`.
    pub fn edx_eax(&self) -> u64 {
        (self.0[libc::REG_RDX as usize] as u64) << 32
            | (self.0[libc::REG_RAX as usize] as u64 & 0xffff_ffff)
    }

    /// Sets `edx:eax` (zero-extending both halves, as `rdmsr` and `rdtsc` do).
    pub fn set_edx_eax(&mut self, v: u64) {
        self.0[libc::REG_RAX as usize] = (v & 0xffff_ffff) as libc::greg_t;
        self.0[libc::REG_RDX as usize] = (v >> 32) as libc::greg_t;
    }

    /// A 64-bit register by `gregs` index.
    pub fn raw(&self, index: libc::c_int) -> u64 {
        self.0[index as usize] as u64
    }

    /// Sets a 64-bit register by `gregs` index.
    pub fn set_raw(&mut self, index: libc::c_int, v: u64) {
        self.0[index as usize] = v as libc::greg_t;
    }

    /// The effective address of `insn`'s memory operand.
    pub fn address(&self, insn: &iced_x86::Instruction) -> Option<u64> {
        let base = match insn.memory_base() {
            Register::RIP => return Some(insn.ip_rel_memory_address()),
            Register::None => 0,
            r => self.get(r)?,
        };
        let index = match insn.memory_index() {
            Register::None => 0,
            r => self.get(r)?.wrapping_mul(insn.memory_index_scale() as u64),
        };
        Some(
            base.wrapping_add(index)
                .wrapping_add(insn.memory_displacement64()),
        )
    }
}
