//! Late-loaded modules (issue 14, "Modules"): `pv-testmod`, a cdylib with a site in every
//! binding, is loaded with `dlopen` after the main program was patched for Xen (under the
//! in-process test hypervisor) and registered, which patches its sites to Xen at once; it is
//! called, switched with the main image to native and back, and unloaded, which restores it to
//! the file's bytes. A copy whose records carry an unknown version is refused whole, and
//! `pv-sites` lists the module's sites.

mod common;

use common::{decode, sites_of};
use iced_x86::{Mnemonic, OpKind};
use object::{Object, ObjectSection};
use pv_runtime::abi::record;
use pv_runtime::engine::{Descriptor, descriptor};
use pv_runtime::hv::Hypervisor;
use pv_runtime::module::{self, Module};
use pv_runtime::site::{RawRecord, records};
use pv_runtime::{Binding, Image, Target};
use std::ffi::CStr;
use std::path::PathBuf;
use std::process::Command;

/// The module, built now by a nested cargo into its own target directory (`target/testmod`),
/// so it never waits for the lock of the build running this test; the environment the outer
/// cargo set (flags, target directory) is left out, so the module's build does not change with
/// the outer profile or policy.
fn testmod() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            let target_dir = root.join("target/testmod");
            let mut cargo = Command::new(env!("CARGO"));
            cargo
                .args(["build", "--quiet", "-p", "pv-testmod", "--target-dir"])
                .arg(&target_dir)
                .current_dir(&root);
            for key in [
                "RUSTFLAGS",
                "CARGO_ENCODED_RUSTFLAGS",
                "CARGO_BUILD_RUSTFLAGS",
                "CARGO_TARGET_DIR",
                "CARGO_BUILD_TARGET_DIR",
                "CARGO_BUILD_TARGET",
            ] {
                cargo.env_remove(key);
            }
            let out = cargo.output().expect("running cargo");
            assert!(
                out.status.success(),
                "building pv-testmod: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            target_dir.join("debug/libpv_testmod.so")
        })
        .clone()
}

/// Each intrinsic of the module with its binding, what its native body adds and what its Xen
/// body adds, and the exported function that calls it.
const INTRINSICS: [(&str, Binding, u64, u64, &CStr); 5] = [
    (
        "add_inline",
        Binding::InlinePatch,
        1,
        0x100,
        c"testmod_inline",
    ),
    (
        "add_direct",
        Binding::DirectBranch,
        2,
        0x200,
        c"testmod_direct",
    ),
    (
        "add_indirect",
        Binding::IndirectBranch,
        3,
        0x300,
        c"testmod_indirect",
    ),
    ("add_call", Binding::IndirectCall, 4, 0x400, c"testmod_call"),
    ("add_asm", Binding::InlinePatch, 5, 0x500, c"testmod_asm"),
];

/// The index of Xen's routine in a descriptor.
const XEN: usize = pv_runtime::Hypervisor::Xen.index();

/// Every record of the module with its descriptor and intrinsic name.
fn module_sites(m: &Module) -> Vec<(RawRecord, Descriptor, String)> {
    let image = m.image();
    records(image)
        .map(|r| {
            let r = r.expect("every record of the module decodes");
            let d = descriptor(image, r.desc).expect("its descriptor");
            let name = d.name(image).to_string();
            (r, d, name)
        })
        .collect()
}

/// The module's descriptors, by intrinsic name.
fn descriptors(m: &Module) -> Vec<(String, Descriptor)> {
    let image = m.image();
    let section = image.section(pv_runtime::engine::Section::Intrinsics);
    let size = core::mem::size_of::<pv_runtime::Intrinsic>() as u64;
    (0..section.len / size)
        .map(|i| {
            let d = descriptor(image, section.start + i * size).expect("descriptor");
            (d.name(image).to_string(), d)
        })
        .collect()
}

/// Calls every exported function of the module with `x` and checks that each adds what its
/// native (`xen == false`) or Xen body adds.
fn check_calls(m: &Module, x: u64, xen: bool) {
    for (name, _, native, xen_adds, symbol) in INTRINSICS {
        let f = m.symbol(symbol).expect("exported");
        // The module exports `extern "C" fn(u64) -> u64` under each of these names.
        // SAFETY: as said; the module stays loaded while it is called.
        let f = unsafe {
            core::mem::transmute::<*const core::ffi::c_void, extern "C" fn(u64) -> u64>(f)
        };
        let expected = x + if xen { xen_adds } else { native };
        assert_eq!(f(x), expected, "{name} (xen: {xen})");
    }
}

