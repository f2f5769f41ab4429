//! The patch-engine scaling measurement: plan, verify, apply and revert over every site of the
//! binary (Xen, so every site is written), timed; bytes, pages and protection calls from the
//! report; peak memory from `getrusage`.

use pv_runtime::writer::RemapWriter;
use pv_runtime::{Patcher, Target};
use std::time::Instant;

fn max_rss_kib() -> i64 {
    // SAFETY: a valid out pointer.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    usage.ru_maxrss
}

fn median(mut v: Vec<u128>) -> u128 {
    v.sort();
    v[v.len() / 2]
}

/// Measures this binary's sites `rounds` times and prints one Markdown row.
pub fn run(label: &str, rounds: usize) {
    let rss_before = max_rss_kib();
    let mut patcher = Patcher::new();
    let (mut plan, mut verify, mut apply, mut revert) = (vec![], vec![], vec![], vec![]);
    let mut report = None;
    for _ in 0..rounds {
        let t = Instant::now();
        let planned = patcher
            .plan(pv_runtime::engine::State::Patched(Target::Xen))
            .filter(|p| p.is_ok())
            .count();
        plan.push(t.elapsed().as_nanos());
        std::hint::black_box(planned);
        let t = Instant::now();
        let dry = patcher.verify(Target::Xen);
        verify.push(t.elapsed().as_nanos());
        assert_eq!(dry.refused_total, 0, "{dry}");
        let t = Instant::now();
        let r = patcher
            .apply(Target::Xen, &mut RemapWriter::new())
            .expect("apply");
        apply.push(t.elapsed().as_nanos());
        let t = Instant::now();
        patcher.revert(&mut RemapWriter::new()).expect("revert");
        revert.push(t.elapsed().as_nanos());
        report = Some(r);
    }
    let r = report.expect("at least one round");
    let sites = r.total().sites as u128;
    let per = |v: Vec<u128>| {
        let m = median(v);
        format!("{:.2} ms | {:.1}", m as f64 / 1e6, m as f64 / sites as f64)
    };
    println!(
        "| {label} | {sites} | {} | {} | {} | {} | {} | {} | {:.2} | {} |",
        per(plan),
        per(verify),
        per(apply),
        per(revert),
        r.bytes_written,
        r.pages,
        r.protection_calls as f64 / r.pages.max(1) as f64,
        max_rss_kib() - rss_before,
    );
}
