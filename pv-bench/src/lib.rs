//! The benchmark variants, shared by the divan benchmarks (`benches/calls.rs`) and the
//! callgrind driver (`pv-count`): a cheap pure-register intrinsic (`inc`, x + 1), `rdtsc`, and a
//! hypercall (`version`), each declared in every binding, with the raw instructions and
//! hand-written calls they are measured against, and the patch states to measure them in.

#![warn(missing_docs)]

pub mod live;
pub mod scale;

/// A scaling binary with `$n` sites (feature `scale`): three intrinsics in options 1, 2 and 3,
/// called `$n` times from the generated `sites_$n.rs`, then [`scale::run`].
#[macro_export]
macro_rules! scale_binary {
    ($n:literal) => {
        #[::pv_macros::pv_intrinsic(binding = inline_patch, reg = "rax", native = "lea rax, [rax + 1]", xen = call(pv_bench::xen_inc))]
        fn s1(x: u64) -> u64;
        #[::pv_macros::pv_intrinsic(binding = direct_branch, reg = "rax", native = "lea rax, [rax + 1]", xen = call(pv_bench::xen_inc))]
        fn s2(x: u64) -> u64;
        #[::pv_macros::pv_intrinsic(binding = indirect_branch, reg = "rax", native = "lea rax, [rax + 1]", xen = call(pv_bench::xen_inc))]
        fn s3(x: u64) -> u64;

        include!(concat!(env!("OUT_DIR"), "/sites_", stringify!($n), ".rs"));

        #[global_allocator]
        static ALLOCATOR: $crate::scale::Counting = $crate::scale::Counting;

        fn main() {
            if std::env::args().any(|a| a == "--live") {
                $crate::live::run(concat!(stringify!($n), " sites"), &CHUNKS, 5);
            } else {
                $crate::scale::run(concat!(stringify!($n), " sites"), 5);
            }
        }
    };
}

use pv_runtime::hv::Hypervisor;
use pv_runtime::writer::RemapWriter;
use pv_runtime::{Live, Patcher, Target};
use std::arch::asm;
use std::hint::black_box;

/// Xen's `inc`: a Rust function, reached through the callee-save thunk.
pub extern "C" fn xen_inc(x: u64) -> u64 {
    x + 1
}

macro_rules! bindings {
    ($($m:ident = $b:tt),*) => {$(
        /// The benchmark intrinsics in one binding.
        pub mod $m {
            use pv_macros::pv_intrinsic;

            #[pv_intrinsic(binding = $b, reg = "rax", native = "lea rax, [rax + 1]", xen = call(super::xen_inc))]
            /// x + 1.
            pub fn inc(x: u64) -> u64;

            #[pv_intrinsic(binding = $b, reg = "rax", clobber = [rdx], native = "rdtsc; shl rdx, 32; or rax, rdx", xen = native)]
            /// The time-stamp counter.
            pub fn rdtsc() -> u64;

            #[pv_intrinsic(binding = $b, reg = "rax", native = "xor eax, eax", xen = hypercall(xen_version, cmd, arg))]
            /// `xen_version(cmd, arg)`; 0 natively.
            pub fn version(cmd: u64, arg: u64) -> u64;

            #[pv_intrinsic(binding = $b, reg = "rax", clobber = [rcx, rdx, rsi, rdi, r8, r9, r10, r11], native = "xor eax, eax", xen = hypercall(xen_version, cmd, arg))]
            /// [`version`] declaring what a Xen hypercall may clobber, so the stub saves nothing.
            pub fn version_clobbering(cmd: u64, arg: u64) -> u64;
        }
    )*};
}

bindings!(
    b1 = inline_patch,
    b2 = direct_branch,
    b3 = indirect_branch,
    b4 = indirect_call
);

/// `inc` as raw inline asm: the limit.
#[inline(always)]
pub fn raw_inc(mut x: u64) -> u64 {
    // SAFETY: a register-only instruction.
    unsafe { asm!("lea {0}, [{0} + 1]", inout(reg) x, options(nomem, nostack, preserves_flags)) };
    x
}