/// Checks every site and slot of the module against the state named: under Xen every site is
/// a call of its Xen routine then nops and every slot holds the Xen routine; natively every
/// site starts with its native `add rax, N` followed by nops and every slot holds the native
/// routine.
fn check_bytes(m: &Module, xen: bool) {
    let image = m.image();
    let sites = module_sites(m);
    assert_eq!(
        sites.len(),
        8,
        "four intrinsics with sites, each with its probe"
    );
    for (r, d, name) in &sites {
        let bytes = image.read(r.site, r.len).expect("site readable");
        let insns = decode(bytes, r.site as usize);
        assert_eq!(
            insns.iter().map(|i| i.len()).sum::<usize>(),
            r.len,
            "{name}: {insns:?} tile the site"
        );
        assert!(
            insns[1..].iter().all(|i| i.mnemonic() == Mnemonic::Nop),
            "{name}: tail {insns:?}"
        );
        if xen {
            assert_eq!(insns[0].mnemonic(), Mnemonic::Call, "{name}: {insns:?}");
            assert_eq!(insns[0].near_branch_target(), d.routines[XEN], "{name}");
        } else {
            let (_, _, adds, _, _) = INTRINSICS.iter().find(|i| i.0 == name).unwrap();
            assert_eq!(insns[0].mnemonic(), Mnemonic::Add, "{name}: {insns:?}");
            assert_eq!(insns[0].op1_kind(), OpKind::Immediate8to64, "{name}");
            assert_eq!(insns[0].immediate64(), *adds, "{name}");
        }
    }
    for (name, d) in descriptors(m) {
        let want = if xen { d.routines[XEN] } else { d.native };
        assert_eq!(image.pointer(d.slot), Some(want), "{name}'s slot");
    }
}

/// Whether the object at `path` is still loaded in this process.
fn is_loaded(path: &std::path::Path) -> bool {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: RTLD_NOLOAD opens nothing: it returns a handle only to an object loaded already.
    let h = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD) };
    if !h.is_null() {
        // SAFETY: the reference RTLD_NOLOAD took, given back.
        unsafe { libc::dlclose(h) };
    }
    !h.is_null()
}

#[test]
fn a_module_is_patched_at_registration_switched_with_the_main_image_and_restored() {
    let _serial = common::serial();
    let _hv = Hypervisor::install().expect("test hypervisor");
    let path = testmod();
    let save_fl = sites_of("x86_64", "save_fl");
    // Linked and called natively: pushfq; pop — IF is set in userland.
    assert_eq!(pv::x86_64::save_fl() & 0x200, 0x200);

    // Every transition below: patching tests take turns (common::serial); no other thread
    // runs a site meanwhile.
    // SAFETY: as said.
    let reports = unsafe { module::apply(Target::XEN) }.expect("main to Xen");
    assert_eq!(reports.len(), 1, "no module yet");
    assert_eq!(reports[0].image, "main");
    assert!(
        reports[0].report.total().patched > 0,
        "{}",
        reports[0].report
    );
    assert_eq!(module::current(), "xen");
    assert!(decode(save_fl[0].current(), save_fl[0].addr())[0].mnemonic() == Mnemonic::Call);

    // SAFETY: nothing runs the module before `load` returns; its tables symbol is pv's.
    let (mut m, report) = unsafe { module::load(&path) }.expect("load the module");
    assert_eq!(report.refused_total, 0, "{report}");
    assert_eq!(report.target(), "xen");
    let t = report.total();
    assert_eq!((t.sites, t.patched), (8, 8), "{report}");
    assert_eq!(report.slots_switched, 5, "every intrinsic's slot: {report}");
    assert_eq!(module::loaded(), [path.display().to_string()]);
    assert!(is_loaded(&path) && m.registered());
    check_bytes(&m, true);
    check_calls(&m, 7, true);

    // The main image and the module switch together, main first.
    // SAFETY: as above.
    let reports = unsafe { module::apply(Target::Native) }.expect("switch to native");
    let images: Vec<&str> = reports.iter().map(|r| r.image.as_str()).collect();
    assert_eq!(images, ["main", path.to_str().unwrap()]);
    assert!(reports.iter().all(|r| r.error.is_none()));
    assert_eq!(
        reports[1].report.total().patched,
        8,
        "{}",
        reports[1].report
    );
    assert_eq!(module::current(), "native");
    assert!(decode(save_fl[0].current(), save_fl[0].addr())[0].mnemonic() != Mnemonic::Call);
    check_bytes(&m, false);
    check_calls(&m, 1000, false);
    assert_eq!(pv::x86_64::save_fl() & 0x200, 0x200);

    // SAFETY: as above.
    let reports = unsafe { module::apply(Target::XEN) }.expect("back to Xen");
    assert_eq!(
        reports[1].report.total().patched,
        8,
        "{}",
        reports[1].report
    );
    check_bytes(&m, true);
    check_calls(&m, 0, true);

    // Unregistering restores every site and slot to the file's bytes; closing unloads it.
    let file = pv_sites::elf::Elf::load(&path).expect("the module's file");
    let base = m.base();
    let in_file = |addr: u64, len: usize| file.read(addr - base, len).expect("in the file");
    let sites = module_sites(&m);
    let differs = sites
        .iter()
        .filter(|(r, _, _)| m.image().read(r.site, r.len) != Some(in_file(r.site, r.len)))
        .count();
    assert_eq!(differs, 8, "under Xen every site differs from the file");
    // SAFETY: as above.
    let report = unsafe { module::unregister(&mut m) }.expect("unregister");
    assert_eq!(
        (report.total().patched, report.slots_switched),
        (8, 5),
        "{report}"
    );
    assert!(module::loaded().is_empty() && !m.registered());
    for (r, _, name) in &sites {
        assert_eq!(
            m.image().read(r.site, r.len),
            Some(in_file(r.site, r.len)),
            "{name} at {:#x} holds the file's bytes again",
            r.site
        );
    }
    for (name, d) in descriptors(&m) {
        let slot = file.pointer(d.slot - base).map(|v| v + base);
        assert_eq!(
            m.image().pointer(d.slot),
            slot,
            "{name}'s slot as in the file"
        );
    }
    check_calls(&m, 5, false);
    // A switch leaves an unregistered module alone.
    // SAFETY: as above.
    let reports = unsafe { module::apply(Target::XEN) }.expect("main to Xen alone");
    assert_eq!(reports.len(), 1);
    check_calls(&m, 5, false);
    // SAFETY: nothing runs the module or holds a pointer into it any more.
    unsafe { module::close(m) }.expect("close");
    assert!(!is_loaded(&path), "dlclose'd");

    // SAFETY: as above.
    unsafe { module::revert() }.expect("main back to original");
    assert_eq!(module::current(), "original");
}

