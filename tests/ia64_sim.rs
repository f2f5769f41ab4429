//! pv's ia64 code executed, by `pv-ia64-sim` (an interpreter written from the Itanium manual
//! and Xen's sources, sharing nothing with pv's encoder): its decoder against GNU objdump on
//! every bundle of the linked catalogue, and every catalogue intrinsic run from its sample
//! call site in every patch state, with canaries in every register outside its contract.

mod common;

use common::ia64::{catalogue, objdump_sections, scratch};
use pv_ia64_sim::bundle;
use pv_ia64_sim::elf::Image;
use pv_ia64_sim::insn::{self, At};
use pv_runtime::{Patcher, Target};
use std::path::Path;

use pv as _;

/// Sections holding code: routines and sites, native body copies, Xen body copies.
const CODE: [&str; 3] = [".text", "pv_repl", "pv_xen_bodies"];

/// One bundle as objdump prints it: template name, slot texts, stops after each slot.
#[derive(Debug, PartialEq)]
struct Printed {
    template: String,
    slots: Vec<String>,
    stops: Vec<bool>,
}

/// Every bundle of an objdump listing by address.
fn bundles(dump: &str) -> Vec<(u64, Printed)> {
    let mut out: Vec<(u64, Printed)> = Vec::new();
    for line in dump.lines() {
        let mut fields = line.splitn(3, '\t');
        let (Some(addr), Some(_bytes), Some(text)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Ok(addr) = u64::from_str_radix(addr.trim().trim_end_matches(':'), 16) else {
            continue;
        };
        let mut text = text.trim();
        if let Some(rest) = text.strip_prefix('[') {
            let (template, rest) = rest.split_once(']').unwrap();
            out.push((
                addr,
                Printed {
                    template: template.to_string(),
                    slots: vec![],
                    stops: vec![],
                },
            ));
            text = rest.trim();
        }
        let (text, stop) = match text.strip_suffix(";;") {
            Some(t) => (t.trim(), true),
            None => (text, false),
        };
        let text = text.split(" <").next().unwrap().trim();
        let p = &mut out.last_mut().expect("a slot before any bundle").1;
        p.slots
            .push(text.split_whitespace().collect::<Vec<_>>().join(" "));
        p.stops.push(stop);
    }
    out
}

/// The interpreter's reading of the bundle at `addr`, printed objdump's way.
fn decoded(image: &Image, addr: u64) -> Printed {
    let bytes = image.mem.bundle(addr).unwrap();
    let (t, slots) = bundle::split(&bytes);
    let template = bundle::template(t).unwrap_or_else(|| panic!("{addr:#x}: template {t:#x}"));
    let mut printed = Printed {
        template: bundle::name(&template),
        slots: vec![],
        stops: vec![],
    };
    for (i, unit) in template.units.iter().enumerate() {
        let insn = match (unit, i) {
            (bundle::Unit::L, 1) => continue,
            (bundle::Unit::L, _) => insn::decode(*unit, slots[2], slots[1]),
            _ => insn::decode(*unit, slots[i], 0),
        };
        let insn =
            insn.unwrap_or_else(|| panic!("{addr:#x}: slot {i} of {bytes:02x?} not decoded"));
        let text = At(&insn, addr).to_string();
        printed
            .slots
            .push(text.split_whitespace().collect::<Vec<_>>().join(" "));
        printed.stops.push(template.stops[i]);
    }
    printed
}

/// Compares every bundle of the code sections of `file` with objdump; returns how many.
fn compare(file: &Path) -> usize {
    let image = Image::load(file).unwrap();
    let listed = bundles(&objdump_sections(file, &CODE));
    assert!(
        listed.len() > 100,
        "objdump listed {} bundles",
        listed.len()
    );
    for (addr, printed) in &listed {
        assert_eq!(
            &decoded(&image, *addr),
            printed,
            "bundle at {addr:#x} of {}",
            file.display()
        );
    }
    listed.len()
}

#[test]
fn the_decoder_reads_every_bundle_as_objdump_does() {
    let (dir, mut elf) = catalogue("sim-decode");
    let mut n = compare(&dir.join("catalogue.elf"));
    let mut patcher = Patcher::new();
    for target in [Target::Native, Target::XEN] {
        // SAFETY: the image is a file in memory; nothing runs it.
        let report = unsafe { patcher.apply(&mut elf, target) }.expect("apply");
        assert_eq!(report.refused_total, 0, "{report}");
        let path = dir.join(format!("decode-{target:?}.elf"));
        elf.save(&path).unwrap();
        n += compare(&path);
    }
    eprintln!("{n} bundles read alike by objdump and the interpreter");
}

// ---------------------------------------------------------------------------------------
// Execution: every intrinsic from its sample call site, in every patch state.

use pv_ia64_sim::cpu::{Cfm, Reg};
use pv_ia64_sim::platform::Platform;
use pv_ia64_sim::platform::bare::Bare;
use pv_ia64_sim::platform::xen::Xen;
use pv_ia64_sim::{Machine, mem::Memory};
use pv_runtime::Binding;
use pv_runtime::abi::ia64::asm::Decl;
use pv_runtime::arch::ia64::decls;

/// The most bundles one call may execute.
const LIMIT: u64 = 10_000;

/// What the platform holds, as an intrinsic sees it: the machine on bare metal, the current
/// vCPU (and the machine beneath, for what does not trap) under Xen.
#[derive(Clone, Debug, PartialEq)]
struct View {
    cpuid0: u64,
    pmd2: u64,
    rr: [u64; 8],
    kr0: u64,
    pta: u64,
    tpr: u64,
    ivr: u64,
    eois: u64,
    purges: Vec<(u64, u64)>,
    flushes: Vec<u64>,
    interrupts: bool,
    psr: u64,
    itc: u64,
}

/// A platform the tests can read and prepare.
trait Model: Platform + Sized {
    fn view(&self, mem: &Memory) -> View;
    /// Enables or disables interrupts before a run.
    fn interrupts(m: &mut Machine<Self>, on: bool);
}

impl Model for Bare {
    fn view(&self, _: &Memory) -> View {
        View {
            cpuid0: self.cpuid[0],
            pmd2: self.pmd[2],
            rr: self.rr,
            kr0: self.kr[0],
            pta: self.pta,
            tpr: self.tpr,
            ivr: self.pending.iter().copied().max().unwrap_or(15),
            eois: self.eois,
            purges: self.purges.iter().map(|(_, a, s)| (*a, *s)).collect(),
            flushes: self.flushes.clone(),
            interrupts: self.interrupts(),
            psr: self.psr,
            itc: self.itc,
        }
    }
    fn interrupts(m: &mut Machine<Self>, on: bool) {
        let i = pv_ia64_sim::platform::PSR_I;
        m.platform.psr = if on {
            m.platform.psr | i
        } else {
            m.platform.psr & !i
        };
    }
}

impl Model for Xen {
    fn view(&self, mem: &Memory) -> View {
        let v = &self.vcpus[self.current];
        let masked = mem.read(Xen::mask_addr(self.current), 1) != Some(0);
        let psr = v.psr
            | if masked {
                0
            } else {
                pv_ia64_sim::platform::PSR_I
            };
        View {
            // xen/arch/ia64/xen/vcpu.c vcpu_get_cpuid(0): "Xen/ia64"
            cpuid0: u64::from_le_bytes(*b"Xen/ia64"),
            pmd2: self.machine.pmd[2],
            rr: v.rr,
            kr0: v.kr[0],
            pta: v.pta,
            tpr: v.tpr,
            ivr: v.pending.iter().copied().max().unwrap_or(15),
            eois: v.eois,
            purges: v.purges.clone(),
            flushes: v.flushes.clone(),
            interrupts: !masked,
            // vcpu_get_psr_masked: psr & (MASK(0, 32) | MASK(35, 2))
            psr: psr & (0xffff_ffff | 3 << 35),
            itc: self.machine.itc,
        }
    }
    fn interrupts(m: &mut Machine<Self>, on: bool) {
        m.mem
            .write(Xen::mask_addr(m.platform.current), 1, u64::from(!on));
    }
}

/// One intrinsic's test: inputs, interrupts before, the hyperprivop Xen must see (from
/// xen/include/public/arch-ia64.h), and what must hold afterwards.
struct Case {
    inputs: &'static [(u8, u64)],
    interrupts: bool,
    hyperprivop: Option<usize>,
    check: fn(&View, &View, u64) -> Result<(), String>,
}

fn same<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:x?}, want {want:x?}"))
    }
}

