//! pv-guest booted under pv-vmm as bare metal, as a Xen guest and as a KVM guest: the guest
//! patches itself for what CPUID shows, runs its workload, reverts, and the monitor sees the
//! hypervisor traffic the workload implies. Each boot has a 25 s watchdog and must end within
//! 30 s. Without /dev/kvm every test prints `SKIPPED: <reason>`.

#[path = "../../tests/common/skip.rs"]
mod common;

use common::skipped;
use pv_vmm::{Config, End, Entry, Mode, Outcome, boot};
use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Boots `config`, asserting the 30 s bound; `None` (and a SKIPPED line) without KVM.
fn run(config: &Config, what: &str) -> Option<Outcome> {
    if let Some(why) = pv_vmm::kvm_unavailable() {
        skipped(&format!("{what}: {why}"));
        return None;
    }
    let started = Instant::now();
    let outcome = boot(config).unwrap_or_else(|e| panic!("{what}: the monitor failed: {e}"));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{what}: took {:?}",
        started.elapsed()
    );
    Some(outcome)
}

fn config(mode: Mode) -> Config {
    Config {
        timeout: Duration::from_secs(25),
        ..Config::new(mode)
    }
}

/// One boot per mode, shared by the tests that only read it.
fn booted(mode: Mode) -> Option<&'static Outcome> {
    static BOOTS: [OnceLock<Option<Outcome>>; 3] =
        [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let i = Mode::ALL.iter().position(|m| *m == mode).unwrap();
    BOOTS[i]
        .get_or_init(|| run(&config(mode), mode.name()))
        .as_ref()
}

/// The workload's `work <step> …` lines, in order.
fn work(o: &Outcome) -> Vec<&str> {
    o.console
        .lines()
        .filter(|l| l.starts_with("work "))
        .collect()
}

fn assert_booted_and_patched(o: &Outcome, target: &str) {
    assert!(
        o.end.succeeded(),
        "{}: {}\n{}",
        o.mode.name(),
        o.end.describe(),
        o.console
    );
    assert_eq!(o.target(), Some(target), "{}", o.console);
    let report = o.report();
    for binding in [
        "inline_patch",
        "direct_branch",
        "indirect_branch",
        "indirect_call",
    ] {
        let c = report
            .get(binding)
            .unwrap_or_else(|| panic!("no report line for {binding}:\n{}", o.console));
        assert_eq!(c.refused, 0, "{binding}: {}", o.console);
        assert!(c.patched + c.unchanged > 0, "{binding}: no sites");
    }
    assert!(
        report.values().map(|c| c.patched).sum::<u64>() > 0,
        "nothing patched"
    );
    assert!(o.refused().is_empty(), "{:?}", o.refused());
    assert!(
        o.console.contains("revert ok text=identical"),
        "revert must restore every byte of text:\n{}",
        o.console
    );
    let work = work(o);
    assert!(work.len() >= 20, "the workload ran twice:\n{}", o.console);
    assert!(!o.console.contains("FAIL"), "{}", o.console);
}

#[test]
fn bare_metal_boot_patches_native_runs_the_workload_and_reverts() {
    let Some(o) = booted(Mode::Bare) else { return };
    assert_booted_and_patched(o, "native");
    assert!(o.console.contains("hypervisor: none"), "{}", o.console);
    assert!(o.hypercalls.is_empty(), "no hypercalls on bare metal");
    // Both runs are native: io_delay's `out 0x80` reaches the monitor twice, and KVM saw two
    // halts woken by the 8254's interrupt.
    assert_eq!(o.exits.get("io_out 0x80"), Some(&2), "{:?}", o.exits);
    let stat = |name: &str| kvm_stat(o, name);
    if let (Some(halts), Some(injected)) = (stat("halt_exits"), stat("irq_injections")) {
        assert_eq!(halts, 2, "two halts");
        assert!(injected >= 2, "each woken by an interrupt");
    }
}