#[test]
fn a_module_with_an_unknown_record_version_or_a_paged_hypercall_is_refused_whole() {
    let _serial = common::serial();
    let _hv = Hypervisor::install().expect("test hypervisor");
    let path = testmod();
    // A copy of the module whose last record says it is of the next version.
    let mut bytes = std::fs::read(&path).expect("the module's file");
    let file = object::File::parse(&*bytes).expect("an ELF file");
    let sites = file.section_by_name("pv_sites").expect("pv_sites");
    let (offset, size) = sites.file_range().expect("in the file");
    let n = size / record::SIZE as u64;
    assert_eq!(n, 8);
    let version = (offset + (n - 1) * record::SIZE as u64) as usize + record::offset::VERSION;
    assert_eq!(bytes[version], record::VERSION);
    bytes[version] = record::VERSION + 1;
    let copy = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("libpv_testmod_next_version.so");
    std::fs::write(&copy, &bytes).expect("write the copy");

    // SAFETY: patching tests take turns (common::serial), and so do the transitions below.
    unsafe { module::apply(Target::XEN) }.expect("main to Xen");
    // SAFETY: nothing runs the module before `load` returns; its tables symbol is pv's.
    match unsafe { module::load(&copy) } {
        Err(e @ module::Error::RecordVersion { version, .. }) => {
            assert_eq!(version, record::VERSION + 1);
            let message = e.to_string();
            assert!(
                message.contains("refused whole")
                    && message.contains(&format!("site record version {}", version)),
                "{message}"
            );
        }
        Err(e) => panic!("refused for another reason: {e}"),
        Ok((_, report)) => panic!("loaded: {report}"),
    }
    assert!(module::loaded().is_empty(), "not registered");
    assert!(!is_loaded(&copy), "closed again");

    // A copy whose first descriptor says its Xen body is a hypercall: the module's hypercall
    // page is its own, never filled, so it is refused before anything of it is written.
    let mut bytes = std::fs::read(&path).expect("the module's file");
    let file = object::File::parse(&*bytes).expect("an ELF file");
    let (offset, _) = file
        .section_by_name("pv_intrinsics")
        .and_then(|s| s.file_range())
        .expect("pv_intrinsics in the file");
    let kind = offset as usize
        + core::mem::offset_of!(pv_runtime::Intrinsic, backends)
        + XEN * core::mem::size_of::<pv_runtime::Body>()
        + core::mem::offset_of!(pv_runtime::Body, kind);
    assert_ne!(bytes[kind], pv_runtime::BodyKind::Hypercall as u8);
    bytes[kind] = pv_runtime::BodyKind::Hypercall as u8;
    let copy = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("libpv_testmod_hypercall.so");
    std::fs::write(&copy, &bytes).expect("write the copy");
    // SAFETY: as above.
    match unsafe { module::load(&copy) } {
        Err(e @ module::Error::HypercallPage { .. }) => {
            let message = e.to_string();
            assert!(
                message.contains("refused whole") && message.contains("xen hypercall"),
                "{message}"
            );
        }
        Err(e) => panic!("refused for another reason: {e}"),
        Ok((_, report)) => panic!("loaded: {report}"),
    }
    assert!(module::loaded().is_empty() && !is_loaded(&copy));

    // An object that exports no tables is no module.
    // SAFETY: libm's initialisers are the C library's; it exports no tables symbol.
    match unsafe { module::load(std::path::Path::new("libm.so.6")) } {
        Err(module::Error::NoTables(_)) => {}
        other => panic!("libm: {:?}", other.map(|(m, _)| m.path().to_string())),
    }
    // SAFETY: as above.
    unsafe { module::revert() }.expect("main back to original");
}

