//! ia64: the declarations linked into this binary, as data (the catalogue writer turns them
//! into one `.S` file with the same templates the macro used), the bundle [`codec`], and the
//! engine's site codec for linked ia64 images ([`Ia64Codec`]).

pub mod codec;
mod sites;

pub use sites::Ia64Codec;

pub use pv_abi::ia64::asm::{Decl, Form, XenBody};

unsafe extern "Rust" {
    #[link_name = "__start_pv_ia64_decls"]
    static START: [Decl<'static>; 0];
    #[link_name = "__stop_pv_ia64_decls"]
    static STOP: [Decl<'static>; 0];
}

/// Keeps the section, and so its bounds, defined in a binary without ia64 declarations.
#[used]
#[unsafe(link_section = "pv_ia64_decls")]
static mut ANCHOR: [Decl<'static>; 0] = [];

/// Every ia64 declaration linked into this binary.
pub fn decls() -> &'static [Decl<'static>] {
    // SAFETY: every `pv_ia64_decls` static is a `Decl`, placed contiguously between the bounds.
    unsafe {
        let start = (&raw const START).cast::<Decl<'static>>();
        let stop = (&raw const STOP).cast::<Decl<'static>>();
        core::slice::from_raw_parts(start, stop.offset_from(start) as usize)
    }
}