/// Everything else in the view unchanged.
fn only(before: &View, after: &View, changed: impl Fn(&mut View)) -> Result<(), String> {
    let mut want = before.clone();
    changed(&mut want);
    // psr.i is the interrupt flag.
    let i = pv_ia64_sim::platform::PSR_I;
    want.psr = (want.psr & !i) | if want.interrupts { i } else { 0 };
    same("platform state", after, &want)
}

const VA: u64 = 0x6000_0000_1234_5000;

/// The case for a catalogue intrinsic (the seed's get_cpuid in every binding shares one).
fn case(name: &str) -> Case {
    let c = |inputs, interrupts, hyperprivop, check| Case {
        inputs,
        interrupts,
        hyperprivop,
        check,
    };
    match name
        .trim_end_matches("_direct")
        .trim_end_matches("_indirect_linux")
        .trim_end_matches("_indirect")
        .trim_end_matches("_call")
    {
        "fc" => c(&[(8, VA)], false, Some(0x13), |b, a, _| {
            only(b, a, |v| v.flushes.push(VA))
        }),
        "thash" => c(&[(8, VA)], false, Some(0x0d), |b, a, r8| {
            let want = pv_ia64_sim::platform::thash(b.pta, b.rr[3], VA);
            same("r8", r8, want).and(only(b, a, |_| ()))
        }),
        "get_cpuid" => c(&[(8, 0)], false, Some(0x14), |b, a, r8| {
            same("r8", r8, b.cpuid0).and(only(b, a, |_| ()))
        }),
        "get_pmd" => c(&[(8, 2)], false, Some(0x15), |b, a, r8| {
            same("r8", r8, b.pmd2).and(only(b, a, |_| ()))
        }),
        "ptcga" => c(&[(8, VA), (9, 14 << 2)], false, Some(0x0e), |b, a, _| {
            only(b, a, |v| v.purges.push((VA, 1 << 14)))
        }),
        "get_rr" => c(&[(8, VA)], false, Some(0x10), |b, a, r8| {
            same("r8", r8, b.rr[3]).and(only(b, a, |_| ()))
        }),
        "set_rr" => c(
            &[(8, 5 << 61), (9, 0x1234_5679)],
            false,
            Some(0x11),
            |b, a, _| only(b, a, |v| v.rr[5] = 0x1234_5679),
        ),
        "set_rr0_to_rr4" => c(
            &[
                (8, 0x101),
                (9, 0x201),
                (10, 0x301),
                (11, 0x401),
                (14, 0x501),
            ],
            false,
            Some(0x1a),
            |b, a, _| {
                only(b, a, |v| {
                    v.rr[..5].copy_from_slice(&[0x101, 0x201, 0x301, 0x401, 0x501])
                })
            },
        ),
        "ssm_i" => c(&[], false, None, |b, a, _| {
            only(b, a, |v| v.interrupts = true)
        }),
        "rsm_i" => c(&[], true, None, |b, a, _| {
            only(b, a, |v| v.interrupts = false)
        }),
        "get_psr_i" => c(&[], true, None, |b, a, r8| {
            same("r8", r8, 0x4000).and(only(b, a, |_| ()))
        }),
        "intrin_local_irq_restore" => c(&[(8, 0x4000)], false, None, |b, a, _| {
            only(b, a, |v| v.interrupts = true)
        }),
        "get_psr" => c(&[], false, Some(0x19), |b, a, r8| {
            same("r8", r8, b.psr).and(only(b, a, |_| ()))
        }),
        "get_itc" => c(&[], false, None, |b, a, r8| {
            same("r8", r8, b.itc + 1).and(only(b, a, |v| v.itc += 1))
        }),
        "get_ivr" => c(&[], false, Some(0x08), |b, a, r8| {
            same("r8", r8, b.ivr)?;
            same("in service", a.ivr != b.ivr, true)
        }),
        "get_tpr" => c(&[], false, Some(0x09), |b, a, r8| {
            same("r8", r8, b.tpr).and(only(b, a, |_| ()))
        }),
        "set_tpr" => c(&[(8, 0x20)], false, Some(0x0a), |b, a, _| {
            only(b, a, |v| v.tpr = 0x20)
        }),
        "eoi" => c(&[], false, Some(0x0b), |b, a, _| {
            only(b, a, |v| v.eois += 1)
        }),
        "set_kr0" => c(&[(8, 0xfeed)], false, Some(0x12), |b, a, _| {
            only(b, a, |v| v.kr0 = 0xfeed)
        }),
        other => panic!("no test case for {other}: add one"),
    }
}

