//! Engine guarantees on this running process: a tampered site is refused, named and left
//! untouched while every other site is patched; a site's state is what its bytes say; every
//! transition commits whole or leaves every site and slot as it was, under injected faults at
//! every stage, every commit step and the serialisation; concurrent callers are serialised or
//! refused; text is never writable and executable; a user backend plugs in.

mod common;

use common::{all_sites, sites_of, wx_mappings};
use pv_runtime::hv::Hypervisor;
use pv_runtime::report::{Reason, Transaction};
use pv_runtime::writer::{Fault, RemapWriter, TextWriter};
use pv_runtime::{Backend, Live, Patcher, Routine, Target};

/// The first `cpuid` site of the catalogue, linked into this test by a call.
fn cpuid_site() -> pv_runtime::Site {
    let mut regs = pv::x86_64::CpuidRegs::default();
    // SAFETY: a valid pointer.
    unsafe { pv::x86_64::cpuid(&mut regs) };
    sites_of("x86_64", "cpuid")[0]
}

fn live() -> Live<RemapWriter> {
    Live::new(RemapWriter::new())
}

/// Every site's bytes and every slot's routine.
fn snapshot() -> (Vec<(usize, Vec<u8>)>, Vec<usize>) {
    let sites = all_sites()
        .iter()
        .map(|s| (s.addr(), s.current().to_vec()))
        .collect();
    let slots = pv_runtime::intrinsics()
        .iter()
        .map(|i| i.slot.get() as usize)
        .collect();
    (sites, slots)
}

/// Writes `bytes` over a site, as a corrupting bug would.
fn poke(addr: usize, bytes: &[u8]) {
    let mut writer = RemapWriter::new();
    // The bytes are put back before the test ends, and the tampered site is never executed.
    // SAFETY: the test owns the process's text while it holds `common::serial`.
    unsafe { writer.stage(addr as u64, bytes) }.unwrap();
    writer.commit().unwrap();
}

#[test]
fn tampered_site_is_refused_and_the_rest_patched() {
    let _serial = common::serial();
    let _hv = Hypervisor::install().expect("test hypervisor");
    let victim = cpuid_site();
    let original = victim.current().to_vec();
    let mut tampered = original.clone();
    tampered[2] ^= 0x40;
    poke(victim.addr(), &tampered);

    let mut patcher = Patcher::new();
    let dry = patcher.verify(&live(), Target::XEN);
    // SAFETY: patching tests take turns (common::serial); no site runs while patching.
    let report = unsafe { patcher.apply(&mut live(), Target::XEN) }.expect("apply");
    assert_eq!(dry.transaction, Transaction::DryRun);
    assert_eq!(dry.refused_total, 1, "verify predicts the refusal: {dry}");
    assert_eq!(report.transaction, Transaction::Committed);
    assert_eq!(report.refused_total, 1, "{report}");
    let refusal = report.refused().next().unwrap();
    assert_eq!(
        (refusal.addr, refusal.name.as_str(), refusal.reason),
        (victim.addr() as u64, "cpuid", Reason::Mismatch)
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
        "every other site: {report}"
    );
    assert!(
        format!("{report}").contains("refused"),
        "the report names it"
    );

    // SAFETY: as above.
    let report = unsafe { patcher.revert(&mut live()) }.expect("revert");
    assert_eq!(report.refused_total, 1, "still refused on revert: {report}");
    poke(victim.addr(), &original);
}

