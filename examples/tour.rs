//! The tour: declare, run natively, run a guest kernel unmodified under the trap-and-emulate
//! monitor, list every site with its machine code, patch to Xen against the in-process test
//! hypervisor, run the same guest again, compare, report, revert; then one binary on three
//! hypervisors, a real kernel under pv's KVM monitor, and every register contract proven from
//! the machine code (x86_64 and ia64).
//!
//! `cargo run --release --example tour`

use pv::x86_64 as pvx;
use pv_monitor::{Monitor, now_ns};
use pv_runtime::hv::{self, Hypervisor};
use pv_runtime::writer::RemapWriter;
use pv_runtime::{Binding, Live, Patcher, Site, Target};
use std::collections::BTreeMap;

/// GNU binutils for ia64, as the tests drive them (section 12 uses what it needs).
#[allow(dead_code)]
#[path = "../tests/common/ia64.rs"]
mod ia64;

/// The running intrinsics' routines and slots by address, to name call targets.
fn routines() -> pv_sites::x86_64::Names {
    let mut names = std::collections::HashMap::new();
    for i in pv_runtime::intrinsics() {
        names.insert(i.native as usize as u64, format!("{}::native", i.name));
        for hv in pv_runtime::Hypervisor::ALL {
            names
                .entry(i.backend(hv).routine as usize as u64)
                .or_insert_with(|| format!("{}::{}", i.name, hv.name()));
        }
        names.insert(i.slot.addr() as u64, format!("{}::slot", i.name));
    }
    std::rc::Rc::new(names)
}

/// Disassembles a site's bytes on one `; `-separated line, with pv-sites' disassembler.
fn disasm(bytes: &[u8], ip: usize) -> String {
    pv_sites::x86_64::disassemble(&routines(), bytes, ip as u64).join("; ")
}

/// `MSR_FS_BASE`: natively a trapped `wrmsr`/`rdmsr`; under Xen PV written with
/// `set_segment_base` and read through a trap Xen emulates.
const FS_BASE: u32 = 0xc000_0100;

fn sites() -> Vec<Site> {
    pv_runtime::sites().map(|s| s.expect("record")).collect()
}

/// The "guest kernel", written only with catalogue intrinsics, grouped by the binding of the
/// intrinsics each phase uses.
fn guest_phase(binding: Binding, idt: &[u64; 64]) -> String {
    // SAFETY: run only under the test hypervisor, after `apply(Xen)`; pointers are valid.
    unsafe {
        match binding {
            Binding::InlinePatch => {
                pvx::irq_disable();
                let masked = pvx::save_fl();
                pvx::io_delay();
                pvx::restore_fl(0x202);
                format!(
                    "save_fl after cli {masked:#x}, after restore_fl {:#x} (the event mask in vcpu_info: no hypercall)",
                    pvx::save_fl()
                )
            }
            Binding::DirectBranch => {
                let mut regs = pvx::CpuidRegs {
                    eax: 0x4000_0000,
                    ..Default::default()
                };
                pvx::cpuid(&mut regs);
                let sig: Vec<u8> = [regs.ebx, regs.ecx, regs.edx]
                    .iter()
                    .flat_map(|r| r.to_le_bytes())
                    .collect();
                pvx::irq_disable();
                pvx::safe_halt();
                format!(
                    "cpuid(0x40000000) = {}; safe_halt woke with IF {:#x}",
                    String::from_utf8_lossy(&sig),
                    pvx::save_fl()
                )
            }
            Binding::IndirectBranch => {
                pvx::write_cr3(0x1_2345_6000);
                pvx::wrmsr(FS_BASE, 0x10);
                pvx::flush_tlb_one(0xffff_8000_0000_0000);
                pvx::wbinvd();
                for b in b"hello from a pv guest\n" {
                    pvx::outb(0xe9, *b);
                }
                format!(
                    "cr3 {:#x}, fs base (msr {FS_BASE:#x}) = {:#x}",
                    pvx::read_cr3(),
                    pvx::rdmsr(FS_BASE)
                )
            }
            Binding::IndirectCall => {
                let ptr = pvx::DescriptorTablePointer {
                    limit: 64 * 8 - 1,
                    base: idt.as_ptr() as u64,
                };
                pvx::load_idt(&ptr);
                pvx::load_gdt(&ptr);
                "IDT and GDT loaded".to_string()
            }
        }
    }
}