/// Register `bit` of pv's masks as the interpreter names it.
fn reg(bit: u8) -> Reg {
    pv_runtime::abi::ia64::reg_name(bit)
        .as_str()
        .parse()
        .unwrap()
}

/// The registers a call site may change: its result, declared and implicit clobbers (option
/// 4: a C call's scratch registers).
fn may_change(d: &Decl) -> Vec<Reg> {
    use pv_runtime::abi::ia64 as abi;
    let mut mask =
        d.clobbers | d.carrier.map_or(0, |b| 1 << b) | Decl::implicit_mask(d.binding, d.form);
    if d.binding == Binding::IndirectCall {
        mask |= abi::abi(d.binding, d.form)
            .implicit_clobbers
            .iter()
            .filter_map(|r| abi::reg(r).and_then(|r| r.bit))
            .fold(0, |m, b| m | 1 << b);
    }
    (0..64).filter(|b| mask >> b & 1 == 1).map(reg).collect()
}

/// A canary for every register: distinct per register, different in each `round`.
fn canary(r: Reg, round: u64) -> u64 {
    let base = match r {
        Reg::Gr(n) => 0xc0de_0000_0000_0000 | u64::from(n) << 8,
        Reg::Br(n) => 0xb0b0_0000_0000_0000 | u64::from(n) << 4,
        Reg::Ar(n) => 0xa0a0_0000_0000_0000 | u64::from(n) << 8,
        Reg::Pr(n) => u64::from(n % 3 == 0),
    };
    match r {
        Reg::Pr(_) => base ^ (round & 1),
        _ => base ^ round << 40,
    }
}