#[test]
fn a_site_is_in_the_state_its_bytes_say() {
    let _serial = common::serial();
    let _hv = Hypervisor::install().expect("test hypervisor");
    let before = snapshot();
    let victim = cpuid_site();
    let mut patcher = Patcher::new();

    // SAFETY (every transition below): patching tests take turns; no site runs meanwhile.
    let report = unsafe { patcher.apply(&mut live(), Target::XEN) }.expect("apply xen");
    assert_eq!(report.refused_total, 0, "{report}");
    let xen_bytes = victim.current().to_vec();
    let mut altered = xen_bytes.clone();
    altered[1] ^= 0x01;
    poke(victim.addr(), &altered);
    // SAFETY: patching tests take turns (common::serial); no site runs meanwhile.
    let report = unsafe { patcher.apply(&mut live(), Target::Native) }.expect("apply native");
    assert_eq!(
        report.refused_total, 1,
        "the altered site is refused: {report}"
    );
    assert_eq!(victim.current(), &altered[..]);
    poke(victim.addr(), &xen_bytes);
    // SAFETY: patching tests take turns (common::serial); no site runs meanwhile.
    let report = unsafe { patcher.revert(&mut live()) }.expect("revert");
    assert_eq!(
        report.refused_total, 0,
        "the restored Xen site reverts too: {report}"
    );
    assert_eq!(snapshot(), before, "every site and slot original again");

    // Revert without apply, revert twice: no-ops, and the report says so.
    // SAFETY: patching tests take turns (common::serial); no site runs meanwhile.
    let report = unsafe { patcher.revert(&mut live()) }.expect("revert again");
    let t = report.total();
    assert_eq!(
        (t.patched, t.unchanged, t.refused),
        (0, t.sites, 0),
        "{report}"
    );
    assert_eq!((report.bytes_written, report.slots_switched), (0, 0));
    // Double apply: the second finds everything done.
    // SAFETY: patching tests take turns (common::serial); no site runs meanwhile.
    unsafe { patcher.apply(&mut live(), Target::XEN) }.expect("apply");
    // SAFETY: patching tests take turns (common::serial); no site runs meanwhile.
    let report = unsafe { patcher.apply(&mut live(), Target::XEN) }.expect("apply again");
    let t = report.total();
    assert_eq!(
        (t.patched, t.unchanged, t.refused),
        (0, t.sites, 0),
        "{report}"
    );
    assert_eq!((report.bytes_written, report.slots_switched), (0, 0));
    // SAFETY: patching tests take turns (common::serial); no site runs meanwhile.
    unsafe { patcher.revert(&mut live()) }.expect("revert");
    assert_eq!(snapshot(), before);
}

#[test]
fn a_foreign_slot_is_refused_and_left_alone() {
    let _serial = common::serial();
    let _hv = Hypervisor::install().expect("test hypervisor");
    let intrinsic = pv_runtime::ops::find("rdtsc").expect("rdtsc");
    let native = intrinsic.slot.get();
    unsafe extern "C" fn foreign() {}
    // SAFETY: no thread calls rdtsc through its slot during this test; restored below.
    unsafe { intrinsic.slot.set(foreign) };
    let mut patcher = Patcher::new();
    // SAFETY: patching tests take turns; no site runs meanwhile.
    let report = unsafe { patcher.apply(&mut live(), Target::XEN) }.expect("apply");
    assert_eq!(report.refused_total, 1, "{report}");
    assert!(matches!(
        report.refused().next().unwrap().reason,
        Reason::Slot(_)
    ));
    assert_eq!(
        intrinsic.slot.get() as usize,
        foreign as *const () as usize,
        "left alone"
    );
    // SAFETY: as above.
    unsafe { intrinsic.slot.set(native) };
    // SAFETY: as above.
    let report = unsafe { patcher.revert(&mut live()) }.expect("revert");
    assert_eq!(report.refused_total, 0, "{report}");
}

/// One transition: to Xen (`xen`), or back to the original bytes.
fn transition(xen: bool, fault: Option<Fault>) -> Result<pv_runtime::Report, Transaction> {
    let mut image = live();
    if let Some(fault) = fault {
        image.writer().inject(fault);
    }
    let mut patcher = Patcher::new();
    // SAFETY: patching tests take turns (common::serial); no site runs while patching.
    let result = unsafe {
        if xen {
            patcher.apply(&mut image, Target::XEN)
        } else {
            patcher.revert(&mut image)
        }
    };
    result.map_err(|f| f.report.transaction)
}

/// Runs the transition with `fault` injected: `false` if the fault lay beyond the
/// transition's stages or steps, so that it committed; else it must have rolled back and
/// left every site and slot as it was.
fn rolls_back(xen: bool, fault: Fault) -> bool {
    let before = snapshot();
    match transition(xen, Some(fault)) {
        Ok(report) => {
            assert_eq!(report.transaction, Transaction::Committed, "{fault:?}");
            transition(!xen, None).expect("undo");
            false
        }
        Err(t) => {
            assert_eq!(t, Transaction::RolledBack, "{fault:?}");
            assert_eq!(snapshot(), before, "{fault:?}: every byte as it was");
            true
        }
    }
}

#[test]
fn every_failed_transition_leaves_every_byte_as_it_was() {
    let _serial = common::serial();
    let _hv = Hypervisor::install().expect("test hypervisor");
    let original = snapshot();
    let patched = Patcher::new().verify(&live(), Target::XEN).total().patched;
    for xen in [true, false] {
        if !xen {
            transition(true, None).expect("start from Xen");
        }
        let stages = (0..)
            .take_while(|k| rolls_back(xen, Fault::Stage(*k)))
            .count();
        let steps = (0..)
            .take_while(|k| rolls_back(xen, Fault::Step(*k)))
            .count();
        assert_eq!(
            stages, patched,
            "a fault at each stage, one per site written"
        );
        assert!(steps >= 1, "a fault at each of the {steps} runs of pages");
        assert!(rolls_back(xen, Fault::Serialise), "serialisation");
        let report = transition(xen, None).expect("the next transition succeeds");
        assert_eq!(report.refused_total, 0, "{report}");
    }
    assert_eq!(snapshot(), original);
}