/// An IDT with two present interrupt gates (vectors 3 and 14).
fn idt() -> [u64; 64] {
    let mut idt = [0u64; 64];
    for (v, handler) in [
        (3usize, 0xffff_8000_0000_1234u64),
        (14, 0xffff_8000_0000_5678),
    ] {
        idt[2 * v] =
            (handler & 0xffff) | 0x10 << 16 | 0x8e00 << 32 | (handler >> 16 & 0xffff) << 48;
        idt[2 * v + 1] = handler >> 32;
    }
    idt
}

fn hex(v: Option<&u64>) -> String {
    v.map_or("-".into(), |v| format!("{v:#x}"))
}

/// Present gates of the IDT `lidt` loaded: (base, limit).
fn present_gates((base, limit): (u64, u16)) -> usize {
    let gates = (limit as usize + 1) / 16;
    // SAFETY: the tour's own IDT, which `lidt` was given.
    (0..gates)
        .filter(
            |g| unsafe { ((base as usize + g * 16) as *const u64).read_unaligned() } & 1 << 47 != 0,
        )
        .count()
}

/// What `save_fl` reports right after `irq_disable` (then interrupts are enabled again).
fn if_after_cli() -> u64 {
    // SAFETY: under the monitor or the test hypervisor.
    unsafe {
        pvx::irq_disable();
        let flags = pvx::save_fl();
        pvx::irq_enable();
        flags
    }
}

/// Traps taken between two snapshots of the monitor's virtual CPU.
fn traps_between(before: &pv_monitor::VCpu, after: &pv_monitor::VCpu) -> String {
    let parts: Vec<String> = after
        .traps
        .iter()
        .filter_map(|(t, n)| {
            let d = n - before.traps.get(t).copied().unwrap_or(0);
            (d > 0).then(|| format!("{t} × {d}"))
        })
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

/// Hypercalls made between two snapshots, by name.
fn calls_between(before: &hv::State, after: &hv::State) -> String {
    let mut parts: Vec<String> = after
        .hypercalls
        .iter()
        .filter_map(|(nr, n)| {
            let d = n - before.hypercalls.get(nr).copied().unwrap_or(0);
            (d > 0).then(|| format!("{} × {d}", pv_abi_name(*nr)))
        })
        .collect();
    let cpuid = after.emulated_cpuid - before.emulated_cpuid;
    if cpuid > 0 {
        parts.push(format!("emulated cpuid × {cpuid}"));
    }
    // What Linux's Xen PV code leaves native: trapped, then emulated by Xen.
    for (what, n) in [
        ("rdmsr", after.msr_reads - before.msr_reads),
        ("wrmsr", after.msr_writes - before.msr_writes),
        ("wbinvd", after.cache_flushes - before.cache_flushes),
        ("mov cr4", after.cr4_writes - before.cr4_writes),
    ] {
        if n > 0 {
            parts.push(format!("trapped {what} × {n}"));
        }
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

/// Where this executable's file is mapped (its file addresses start there), from
/// `/proc/self/maps`.
fn load_base() -> usize {
    let exe = std::env::current_exe().expect("own path");
    let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
    maps.lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 6 && f[2] == "00000000" && std::path::Path::new(f[5]) == exe)
                .then(|| usize::from_str_radix(f[0].split('-').next()?, 16).ok())
                .flatten()
        })
        .expect("the executable's first mapping")
}

/// `tour --sites`: the sites the runtime finds, as file addresses, for comparison with
/// `pv-sites` on this file.
fn print_sites() {
    let base = load_base();
    for s in sites() {
        println!(
            "{:#x} {}::{}",
            s.addr() - base,
            s.intrinsic.module,
            s.intrinsic.name
        );
    }
}

