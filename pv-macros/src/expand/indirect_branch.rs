//! Option 3: the 6-byte `call [rip + slot]` through the ops-table slot, correct unpatched.

use super::{Names, SiteAsm};
use quote::quote;

pub fn site(n: &Names) -> SiteAsm {
    let slot = &n.slot;
    SiteAsm {
        lines: vec!["call qword ptr [rip + {slot}]".into()],
        syms: quote!(slot = sym #slot,),
    }
}