/// `rdtsc` as raw inline asm: the limit.
#[inline(always)]
pub fn raw_rdtsc() -> u64 {
    // SAFETY: reads the time-stamp counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The same hypercall handler, called by hand (no stub, no thunk).
#[inline(always)]
pub fn hand_version(cmd: u64, arg: u64) -> u64 {
    // SAFETY: only with the test hypervisor installed (see `Patched::xen`).
    unsafe { pv_runtime::xen::hypercall(17, [cmd, arg, 0, 0, 0]) as u64 }
}

/// Xen's `inc` called by hand through a function pointer the compiler cannot see through.
#[inline(always)]
pub fn hand_xen_inc(x: u64) -> u64 {
    black_box(xen_inc as extern "C" fn(u64) -> u64)(x)
}

/// A patch state held for a measurement; dropping it reverts.
pub struct Patched {
    patcher: Patcher<'static>,
    _hv: Option<Hypervisor>,
}

impl Patched {
    /// Sites as compiled.
    pub fn original() -> Patched {
        Patched {
            patcher: Patcher::new(),
            _hv: None,
        }
    }

    /// Every site patched for bare metal.
    pub fn native() -> Patched {
        let mut patcher = Patcher::new();
        // SAFETY: the benchmarks patch before they measure, with no other thread running.
        unsafe { patcher.apply(&mut Live::new(RemapWriter::new()), Target::Native) }
            .expect("apply native");
        Patched { patcher, _hv: None }
    }

    /// Every site patched for Xen, against the in-process test hypervisor.
    pub fn xen() -> Patched {
        let hv = Hypervisor::install().expect("test hypervisor");
        let mut patcher = Patcher::new();
        // SAFETY: as above.
        unsafe { patcher.apply(&mut Live::new(RemapWriter::new()), Target::XEN) }
            .expect("apply xen");
        Patched {
            patcher,
            _hv: Some(hv),
        }
    }
}

impl Drop for Patched {
    fn drop(&mut self) {
        // SAFETY: as above; the measurement is over.
        let _ = unsafe { self.patcher.revert(&mut Live::new(RemapWriter::new())) };
    }
}

/// Calls `$m!(ident, "group/name", state, |x| call)` once per variant, in report order; the
/// first of each group is its raw limit. The benchmarks and the callgrind driver expand it, so
/// every variant is called directly (inlined), never through a function pointer.
#[macro_export]
macro_rules! for_each_variant {
    ($m:ident) => {
        $m!(inc_raw, "inc/raw asm", original, |x| $crate::raw_inc(x));
        $m!(inc_1, "inc/1 inline_patch", original, |x| $crate::b1::inc(
            x
        ));
        $m!(inc_2, "inc/2 direct_branch", original, |x| $crate::b2::inc(
            x
        ));
        $m!(inc_3, "inc/3 indirect_branch", original, |x| {
            $crate::b3::inc(x)
        });
        $m!(inc_4, "inc/4 indirect_call", original, |x| $crate::b4::inc(
            x
        ));
        $m!(inc_1n, "inc/1 after apply(Native)", native, |x| {
            $crate::b1::inc(x)
        });
        $m!(inc_2n, "inc/2 after apply(Native)", native, |x| {
            $crate::b2::inc(x)
        });
        $m!(inc_3n, "inc/3 after apply(Native)", native, |x| {
            $crate::b3::inc(x)
        });
        $m!(inc_4n, "inc/4 after apply(Native)", native, |x| {
            $crate::b4::inc(x)
        });
        $m!(
            inc_hand,
            "inc/hand-written call of xen_inc",
            original,
            |x| $crate::hand_xen_inc(x)
        );
        $m!(inc_1x, "inc/1 after apply(Xen)", xen, |x| $crate::b1::inc(
            x
        ));
        $m!(inc_2x, "inc/2 after apply(Xen)", xen, |x| $crate::b2::inc(
            x
        ));
        $m!(inc_3x, "inc/3 after apply(Xen)", xen, |x| $crate::b3::inc(
            x
        ));
        $m!(inc_4x, "inc/4 after apply(Xen)", xen, |x| $crate::b4::inc(
            x
        ));
        $m!(
            rdtsc_raw,
            "rdtsc/raw asm",
            original,
            |_x| $crate::raw_rdtsc()
        );
        $m!(rdtsc_1, "rdtsc/1 inline_patch", original, |_x| {
            $crate::b1::rdtsc()
        });
        $m!(rdtsc_2, "rdtsc/2 direct_branch", original, |_x| {
            $crate::b2::rdtsc()
        });
        $m!(rdtsc_3, "rdtsc/3 indirect_branch", original, |_x| {
            $crate::b3::rdtsc()
        });
        $m!(rdtsc_4, "rdtsc/4 indirect_call", original, |_x| {
            $crate::b4::rdtsc()
        });
        $m!(rdtsc_1n, "rdtsc/1 after apply(Native)", native, |_x| {
            $crate::b1::rdtsc()
        });
        $m!(rdtsc_2n, "rdtsc/2 after apply(Native)", native, |_x| {
            $crate::b2::rdtsc()
        });
        $m!(rdtsc_3n, "rdtsc/3 after apply(Native)", native, |_x| {
            $crate::b3::rdtsc()
        });
        $m!(hc_hand, "hypercall/hand-written hypercall", xen, |x| {
            $crate::hand_version(0, x)
        });
        $m!(hc_1x, "hypercall/1 after apply(Xen)", xen, |x| {
            $crate::b1::version(0, x)
        });
        $m!(hc_2x, "hypercall/2 after apply(Xen)", xen, |x| {
            $crate::b2::version(0, x)
        });
        $m!(hc_3x, "hypercall/3 after apply(Xen)", xen, |x| {
            $crate::b3::version(0, x)
        });
        $m!(hc_4x, "hypercall/4 after apply(Xen)", xen, |x| {
            $crate::b4::version(0, x)
        });
        $m!(
            hc_1c,
            "hypercall/1 after apply(Xen), Xen's clobbers declared",
            xen,
            |x| { $crate::b1::version_clobbering(0, x) }
        );
        $m!(
            hc_2c,
            "hypercall/2 after apply(Xen), Xen's clobbers declared",
            xen,
            |x| { $crate::b2::version_clobbering(0, x) }
        );
        $m!(
            hc_3c,
            "hypercall/3 after apply(Xen), Xen's clobbers declared",
            xen,
            |x| { $crate::b3::version_clobbering(0, x) }
        );
        $m!(
            hc_4c,
            "hypercall/4 after apply(Xen), Xen's clobbers declared",
            xen,
            |x| { $crate::b4::version_clobbering(0, x) }
        );
    };
}
