//! pv's runtime core, `no_std`: the records `#[pv_intrinsic]` emits, the descriptors and ops
//! slots, the one patch engine (plan, verify, stage, commit, report) with a site codec per
//! architecture (x86_64, ia64) and images (this process, a kernel's own text, a linked file),
//! the Xen hypercall ABI and the guest side of Xen's PV idioms, and the Hyper-V hypercall page.
//!
//! With feature `std`, [`writer::RemapWriter`] patches a running process without ever mapping
//! text writable and executable; with feature `hv`, module `hv` is an in-process test hypervisor
//! that speaks the x86_64 ABIs of Xen, KVM and Hyper-V.
#![warn(missing_docs)]
#![no_std]

#[cfg(any(feature = "std", test))]
extern crate std;

pub mod arch;
pub mod detect;
pub mod engine;
pub mod hyperv;
pub mod module;
pub mod ops;
pub mod probe;
pub mod report;
pub mod site;
pub mod store;
pub mod writer;
pub mod xen;

#[cfg(feature = "hv")]
pub mod hv;

pub use detect::{detect, detect_with};
pub use engine::live::{Live, Sections};
pub use engine::{Backend, Guest, Image, Patcher, State, Target};
pub use ops::{Body, Contract, Intrinsic, Routine, Slot, intrinsics};
pub use pv_abi as abi;
pub use pv_abi::{Arch, Binding, BodyKind, Hypervisor, Vendor};
pub use report::Report;
pub use site::Site;
#[cfg(feature = "std")]
pub use site::sites;

/// The binding this build forces on every x86_64 intrinsic (`RUSTFLAGS='--cfg
/// pv_binding="indirect_call"'`), or `None` when each declaration's own binding holds. The
/// macro selects each intrinsic's expansion by the same `cfg`, and RUSTFLAGS reach every crate
/// of a build alike, so this is what the descriptors say; reports print it.
pub const POLICY: Option<Binding> = if cfg!(pv_binding = "inline_patch") {
    Some(Binding::InlinePatch)
} else if cfg!(pv_binding = "direct_branch") {
    Some(Binding::DirectBranch)
} else if cfg!(pv_binding = "indirect_branch") {
    Some(Binding::IndirectBranch)
} else if cfg!(pv_binding = "indirect_call") {
    Some(Binding::IndirectCall)
} else {
    None
};

/// Items the generated code uses; not a public API.
#[doc(hidden)]
pub mod __private {
    /// A value that crosses a site in one 64-bit register.
    pub trait Reg: Copy {
        fn to_reg(self) -> u64;
        fn from_reg(r: u64) -> Self;
    }

    macro_rules! reg_int {
        ($($t:ty),*) => {$(
            impl Reg for $t {
                #[inline(always)]
                fn to_reg(self) -> u64 { self as u64 }
                #[inline(always)]
                fn from_reg(r: u64) -> Self { r as $t }
            }
        )*};
    }
    reg_int!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

    impl Reg for bool {
        #[inline(always)]
        fn to_reg(self) -> u64 {
            self as u64
        }
        #[inline(always)]
        fn from_reg(r: u64) -> Self {
            r & 1 != 0
        }
    }

    /// A `char` crosses as its `u32` scalar value (the low 32 bits, as a `u32` result). A sequence can put any bits in a register, so
    /// the way back is checked: a result that is no Unicode scalar value is a broken contract
    /// (the sequence's, not the caller's), and panics rather than making an invalid `char`.
    impl Reg for char {
        #[inline(always)]
        fn to_reg(self) -> u64 {
            u64::from(u32::from(self))
        }
        #[inline(always)]
        fn from_reg(r: u64) -> Self {
            char::from_u32(r as u32).expect("a `char` result register holds a Unicode scalar value")
        }
    }

    impl<T> Reg for *const T {
        #[inline(always)]
        fn to_reg(self) -> u64 {
            self as usize as u64
        }
        #[inline(always)]
        fn from_reg(r: u64) -> Self {
            r as usize as *const T
        }
    }

    impl<T> Reg for *mut T {
        #[inline(always)]
        fn to_reg(self) -> u64 {
            self as usize as u64
        }
        #[inline(always)]
        fn from_reg(r: u64) -> Self {
            r as usize as *mut T
        }
    }
}
