//! A pv module, loaded with `dlopen` after the main program was patched (`tests/modules.rs`):
//! one intrinsic per binding, each an `extern "C"` function the test calls through `dlsym`, and
//! the tables export the main program's registry reads ([`pv_module_tables`]).
//!
//! Every body here reaches no runtime state — native and `asm` sequences, and Xen `call`
//! bodies that compute from their argument alone — because this module's copy of pv-runtime is
//! never initialised: README, "Modules". Native and Xen results differ by a constant per
//! binding, so a call shows which state its site is in.

use pv_macros::pv_intrinsic;

/// The Xen body of [`add_inline`]: `x + 0x100`.
extern "C" fn xen_add_inline(x: u64) -> u64 {
    x.wrapping_add(0x100)
}

/// The Xen body of [`add_direct`]: `x + 0x200`.
extern "C" fn xen_add_direct(x: u64) -> u64 {
    x.wrapping_add(0x200)
}

/// The Xen body of [`add_indirect`]: `x + 0x300`.
extern "C" fn xen_add_indirect(x: u64) -> u64 {
    x.wrapping_add(0x300)
}

/// The Xen body of [`add_call`]: `x + 0x400`.
extern "C" fn xen_add_call(x: u64) -> u64 {
    x.wrapping_add(0x400)
}

/// Option 1: the native `x + 1` in the site; under Xen a call of the stub.
#[pv_intrinsic(binding = inline_patch, reg = "rax", native = "add rax, 1", xen = call(xen_add_inline))]
fn add_inline(x: u64) -> u64;

/// Option 2: a call of the native `x + 2`, inlined by `apply(Native)`.
#[pv_intrinsic(binding = direct_branch, reg = "rax", native = "add rax, 2", xen = call(xen_add_direct))]
fn add_direct(x: u64) -> u64;

/// Option 3: a call through the slot of the native `x + 3`.
#[pv_intrinsic(binding = indirect_branch, reg = "rax", native = "add rax, 3", xen = call(xen_add_indirect))]
fn add_indirect(x: u64) -> u64;

/// Option 4: a C call through the slot of the native `x + 4`.
#[pv_intrinsic(binding = indirect_call, reg = "rax", native = "add rax, 4", xen = call(xen_add_call))]
fn add_call(x: u64) -> u64;

/// Option 1 with a Xen `asm` body (which x86_64 sites reach through its stub, as for `call`):
/// `x + 5` natively, `x + 0x500` under Xen.
#[pv_intrinsic(binding = inline_patch, reg = "rax", native = "add rax, 5", xen = asm("add rax, 0x500"))]
fn add_asm(x: u64) -> u64;

/// The tables of this module, which the main program's `pv_runtime::module::load` reads.
#[unsafe(no_mangle)]
pub extern "C" fn pv_module_tables() -> pv_runtime::module::Tables {
    pv_runtime::module::Tables::own()
}

/// `add_inline(x)`, computed by the body its site (or slot) holds now.
#[unsafe(no_mangle)]
pub extern "C" fn testmod_inline(x: u64) -> u64 {
    add_inline(x)
}

/// `add_direct(x)`, computed by the body its site (or slot) holds now.
#[unsafe(no_mangle)]
pub extern "C" fn testmod_direct(x: u64) -> u64 {
    add_direct(x)
}

/// `add_indirect(x)`, computed by the body its site (or slot) holds now.
#[unsafe(no_mangle)]
pub extern "C" fn testmod_indirect(x: u64) -> u64 {
    add_indirect(x)
}

/// `add_call(x)`, computed by the body its site (or slot) holds now.
#[unsafe(no_mangle)]
pub extern "C" fn testmod_call(x: u64) -> u64 {
    add_call(x)
}

/// `add_asm(x)`, computed by the body its site (or slot) holds now.
#[unsafe(no_mangle)]
pub extern "C" fn testmod_asm(x: u64) -> u64 {
    add_asm(x)
}
