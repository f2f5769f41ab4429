//! Descriptors and ops-table slots: one of each per declared intrinsic, placed by the macro.
//! Descriptors sit in the `pv_intrinsics` section, so the engine can find every intrinsic —
//! including option 4 ones, which have no site — without a registry.

use core::cell::UnsafeCell;
use pv_abi::{Arch, Binding, BodyKind, Hypervisor};

/// An out-of-line routine. Options 1-3 follow the declared register contract; option 4 the C
/// ABI with the declared signature. Either way the type only names an address.
pub type Routine = unsafe extern "C" fn();

/// Registers as masks (`pv_abi::x86_64` bits): what a site reads, defines and may clobber.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Contract {
    /// Registers the site reads: its argument registers.
    pub uses: u64,
    /// Registers the site writes as its result (`reg`; rax for option 4).
    pub defs: u64,
    /// Registers the site may clobber, flags included.
    pub clobbers: u64,
}

/// One intrinsic: everything the engine and tools need to know of a declaration. `repr(C)`,
/// so that a tool reading a binary finds the routine fields at `offset_of!` offsets.
#[repr(C)]
pub struct Intrinsic {
    /// The declared function's name.
    pub name: &'static str,
    /// `module_path!()` of the declaration.
    pub module: &'static str,
    /// Architecture of the declaration.
    pub arch: Arch,
    /// How call sites reach the intrinsic.
    pub binding: Binding,
    /// The contract callers see (the C ABI for option 4).
    pub contract: Contract,
    /// The native routine (option 4: its C-ABI adapter).
    pub native: Routine,
    /// How each hypervisor implements it, by [`Hypervisor`] index: Xen, KVM, Hyper-V.
    pub backends: [Body; 3],
    /// The self-test probe (see [`crate::probe`]).
    pub probe: Routine,
    /// The ops-table slot.
    pub slot: &'static Slot,
}

/// How one backend implements an intrinsic.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Body {
    /// What the body is.
    pub kind: BodyKind,
    /// Its routine (option 4: its C-ABI adapter); the native routine when it runs that.
    pub routine: Routine,
}

impl Intrinsic {
    /// How `hv` implements this intrinsic.
    pub fn backend(&self, hv: Hypervisor) -> &Body {
        &self.backends[hv.index()]
    }
}

/// An ops-table slot: the routine that option 3 sites call through and option 4 calls.
#[repr(transparent)]
pub struct Slot(UnsafeCell<Routine>);

// SAFETY: slots are written only by the patch engine, one transition at a time, whose caller
// promises that nothing calls through a slot while it changes; an aligned 8-byte store is
// atomic on x86_64, so a reader sees either routine, both valid.
unsafe impl Sync for Slot {}

impl Slot {
    /// A slot holding `routine`; the macro starts every slot at the native routine.
    pub const fn new(routine: Routine) -> Self {
        Slot(UnsafeCell::new(routine))
    }

    /// The routine currently installed.
    #[inline(always)]
    pub fn get(&self) -> Routine {
        // SAFETY: the cell always holds a valid routine; the read is a plain aligned load.
        unsafe { core::ptr::read_volatile(self.0.get()) }
    }

    /// The slot's address, as `call [rip + slot]` encodes it.
    pub fn addr(&self) -> usize {
        self.0.get() as usize
    }

    /// Installs the routine at address `routine`.
    ///
    /// # Safety
    /// As for [`Slot::set`]; `routine` is the address of such a routine.
    pub(crate) unsafe fn set_raw(&self, routine: u64) {
        // SAFETY: per the contract above; a routine address is a valid value of the cell.
        unsafe { core::ptr::write_volatile(self.0.get().cast::<u64>(), routine) }
    }

    /// Installs `routine`.
    ///
    /// # Safety
    /// `routine` must implement this slot's intrinsic under its binding's convention, and no
    /// other thread may be calling through the slot.
    pub unsafe fn set(&self, routine: Routine) {
        // SAFETY: per the contract above.
        unsafe { core::ptr::write_volatile(self.0.get(), routine) }
    }
}

unsafe extern "Rust" {
    #[link_name = "__start_pv_intrinsics"]
    static START: [Intrinsic; 0];
    #[link_name = "__stop_pv_intrinsics"]
    static STOP: [Intrinsic; 0];
}

/// Keeps the section, and so its bounds, defined in a binary without intrinsics.
#[used]
#[unsafe(link_section = "pv_intrinsics")]
static mut ANCHOR: [Intrinsic; 0] = [];

/// Every intrinsic linked into this binary.
pub fn intrinsics() -> &'static [Intrinsic] {
    // Each is an `Intrinsic`, so equally sized and aligned.
    // SAFETY: the linker places every `pv_intrinsics` static contiguously between the bounds.
    unsafe {
        let start = (&raw const START).cast::<Intrinsic>();
        let stop = (&raw const STOP).cast::<Intrinsic>();
        core::slice::from_raw_parts(start, stop.offset_from(start) as usize)
    }
}

/// The intrinsic named `name`, if exactly one is linked.
pub fn find(name: &str) -> Option<&'static Intrinsic> {
    let mut found = intrinsics().iter().filter(|i| i.name == name);
    let first = found.next()?;
    found.next().is_none().then_some(first)
}
