//! The architectures pv knows and the four binding strategies of the ia64 pv_ops RFC.

/// An instruction-set architecture with a pv register ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Arch {
    /// x86_64: expanded, run and patched for real.
    X86_64 = 1,
    /// ia64 (Itanium): the seed's architecture; parsed into the model, not yet expanded.
    Ia64 = 2,
}

impl Arch {
    /// Every architecture, in record-code order.
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Ia64];

    /// The name used in `arch = ...` and in reports.
    pub const fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Ia64 => "ia64",
        }
    }

    /// Looks an architecture up by its `arch = ...` name.
    pub fn from_name(name: &str) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Decodes the arch byte of a site record.
    #[inline]
    pub const fn from_code(code: u8) -> Option<Arch> {
        match code {
            1 => Some(Arch::X86_64),
            2 => Some(Arch::Ia64),
            _ => None,
        }
    }
}

/// How a call site reaches the intrinsic: the four options of the ia64 pv_ops RFC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Binding {
    /// Option 1: the native instruction inline, padded so a call fits; patched in place.
    InlinePatch = 1,
    /// Option 2: a direct call to an out-of-line native routine; the call is retargeted.
    DirectBranch = 2,
    /// Option 3: an indirect call through the intrinsic's ops-table slot; correct unpatched.
    IndirectBranch = 3,
    /// Option 4: an ordinary C-ABI call through the slot; no site, only the slot switches.
    IndirectCall = 4,
}

impl Binding {
    /// Every binding, in RFC order.
    pub const ALL: [Binding; 4] = [
        Binding::InlinePatch,
        Binding::DirectBranch,
        Binding::IndirectBranch,
        Binding::IndirectCall,
    ];

    /// The name used in `binding = ...`.
    pub const fn name(self) -> &'static str {
        match self {
            Binding::InlinePatch => "inline_patch",
            Binding::DirectBranch => "direct_branch",
            Binding::IndirectBranch => "indirect_branch",
            Binding::IndirectCall => "indirect_call",
        }
    }

    /// The option number in the RFC (`binding = 1` ... `binding = 4`).
    pub const fn rfc_number(self) -> u8 {
        self as u8
    }

    /// Looks a binding up by name.
    pub fn from_name(name: &str) -> Option<Binding> {
        Binding::ALL.into_iter().find(|b| b.name() == name)
    }

    /// Looks a binding up by RFC option number; also decodes the record byte.
    #[inline]
    pub const fn from_number(n: u8) -> Option<Binding> {
        match n {
            1 => Some(Binding::InlinePatch),
            2 => Some(Binding::DirectBranch),
            3 => Some(Binding::IndirectBranch),
            4 => Some(Binding::IndirectCall),
            _ => None,
        }
    }

    /// Whether call sites of this binding are recorded and patched.
    pub const fn has_site(self) -> bool {
        !matches!(self, Binding::IndirectCall)
    }

    /// Whether routines reached by this binding follow the declared register contract
    /// (`true`) or the platform C ABI (`false`, option 4).
    pub const fn uses_contract(self) -> bool {
        self.has_site()
    }
}

/// What a binding's call-site sequence costs on ia64: the registers its own sequence writes
/// (and why) and the ones pv adds to every site's clobbers. x86_64's rows are
/// [`crate::x86_64::BindingRow`]s: no binding there writes a register of its own (its stubs
/// save what the contract preserves), so they say instead what a site holds.
#[derive(Clone, Copy, Debug)]
pub struct BindingAbi {
    /// The binding these properties describe.
    pub binding: Binding,
    /// Registers the binding's own sequence writes, which the declaration must list in
    /// `clobber` (so the caller sees them).
    pub own_clobbers: &'static [&'static str],
    /// The instruction that writes [`Self::own_clobbers`], for error messages.
    pub own_reason: &'static str,
    /// Registers every site of the binding clobbers without being declared.
    pub implicit_clobbers: &'static [&'static str],
}