/// The outcome of one call: the registers that changed, r8, bundles executed.
struct Outcome<P> {
    machine: Machine<P>,
    changed: Vec<Reg>,
    r8: u64,
}

/// Runs `d`'s sample call site in `image` on `platform`: from the site to its end (options
/// 1-3), or its sample caller as a function (option 4), canaries everywhere else.
fn call<P: Model>(
    image: &Image,
    d: &Decl,
    platform: P,
    case: &Case,
    round: u64,
) -> Result<Outcome<P>, String> {
    let site = image.symbol(&format!("pv_site_{}", d.name)).unwrap();
    let mut m = Machine::new(image.mem.clone(), platform);
    // The caller's frame: 4 locals, 4 outputs.
    let frame = Cfm { sof: 8, sol: 4 };
    m.cpu.alloc(frame.sof, frame.sol).unwrap();
    for (r, _) in m.cpu.snapshot() {
        m.cpu.set(r, canary(r, round)).unwrap();
    }
    m.cpu.ar[usize::from(pv_ia64_sim::cpu::AR_PFS)] =
        frame.bits() | canary(Reg::Ar(64), round) & !((1 << 52) - 1) & !(3 << 62);
    // Linux's form switches gp to the callee's and back: its caller's gp stays a canary,
    // which the site must give back (its routines get `__gp` from their function descriptor).
    if !d.linux_form() {
        m.cpu.set_gr(1, image.gp.unwrap_or(0)).unwrap();
    }
    for (n, v) in case.inputs {
        m.cpu.set_gr(*n, *v).unwrap();
    }
    if d.binding == Binding::IndirectCall {
        // in0 of the sample function: the caller's first output.
        if let Some((_, v)) = case.inputs.first() {
            m.cpu.set_gr(36, *v).unwrap();
        }
    }
    P::interrupts(&mut m, case.interrupts);
    let before = m.cpu.snapshot();
    let ran = if d.binding == Binding::IndirectCall {
        m.call(site, LIMIT)
    } else {
        m.run(site, site + d.site_size() as u64, LIMIT)
    };
    ran.map_err(|s| s.to_string())?;
    let after = m.cpu.snapshot();
    let changed = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| b.1 != a.1)
        .map(|(b, _)| b.0)
        .collect();
    let r8 = m.cpu.gr(8).unwrap();
    Ok(Outcome {
        machine: m,
        changed,
        r8,
    })
}

