//! pv-guest on a second, independent x86 machine: QEMU's full-system software model (TCG),
//! booting the guest's PVH entry with `-kernel`. The guest finds no known hypervisor there
//! (TCG's CPUID signature is "TCGTCGTCGTCG"), patches its sites natively, runs the workload,
//! reverts and checks its text. Also checks the guest's machine code: no SSE or x87
//! instruction outside `core`'s formatting code, which the guest never runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The guest ELF `build.rs` built.
const GUEST: &str = env!("PV_GUEST_ELF");
/// How long one boot may take (it takes well under a second under TCG here).
const TIMEOUT: Duration = Duration::from_secs(30);

/// Records a skipped check: printed, and appended to the file `scripts/test` counts.
fn skipped(reason: &str) {
    use std::io::Write;
    println!("SKIPPED: {reason}");
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pv-skipped");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "SKIPPED: {reason}");
    }
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Boots the guest with `append` as its command line; returns the exit status and console.
fn boot(name: &str, append: Option<&str>) -> (i32, String) {
    let console: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.console"));
    let _ = std::fs::remove_file(&console);
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args(["-accel", "tcg", "-kernel", GUEST])
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
    "work wrmsr 0x123456789abcdef0",
    "work flush_tlb_one 0x",
    "work flush_tlb_all ok",
    "work wbinvd ok",
    "work load_idt ok",
    "work load_gdt ok",
    "work io_delay ok",
    "work outb ok",
    "work safe_halt woke vector=0x30",
];

#[test]
fn guest_boots_patches_runs_and_reverts_under_qemu() {
    if !have("qemu-system-x86_64") {
        return skipped("qemu-system-x86_64 not installed (apt-get install qemu-system-x86)");
    }
    let (status, console) = boot("boot", None);
    assert_eq!(
        status, 33,
        "exit status (0x10 << 1 | 1); console:\n{console}"
    );
    let lines: Vec<&str> = console.lines().collect();
    assert_eq!(lines.first(), Some(&"pv-guest: boot (pvh)"), "{console}");
    assert!(
        lines.contains(&"hypervisor: unknown:TCGTCGTCGTCG") || lines.contains(&"hypervisor: none"),
        "{console}"
    );
    assert!(lines.contains(&"target native"), "{console}");
    let mut patched = 0;
    for binding in [
        "inline_patch",
        "direct_branch",
        "indirect_branch",
        "indirect_call",
    ] {
        let (p, _, refused) = report(&console, binding);
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
        let work: Vec<&&str> = part.iter().filter(|l| l.starts_with("work ")).collect();
        assert_eq!(work.len(), WORK.len(), "run {run}:\n{console}");
        for (got, want) in work.iter().zip(WORK) {
            assert!(got.starts_with(want), "run {run}: {got:?} is not {want:?}");
        }
    }
    assert_eq!(lines.last(), Some(&"pv-guest: done"), "{console}");
}

#[test]
fn a_page_fault_on_purpose_is_reported_and_fails_the_run() {
    if !have("qemu-system-x86_64") {
        return skipped("qemu-system-x86_64 not installed (apt-get install qemu-system-x86)");
    }
    let (status, console) = boot("fault", Some("fault"));
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
