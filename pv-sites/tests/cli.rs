//! The command line: an unknown flag is an error, never silently ignored.

use std::process::Command;

#[test]
fn an_unknown_flag_is_an_error_with_usage() {
    let out = Command::new(env!("CARGO_BIN_EXE_pv-sites"))
        .args(["--chek", env!("CARGO_BIN_EXE_pv-sites")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown flag `--chek`"), "{stderr}");
    assert!(stderr.contains("usage: pv-sites"), "{stderr}");
    assert!(out.stdout.is_empty());
}
