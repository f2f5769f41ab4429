//! The `run` command on a small image assembled here with GNU binutils for ia64: it prints the
//! registers that changed and the bundles executed, and refuses an unmodelled instruction with
//! exit status 1 and the bundle's address and bytes.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `ia64-linux-gnu-<name>`, or a failed test saying how to get it (the test command installs it).
fn tool(name: &str) -> String {
    let tool = format!("ia64-linux-gnu-{name}");
    let found = Command::new(&tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "missing {tool}: apt-get install binutils-ia64-linux-gnu (scripts/test installs it)"
    );
    tool
}

/// Assembles (explicit mode) and links `source` at a fixed address.
fn image(name: &str, source: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pv-ia64-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (s, o, e) = (dir.join("t.S"), dir.join("t.o"), dir.join("t.elf"));
    std::fs::write(&s, source).unwrap();
    let run = |cmd: &mut Command| {
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(Command::new(tool("as")).arg("-x").arg("-o").arg(&o).arg(&s));
    run(Command::new(tool("ld"))
        .args(["--no-relax", "-static", "-Ttext=0x4000000", "-e", "0", "-o"])
        .arg(&e)
        .arg(&o));
    e
}

fn sim(file: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pv-ia64-sim"))
        .arg("run")
        .arg(file)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn run_prints_changed_registers_and_bundles() {
    let elf = image(
        "ok",
        "\t.text\n\t.global f\nf:\n{ .mii\n\tadds r8=5,r32\n\tnop.i 0\n\tnop.i 0 ;;\n}\n\
         { .mib\n\tnop.m 0\n\tnop.i 0\n\tbr.ret.sptk.many b0 ;;\n}\n",
    );
    let (code, stdout, stderr) = sim(&elf, &["--entry", "f", "--set", "r32=37"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.lines().any(|l| l == "r8=0x2a"),
        "r8 = 37 + 5:\n{stdout}"
    );
    assert!(stdout.lines().any(|l| l == "bundles=2"), "{stdout}");
}

#[test]
fn run_refuses_an_instruction_outside_its_subset() {
    let elf = image(
        "refuse",
        "\t.text\n\t.global f\nf:\n{ .mii\n\tnop.m 0\n\tpopcnt r8=r32\n\tnop.i 0 ;;\n}\n\
         { .mib\n\tnop.m 0\n\tnop.i 0\n\tbr.ret.sptk.many b0 ;;\n}\n",
    );
    let (code, _, stderr) = sim(&elf, &["--entry", "f"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("0x4000000"),
        "names the bundle's address: {stderr}"
    );
}

#[test]
fn bad_usage_is_exit_2() {
    let (code, _, stderr) = sim(Path::new("/nonexistent"), &["--frobnicate", "x"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("usage"), "{stderr}");
}
