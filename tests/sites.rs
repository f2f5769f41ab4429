//! `pv-sites` against the runtime: on the tour binary it lists exactly the sites the running
//! tour finds; on the ia64 image it lists the ia64 sites; bad files get clear errors.

mod common;

use pv_sites::{Error, list};
use std::path::PathBuf;
use std::process::Command;

/// The tour binary, built now in this test's profile (so it is never stale).
fn tour() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let profile_dir = std::env::current_exe()
                .unwrap()
                .parent()
                .unwrap()
                .parent()
                .unwrap()
                .to_path_buf();
            let mut cargo = Command::new(env!("CARGO"));
            cargo
                .args(["build", "--quiet", "--example", "tour"])
                .current_dir(env!("CARGO_MANIFEST_DIR"));
            if profile_dir.ends_with("release") {
                cargo.arg("--release");
            }
            assert!(cargo.status().unwrap().success(), "building the tour");
            profile_dir.join("examples").join("tour")
        })
        .clone()
}

#[test]
fn lists_exactly_what_the_running_tour_finds() {
    let tour = tour();
    let out = Command::new(&tour).arg("--sites").output().unwrap();
    assert!(out.status.success());
    let mut runtime: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let listing = list(&tour).unwrap();
    let mut file: Vec<String> = listing
        .sites
        .iter()
        .map(|s| format!("{:#x} {}", s.addr, s.intrinsic))
        .collect();
    runtime.sort();
    file.sort();
    assert!(runtime.len() > 30, "{runtime:?}");
    assert_eq!(file, runtime);
    for s in &listing.sites {
        assert!(s.pristine, "{:#x} holds what the compiler emitted", s.addr);
        assert!(
            !s.original.is_empty() && s.native.is_ok() && s.xen.is_ok(),
            "{s:?}"
        );
    }
    let cpuid = listing
        .sites
        .iter()
        .find(|s| s.intrinsic == "pv::x86_64::cpuid" && !s.probe)
        .unwrap();
    assert_eq!(cpuid.original, ["call pv::x86_64::cpuid::__pv_native"]);
    assert_eq!(
        cpuid.xen.as_ref().unwrap(),
        &["call pv::x86_64::cpuid::__pv_xen"]
    );
    let json = pv_sites::render::json(&listing);
    assert_eq!(json.matches("\"address\"").count(), listing.sites.len());
}

#[test]
fn lists_the_ia64_sites_of_the_backend_image() {
    use pv as _;
    use pv_runtime::arch::ia64::decls;
    let dir = common::ia64::scratch("sites");
    let mut text = String::new();
    pv_runtime::abi::ia64::file::write(&mut text, decls()).unwrap();
    let elf = common::ia64::link(&dir, &common::ia64::assemble(&dir, "catalogue", &text));
    let listing = list(&elf).unwrap();
    let mut names: Vec<&str> = listing.sites.iter().map(|s| s.intrinsic.as_str()).collect();
    let mut want: Vec<&str> = decls()
        .iter()
        .filter(|d| d.binding.has_site())
        .map(|d| d.name)
        .collect();
    names.sort();
    want.sort();
    assert_eq!(names, want);
    let cpuid = listing
        .sites
        .iter()
        .find(|s| s.intrinsic == "get_cpuid")
        .unwrap();
    assert!(cpuid.pristine);
    // `mov r8 = cpuid[r8]` is no form the engine writes: pv's decoder shows its raw M-unit bits.
    assert!(cpuid.original[0].starts_with("?m "), "{:?}", cpuid.original);
    assert_eq!(cpuid.xen.as_ref().unwrap()[0], "break.m 0x14");
    let direct = listing
        .sites
        .iter()
        .find(|s| s.intrinsic == "set_rr0_to_rr4")
        .unwrap();
    assert!(
        direct.original[0].starts_with("br.call.sptk.many b0="),
        "{:?}",
        direct.original
    );
    assert!(
        direct.original[0].ends_with("<pv_native_set_rr0_to_rr4>"),
        "{:?}",
        direct.original
    );
}

#[test]
fn bad_files_get_clear_errors() {
    let dir = common::ia64::scratch("sites-errors");
    // An ELF without sites.
    let plain = dir.join("plain.o");
    std::fs::write(
        dir.join("plain.S"),
        "\t.text\n{ .mmi\n nop.m 0 ;;\n nop.m 0\n nop.i 0 ;;\n}\n",
    )
    .unwrap();
    assert!(
        Command::new(common::ia64::tool("as"))
            .arg("-x")
            .arg("-o")
            .arg(&plain)
            .arg(dir.join("plain.S"))
            .status()
            .unwrap()
            .success()
    );
    assert!(
        matches!(list(&plain), Err(Error::NoSites)),
        "{:?}",
        list(&plain).err()
    );
    // A foreign architecture: the tour with another e_machine.
    let mut bytes = std::fs::read(tour()).unwrap();
    bytes[18] = 0x28;
    let arm = dir.join("arm");
    std::fs::write(&arm, &bytes).unwrap();
    let err = list(&arm).unwrap_err();
    assert!(matches!(err, Error::ForeignArch(_)), "{err}");
    // A record version this pv does not know.
    use object::{Object, ObjectSection};
    let mut bytes = std::fs::read(tour()).unwrap();
    let object = object::read::File::parse(&*bytes).unwrap();
    let (offset, _) = object
        .section_by_name("pv_sites")
        .unwrap()
        .file_range()
        .unwrap();
    drop(object);
    bytes[offset as usize + 2] = 9;
    let newer = dir.join("newer");
    std::fs::write(&newer, &bytes).unwrap();
    let err = list(&newer).unwrap_err();
    assert!(err.to_string().contains("version 9"), "{err}");
}
