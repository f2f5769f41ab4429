//! Engine guarantees: a tampered site is refused, named and left untouched while every other
//! site is patched; text is never writable and executable; a user backend plugs in.

mod common;

use common::{all_sites, sites_of};
use pv_runtime::hv::Hypervisor;
use pv_runtime::report::Reason;
use pv_runtime::writer::{RemapWriter, TextWriter};
use pv_runtime::{Backend, Intrinsic, Patcher, Routine, Target};

/// Lines of `/proc/self/maps` that are both writable and executable.
fn wx_mappings() -> Vec<String> {
    std::fs::read_to_string("/proc/self/maps")
        .expect("maps")
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|p| p.contains('w') && p.contains('x'))
        })
        .map(String::from)
        .collect()
}

#[test]
fn tampered_site_is_refused_and_the_rest_patched() {
    let _serial = common::serial();
    let _hv = Hypervisor::install().expect("test hypervisor");
    // Make sure both direct_branch cpuid sites exist in this binary.
    let mut regs = pv::x86_64::CpuidRegs::default();
    // SAFETY: valid pointer.
    unsafe { pv::x86_64::cpuid(&mut regs) };
    let victim = sites_of("x86_64", "cpuid")[0];
    let original = victim.current().to_vec();
    let mut tampered = original.clone();
    tampered[2] ^= 0x40;
    let mut writer = RemapWriter::new();
    writer.stage(victim.addr(), &tampered).unwrap();
    writer.commit().unwrap();

    let mut patcher = Patcher::new();
    let dry = patcher.verify(Target::Xen);
    let report = patcher
        .apply(Target::Xen, &mut RemapWriter::new())
        .expect("apply");
    assert_eq!(dry.refused_total, 1, "verify predicts the refusal: {dry}");
    assert_eq!(report.refused_total, 1, "{report}");
    let refusal = report.refused().next().unwrap();
    assert_eq!(
        (refusal.addr, refusal.name.as_str(), refusal.reason),
        (victim.addr(), "cpuid", Reason::Mismatch)
    );
    assert_eq!(
        victim.current(),
        &tampered[..],
        "the tampered bytes are untouched"
    );
    let t = report.total();
    assert_eq!(
        t.patched + t.unchanged,
        t.sites - 1,
        "every other site is patched: {report}"
    );
    assert!(
        format!("{report}").contains("refused"),
        "the report names it"
    );

    let report = patcher.revert(&mut RemapWriter::new()).expect("revert");
    assert_eq!(report.refused_total, 1, "still refused on revert: {report}");
    let mut writer = RemapWriter::new();
    writer.stage(victim.addr(), &original).unwrap();
    writer.commit().unwrap();
}

#[test]
fn text_is_never_writable_and_executable() {
    let _serial = common::serial();
    assert_eq!(wx_mappings(), Vec::<String>::new(), "before");
    let _hv = Hypervisor::install().expect("test hypervisor");
    let mut patcher = Patcher::new();
    let report = patcher.apply(Target::Xen, &mut RemapWriter::new()).unwrap();
    assert!(
        report.pages > 0 && report.protection_calls <= 2 * report.pages,
        "{report}"
    );
    assert_eq!(wx_mappings(), Vec::<String>::new(), "after apply");
    patcher.revert(&mut RemapWriter::new()).unwrap();
    assert_eq!(wx_mappings(), Vec::<String>::new(), "after revert");
}

/// A backend of the user's: `rdtsc` returns 42.
struct Frozen;

#[unsafe(naked)]
unsafe extern "C" fn frozen_rdtsc() {
    core::arch::naked_asm!("mov eax, 42", "ret")
}

impl Backend for Frozen {
    fn name(&self) -> &str {
        "frozen-clock"
    }
    fn routine(&self, i: &Intrinsic) -> Option<Routine> {
        (i.name == "rdtsc").then_some(frozen_rdtsc as Routine)
    }
}

#[test]
fn a_user_backend_replaces_what_it_implements() {
    let _serial = common::serial();
    assert_ne!(pv::x86_64::rdtsc(), 42);
    let backend = Frozen;
    let mut patcher = Patcher::new();
    let report = patcher
        .apply(Target::Backend(&backend), &mut RemapWriter::new())
        .unwrap();
    assert_eq!(report.target(), "frozen-clock");
    assert_eq!(report.refused_total, 0, "{report}");
    assert_eq!(pv::x86_64::rdtsc(), 42);
    for site in all_sites().iter().filter(|s| s.intrinsic.name == "rdtsc") {
        common::assert_call_then_nops(site, frozen_rdtsc as *const () as usize);
    }
    patcher.revert(&mut RemapWriter::new()).unwrap();
    assert_ne!(pv::x86_64::rdtsc(), 42);
}