/// A KVM statistic, if the host offers them.
fn kvm_stat(o: &Outcome, name: &str) -> Option<u64> {
    o.kvm_stats.as_ref()?.get(name).copied()
}

#[test]
fn xen_boot_patches_xen_and_the_hypercalls_match_the_workload() {
    let Some(o) = booted(Mode::Xen) else { return };
    assert_booted_and_patched(o, "xen");
    assert!(o.console.contains("hypervisor: xen"), "{}", o.console);
    let calls = |name: &str| o.hypercalls.get(name).copied().unwrap_or(0);
    assert_eq!(
        calls("vcpu_op"),
        1,
        "register_vcpu_info once: {:?}",
        o.hypercalls
    );
    assert!(
        calls("mmuext_op") >= 4,
        "cr3 switch and back, invlpg, flush: {:?}",
        o.hypercalls
    );
    assert!(calls("set_trap_table") >= 1 && calls("set_gdt") >= 1);
    assert!(calls("sched_op") >= 1, "safe_halt blocks");
    assert!(
        calls("set_segment_base") >= 1,
        "the MSR goes through set_segment_base"
    );
    assert!(calls("console_io") >= 1, "outb to the console port");
    assert_eq!(calls("other"), 0, "{:?}", o.hypercalls);
    // Only the reverted (native) run leaves io_delay and invlpg to the machine.
    assert_eq!(o.exits.get("io_out 0x80"), Some(&1), "{:?}", o.exits);
    // KVM counts the `invlpg`s it handles (here each one; none with EPT): the bare run's two
    // native runs show twice what Xen's one native run shows, the patched run's flush being
    // mmuext_op(INVLPG_LOCAL).
    if let (Some(xen), Some(bare)) = (
        kvm_stat(o, "invlpg"),
        booted(Mode::Bare).and_then(|b| kvm_stat(b, "invlpg")),
    ) {
        assert_eq!(
            bare,
            2 * xen,
            "invlpg handled by KVM: bare {bare}, xen {xen}"
        );
    }
    // Each step of the patched run makes exactly the hypercalls its Xen body implies (outb: one
    // console_io per byte); the reverted run makes none.
    let expected: &[(&str, &[(&str, u64)])] = &[
        ("irq_disable", &[]),
        ("irq_enable", &[]),
        ("restore_fl", &[]),
        ("read_cr3", &[]),
        ("write_cr3", &[("mmuext_op", 2)]),
        ("wrmsr", &[("set_segment_base", 1)]),
        ("flush_tlb_one", &[("mmuext_op", 1)]),
        ("flush_tlb_all", &[("mmuext_op", 1)]),
        ("wbinvd", &[]),
        ("load_idt", &[("set_trap_table", 2)]),
        ("load_gdt", &[("set_gdt", 1)]),
        ("io_delay", &[]),
        ("safe_halt", &[("sched_op", 1)]),
    ];
    let half = o.steps.len() / 2;
    for (i, s) in o.steps.iter().enumerate() {
        let name = s.line.split_whitespace().nth(1).unwrap_or("");
        let want: BTreeMap<String, u64> = if i >= half {
            BTreeMap::new()
        } else if name == "outb" {
            let n = s.hypercalls.get("console_io").copied().unwrap_or(0);
            assert!(n > 0, "outb wrote through console_io");
            [("console_io".to_string(), n)].into()
        } else {
            let (_, calls) = expected
                .iter()
                .find(|(step, _)| *step == name)
                .unwrap_or_else(|| panic!("unexpected step {}", s.line));
            calls.iter().map(|(k, v)| (k.to_string(), *v)).collect()
        };
        assert_eq!(s.hypercalls, want, "{} (step {i})", s.line);
    }
    // The paravirtualized steps of the patched run leave the guest only for their hypercalls:
    // every exit of a step is a hypercall-port write.
    let patched_steps = &o.steps[..o.steps.len() / 2];
    assert!(!patched_steps.is_empty());
    for s in patched_steps {
        let exits: u64 = s.exits.values().sum();
        let hypercalls: u64 = s.hypercalls.values().sum();
        let port = s
            .exits
            .get(&format!("io_out {:#x}", pv_vmm::xen::HYPERCALL_PORT))
            .copied()
            .unwrap_or(0);
        assert_eq!(
            exits, port,
            "{}: exits other than hypercalls: {:?}",
            s.line, s.exits
        );
        assert_eq!(port, hypercalls, "{}", s.line);
    }
    for quiet in ["work irq_disable", "work irq_enable", "work restore_fl"] {
        let s = patched_steps
            .iter()
            .find(|s| s.line.starts_with(quiet))
            .unwrap_or_else(|| panic!("no `{quiet}` step: {:?}", o.steps));
        assert!(
            s.exits.is_empty() && s.hypercalls.is_empty(),
            "{}: {s:?}",
            s.line
        );
    }
}