fn main() {
    if std::env::args().any(|a| a == "--sites") {
        return print_sites();
    }
    println!(
        "== 1. declared intrinsics ({} linked)",
        pv_runtime::intrinsics().len()
    );
    println!(
        "  {:<14} {:<16} {:>8} {:>8} {:>8}  {:<11} {:<11} {:<11}",
        "intrinsic", "binding", "uses", "defs", "clobbers", "xen", "kvm", "hyperv"
    );
    for i in pv_runtime::intrinsics() {
        let c = i.contract;
        println!(
            "  {:<14} {:<16} {:>#8x} {:>#8x} {:>#8x}  {:<11} {:<11} {:<11}",
            i.name,
            i.binding.name(),
            c.uses,
            c.defs,
            c.clobbers,
            i.backends[0].kind.name(),
            i.backends[1].kind.name(),
            i.backends[2].kind.name(),
        );
    }

    println!("\n== 2. native run (userland, unpatched)");
    let mut regs = pvx::CpuidRegs::default();
    // SAFETY: a valid CpuidRegs.
    unsafe { pvx::cpuid(&mut regs) };
    let vendor: Vec<u8> = [regs.ebx, regs.edx, regs.ecx]
        .iter()
        .flat_map(|r| r.to_le_bytes())
        .collect();
    println!(
        "  cpuid(0) vendor      {}",
        String::from_utf8_lossy(&vendor)
    );
    println!("  rdtsc                {}", pvx::rdtsc());
    println!(
        "  save_fl              {:#x} (the real flags: IF set)",
        pvx::save_fl()
    );

    println!("\n== 3. the guest kernel, unmodified, under the trap-and-emulate monitor");
    let table = idt();
    let monitor = Monitor::start().expect("monitor");
    for (what, faulting) in [
        ("cpuid", &monitor.faulting().cpuid),
        ("rdtsc", &monitor.faulting().tsc),
    ] {
        if let Err(why) = faulting {
            println!(
                "  {what} does not trap here ({why}): it runs natively, unseen by the monitor"
            );
        }
    }
    let started = now_ns();
    for b in Binding::ALL {
        let before = pv_monitor::state();
        let what = guest_phase(b, &table);
        let after = pv_monitor::state();
        println!("  option {} {:<16} {what}", b.rfc_number(), b.name());
        println!("  {:<25} traps: {}", "", traps_between(&before, &after));
    }
    let native_ns = now_ns() - started;
    let native_if = if_after_cli();
    let native = pv_monitor::state();
    drop(monitor);
    println!(
        "  {} traps in all, {:.1} µs; by instruction:",
        native.total_traps(),
        native_ns as f64 / 1e3
    );
    for (trap, n) in &native.traps {
        println!("    {:<12} × {n}", trap.to_string());
    }

    let before: BTreeMap<usize, Vec<u8>> = sites()
        .iter()
        .map(|s| (s.addr(), s.current().to_vec()))
        .collect();
    println!("\n== 4. sites by binding (probe sites counted, not listed)");
    for b in [
        Binding::InlinePatch,
        Binding::DirectBranch,
        Binding::IndirectBranch,
    ] {
        let all: Vec<Site> = sites()
            .into_iter()
            .filter(|s| s.record.binding == b)
            .collect();
        let probes = all.iter().filter(|s| s.record.probe).count();
        println!(
            "  option {} {}: {} sites ({} probes)",
            b.rfc_number(),
            b.name(),
            all.len(),
            probes
        );
        for s in all.iter().filter(|s| !s.record.probe) {
            println!(
                "    {:#x} {:<12} len {:>2}  {}",
                s.addr(),
                s.intrinsic.name,
                s.record.len,
                disasm(s.current(), s.addr())
            );
        }
    }
    let calls_only: Vec<&str> = pv_runtime::intrinsics()
        .iter()
        .filter(|i| i.binding == Binding::IndirectCall)
        .map(|i| i.name)
        .collect();
    println!(
        "  option 4 indirect_call: no sites; slots only: {}",
        calls_only.join(", ")
    );

    println!("\n== 5. apply(Xen) against the in-process test hypervisor");
    let _hv = Hypervisor::install().expect("test hypervisor");
    let mut patcher = Patcher::new();
    let mut image = Live::new(RemapWriter::new());
    // SAFETY: the tour runs one thread, and no site runs while it patches.
    let report = unsafe { patcher.apply(&mut image, Target::XEN) }.expect("apply");
    print!("{report}");

    println!("\n== 6. before → after, per binding");
    for b in [
        Binding::InlinePatch,
        Binding::DirectBranch,
        Binding::IndirectBranch,
    ] {
        println!("  option {} {}", b.rfc_number(), b.name());
        for s in sites()
            .iter()
            .filter(|s| s.record.binding == b && !s.record.probe)
        {
            println!(
                "    {:<12} {}",
                s.intrinsic.name,
                disasm(&before[&s.addr()], s.addr())
            );
            println!("    {:<12} → {}", "", disasm(s.current(), s.addr()));
        }
    }

    println!("\n== 7. the same guest, paravirtualized: hypercalls per binding");
    let started = now_ns();
    for b in Binding::ALL {
        let before = hv::state();
        let what = guest_phase(b, &table);
        let after = hv::state();
        println!("  option {} {:<16} {what}", b.rfc_number(), b.name());
        println!(
            "  {:<25} hypercalls: {}",
            "",
            calls_between(&before, &after)
        );
    }
    let xen_ns = now_ns() - started;
    let xen_if = if_after_cli();
    let state = hv::state();
    println!(
        "  {} hypercalls in all, {} emulated cpuid, {:.1} µs",
        state.total_calls(),
        state.emulated_cpuid,
        xen_ns as f64 / 1e3
    );

    println!("\n== 8. one guest, two ways: the virtual state at the end");
    // SAFETY: the vcpu_info is registered while the hypervisor is installed.
    let xen_interrupts = unsafe { (*pv_runtime::xen::vcpu_info()).evtchn_upcall_mask } == 0;
    let rows: [(&str, String, String); 10] = [
        (
            "interrupts enabled",
            native.interrupts.to_string(),
            xen_interrupts.to_string(),
        ),
        (
            "cr3",
            format!("{:#x}", native.cr[3]),
            format!("{:#x}", state.cr3),
        ),
        (
            "fs base",
            hex(native.msrs.get(&FS_BASE)),
            format!("{:#x}", state.fs_base),
        ),
        (
            "TLB entries flushed",
            format!("{:x?}", native.invlpg),
            format!("{:x?}", state.invlpg),
        ),
        (
            "cache flushes",
            native.cache_flushes.to_string(),
            state.cache_flushes.to_string(),
        ),
        (
            "console",
            format!("{:?}", String::from_utf8_lossy(&native.console)),
            format!("{:?}", String::from_utf8_lossy(&state.console)),
        ),
        (
            "halts / blocks",
            native.halts.to_string(),
            state.blocks.to_string(),
        ),
        (
            "GDT base",
            format!("{:#x}", native.gdtr.0 >> 12 << 12),
            format!("{:#x}", state.gdt.0 << 12),
        ),
        (
            "IDT gates loaded",
            present_gates(native.idtr).to_string(),
            state.traps.len().to_string(),
        ),
        (
            "save_fl after cli (IF)",
            format!("{:#x}", native_if & 0x200),
            format!("{:#x}", xen_if & 0x200),
        ),
    ];
    println!(
        "  {:<24} {:<28} {:<28}",
        "", "native, trapped", "paravirtualized (Xen)"
    );
    for (what, n, x) in &rows {
        let note = if what.starts_with("save_fl") {
            "  ← pushf cannot see the virtual IF: wrong natively, by design"
        } else if n == x {
            ""
        } else {
            "  ← differs"
        };
        println!("  {what:<24} {n:<28} {x:<28}{note}");
    }
    println!(
        "  time: {:.1} µs trapped vs {:.1} µs paravirtualized ({:.0}×)",
        native_ns as f64 / 1e3,
        xen_ns as f64 / 1e3,
        native_ns as f64 / xen_ns.max(1) as f64
    );

    println!("\n== 9. revert");
    // SAFETY: as for apply.
    let report = unsafe { patcher.revert(&mut image) }.expect("revert");
    print!("{report}");
    let restored = sites()
        .iter()
        .filter(|s| before[&s.addr()] == s.current())
        .count();
    println!(
        "  {restored} of {} sites hold their original bytes again",
        before.len()
    );
    assert_eq!(restored, before.len());
    drop(_hv);
    three_hypervisors();
    a_real_kernel();
    contracts_from_the_bytes();
}

