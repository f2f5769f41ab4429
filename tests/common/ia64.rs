//! GNU binutils for ia64 as the oracle: assemble, link, objdump. A missing tool fails the test
//! with the package to install (the test command installs it), never skips it silently. The
//! tour includes this file too, for its ia64 contract check.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether `ia64-linux-gnu-<name>` runs.
pub fn installed(name: &str) -> bool {
    Command::new(format!("ia64-linux-gnu-{name}"))
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `ia64-linux-gnu-<name>`, or a failed test saying how to get it.
pub fn tool(name: &str) -> String {
    let tool = format!("ia64-linux-gnu-{name}");
    assert!(
        installed(name),
        "missing {tool}: apt-get install binutils-ia64-linux-gnu (scripts/test installs it)"
    );
    tool
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{cmd:?} warned:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A fresh scratch directory, one per call: tests of one binary run in parallel and may ask
/// for the same name (two of `ia64_sim`'s tests build the same states), so the directory also
/// carries a per-process sequence number.
pub fn scratch(name: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("pv-ia64-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Assembles `source` in explicit mode; returns the object file.
pub fn assemble(dir: &Path, name: &str, source: &str) -> PathBuf {
    let (s, o) = (dir.join(format!("{name}.S")), dir.join(format!("{name}.o")));
    std::fs::write(&s, source).unwrap();
    run(Command::new(tool("as")).arg("-x").arg("-o").arg(&o).arg(&s));
    o
}

/// Links an object at a fixed address, without relaxation (ld turns in-range `brl` into `br`).
pub fn link(dir: &Path, object: &Path) -> PathBuf {
    let elf = object.with_extension("elf");
    run(Command::new(tool("ld"))
        .args(["--no-relax", "-static", "-Ttext=0x4000000", "-e", "0", "-o"])
        .arg(&elf)
        .arg(object));
    let _ = dir;
    elf
}

/// The raw bytes of one section of an object or executable.
pub fn section_bytes(file: &Path, section: &str) -> Vec<u8> {
    let out = file.with_extension(format!("{section}.bin").trim_start_matches('.'));
    run(Command::new(tool("objcopy"))
        .args(["-O", "binary", "-j", section])
        .arg(file)
        .arg(&out));
    std::fs::read(out).unwrap()
}

/// `objdump -d` of a file.
pub fn objdump(file: &Path) -> String {
    String::from_utf8(run(Command::new(tool("objdump")).arg("-d").arg(file))).unwrap()
}

/// The ia64 catalogue linked into this test binary, written as one `.S` file, assembled and
/// linked at a fixed address, and loaded as an image: (scratch directory, image).
pub fn catalogue(name: &str) -> (PathBuf, pv_sites::elf::Elf) {
    let dir = scratch(name);
    let mut text = String::new();
    pv_runtime::abi::ia64::file::write(&mut text, pv_runtime::arch::ia64::decls()).unwrap();
    let object = assemble(&dir, "catalogue", &text);
    let elf = pv_sites::elf::Elf::load(&link(&dir, &object)).unwrap();
    (dir, elf)
}

/// `objdump -D` of the named sections of a file.
pub fn objdump_sections(file: &Path, sections: &[&str]) -> String {
    let mut cmd = Command::new(tool("objdump"));
    cmd.arg("-D");
    for s in sections {
        cmd.arg("-j").arg(s);
    }
    String::from_utf8(run(cmd.arg(file))).unwrap()
}
