//! Builds the guest kernel (`pv-guest/`, its own workspace) with its freestanding flags and
//! hands its path to pv-vmm as `PV_GUEST_ELF`.
//!
//! The nested cargo gets a clean environment: the variables the outer build sets for this
//! script (its RUSTFLAGS, wrappers, target and target directory, the package's `CARGO_*`)
//! would otherwise leak into the guest's build. It builds with `--target` named explicitly,
//! so the flags in `pv-guest/rustflags` reach only the guest's crates, never the proc macros
//! or build scripts it compiles for the host. A failed guest build fails this build with the
//! nested cargo's output.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The guest's target: the host's, with freestanding flags.
const TARGET: &str = "x86_64-unknown-linux-gnu";
/// `PT_NOTE` (System V ABI, program header types).
const PT_NOTE: u32 = 4;
/// `XEN_ELFNOTE_PHYS32_ENTRY` (Xen `xen/include/public/elfnote.h`).
const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;

/// Variables the outer cargo sets (for itself or for this script) that must not reach the
/// nested build.
const CLEARED: &[&str] = &[
    "CARGO",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_ENCODED_RUSTDOCFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_BUILD_RUSTC_WRAPPER",
    "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
    "CARGO_MAKEFLAGS",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_CRATE_NAME",
    "RUSTFLAGS",
    "RUSTDOCFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTC_LINKER",
    "MAKEFLAGS",
    "MFLAGS",
    "TARGET",
    "HOST",
    "OUT_DIR",
    "PROFILE",
    "OPT_LEVEL",
    "DEBUG",
    "NUM_JOBS",
];
/// Prefixes of such variables (package metadata, cfgs, features, per-target and per-profile
/// settings).
const CLEARED_PREFIXES: &[&str] = &[
    "CARGO_PKG_",
    "CARGO_CFG_",
    "CARGO_FEATURE_",
    "CARGO_MANIFEST_",
    "CARGO_TARGET_",
    "CARGO_PROFILE_",
    "DEP_",
];

fn main() {
    let vmm = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let repo = vmm
        .parent()
        .expect("pv-vmm lies in the repository")
        .to_path_buf();
    for input in [
        "pv-guest",
        "pv-runtime",
        "pv-abi",
        "pv-macros",
        "intrinsics.rs",
        "Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={}", repo.join(input).display());
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let elf = build(&repo, Path::new(&cargo));
    check(&elf);
    println!("cargo:rustc-env=PV_GUEST_ELF={}", elf.display());
}

/// The flags of `pv-guest/rustflags`: one per line, `#` comments and blank lines skipped.
fn rustflags(repo: &Path) -> Vec<String> {
    let file = repo.join("pv-guest/rustflags");
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

/// Runs the nested cargo; returns the guest ELF's absolute path.
fn build(repo: &Path, cargo: &Path) -> PathBuf {
    let target_dir = repo.join("target/guest");
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--release")
        .arg("--manifest-path")
        .arg(repo.join("pv-guest/Cargo.toml"))
        .arg("--target")
        .arg(TARGET)
        .arg("--target-dir")
        .arg(&target_dir);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if CLEARED.contains(&key.as_ref()) || CLEARED_PREFIXES.iter().any(|p| key.starts_with(p)) {
            cmd.env_remove(key.as_ref());
        }
    }
    // Flags separated by 0x1f, as cargo reads CARGO_ENCODED_RUSTFLAGS.
    cmd.env("CARGO_ENCODED_RUSTFLAGS", rustflags(repo).join("\x1f"));
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", cargo.display()));
    if !out.status.success() {
        panic!(
            "building pv-guest failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    target_dir.join(TARGET).join("release/pv-guest")
}

fn u16_at(b: &[u8], at: usize) -> usize {
    u16::from_le_bytes([b[at], b[at + 1]]) as usize
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> usize {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes")) as usize
}

/// Fails the build unless `elf` is a little-endian ELF64 with a PVH entry note: a `PT_NOTE`
/// segment holding a note named "Xen" of type `XEN_ELFNOTE_PHYS32_ENTRY` (the ELF64 layout:
/// System V ABI, "ELF Header", "Program Header", "Note Section").
fn check(elf: &Path) {
    let b = std::fs::read(elf).unwrap_or_else(|e| panic!("cannot read {}: {e}", elf.display()));
    assert!(
        b.len() >= 64 && b[..4] == *b"\x7fELF" && b[4] == 2 && b[5] == 1,
        "{} is not a little-endian ELF64",
        elf.display()
    );
    let (phoff, phentsize, phnum) = (u64_at(&b, 32), u16_at(&b, 54), u16_at(&b, 56));
    let found = (0..phnum).any(|i| {
        let ph = phoff + i * phentsize;
        if u32_at(&b, ph) != PT_NOTE {
            return false;
        }
        let (mut at, end) = (u64_at(&b, ph + 8), u64_at(&b, ph + 8) + u64_at(&b, ph + 32));
        while at + 12 <= end {
            let (namesz, descsz) = (u32_at(&b, at) as usize, u32_at(&b, at + 4) as usize);
            let kind = u32_at(&b, at + 8);
            let name = &b[at + 12..at + 12 + namesz];
            if name == b"Xen\0" && kind == XEN_ELFNOTE_PHYS32_ENTRY {
                return true;
            }
            at += 12 + namesz.next_multiple_of(4) + descsz.next_multiple_of(4);
        }
        false
    });
    assert!(found, "{} has no PVH entry note", elf.display());
}
