//! What pv-vmm's tests share.

/// Records a skipped check: printed, and appended to `target/tmp/pv-skipped`, which
/// `scripts/test` counts (the same file the workspace's other tests append to).
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