/// Runs and checks `d` in `image` on a fresh `platform`; returns bundles executed.
fn check<P: Model + Clone>(
    image: &Image,
    d: &Decl,
    platform: &P,
    state: &str,
) -> Result<(u64, P), String> {
    let case = case(d.name);
    let allowed = may_change(d);
    let mut bundles = 0;
    let mut last = None;
    for round in 0..2 {
        let mut setup = Machine::new(image.mem.clone(), platform.clone());
        P::interrupts(&mut setup, case.interrupts);
        let before = setup.platform.view(&setup.mem);
        let out = call(image, d, platform.clone(), &case, round)?;
        let after = out.machine.platform.view(&out.machine.mem);
        let caller_outputs =
            |r: &Reg| d.binding == Binding::IndirectCall && matches!(r, Reg::Gr(36..=39));
        let undeclared: Vec<String> = out
            .changed
            .iter()
            .filter(|r| !allowed.contains(r) && !caller_outputs(r))
            .map(|r| r.to_string())
            .collect();
        if !undeclared.is_empty() {
            return Err(format!(
                "{} ({state}): changed outside its contract: {undeclared:?}",
                d.name
            ));
        }
        (case.check)(&before, &after, out.r8).map_err(|e| format!("{} ({state}): {e}", d.name))?;
        bundles = out.machine.bundles;
        last = Some(out.machine.platform);
    }
    Ok((bundles, last.unwrap()))
}

/// The catalogue's image in a state, saved and loaded by the interpreter.
fn states() -> Vec<(&'static str, Image)> {
    let (dir, mut elf) = catalogue("sim-run");
    let mut patcher = Patcher::new();
    let mut out = vec![("linked", Image::load(&dir.join("catalogue.elf")).unwrap())];
    for (name, target) in [
        ("native", Some(Target::Native)),
        ("xen", Some(Target::XEN)),
        ("reverted", None),
    ] {
        let report = match target {
            // SAFETY: the image is a file in memory; nothing runs it.
            Some(t) => unsafe { patcher.apply(&mut elf, t) }.expect("apply"),
            // SAFETY: as for apply.
            None => unsafe { patcher.revert(&mut elf) }.expect("revert"),
        };
        assert_eq!(report.refused_total, 0, "{report}");
        let path = dir.join(format!("{name}.elf"));
        elf.save(&path).unwrap();
        out.push((name, Image::load(&path).unwrap()));
    }
    out
}

/// After apply(Xen): exactly the intrinsic's hyperprivop (one per call), nothing trapping,
/// no hypercall, every event-mask access ordered.
fn xen_counters(d: &Decl, xen: &Xen) -> Result<(), String> {
    let mut want = [0u64; 0x1b];
    if let Some(h) = case(d.name).hyperprivop {
        want[h] = 1;
    }
    if xen.hyperprivops != want {
        return Err(format!(
            "{} (xen): hyperprivops {:?}, want {want:?}",
            d.name, xen.hyperprivops
        ));
    }
    let counts = (xen.privops, xen.hypercalls.len(), xen.unordered);
    if counts != (0, 0, 0) {
        return Err(format!(
            "{} (xen): (privileged instructions trapped, hypercalls, unordered event-mask accesses) = {counts:?}",
            d.name
        ));
    }
    Ok(())
}

