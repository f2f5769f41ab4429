//! Call overhead of every binding, unpatched and after `apply(Native)` / `apply(Xen)`, against
//! the raw instruction measured in the same run; and a privileged intrinsic trapping natively
//! against the same intrinsic patched to Xen. `scripts/bench` adds the ratio to raw.

use divan::Bencher;
use pv_bench::Patched;
use std::hint::black_box;

fn main() {
    divan::main();
}

/// One benchmark per variant, in its patch state, calling it directly.
macro_rules! bench {
    ($id:ident, $name:literal, $state:ident, $call:expr) => {
        #[divan::bench(name = $name)]
        fn $id(bencher: Bencher) {
            let _state = Patched::$state();
            bencher.bench_local(|| ($call)(black_box(41u64)));
        }
    };
}

pv_bench::for_each_variant!(bench);

/// `cli` natively in a deprivileged guest (a trap to the monitor) against `irq_disable` patched
/// to Xen (the event mask). The monitor runs for the first, the test hypervisor for the second.
#[divan::bench(args = ["trapped natively (monitor)", "paravirtualized (Xen)"])]
fn privileged_irq_disable(bencher: Bencher, how: &str) {
    if how.starts_with("trapped") {
        let _monitor = pv_monitor::Monitor::start().expect("monitor");
        // SAFETY: cli traps to the monitor, which emulates it.
        bencher.bench_local(|| unsafe { pv::x86_64::irq_disable() });
    } else {
        let _xen = Patched::xen();
        // SAFETY: irq_disable is patched to the Xen event mask.
        bencher.bench_local(|| unsafe { pv::x86_64::irq_disable() });
    }
}
