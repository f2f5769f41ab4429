// User attributes stay on the generated function; `unsafe` is the user's choice.
#![deny(missing_docs)]
//! Crate docs.
use pv_macros::pv_intrinsic;

/// Documented intrinsic.
#[pv_intrinsic(reg = "rax", clobber = [rdx], native = "rdtsc; shl rdx, 32; or rax, rdx", xen = native)]
#[must_use]
pub unsafe fn ticks() -> u64;

fn main() {
    assert!(unsafe { ticks() } > 0);
}
