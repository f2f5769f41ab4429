//! `#[pv_intrinsic]`: one annotated function declaration becomes the native inline asm, a
//! patch-site record, an ops-table slot, the out-of-line routines and the Xen stub.
//!
//! The data flows one way: `parse` turns tokens into the `model`, `check` validates it against
//! the architecture's ABI table (all errors at once, each at its token), and `expand` writes
//! one binding's code. On error, `expand::fallback` keeps the declared function so the rest of
//! the crate still type-checks and the user sees only the real problems.
//!
//! # Depend
//!
//! A crate that declares intrinsics depends on this macro and on `pv-runtime`, whose items the
//! expansion names (its `std` feature adds the userland text writer; a kernel leaves it off):
//!
//! ```toml
//! [dependencies]
//! pv-macros = { path = "pv/pv-macros" }
//! pv-runtime = { path = "pv/pv-runtime" }
//! ```
//!
//! # Declare
//!
//! An intrinsic is a function declaration without a body. The attribute says which register
//! carries argument 0 and the result (`reg`), what else the sequence may change (`clobber`;
//! flags always), the native sequence, and what Xen does instead. Further arguments take the
//! pv argument order (x86_64: rdi, rsi, rdx, rcx, r8, r9; ia64: r9, r10, r11, r14) unless
//! `#[pv(reg = "...")]` names their register.
//!
//! ```
//! use pv_macros::pv_intrinsic;
//!
//! #[pv_intrinsic(reg = "rax", clobber = [rdx], native = "rdtsc; shl rdx, 32; or rax, rdx", xen = native)]
//! /// The time-stamp counter.
//! fn rdtsc() -> u64;
//!
//! let (a, b) = (rdtsc(), rdtsc());
//! assert!(b >= a);
//! ```
//!
//! # Choose a binding
//!
//! `binding` picks one of the ia64 pv_ops RFC's four options, by name or number; nothing else
//! in the declaration changes. Option 1 (the default) puts the native sequence inline, padded
//! so a call fits; option 2 calls an out-of-line native routine; option 3 calls through the
//! intrinsic's ops slot; option 4 is a plain C call through the slot, with no site.
//!
//! ```
//! use pv_macros::pv_intrinsic;
//!
//! #[pv_intrinsic(binding = inline_patch, reg = "rax", native = "lea rax, [rax + rdi]", xen = native)]
//! fn add1(a: u64, b: u64) -> u64;
//! #[pv_intrinsic(binding = direct_branch, reg = "rax", native = "lea rax, [rax + rdi]", xen = native)]
//! fn add2(a: u64, b: u64) -> u64;
//! #[pv_intrinsic(binding = indirect_branch, reg = "rax", native = "lea rax, [rax + rdi]", xen = native)]
//! fn add3(a: u64, b: u64) -> u64;
//! #[pv_intrinsic(binding = 4, reg = "rax", native = "lea rax, [rax + rdi]", xen = native)]
//! fn add4(a: u64, b: u64) -> u64;
//!
//! assert_eq!([add1(40, 2), add2(40, 2), add3(40, 2), add4(40, 2)], [42; 4]);
//! ```
//!
//! # Write a Xen body
//!
//! `xen = native` keeps the native sequence (Xen runs it); `xen = emulated` keeps a privileged
//! one that Xen traps and emulates, a claim made on purpose, since Xen PV runs the kernel
//! deprivileged and `native` over a privileged sequence is an error; `xen = nop` makes sites
//! nops (only for an intrinsic without a result); `xen = asm("...")` replaces the sequence under the same contract; `xen =
//! hypercall(name, args...)` calls through the hypercall page (name and argument count are
//! checked against Xen's table; arguments are parameter names or integers); `xen = call(path)`
//! calls an `extern "C"` function of the declared signature through a callee-save thunk; on
//! ia64, `xen = hyperprivop(name)` is one `break`.
//!
//! ```
//! use pv_macros::pv_intrinsic;
//!
//! extern "C" fn xen_double(x: u64) -> u64 {
//!     x * 2
//! }
//!
//! #[pv_intrinsic(reg = "rax", native = "add rax, rax", xen = call(xen_double))]
//! fn double(x: u64) -> u64;
//!
//! #[pv_intrinsic(binding = direct_branch, arch = x86_64, native = "sti; hlt", xen = hypercall(sched_op, 1, 0))]
//! /// Enables interrupts and waits. Xen PV: `sched_op(SCHEDOP_block)`.
//! unsafe fn safe_halt();
//!
//! assert_eq!(double(21), 42);
//! ```
//!
//! Sequences are Intel syntax; local labels start at 2 (LLVM reads `0b` and `1b` as binary
//! numbers), and Xen's emulated `cpuid` is written `ud2; .ascii "xen"; cpuid`.
//!
//! # A backend of your own, without naked asm
//!
//! A `pv_runtime::Backend` returns a routine per intrinsic, which must keep the intrinsic's
//! contract: for options 1-3 a register contract, which takes naked asm to honour. When all
//! the backend does is call a Rust function, it needs none: name the function in the
//! declaration as a body (`kvm = call(path)`, say), and the macro writes the callee-save
//! thunk; or bind the intrinsic as option 4 (`indirect_call`), whose slot is called as a C
//! function, and return an `extern "C" fn` of the declared signature.
//!
//! # Patch at boot
//!
//! The records of every site land in the `pv_sites` section. At boot a kernel runs
//! `pv_runtime::Patcher::apply` for the machine it finds, over its own image
//! (`pv_runtime::Sections::new` with its text and data ranges) and its own `TextWriter`; a
//! userland process uses `Live::new(RemapWriter::new())`, which never maps text writable and
//! executable. Patching is `unsafe`: the caller promises that no other thread runs a site
//! meanwhile. A site that does not hold the bytes of a known state is refused and named in
//! the report; a transition commits whole or leaves every byte as it was.
//!
//! ```
//! use pv_macros::pv_intrinsic;
//! use pv_runtime::writer::RemapWriter;
//! use pv_runtime::{Live, Patcher, Target};
//!
//! #[pv_intrinsic(binding = indirect_branch, reg = "rax", clobber = [rdx], native = "rdtsc; shl rdx, 32; or rax, rdx", xen = native)]
//! fn rdtsc() -> u64;
//!
//! rdtsc();
//! let mut patcher = Patcher::new();
//! let mut image = Live::new(RemapWriter::new());
//! // SAFETY: one thread, and no site runs while the engine patches.
//! let report = unsafe { patcher.apply(&mut image, Target::Native) }.unwrap();
//! assert_eq!(report.refused_total, 0);
//! assert!(rdtsc() > 0); // a direct call of the native routine now, not through the slot
//! // SAFETY: as above.
//! unsafe { patcher.revert(&mut image) }.unwrap();
//! ```
//!
//! # Review
//!
//! `cargo run -p pv-sites -- FILE` lists every site of a built binary with its disassembly and
//! what Native and Xen would write; `pv-macros/snapshots/` holds the expansion of one
//! declaration per binding and architecture; `RUSTC_BOOTSTRAP=1 cargo rustc --lib --
//! -Zunpretty=expanded` (or `cargo expand`) shows a crate's expansion.

mod check;
mod context;
mod did_you_mean;
mod expand;
mod messages;
mod model;
mod parse;

use proc_macro::TokenStream;

/// Declares a paravirtual intrinsic: see the crate documentation for the syntax, and the
/// README's rule table for every compile-time check.
#[proc_macro_attribute]
pub fn pv_intrinsic(args: TokenStream, item: TokenStream) -> TokenStream {
    let site = proc_macro::Span::call_site();
    let context = site
        .local_file()
        .and_then(|file| std::fs::read_to_string(file).ok())
        .map_or(context::Context::Module, |source| {
            context::enclosing(&source, site.line())
        });
    if let Some(message) = context.error() {
        // Given back unchanged, the declaration is what its block expects: no second error.
        let error = syn::Error::new(site.into(), message).to_compile_error();
        let item = proc_macro2::TokenStream::from(item);
        return quote::quote!(#error #item).into();
    }
    expand::intrinsic(args.into(), item.into()).into()
}

#[cfg(test)]
mod robustness;

#[cfg(test)]
mod snapshots;