#[test]
fn pv_sites_lists_the_modules_sites() {
    let path = testmod();
    let listing = pv_sites::list(&path).expect("pv-sites reads the module");
    let mut found: Vec<(String, Binding, bool)> = listing
        .sites
        .iter()
        .map(|s| {
            let name = s.intrinsic.rsplit("::").next().unwrap().to_string();
            (name, s.binding, s.probe)
        })
        .collect();
    found.sort_by(|a, b| (&a.0, a.2).cmp(&(&b.0, b.2)));
    let mut expected = Vec::new();
    for (name, binding, ..) in INTRINSICS.iter().filter(|i| i.1 != Binding::IndirectCall) {
        expected.push((name.to_string(), *binding, false));
        expected.push((name.to_string(), *binding, true));
    }
    expected.sort_by(|a, b| (&a.0, a.2).cmp(&(&b.0, b.2)));
    assert_eq!(
        found, expected,
        "one site and one probe per intrinsic with sites"
    );
    for s in &listing.sites {
        assert!(s.intrinsic.starts_with("pv_testmod::"), "{}", s.intrinsic);
        assert!(s.pristine, "{}: as compiled", s.intrinsic);
        let xen = s.xen.as_ref().expect("a Xen plan");
        assert!(
            xen[0].starts_with("call ") && xen[0].ends_with("::__pv_xen"),
            "{}: {xen:?}",
            s.intrinsic
        );
        let native = s.native.as_ref().expect("a native plan");
        assert!(
            native[0].starts_with("add rax,"),
            "{}: {native:?}",
            s.intrinsic
        );
    }
}

/// A backend of the user's that keeps every native body.
struct KeepNative;

// SAFETY: it installs no routine.
unsafe impl pv_runtime::Backend for KeepNative {
    fn name(&self) -> &str {
        "keep-native"
    }
    fn routine(&self, _: &Descriptor) -> Option<pv_runtime::Routine> {
        None
    }
}

static KEEP_NATIVE: KeepNative = KeepNative;

#[test]
fn a_module_loaded_before_any_switch_stays_as_compiled_and_follows_later_switches() {
    let _serial = common::serial();
    let _hv = Hypervisor::install().expect("test hypervisor");
    let path = testmod();
    // SAFETY: patching tests take turns (common::serial); no other thread runs a site.
    unsafe { module::revert() }.expect("main original");
    assert_eq!(module::current(), "original");
    // SAFETY: nothing runs the module before `load` returns; its tables symbol is pv's.
    let (m, report) = unsafe { module::load(&path) }.expect("load");
    let t = report.total();
    assert_eq!(
        (t.patched, t.unchanged),
        (0, 8),
        "left as compiled: {report}"
    );
    assert_eq!(report.slots_switched, 0);
    check_calls(&m, 3, false);

    // SAFETY: as above.
    let reports = unsafe { module::apply(Target::XEN) }.expect("to Xen");
    assert_eq!(reports.len(), 2);
    assert_eq!(
        reports[1].report.total().patched,
        8,
        "{}",
        reports[1].report
    );
    check_bytes(&m, true);
    check_calls(&m, 3, true);

    // A backend of the user's is refused with a reason, and nothing moves.
    // SAFETY: as above (nothing is written).
    match unsafe { module::apply(Target::Backend(&KEEP_NATIVE)) } {
        Err(e @ module::Error::Backend) => assert!(e.to_string().contains("backend")),
        other => panic!("{other:?}"),
    }
    assert_eq!(module::current(), "xen");
    check_calls(&m, 3, true);

    // `close` unregisters first: the module is restored, then unloaded.
    // SAFETY: nothing runs the module or holds a pointer into it any more.
    unsafe { module::close(m) }.expect("close");
    assert!(module::loaded().is_empty() && !is_loaded(&path));
    // SAFETY: as above.
    let reports = unsafe { module::revert() }.expect("main original");
    assert_eq!(
        reports.len(),
        1,
        "the closed module is gone from the registry"
    );
}