/// Section 10: the same kernel hooks on each hypervisor the test hypervisor can play, found by
/// CPUID the way Linux finds them, patched for it, and counted on its side of the ABI.
fn three_hypervisors() {
    use pv_runtime::hv::Personality;
    println!("\n== 10. one binary, three hypervisors: detected from CPUID, patched, counted");
    println!(
        "  {:<8} {:<14} {:>8} {:>9} {:>10}  what the hypervisor saw",
        "plays", "detected", "patched", "switched", "hypercalls"
    );
    for p in [Personality::Xen, Personality::Kvm, Personality::HyperV] {
        let _hv = Hypervisor::install_as(p).expect("test hypervisor");
        let found = pv_runtime::detect_with(pv_runtime::hv::cpuid);
        // In userland only `vmcall` traps on this kind of machine; a kernel applies
        // `detect()` as it is, and gets `vmmcall` on AMD.
        let target = match found {
            Target::Hypervisor(g) if g.hypervisor == pv_runtime::Hypervisor::Kvm => {
                Target::kvm(pv_runtime::Vendor::Intel)
            }
            other => other,
        };
        let mut patcher = Patcher::new();
        let mut image = Live::new(RemapWriter::new());
        // SAFETY: the tour runs one thread, and no site runs while it patches.
        let report = unsafe { patcher.apply(&mut image, target) }.expect("apply");
        assert_eq!(report.refused_total, 0, "{report}");
        pv_runtime::hv::reset();
        if p == Personality::HyperV {
            // SAFETY: the test hypervisor emulates Hyper-V's MSRs.
            unsafe { pv_runtime::hyperv::enable() };
        }
        pvx::yield_to(1);
        pvx::spin_wait_notify(100);
        pvx::kick_cpu(1);
        // SAFETY: patched for a hypervisor that implements them (or nothing to do).
        unsafe { pvx::send_ipi(1, 0xf2) };
        let s = pv_runtime::hv::state();
        let calls = s.total_calls() + s.kvm_total + s.hyperv_total;
        let saw = match p {
            Personality::Xen => format!("sched_op(yield) x{}", s.yields),
            Personality::Kvm => s
                .kvm_calls
                .iter()
                .map(|c| format!("KVM_HC {}", c.nr))
                .collect::<Vec<_>>()
                .join(", "),
            Personality::HyperV => s
                .hyperv_calls
                .iter()
                .map(|c| format!("call code {:#x}", c.control & 0xffff))
                .collect::<Vec<_>>()
                .join(", "),
        };
        println!(
            "  {:<8} {:<14} {:>8} {:>9} {:>10}  {saw}",
            format!("{p:?}"),
            report.target(),
            report.total().patched,
            report.slots_switched,
            calls
        );
        // SAFETY: as for apply.
        unsafe { patcher.revert(&mut image) }.expect("revert");
    }
}