#[test]
fn kvm_boot_patches_kvm() {
    let Some(o) = booted(Mode::Kvm) else { return };
    assert_booted_and_patched(o, "kvm");
    assert!(o.console.contains("hypervisor: kvm"), "{}", o.console);
    assert!(o.hypercalls.is_empty());
    // The KVM backend's kvmclock hook registered an area with the host's own KVM, which
    // filled it (the guest read an even, non-zero pvclock version).
    let version: u64 = o
        .console
        .lines()
        .find_map(|l| l.strip_prefix("work kvmclock version="))
        .unwrap_or_else(|| panic!("no kvmclock line:\n{}", o.console))
        .parse()
        .unwrap();
    assert!(
        version > 0 && version.is_multiple_of(2),
        "pvclock version {version}"
    );
    assert_eq!(
        o.state.kvm_system_time & 1,
        1,
        "MSR_KVM_SYSTEM_TIME_NEW enabled"
    );
    assert_eq!(booted(Mode::Bare).unwrap().state.kvm_system_time, 0);
}

/// The workload's lines, with the one difference the README names cut off: what woke the
/// halt (an interrupt vector natively, a pending event under Xen).
fn results(o: &Outcome) -> Vec<String> {
    work(o)
        .iter()
        .map(|l| match l.find(" woke ") {
            Some(at) => l[..at + " woke".len()].to_string(),
            None => l.to_string(),
        })
        .collect()
}

#[test]
fn bare_metal_and_xen_end_in_the_same_guest_state() {
    let (Some(bare), Some(xen)) = (booted(Mode::Bare), booted(Mode::Xen)) else {
        return;
    };
    assert_eq!(results(bare), results(xen), "the workload's results");
    assert_eq!(bare.state.cr3, xen.state.cr3, "cr3");
    assert_eq!(
        bare.state.kernel_gs_base, xen.state.kernel_gs_base,
        "the MSR"
    );
    assert_eq!(
        bare.state.kernel_gs_base, 0x5678_9abc_def0,
        "the value the workload wrote"
    );
    // Xen's trap table lists the IDT's present gates; the descriptors Xen got are the GDT's.
    let idt: BTreeMap<u8, u64> = bare.state.handlers.iter().copied().collect();
    let traps: BTreeMap<u8, u64> = xen.state.handlers.iter().copied().collect();
    assert!(idt.len() >= 33, "{idt:?}");
    assert_eq!(idt, traps, "IDT gates and Xen's trap table");
    assert_eq!(bare.state.gdt, xen.state.gdt, "GDT");
}