#[test]
fn every_intrinsic_runs_in_every_state_within_its_contract() {
    let table = std::env::var_os("PV_IA64_BUNDLES").is_some();
    let mut failures = Vec::new();
    let mut rows = Vec::new();
    for (state, image) in states() {
        for d in decls() {
            let counted = if state == "xen" {
                check(&image, d, &Xen::new(2, 1), state)
                    .and_then(|(n, xen)| xen_counters(d, &xen).map(|()| n))
            } else {
                check(&image, d, &Bare::default(), state).map(|(n, _)| n)
            };
            match counted {
                Ok(n) => rows.push((d.name, d.binding, state, n)),
                Err(e) => failures.push(e),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(rows.len(), 4 * decls().len());
    if table {
        println!(
            "| intrinsic | binding | linked | native | xen | reverted |\n|---|---|---|---|---|---|"
        );
        for d in decls() {
            let n: Vec<String> = ["linked", "native", "xen", "reverted"]
                .iter()
                .map(|s| {
                    rows.iter()
                        .find(|r| r.0 == d.name && r.2 == *s)
                        .unwrap()
                        .3
                        .to_string()
                })
                .collect();
            println!(
                "| {} | {} `{}` | {} |",
                d.name,
                d.binding as u8,
                d.binding.name(),
                n.join(" | ")
            );
        }
    }
}

/// A declaration whose Xen body is a hypercall: `sched_op(1, r8)` in the way the ia64 catalogue
/// would declare `block`.
fn block() -> Decl<'static> {
    use pv_runtime::abi::ia64::asm::{Form, HypercallArg, XenBody};
    Decl {
        name: "block",
        module: "test",
        binding: Binding::DirectBranch,
        form: Form::Seed,
        args: &[8],
        carrier: Some(8),
        clobbers: 1 << 32,
        native: "nop.m 0",
        xen: XenBody::Hypercall(29, &[HypercallArg::Const(1), HypercallArg::Reg(8)]),
    }
}

#[test]
fn hypercall_arguments_reach_xen_where_xen_reads_them() {
    use common::ia64::{assemble, link};
    let dir = scratch("sim-hypercall");
    let mut text = String::new();
    pv_runtime::abi::ia64::file::write(&mut text, &[block()]).unwrap();
    let path = link(&dir, &assemble(&dir, "hypercall", &text));
    let mut elf = pv_sites::elf::Elf::load(&path).unwrap();
    // SAFETY: the image is a file in memory; nothing runs it.
    let report = unsafe { Patcher::new().apply(&mut elf, Target::XEN) }.expect("apply");
    assert_eq!(report.refused_total, 0, "{report}");
    let xen_path = dir.join("xen.elf");
    elf.save(&xen_path).unwrap();
    let image = Image::load(&xen_path).unwrap();
    let d = block();
    let site = image.symbol("pv_site_block").unwrap();
    let mut m = Machine::new(image.mem.clone(), Xen::new(1, 0));
    m.cpu.alloc(8, 4).unwrap();
    for (r, _) in m.cpu.snapshot() {
        m.cpu.set(r, canary(r, 0)).unwrap();
    }
    m.cpu.set_gr(8, 0x5eed).unwrap();
    let before = m.cpu.snapshot();
    m.run(site, site + d.site_size() as u64, LIMIT).unwrap();
    assert_eq!(m.platform.hypercalls.len(), 1);
    let call = &m.platform.hypercalls[0];
    assert_eq!(
        (call.nr, &call.args[..2]),
        (29, &[Some(1), Some(0x5eed)][..]),
        "sched_op's in0, in1: the outputs of the frame that executes break"
    );
    // The routine's frame lies over the caller's outputs (r36-r39 here), as a C callee's does:
    // what the site may change besides its contract (README, Limits).
    let allowed = may_change(&d);
    let outputs = [36, 37, 38, 39].map(Reg::Gr);
    let changed: Vec<Reg> = before
        .iter()
        .zip(m.cpu.snapshot())
        .filter(|(b, a)| b.1 != a.1 && !allowed.contains(&b.0) && !outputs.contains(&b.0))
        .map(|(b, _)| b.0)
        .collect();
    assert!(
        changed.is_empty(),
        "Xen's clobbers leak out of the contract: {changed:?}"
    );
    assert_eq!(m.cpu.gr(8), Ok(0), "the hypercall's result in r8");
}

/// Option 3 in Linux's form whose native routine copies gp into r8: what gp the routine runs
/// with.
fn gp_probe() -> Decl<'static> {
    use pv_runtime::abi::ia64::asm::{Form, XenBody};
    Decl {
        name: "gp_probe",
        module: "test",
        binding: Binding::IndirectBranch,
        form: Form::Linux,
        args: &[],
        carrier: Some(8),
        clobbers: Decl::implicit_mask(Binding::IndirectBranch, Form::Linux),
        native: "mov r8=r1",
        xen: XenBody::Native,
    }
}

#[test]
fn linux_form_switches_gp_to_the_callees_and_back() {
    use common::ia64::{assemble, link};
    let dir = scratch("sim-gp");
    let mut text = String::new();
    // A second declaration's site follows the first's, so that the first site's end (where
    // the run stops) is not its routine's entry, which the linker would place there.
    let second = Decl {
        name: "second",
        ..gp_probe()
    };
    pv_runtime::abi::ia64::file::write(&mut text, &[gp_probe(), second]).unwrap();
    let image = Image::load(&link(&dir, &assemble(&dir, "gp", &text))).unwrap();
    let d = gp_probe();
    assert_eq!(d.site_size(), 80, "Linux's __PARAVIRT_BR: 5 bundles");
    let site = image.symbol("pv_site_gp_probe").unwrap();
    let fdesc = image.symbol("pv_fdesc_native_gp_probe").unwrap();
    let gp = image.gp.unwrap();
    // The descriptor's gp, then one the test writes: the routine runs with whichever it holds.
    for callee_gp in [gp, 0x6000_0000_0000_1230] {
        let mut m = Machine::new(image.mem.clone(), Bare::default());
        m.mem.write(fdesc + 8, 8, callee_gp);
        m.cpu.alloc(8, 4).unwrap();
        for (r, _) in m.cpu.snapshot() {
            m.cpu.set(r, canary(r, 0)).unwrap();
        }
        let before = m.cpu.snapshot();
        m.run(site, site + d.site_size() as u64, LIMIT).unwrap();
        assert_eq!(
            m.cpu.gr(8),
            Ok(callee_gp),
            "the routine runs with the callee's gp"
        );
        assert_eq!(
            m.cpu.gr(1),
            Ok(canary(Reg::Gr(1), 0)),
            "the caller's gp restored"
        );
        assert_eq!(m.cpu.gr(16), Ok(canary(Reg::Gr(1), 0)), "r16 held it");
        let changed: Vec<Reg> = before
            .iter()
            .zip(m.cpu.snapshot())
            .filter(|(b, a)| b.1 != a.1)
            .map(|(b, _)| b.0)
            .collect();
        let mut want = ["r2", "r3", "r8", "r16", "r17", "b6", "b7"].map(|r| r.parse().unwrap());
        want.sort();
        let mut changed = changed;
        changed.sort();
        assert_eq!(
            changed, want,
            "exactly Linux's clobbers and the result; b0, ar.pfs kept"
        );
        assert_eq!(
            m.bundles,
            5 + 2,
            "the stub's five bundles and the routine's two"
        );
    }
}

#[test]
fn an_instruction_outside_the_subset_stops_the_run_with_its_bundle() {
    use common::ia64::{assemble, link};
    let dir = scratch("sim-refuse");
    // `shr` (I7) and `popcnt` are outside the subset.
    let source = "\t.text\n\t.global f\nf:\n{ .mii\n nop.m 0\n popcnt r8=r9\n nop.i 0 ;;\n}\n{ .mib\n nop.m 0\n nop.i 0\n br.ret.sptk.many b0 ;;\n}\n";
    let image = Image::load(&link(&dir, &assemble(&dir, "refuse", source))).unwrap();
    let f = image.symbol("f").unwrap();
    let mut m = Machine::new(image.mem.clone(), Bare::default());
    let stop = m.call(f, LIMIT).unwrap_err();
    let pv_ia64_sim::Stop::Unmodelled { addr, bytes, .. } = &stop else {
        panic!("{stop}");
    };
    assert_eq!((*addr, &bytes[..]), (f, &image.mem.bundle(f).unwrap()[..]));
    assert_eq!(m.bundles, 0, "nothing of the bundle ran");
    assert!(stop.to_string().contains(&format!("{f:#x}")), "{stop}");
}

#[test]
fn ssm_i_traps_only_when_unmasking_with_an_event_pending() {
    let (_, image) = states().into_iter().find(|(s, _)| *s == "xen").unwrap();
    let d = decls().iter().find(|d| d.name == "ssm_i").unwrap();
    let site = image.symbol("pv_site_ssm_i").unwrap();
    // (masked before, pending) -> SSM_I hyperprivops (xen_pv_ops.c xen_ssm_i: `!old && pending`)
    for (masked, pending, traps) in [(true, true, 1), (false, true, 0), (true, false, 0)] {
        let mut m = Machine::new(image.mem.clone(), Xen::new(2, 1));
        m.mem.write(Xen::mask_addr(1), 1, u64::from(masked));
        m.mem.write(Xen::pending_addr(1), 1, u64::from(pending));
        m.run(site, site + d.site_size() as u64, LIMIT).unwrap();
        assert_eq!(
            m.platform.hyperprivops[0x07], traps,
            "masked {masked}, pending {pending}"
        );
        assert_eq!(m.mem.read(Xen::mask_addr(1), 1), Some(0), "unmasked");
        assert_eq!(
            m.mem.read(Xen::mask_addr(0), 1),
            Some(1),
            "vCPU 0's mask untouched"
        );
        assert_eq!(m.platform.unordered, 0, "every mask access is .acq or .rel");
    }
}