/// Section 11: pv-guest, a `no_std` kernel, booted by pv-vmm (KVM) as bare metal, as a Xen
/// guest and as a KVM guest: it detects the machine from CPUID, patches itself, and runs the
/// same workload; the table sets what each step cost on bare metal (exits, instructions KVM
/// emulated) beside the hypercalls it became under Xen.
fn a_real_kernel() {
    use pv_vmm::{Config, Mode};
    println!("\n== 11. a real kernel: pv-guest booted by pv-vmm on KVM");
    if let Some(why) = pv_vmm::kvm_unavailable() {
        println!("  skipped: {why}");
        return;
    }
    let mut runs = Vec::new();
    for mode in Mode::ALL {
        let o = pv_vmm::boot(&Config::new(mode)).expect("pv-vmm");
        let patched: u64 = o.report().values().map(|c| c.patched).sum();
        let refused: u64 = o.report().values().map(|c| c.refused).sum();
        println!(
            "  {:<5} detected {:<8} patched {patched:>3} refused {refused}  exits {:>3} (console aside)  hypercalls {:>3}  emulated {:>8}  {}",
            mode.name(),
            o.target().unwrap_or("?"),
            o.exits
                .iter()
                .filter(|(k, _)| *k != "io_out 0xe9")
                .map(|(_, v)| v)
                .sum::<u64>(),
            o.hypercalls.values().sum::<u64>(),
            o.emulated_instructions()
                .map_or("n/a".into(), |n| n.to_string()),
            o.end.describe()
        );
        runs.push(o);
    }
    let (bare, xen) = (&runs[0], &runs[1]);
    let half = |o: &pv_vmm::Outcome| o.steps.len() / 2;
    println!(
        "\n  {:<34} {:>11} {:>9}   Xen hypercalls",
        "workload step (patched run)", "bare exits", "emulated"
    );
    for (b, x) in bare.steps[..half(bare)].iter().zip(&xen.steps[..half(xen)]) {
        let exits: u64 = b.exits.values().sum::<u64>().max(b.kvm_exits);
        let calls: Vec<String> = x
            .hypercalls
            .iter()
            .map(|(k, v)| format!("{k} x{v}"))
            .collect();
        let step: String = b.line.chars().take(34).collect();
        println!(
            "  {step:<34} {exits:>11} {:>9}   {}",
            b.emulated,
            if calls.is_empty() {
                "none".into()
            } else {
                calls.join(", ")
            }
        );
    }
}