#[test]
fn concurrent_callers_are_serialised_or_refused() {
    let _serial = common::serial();
    let _hv = Hypervisor::install().expect("test hypervisor");
    let original = snapshot();
    let (mut committed, mut busy) = (0, 0);
    for _ in 0..20 {
        let outcomes: Vec<Transaction> = std::thread::scope(|s| {
            let settle = |r: Result<pv_runtime::Report, pv_runtime::engine::Failure<_>>| match r {
                Ok(r) => r.transaction,
                Err(f) => f.report.transaction,
            };
            let apply = s.spawn(move || {
                // SAFETY: neither thread runs a site; the engine serialises the two.
                settle(unsafe { Patcher::new().apply(&mut live(), Target::XEN) })
            });
            let revert = s.spawn(move || {
                // SAFETY: as above.
                settle(unsafe { Patcher::new().revert(&mut live()) })
            });
            vec![apply.join().unwrap(), revert.join().unwrap()]
        });
        for t in outcomes {
            match t {
                Transaction::Committed => committed += 1,
                Transaction::Busy => busy += 1,
                other => panic!("neither committed nor refused: {other:?}"),
            }
        }
        // Whatever won, the sites are all in one state: one of the two dry runs finds
        // nothing to do.
        let settled = [Target::XEN, Target::Native].iter().any(|t| {
            let r = Patcher::new().verify(&live(), *t);
            r.refused_total == 0 && r.total().patched == 0
        }) || {
            let mut back = live();
            // SAFETY: as above; single-threaded again.
            let r = unsafe { Patcher::new().revert(&mut back) }.expect("revert");
            r.refused_total == 0
        };
        assert!(settled, "a consistent state");
        // SAFETY: as above.
        unsafe { Patcher::new().revert(&mut live()) }.expect("revert");
        assert_eq!(snapshot(), original);
    }
    assert!(committed >= 20, "{committed} committed, {busy} refused");
}

#[test]
fn text_is_never_writable_and_executable() {
    let _serial = common::serial();
    assert_eq!(wx_mappings(), Vec::<String>::new(), "before");
    let _hv = Hypervisor::install().expect("test hypervisor");
    let mut patcher = Patcher::new();
    // SAFETY: patching tests take turns; no site runs while patching.
    let report = unsafe { patcher.apply(&mut live(), Target::XEN) }.unwrap();
    assert!(
        report.pages > 0 && report.protection_calls <= 2 * report.pages,
        "{report}"
    );
    assert_eq!(wx_mappings(), Vec::<String>::new(), "after apply");
    // SAFETY: as for apply.
    unsafe { patcher.revert(&mut live()) }.unwrap();
    assert_eq!(wx_mappings(), Vec::<String>::new(), "after revert");
}

/// A backend of the user's: `rdtsc` returns 42.
struct Frozen;

#[unsafe(naked)]
unsafe extern "C" fn frozen_rdtsc() {
    core::arch::naked_asm!("mov eax, 42", "ret")
}

// SAFETY: `frozen_rdtsc` keeps rdtsc's contract: it writes rax only.
unsafe impl Backend for Frozen {
    fn name(&self) -> &str {
        "frozen-clock"
    }
    fn routine(&self, d: &pv_runtime::engine::Descriptor) -> Option<Routine> {
        let image = pv_runtime::Sections::this_binary();
        (d.name(&image) == "rdtsc").then_some(frozen_rdtsc as Routine)
    }
}

#[test]
fn a_user_backend_replaces_what_it_implements() {
    let _serial = common::serial();
    assert_ne!(pv::x86_64::rdtsc(), 42);
    let backend = Frozen;
    let mut patcher = Patcher::new();
    // SAFETY: patching tests take turns; no site runs while patching.
    let report = unsafe { patcher.apply(&mut live(), Target::Backend(&backend)) }.unwrap();
    assert_eq!(report.target(), "frozen-clock");
    assert_eq!(report.refused_total, 0, "{report}");
    assert_eq!(pv::x86_64::rdtsc(), 42);
    for site in all_sites().iter().filter(|s| s.intrinsic.name == "rdtsc") {
        common::assert_call_then_nops(site, frozen_rdtsc as *const () as usize);
    }
    // SAFETY: as for apply.
    unsafe { patcher.revert(&mut live()) }.unwrap();
    assert_ne!(pv::x86_64::rdtsc(), 42);
}
