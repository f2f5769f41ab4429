//! What an intrinsic's body is under one backend: one `#[repr(u8)]` code with one meaning on
//! every architecture, carried by site records (flag bits), x86_64 descriptors and ia64
//! descriptor blocks alike. Each backend of a declaration has one; the engine inlines a body
//! only when it is a sequence *and* the image holds a copy of it.

/// How a backend implements an intrinsic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum BodyKind {
    /// The native sequence runs unchanged (the hypervisor emulates it if it traps).
    Native = 0,
    /// Nothing: sites become nops.
    Nop = 1,
    /// A replacement instruction sequence under the same contract.
    Asm = 2,
    /// One instruction that traps into the hypervisor, which emulates it with its operands in
    /// the contract's registers (ia64 hyperprivops: `break.m nr`); a sequence like [`Asm`].
    ///
    /// [`Asm`]: BodyKind::Asm
    Hyperprivop = 3,
    /// A routine that makes a hypercall; never copied into a site.
    Hypercall = 4,
    /// A routine that calls a function of the kernel's; never copied into a site.
    Call = 5,
}

impl BodyKind {
    /// Every kind, in code order.
    pub const ALL: [BodyKind; 6] = [
        BodyKind::Native,
        BodyKind::Nop,
        BodyKind::Asm,
        BodyKind::Hyperprivop,
        BodyKind::Hypercall,
        BodyKind::Call,
    ];

    /// Decodes a kind code; `None` for a code no kind has.
    #[inline]
    pub const fn from_code(code: u8) -> Option<BodyKind> {
        match code {
            0 => Some(BodyKind::Native),
            1 => Some(BodyKind::Nop),
            2 => Some(BodyKind::Asm),
            3 => Some(BodyKind::Hyperprivop),
            4 => Some(BodyKind::Hypercall),
            5 => Some(BodyKind::Call),
            _ => None,
        }
    }

    /// Whether the body is an instruction sequence that can be placed in a site (if it fits
    /// and the image holds its bytes), rather than a routine that must be called.
    pub const fn is_sequence(self) -> bool {
        matches!(
            self,
            BodyKind::Native | BodyKind::Nop | BodyKind::Asm | BodyKind::Hyperprivop
        )
    }

    /// The name reports and listings use.
    pub const fn name(self) -> &'static str {
        match self {
            BodyKind::Native => "native",
            BodyKind::Nop => "nop",
            BodyKind::Asm => "asm",
            BodyKind::Hyperprivop => "hyperprivop",
            BodyKind::Hypercall => "hypercall",
            BodyKind::Call => "call",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::BodyKind;

    #[test]
    fn codes_round_trip_and_nothing_else_decodes() {
        for k in BodyKind::ALL {
            assert_eq!(BodyKind::from_code(k as u8), Some(k));
        }
        assert!((BodyKind::ALL.len() as u8..=u8::MAX).all(|c| BodyKind::from_code(c).is_none()));
    }
}