#[test]
fn the_64_bit_entry_ends_in_the_same_state_as_the_pvh_entry() {
    let mut c = config(Mode::Xen);
    c.entry = Entry::Long;
    let Some(long) = run(&c, "64-bit entry") else {
        return;
    };
    let pvh = booted(Mode::Xen).unwrap();
    assert!(
        long.console.starts_with("pv-guest: boot (start64)"),
        "{}",
        long.console
    );
    assert!(pvh.console.starts_with("pv-guest: boot (pvh)"));
    assert_booted_and_patched(&long, "xen");
    assert_eq!(results(&long), results(pvh));
    assert_eq!(long.state, pvh.state);
}

#[test]
fn a_flipped_byte_in_one_site_is_refused_and_named_and_the_rest_patched() {
    if let Some(why) = pv_vmm::kvm_unavailable() {
        skipped(&format!("flipped site: {why}"));
        return;
    }
    let elf = Config::new(Mode::Xen).elf;
    let listing = pv_sites::list(&elf).expect("the guest's sites");
    let site = listing
        .sites
        .iter()
        .find(|s| !s.probe && s.intrinsic.ends_with("irq_disable"))
        .expect("an irq_disable site");
    let mut c = config(Mode::Xen);
    c.flip = vec![site.addr];
    let o = run(&c, "flipped site").unwrap();
    assert!(o.end.succeeded(), "{}\n{}", o.end.describe(), o.console);
    let refused = o.refused();
    assert_eq!(refused.len(), 1, "{}", o.console);
    assert!(refused[0].contains("irq_disable"), "{}", refused[0]);
    assert!(
        refused[0].contains(&format!("{:#x}", site.addr)),
        "{}",
        refused[0]
    );
    let report = o.report();
    assert_eq!(report.values().map(|c| c.refused).sum::<u64>(), 1);
    let clean = booted(Mode::Xen).unwrap().report();
    assert_eq!(
        report.values().map(|c| c.patched).sum::<u64>() + 1,
        clean.values().map(|c| c.patched).sum::<u64>(),
        "every other site patched"
    );
}

#[test]
fn a_guest_exception_is_reported_with_vector_and_rip() {
    let mut c = config(Mode::Bare);
    c.cmdline = "fault".into();
    let Some(o) = run(&c, "guest exception") else {
        return;
    };
    assert_eq!(o.end, End::Exit(0x11), "{}", o.console);
    let line = o
        .console
        .lines()
        .find(|l| l.starts_with("exception "))
        .unwrap_or_else(|| panic!("no exception line:\n{}", o.console));
    assert!(line.contains("vector=14"), "{line}");
    assert!(!line.contains("rip=0x0 "), "{line}");
}

#[test]
fn a_hung_vcpu_is_stopped_and_reported_by_the_watchdog() {
    let mut c = config(Mode::Bare);
    c.cmdline = "hang".into();
    c.timeout = Duration::from_secs(3);
    let Some(o) = run(&c, "hung vCPU") else {
        return;
    };
    match o.end {
        End::Hung { rip, after_s } => {
            assert_ne!(rip, 0);
            assert_eq!(after_s, 3);
            assert!(
                o.end
                    .describe()
                    .starts_with("watchdog: vCPU still running after 3 s")
            );
        }
        ref other => panic!("expected the watchdog, got {other:?}"),
    }
}

#[test]
fn the_command_prints_one_json_object() {
    if let Some(why) = pv_vmm::kvm_unavailable() {
        skipped(&format!("pv-vmm --json: {why}"));
        return;
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pv-vmm"))
        .args(["--mode", "xen", "--json"])
        .output()
        .expect("pv-vmm runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "one line");
    for key in [
        "\"mode\": \"xen\"",
        "\"report\": {",
        "\"hypercalls\": {",
        "\"exits\": {",
        "\"emulated_instructions\": ",
        "\"console\": \"",
    ] {
        assert!(text.contains(key), "{key} missing: {text}");
    }
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_pv-vmm"))
        .args(["--mode", "vmware"])
        .output()
        .unwrap();
    assert_eq!(
        bad.status.code(),
        Some(2),
        "an unknown mode is a usage error"
    );
}
