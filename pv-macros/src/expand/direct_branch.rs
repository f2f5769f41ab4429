//! Option 2: `call rel32` to the out-of-line native routine (retargeted by the engine).

use super::{Names, SiteAsm};
use quote::quote;

pub fn site(n: &Names) -> SiteAsm {
    let native = &n.native;
    SiteAsm {
        lines: vec!["call {native}".into()],
        syms: quote!(native = sym #native,),
    }
}
