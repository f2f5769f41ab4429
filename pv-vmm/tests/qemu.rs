//! pv-guest on a second, independent x86 machine: QEMU, booting the guest's PVH entry with
//! `-kernel`. Under its full-system software model (TCG) the guest finds no known hypervisor
//! (TCG's CPUID signature is "TCGTCGTCGTCG") and patches its sites natively; with `-accel kvm`
//! (where /dev/kvm opens) it finds KVM and patches for it. Either way it runs the workload,
//! reverts and checks its text. Also checks the guest's machine code: no SSE or x87
//! instruction outside `core`'s formatting code, which the guest never runs.

#[path = "../../tests/common/skip.rs"]
mod common;

use common::skipped;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The guest ELF `build.rs` built.
const GUEST: &str = env!("PV_GUEST_ELF");
/// How long one boot may take (it takes well under a second under TCG here).
const TIMEOUT: Duration = Duration::from_secs(30);

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Boots the guest on accelerator `accel` with `append` as its command line; returns the exit
/// status and console.
fn boot(name: &str, accel: &[&str], append: Option<&str>) -> (i32, String) {
    let console: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.console"));
    let _ = std::fs::remove_file(&console);
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args(accel)
        .args(["-kernel", GUEST])
        .arg("-debugcon")
        .arg(format!("file:{}", console.display()))
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
        .args([
            "-display",
            "none",
            "-no-reboot",
            "-nodefaults",
            "-serial",
            "none",
        ])
        .args(["-m", "64"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(a) = append {
        cmd.args(["-append", a]);
    }
    let mut child = cmd.spawn().expect("qemu-system-x86_64 starts");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("waiting for qemu") {
            break s;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            let text = std::fs::read_to_string(&console).unwrap_or_default();
            panic!("the guest did not exit within {TIMEOUT:?}; console so far:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = std::fs::read_to_string(&console).unwrap_or_default();
    let code = status
        .code()
        .unwrap_or_else(|| panic!("qemu was killed by a signal ({status}); console:\n{text}"));
    (code, text)
}

/// The `report` line of `binding`: (patched, unchanged, refused).
fn report(console: &str, binding: &str) -> (u64, u64, u64) {
    let prefix = format!("report {binding} ");
    let line = console
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no report line for {binding}:\n{console}"));
    let field = |name: &str| -> u64 {
        line.split(' ')
            .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name}= in {line:?}"))
    };
    (field("patched"), field("unchanged"), field("refused"))
}

/// The workload's lines, in order, once per run (patched, then reverted).
const WORK: &[&str] = &[
    "work irq_disable if=0",
    "work irq_enable if=1",
    "work restore_fl if=0",
    "work restore_fl if=1",
    "work read_cr3 0x",
    "work write_cr3 0x",
    "work wrmsr 0x56789abcdef0",
    "work flush_tlb_one 0x",
    "work flush_tlb_all ok",
    "work wbinvd ok",
    "work load_idt ok",
    "work load_gdt ok",
    "work io_delay ok",
    "work outb ok",
    "work safe_halt woke vector=0x30",
];

/// Checks a whole run's console: one of `hypervisor`, `target`, the reports with nothing
/// refused and something patched, both runs of the workload (the first with `extra` after
/// it), the revert, the end.
fn check_run(console: &str, hypervisor: &[&str], target: &str, extra: Option<&str>) {
    let lines: Vec<&str> = console.lines().collect();
    assert_eq!(lines.first(), Some(&"pv-guest: boot (pvh)"), "{console}");
    assert!(
        hypervisor.iter().any(|h| lines.contains(h)),
        "none of {hypervisor:?}:\n{console}"
    );
    assert!(lines.contains(&target), "no {target:?}:\n{console}");
    let mut patched = 0;
    for binding in [
        "inline_patch",
        "direct_branch",
        "indirect_branch",
        "indirect_call",
    ] {
        let (p, _, refused) = report(console, binding);
        assert_eq!(refused, 0, "{binding} refused sites:\n{console}");
        patched += p;
    }
    assert!(patched > 0, "nothing patched:\n{console}");
    assert!(!console.contains("\nrefused "), "{console}");
    let revert = lines
        .iter()
        .position(|l| *l == "revert ok text=identical")
        .unwrap_or_else(|| panic!("no revert line:\n{console}"));
    for (run, part) in [&lines[..revert], &lines[revert..]].iter().enumerate() {
        let mut want: Vec<&str> = WORK.to_vec();
        if let (0, Some(e)) = (run, extra) {
            want.push(e);
        }
        let work: Vec<&&str> = part.iter().filter(|l| l.starts_with("work ")).collect();
        assert_eq!(work.len(), want.len(), "run {run}:\n{console}");
        for (got, want) in work.iter().zip(&want) {
            assert!(got.starts_with(want), "run {run}: {got:?} is not {want:?}");
        }
    }
    assert_eq!(lines.last(), Some(&"pv-guest: done"), "{console}");
}

#[test]
fn guest_boots_patches_runs_and_reverts_under_qemu() {
    if !have("qemu-system-x86_64") {
        return skipped("qemu-system-x86_64 not installed (apt-get install qemu-system-x86)");
    }
    let (status, console) = boot("boot", &["-accel", "tcg"], None);
    assert_eq!(
        status, 33,
        "exit status (0x10 << 1 | 1); console:\n{console}"
    );
    check_run(
        &console,
        &["hypervisor: unknown:TCGTCGTCGTCG", "hypervisor: none"],
        "target native",
        None,
    );
}

/// The same guest under QEMU with KVM: it finds KVM's signature, patches for KVM (KVM's
/// bodies, its hypercall instruction for the CPU's vendor), registers kvmclock, and still
/// executes no `vmcall` (this host's KVM hangs on it) and no SSE (it aborts on it).
#[test]
fn guest_patches_for_kvm_under_qemu_with_kvm() {
    if !have("qemu-system-x86_64") {
        return skipped("qemu-system-x86_64 not installed (apt-get install qemu-system-x86)");
    }
    let kvm = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm");
    if let Err(e) = kvm {
        return skipped(&format!("/dev/kvm cannot be opened ({e}): no KVM here"));
    }
    // `-cpu host` asks for MSRs this host's KVM refuses; qemu64 is enough.
    let (status, console) = boot("kvm", &["-accel", "kvm", "-cpu", "qemu64"], None);
    assert_eq!(
        status, 33,
        "exit status (0x10 << 1 | 1); console:\n{console}"
    );
    check_run(
        &console,
        &["hypervisor: kvm"],
        "target kvm",
        Some("work kvmclock "),
    );
}

#[test]
fn a_page_fault_on_purpose_is_reported_and_fails_the_run() {
    if !have("qemu-system-x86_64") {
        return skipped("qemu-system-x86_64 not installed (apt-get install qemu-system-x86)");
    }
    let (status, console) = boot("fault", &["-accel", "tcg"], Some("fault"));
    assert_eq!(
        status, 35,
        "exit status (0x11 << 1 | 1); console:\n{console}"
    );
    let line = console
        .lines()
        .find(|l| l.starts_with("exception vector=14 rip=0x"))
        .unwrap_or_else(|| panic!("no page-fault line:\n{console}"));
    let rip = line
        .split(' ')
        .find_map(|w| w.strip_prefix("rip=0x"))
        .and_then(|v| u64::from_str_radix(v, 16).ok())
        .expect("a hex rip");
    assert_ne!(rip, 0, "{line}");
    assert!(line.ends_with("cr2=0x7f0000000000"), "{line}");
}

/// The guest's text holds no SSE, MMX or x87 instruction (this host's KVM aborts on them)
/// except in `core`'s integer formatting, which is linked only as function pointers in the
/// panic machinery's arguments: the guest's panic handler never formats, and nothing calls
/// `core::fmt::write`.
#[test]
fn the_guest_executes_no_sse_or_x87() {
    if !have("objdump") {
        return skipped("objdump not installed (apt-get install binutils)");
    }
    let out = Command::new("objdump")
        .args(["-d", "--no-show-raw-insn", GUEST])
        .output()
        .expect("objdump runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let mut function = "";
    let mut offending = Vec::new();
    for line in text.lines() {
        if line.ends_with(">:") {
            function = line;
            assert!(
                !line.contains("3fmt5write"),
                "core::fmt::write is linked: {line}"
            );
            continue;
        }
        let Some((_, insn)) = line.split_once(":\t") else {
            continue;
        };
        let fp = [
            "%xmm", "%ymm", "%mm", "%st", "fxsave", "fxrstor", "emms", "fninit",
        ];
        let x87 = insn.starts_with('f') && !insn.starts_with("fs");
        if fp.iter().any(|r| insn.contains(r)) || x87 {
            let unreachable = function.contains("4core3fmt") || function.contains("do_count_chars");
            if !unreachable {
                offending.push(format!("{function} {insn}"));
            }
        }
    }
    assert!(
        offending.is_empty(),
        "SSE/x87 in the guest:\n{}",
        offending.join("\n")
    );
}
