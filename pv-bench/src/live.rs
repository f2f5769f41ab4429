//! Switching while threads run (issue 14): every site of a scaling binary switched to Xen and
//! back through [`Quiesced`] while four threads call the binary's site chunks and check every
//! result; the cost per transition and per site, how often a stop was retried, and how much
//! the running threads slow down while the switching goes on. Then, in the same process and
//! with no other thread (its own contract: "never call this method when there are multi-threads
//! running"), the static-keys crate switching one key of one site.

use pv_runtime::writer::{Quiesced, RemapWriter};
use pv_runtime::{Live, Patcher, Target};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

static_keys::define_static_key_false!(KEY);

/// One static-keys site: a `nop` (or `jmp` once enabled) in front of the key's branch.
#[inline(never)]
fn static_key_site(x: u64) -> u64 {
    if static_keys::static_branch_unlikely!(KEY) {
        x + 1
    } else {
        x
    }
}

fn median(mut v: Vec<u128>) -> u128 {
    v.sort();
    v[v.len() / 2]
}

/// Calls per second the workers made while `during` ran.
fn rate(calls: &AtomicU64, during: impl FnOnce()) -> f64 {
    let (before, t) = (calls.load(Ordering::Relaxed), Instant::now());
    during();
    (calls.load(Ordering::Relaxed) - before) as f64 / t.elapsed().as_secs_f64()
}

/// Measures `rounds` transitions of this binary while four threads run `chunks`, then
/// static-keys; prints two Markdown rows.
pub fn run(label: &str, chunks: &'static [fn(u64) -> u64], rounds: usize) {
    let expected: Vec<u64> = chunks.iter().map(|c| c(0)).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (stop, calls, expected) = (stop.clone(), calls.clone(), expected.clone());
            std::thread::spawn(move || {
                let mut wrong = 0u64;
                let mut k = w;
                while !stop.load(Ordering::Relaxed) {
                    let c = k % chunks.len();
                    wrong += u64::from(chunks[c](0) != expected[c]);
                    calls.fetch_add(1, Ordering::Relaxed);
                    k += 1;
                }
                wrong
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    let idle = rate(&calls, || std::thread::sleep(Duration::from_millis(300)));
    let mut patcher = Patcher::new();
    // SAFETY: this process's own text.
    let mut image = Live::new(unsafe { Quiesced::new(RemapWriter::new()) });
    let (mut apply, mut revert, mut report) = (vec![], vec![], None);
    let busy = rate(&calls, || {
        for _ in 0..rounds {
            let t = Instant::now();
            // SAFETY: the quiescing writer parks the workers outside the changing code.
            let r = unsafe { patcher.apply(&mut image, Target::XEN) }.expect("apply");
            apply.push(t.elapsed().as_nanos());
            assert_eq!(r.refused_total, 0, "{r}");
            let t = Instant::now();
            // SAFETY: as above.
            unsafe { patcher.revert(&mut image) }.expect("revert");
            revert.push(t.elapsed().as_nanos());
            report = Some(r);
        }
    });
    stop.store(true, Ordering::Relaxed);
    let wrong: u64 = workers.into_iter().map(|w| w.join().expect("worker")).sum();
    assert_eq!(wrong, 0, "a worker saw a wrong result");
    let sites = report.expect("a round").total().sites as f64;
    let stats = image.writer().stats();
    let (a, r) = (median(apply) as f64, median(revert) as f64);
    println!(
        "| {label}, 4 threads running | {sites} | {:.3} ms | {:.1} | {:.3} ms | {:.1} | {} of {} | {:.0} | {:.0} | {:.2}x |",
        a / 1e6,
        a / sites,
        r / 1e6,
        r / sites,
        stats.retries,
        stats.commits,
        idle,
        busy,
        idle / busy
    );

    static_keys::global_init();
    assert_eq!(static_key_site(1), 1);
    let (mut on, mut off) = (vec![], vec![]);
    for _ in 0..rounds.max(200) {
        let t = Instant::now();
        // SAFETY: no other thread runs (the workers have been joined), after global_init.
        unsafe { KEY.enable() };
        on.push(t.elapsed().as_nanos());
        assert_eq!(static_key_site(1), 2);
        let t = Instant::now();
        // SAFETY: as above.
        unsafe { KEY.disable() };
        off.push(t.elapsed().as_nanos());
        assert_eq!(static_key_site(1), 1);
    }
    let (e, d) = (median(on) as f64, median(off) as f64);
    println!(
        "| static-keys 0.8.2, one key of {} site, no other thread | {} | {:.3} ms | {:.1} | {:.3} ms | {:.1} | - | - | - | - |",
        static_keys::jump_entries_count(),
        static_keys::jump_entries_count(),
        e / 1e6,
        e / static_keys::jump_entries_count() as f64,
        d / 1e6,
        d / static_keys::jump_entries_count() as f64
    );
}