fn pv_abi_name(nr: u32) -> &'static str {
    pv_runtime::xen::hypercall_by_nr(nr).map_or("?", |h| h.name)
}

/// Section 12: `pv-sites --check` on this very binary (iced-x86) and on the ia64 catalogue
/// (the ia64 interpreter's table), then on one ia64 declaration whose body lies about its
/// contract.
fn contracts_from_the_bytes() {
    use pv_runtime::abi::ia64::asm::{Decl, Form, XenBody};
    println!("\n== 12. every register contract proven from the machine code (pv-sites --check)");
    let summary = |what: &str, c: &pv_sites::check::Checked| {
        println!(
            "  {what:<34} {:>3} sites, {:>3} routines, {} violations",
            c.sites,
            c.routines,
            c.violations.len()
        )
    };
    let exe = std::env::current_exe().expect("the tour's path");
    match pv_sites::check::check(&exe) {
        Ok(c) => summary("this binary (x86_64, iced-x86)", &c),
        Err(e) => println!("  this binary: {e}"),
    }
    if !["as", "ld"].into_iter().all(ia64::installed) {
        println!(
            "  ia64: skipped: ia64-linux-gnu-as/ld missing (apt-get install binutils-ia64-linux-gnu; scripts/test installs it)"
        );
        return;
    }
    // Written as one .S file, assembled and linked as the ia64 tests do.
    let image = |name: &str, decls: &[Decl]| {
        let mut text = String::new();
        pv_runtime::abi::ia64::file::write(&mut text, decls).expect("the .S text");
        let dir = ia64::scratch(name);
        let checked = pv_sites::check::check(&ia64::link(&dir, &ia64::assemble(&dir, name, &text)));
        let _ = std::fs::remove_dir_all(&dir);
        checked.map_err(|e| e.to_string())
    };
    let catalogue = pv_runtime::arch::ia64::decls();
    match image("catalogue", catalogue) {
        Ok(c) => summary("the ia64 catalogue (interpreter)", &c),
        Err(e) => println!("  the ia64 catalogue: {e}"),
    }
    // A declaration the macro would refuse, written straight to the .S writer: its body
    // writes r9, which its contract (r8 only) does not give up.
    let liar = Decl {
        name: "liar",
        module: "tour",
        binding: Binding::InlinePatch,
        form: Form::Seed,
        args: &[8],
        carrier: Some(8),
        clobbers: 0,
        native: "mov r9=r8",
        xen: XenBody::Native,
    };
    match image("liar", &[liar]) {
        Ok(c) => {
            summary("an ia64 body that writes r9", &c);
            for v in c.violations.iter().take(3) {
                println!("    {v}");
            }
        }
        Err(e) => println!("  the liar: {e}"),
    }
}
