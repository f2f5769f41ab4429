//! Skipped checks, counted: the root tests and pv-vmm's share this file (pv-vmm's include it by
//! path, since they depend on nothing of the root's).

/// Records a skipped check: printed, and appended to `target/tmp/pv-skipped`, which
/// `scripts/test` counts.
pub fn skipped(reason: &str) {
    use std::io::Write;
    println!("SKIPPED: {reason}");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("pv-skipped");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "SKIPPED: {reason}");
    }
}
