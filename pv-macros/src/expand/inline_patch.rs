//! Option 1: the native sequence inline, padded with nops so that a `call rel32` fits.

use super::SiteAsm;
use crate::model::Intrinsic;

/// The native lines themselves; [`super::site`] pads them to the room a call needs.
pub fn site(intr: &Intrinsic) -> SiteAsm {
    SiteAsm {
        lines: super::routines::native_lines(intr),
        syms: quote::quote!(),
    }
}
