//! The ia64 backend end to end, with GNU binutils as the oracle: the catalogue's assembly is
//! written from the declarations, assembled (`as -x`) and linked at a fixed address; the
//! engine plans Native and Xen over the linked image's bytes; objdump must then show, at every
//! site, exactly the intended instructions followed by nops; `revert` restores every byte.

mod common;

use common::ia64::{assemble, catalogue, link, objdump, scratch};
use pv_runtime::abi::ia64::asm::{Decl, XenBody, bundle, fragment, instructions};
use pv_runtime::arch::ia64::decls;
use pv_runtime::engine::{State, descriptor};
use pv_runtime::report::Transaction;
use pv_runtime::writer::{Fault, TextWriter};
use pv_runtime::{Binding, Image, Patcher, Target, report::Reason};
use pv_sites::elf::Elf;
use std::collections::HashMap;
use std::path::Path;

use pv as _;

/// `text` with every symbol of the image replaced by its address.
fn resolve(elf: &Elf, text: &str) -> String {
    text.split_inclusive(|c: char| !(c.is_alphanumeric() || c == '_'))
        .map(|part| {
            let word = part.trim_end_matches(|c: char| !(c.is_alphanumeric() || c == '_'));
            match elf.symbol(word) {
                Some(addr) if !word.is_empty() => part.replacen(word, &format!("{addr:#x}"), 1),
                _ => part.to_string(),
            }
        })
        .collect()
}

/// The address of the image's symbol `name`.
fn sym(elf: &Elf, name: &str) -> u64 {
    elf.symbol(name).unwrap_or_else(|| panic!("symbol {name}"))
}

/// One instruction line of `objdump -d`, normalized: no template, no stop, no symbol comment.
fn normalize(text: &str) -> String {
    let text = text.trim_start();
    let text = if text.starts_with('[') {
        &text[text.find(']').unwrap() + 1..]
    } else {
        text
    };
    let text = text
        .split(" <")
        .next()
        .unwrap()
        .trim()
        .trim_end_matches(";;")
        .trim();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The non-nop instructions under each label of an objdump listing.
fn listing(dump: &str) -> HashMap<String, Vec<String>> {
    let mut sites: HashMap<String, Vec<String>> = HashMap::new();
    let mut current = String::new();
    for line in dump.lines() {
        if let Some(label) = line
            .strip_suffix(">:")
            .and_then(|l| l.split_once(" <"))
            .map(|(_, l)| l)
        {
            current = label.to_string();
            sites.entry(current.clone()).or_default();
            continue;
        }
        let Some(text) = line.splitn(3, '\t').nth(2) else {
            continue;
        };
        let insn = normalize(text);
        if !insn.is_empty() && !insn.starts_with("nop.") {
            sites.entry(current.clone()).or_default().push(insn);
        }
    }
    sites
}

/// How objdump prints each instruction of `texts` (gas assembles them alone first).
fn canonical(dir: &Path, texts: &[String]) -> HashMap<String, String> {
    let unique: Vec<&String> = texts
        .iter()
        .filter(|t| !t.starts_with("br.call.sptk.many b0=0x"))
        .collect();
    let mut source = String::from("\t.text\ncanonical:\n");
    for t in &unique {
        fragment(&mut source).unwrap();
        bundle(&mut source, t).unwrap();
    }
    let object = assemble(dir, "canonical", &source);
    let printed = &listing(&objdump(&object))["canonical"];
    assert_eq!(printed.len(), unique.len(), "one instruction per bundle");
    let mut map: HashMap<String, String> = unique
        .iter()
        .map(|t| t.to_string())
        .zip(printed.iter().cloned())
        .collect();
    for t in texts
        .iter()
        .filter(|t| t.starts_with("br.call.sptk.many b0=0x"))
    {
        map.insert(t.clone(), t.replace("b0=0x", "b0="));
    }
    map
}

/// What a site must hold after patching for `target`, as source text: the body if it fits
/// the site, else a retargeted call (option 2) or the untouched indirect sequence (option 3).
fn intended(elf: &Elf, d: &Decl, target: Target) -> Vec<String> {
    let native: Vec<String> = instructions(d.native).map(|i| resolve(elf, i)).collect();
    let xen: Option<Vec<String>> = match d.xen {
        XenBody::Native => Some(native.clone()),
        XenBody::Nop => Some(vec![]),
        XenBody::Asm(text) => Some(instructions(text).map(|i| resolve(elf, i)).collect()),
        XenBody::Hyperprivop(nr) => Some(vec![format!("break.m {nr:#x}")]),
        XenBody::Call(_) | XenBody::Hypercall(..) => None,
    };
    let body = if target == Target::Native {
        Some(native)
    } else {
        xen
    };
    let routine = match (target, d.xen) {
        (Target::Native, _) | (_, XenBody::Native) => format!("pv_native_{}", d.name),
        _ => format!("pv_xen_{}", d.name),
    };
    let slot = format!("pv_slot_{}", d.name);
    match (body, d.binding) {
        (Some(b), _) if b.len() * 16 <= d.site_size() => b,
        (_, Binding::DirectBranch) => {
            vec![format!("br.call.sptk.many b0={:#x}", sym(elf, &routine))]
        }
        (_, Binding::IndirectBranch) if d.linux_form() => {
            let mut v = vec![resolve(elf, &format!("movl r2={slot}"))];
            v.extend(LINUX_STUB.map(String::from));
            v
        }
        (_, Binding::IndirectBranch) => {
            let mut v = vec![
                resolve(elf, &format!("movl r2={slot}")),
                "ld8 r2=[r2]".into(),
            ];
            v.extend(["mov b1=r2", "br.call.sptk.many b0=b1"].map(String::from));
            v
        }
        (body, binding) => panic!("{}: no plan for {binding:?} with body {body:?}", d.name),
    }
}

/// Linux's `__PARAVIRT_BR` (arch/ia64/include/asm/paravirt_privop.h) after `movl r2 = slot`, as
/// source text, one instruction a line.
const LINUX_STUB: [&str; 10] = [
    "ld8 r2=[r2]",
    "mov r17=ip",
    "mov r16=gp",
    "ld8 r3=[r2],8",
    "adds r17=48,r17",
    "mov b7=r3",
    "ld8 gp=[r2]",
    "mov b6=r17",
    "br.cond.sptk.few b7",
    "mov gp=r16",
];

/// The 14 operations of Linux's ia64 pv_cpu_ops (getreg/setreg as their registers), and the
/// seed's get_cpuid in every binding.
const CATALOGUE: [&str; 23] = [
    "fc",
    "thash",
    "get_cpuid",
    "get_pmd",
    "ptcga",
    "get_rr",
    "set_rr",
    "set_rr0_to_rr4",
    "ssm_i",
    "rsm_i",
    "get_psr_i",
    "intrin_local_irq_restore",
    "get_psr",
    "get_itc",
    "get_ivr",
    "get_tpr",
    "set_tpr",
    "eoi",
    "set_kr0",
    "get_cpuid_direct",
    "get_cpuid_indirect",
    "get_cpuid_indirect_linux",
    "get_cpuid_call",
];

#[test]
fn catalogue_patched_native_and_xen_as_objdump_reads_it() {
    let names: Vec<&str> = decls().iter().map(|d| d.name).collect();
    for n in CATALOGUE {
        assert_eq!(
            names.iter().filter(|m| **m == n).count(),
            1,
            "{n} declared once in {names:?}"
        );
    }
    let (dir, mut elf) = catalogue("catalogue");
    let original = elf.bytes().to_vec();
    let mut patcher = Patcher::new();
    let dry = patcher.verify(&elf, Target::Native);
    assert_eq!(
        dry.refused_total, 0,
        "every site holds what the engine expects before any write:\n{dry}"
    );
    assert_eq!(
        dry.total().sites,
        decls().iter().filter(|d| d.binding.has_site()).count()
    );

    for target in [Target::Native, Target::XEN] {
        // SAFETY: the image is a file in memory; nothing runs it.
        let report = unsafe { patcher.apply(&mut elf, target) }.expect("apply");
        assert_eq!(report.refused_total, 0, "{report}");
        assert_eq!(report.calls_only, 1, "get_cpuid_call has no site");
        let path = dir.join(format!("{target:?}.elf"));
        elf.save(&path).unwrap();
        let sites = listing(&objdump(&path));
        let wanted: Vec<(&Decl, Vec<String>)> = decls()
            .iter()
            .filter(|d| d.binding.has_site())
            .map(|d| (d, intended(&elf, d, target)))
            .collect();
        let all: Vec<String> = wanted.iter().flat_map(|(_, w)| w.clone()).collect();
        let canon = canonical(&dir, &all);
        for (d, want) in &wanted {
            let want: Vec<&String> = want.iter().map(|w| &canon[w]).collect();
            let got = &sites[&format!("pv_site_{}", d.name)];
            assert_eq!(
                got.iter().collect::<Vec<_>>(),
                want,
                "{} under {target:?}: the intended instructions, then only nops",
                d.name
            );
        }
        for d in decls() {
            let slot = sym(&elf, &format!("pv_slot_{}", d.name));
            let desc = descriptor(&elf, sym(&elf, &format!("pv_desc_{}", d.name))).unwrap();
            let slot_now = u64::from_le_bytes(elf.read(slot, 8).unwrap().try_into().unwrap());
            assert_eq!(
                slot_now,
                State::Patched(target).routine(&desc),
                "{} slot under {target:?}",
                d.name
            );
        }
        // The seed's own example, spelled out.
        let expect = if target == Target::XEN {
            "break.m 0x14"
        } else {
            "mov r8=cpuid[r8]"
        };
        for n in [
            "get_cpuid",
            "get_cpuid_direct",
            "get_cpuid_indirect",
            "get_cpuid_indirect_linux",
        ] {
            assert_eq!(
                sites[&format!("pv_site_{n}")],
                [expect],
                "{n} under {target:?}"
            );
        }
    }
    // SAFETY: as above.
    unsafe { patcher.revert(&mut elf) }.expect("revert");
    assert!(
        elf.bytes() == &original[..],
        "revert restores every byte of the image"
    );
}

/// objdump's lines for the site `name` of `dump`: template (if the line starts a bundle),
/// instruction, and whether a stop follows it.
fn bundle_lines(dump: &str, name: &str) -> Vec<(Option<String>, String, bool)> {
    let head = format!("<{name}>:");
    dump.lines()
        .skip_while(|l| !l.ends_with(&head))
        .skip(1)
        .take_while(|l| !l.is_empty() && !l.ends_with(">:"))
        .filter_map(|l| l.splitn(3, '\t').nth(2))
        .map(|text| {
            let text = text.trim();
            let template = text
                .strip_prefix('[')
                .and_then(|t| t.split_once(']'))
                .map(|(t, _)| t.to_string());
            let stop = text.trim_end().ends_with(";;");
            (template, normalize(text), stop)
        })
        .collect()
}

#[test]
fn linux_form_site_is_linuxs_paravirt_br_through_a_function_descriptor() {
    let (dir, elf) = catalogue("linuxform");
    let name = "get_cpuid_indirect_linux";
    let d = decls().iter().find(|d| d.name == name).unwrap();
    assert_eq!(d.site_size(), 80, "5 bundles");
    let slot = sym(&elf, &format!("pv_slot_{name}"));
    let dump = objdump(&dir.join("catalogue.elf"));
    let got = bundle_lines(&dump, &format!("pv_site_{name}"));
    // Templates, slot order and stops as Linux packs them: {.mlx ;;} {.mii ;;} {.mi;;i}
    // {.mib} {.mii ;;}; `1f-1b` = 48, the bundle after the branch.
    let template = |t: &str| Some(t.to_string());
    let want: Vec<(Option<String>, String, bool)> = vec![
        (template("MLX"), "nop.m 0x0".into(), false),
        (None, format!("movl r2={slot:#x}"), true),
        (template("MII"), "ld8 r2=[r2]".into(), false),
        (None, "mov r17=ip".into(), false),
        (None, "mov r16=r1".into(), true),
        (template("MII"), "ld8 r3=[r2],8".into(), false),
        (None, "adds r17=48,r17".into(), true),
        (None, "mov b7=r3".into(), false),
        (template("MIB"), "ld8 r1=[r2]".into(), false),
        (None, "mov b6=r17".into(), false),
        (None, "br.few b7".into(), false),
        (template("MII"), "mov r1=r16".into(), false),
        (None, "nop.i 0x0".into(), false),
        (None, "nop.i 0x0".into(), true),
    ];
    assert_eq!(got, want, "pv_site_{name} as objdump reads it:\n{dump}");
    // The slot holds the address of a function descriptor {entry, gp} in .data; the descriptor
    // block names the same, and the engine reads it so.
    let fdesc = sym(&elf, &format!("pv_fdesc_native_{name}"));
    let word = |at: u64| u64::from_le_bytes(elf.read(at, 8).unwrap().try_into().unwrap());
    assert_eq!(word(slot), fdesc);
    assert_eq!(word(fdesc), sym(&elf, &format!("pv_native_{name}")));
    assert_eq!(word(fdesc + 8), sym(&elf, "__gp"));
    let xen = sym(&elf, &format!("pv_fdesc_xen_{name}"));
    assert_eq!(word(xen), sym(&elf, &format!("pv_xen_{name}")));
    let desc = descriptor(&elf, sym(&elf, &format!("pv_desc_{name}"))).unwrap();
    assert!(desc.fdesc);
    assert_eq!((desc.native, desc.routines[0]), (fdesc, xen));
}

#[test]
fn a_linux_form_function_descriptor_must_name_code() {
    use pv_runtime::abi::ia64::asm::desc;
    use pv_runtime::engine::PlanError;
    use pv_runtime::site::Field;
    let (_dir, mut elf) = catalogue("fdesc");
    let name = "get_cpuid_indirect_linux";
    let at = sym(&elf, &format!("pv_desc_{name}"));
    let fdesc = sym(&elf, &format!("pv_fdesc_native_{name}"));
    // The descriptor's entry bent onto data (the function descriptor itself).
    let entry = elf.poke(fdesc, &fdesc.to_le_bytes()).unwrap();
    assert_eq!(
        descriptor(&elf, at),
        Err(PlanError::Outside(Field::Routine))
    );
    elf.poke(fdesc, &entry).unwrap();
    assert!(descriptor(&elf, at).unwrap().fdesc);
    // A form byte of no form.
    elf.poke(at + desc::FORM as u64, &[2]).unwrap();
    assert_eq!(descriptor(&elf, at), Err(PlanError::Descriptor("form")));
    // The seed's form: its routines would be the function descriptors, which are not code.
    elf.poke(at + desc::FORM as u64, &[0]).unwrap();
    assert_eq!(
        descriptor(&elf, at),
        Err(PlanError::Outside(Field::Routine))
    );
}

#[test]
fn a_tampered_bundle_is_refused_and_left_alone() {
    let (_dir, mut elf) = catalogue("tamper");
    let site = sym(&elf, "pv_site_get_cpuid_direct");
    let mut bytes = elf.read(site, 16).unwrap().to_vec();
    bytes[7] ^= 0x10;
    // SAFETY: the image is a file in memory; nothing runs it.
    unsafe { elf.stage(site, &bytes) }.unwrap();
    elf.commit().unwrap();
    let mut patcher = Patcher::new();
    // SAFETY: as above.
    let report = unsafe { patcher.apply(&mut elf, Target::XEN) }.expect("apply");
    assert_eq!(report.refused_total, 1, "{report}");
    let refusal = report.refused().next().unwrap();
    assert_eq!(
        (refusal.addr, refusal.name.as_str(), refusal.reason),
        (site, "get_cpuid_direct", Reason::Mismatch)
    );
    assert_eq!(elf.read(site, 16).unwrap(), &bytes[..], "untouched");
    let t = report.total();
    assert_eq!(
        t.patched + t.unchanged,
        t.sites - 1,
        "every other site is patched: {report}"
    );
}

#[test]
fn a_hypercall_routine_assembles_and_patched_sites_call_it() {
    use pv_runtime::abi::ia64::asm::{Form, HypercallArg};
    let block = Decl {
        name: "block",
        module: "test",
        binding: Binding::DirectBranch,
        form: Form::Seed,
        args: &[8],
        carrier: Some(8),
        clobbers: 1 << 32,
        native: "nop.m 0",
        xen: XenBody::Hypercall(29, &[HypercallArg::Const(1), HypercallArg::Reg(8)]),
    };
    let dir = scratch("hypercall");
    let mut text = String::new();
    pv_runtime::abi::ia64::file::write(&mut text, &[block]).unwrap();
    let mut elf = Elf::load(&link(&dir, &assemble(&dir, "hypercall", &text))).unwrap();
    let routine = &listing(&objdump(&dir.join("hypercall.elf")))["pv_xen_block"];
    assert!(
        routine.contains(&"break.m 0x1000".to_string()),
        "{routine:?}"
    );
    assert!(
        routine.contains(&"movl r2=0x1d".to_string()),
        "sched_op in r2: {routine:?}"
    );
    // Xen reads in0-in4 of a frame entered from the one executing `break`: that frame's
    // outputs, r32 + sol + i (xen/arch/ia64/xen/ivt.S, ia64_syscall_setup).
    let (sof, sol) = routine
        .iter()
        .find_map(|i| i.strip_prefix("alloc r32=ar.pfs,"))
        .map(|rest| {
            let n: Vec<u32> = rest.split(',').map(|x| x.parse().unwrap()).collect();
            (n[0], n[1])
        })
        .unwrap_or_else(|| panic!("alloc r32=ar.pfs in {routine:?}"));
    assert!(sof >= sol + 2, "two outputs: {routine:?}");
    for arg in [
        format!("movl r{}=0x1", 32 + sol),
        format!("mov r{}=r8", 33 + sol),
    ] {
        assert!(routine.contains(&arg), "{arg} (an output) in {routine:?}");
    }
    let mut patcher = Patcher::new();
    // SAFETY: the image is a file in memory; nothing runs it.
    let report = unsafe { patcher.apply(&mut elf, Target::XEN) }.expect("apply");
    assert_eq!(
        (report.refused_total, report.total().patched),
        (0, 1),
        "{report}"
    );
    let path = dir.join("xen.elf");
    elf.save(&path).unwrap();
    let site = &listing(&objdump(&path))["pv_site_block"];
    assert_eq!(
        site,
        &[format!(
            "br.call.sptk.many b0={:x}",
            sym(&elf, "pv_xen_block")
        )]
    );
}

#[test]
fn records_carry_the_xen_kind() {
    let (_dir, elf) = catalogue("records");
    let kinds: HashMap<String, pv_runtime::BodyKind> = pv_runtime::site::records(&elf)
        .map(|r| r.unwrap())
        .map(|r| {
            (
                descriptor(&elf, r.desc).unwrap().name(&elf).to_string(),
                r.xen_kind,
            )
        })
        .collect();
    use pv_runtime::BodyKind;
    assert_eq!(kinds["get_cpuid"], BodyKind::Hyperprivop);
    assert_eq!(kinds["get_itc"], BodyKind::Native);
    assert_eq!(kinds["rsm_i"], BodyKind::Asm);
}

/// Disarms a fault injected into `elf` that the transition never reached (a `Stage(k)` or
/// `Step(k)` beyond its writes stays armed otherwise): a step no commit reaches.
fn disarm(elf: &mut Elf) {
    elf.inject(Fault::Step(usize::MAX));
}

/// One transition of the image: `apply(to)`, or `revert` for `None`.
#[expect(clippy::result_large_err, reason = "the engine's own signature")]
fn ia64_transition(
    elf: &mut Elf,
    to: Option<Target<'static>>,
) -> Result<pv_runtime::Report, pv_runtime::engine::Failure<pv_sites::elf::PatchError>> {
    let mut patcher = Patcher::new();
    // SAFETY: the image is a file in memory; nothing runs it.
    unsafe {
        match to {
            Some(t) => patcher.apply(elf, t),
            None => patcher.revert(elf),
        }
    }
}

/// Runs the transition `from -> to` with `fault` injected: `false` if the fault lay beyond
/// the transition's stages or steps, so that it committed (and is undone by moving back to
/// `from`); else it must have rolled back, leaving every byte of the file as it was.
fn ia64_rolls_back(
    elf: &mut Elf,
    from: Option<Target<'static>>,
    to: Option<Target<'static>>,
    fault: Fault,
) -> bool {
    let before = elf.bytes().to_vec();
    elf.inject(fault);
    let result = ia64_transition(elf, to);
    disarm(elf);
    match result {
        Ok(report) => {
            assert_eq!(report.transaction, Transaction::Committed, "{fault:?}");
            ia64_transition(elf, from).expect("undo");
            assert!(elf.bytes() == &before[..], "{fault:?}: undone");
            false
        }
        Err(f) => {
            assert_eq!(f.report.transaction, Transaction::RolledBack, "{fault:?}");
            assert!(
                elf.bytes() == &before[..],
                "{fault:?}: every byte of the image as it was"
            );
            true
        }
    }
}

/// Issue 10: every transition of the linked ia64 image commits whole or leaves every byte of
/// the file as it was, under a fault at every stage, every commit step and the serialisation;
/// the loops provably reach every write (as many stage and step faults roll back as the
/// transition writes sites), and the next transition then succeeds with no refusal.
#[test]
fn every_failed_ia64_transition_leaves_every_byte_as_it_was() {
    let (_dir, mut elf) = catalogue("faults");
    let original = elf.bytes().to_vec();
    // (state the transition starts from, its target; None is the original bytes / revert).
    let cases: [(Option<Target<'static>>, Option<Target<'static>>); 3] = [
        (None, Some(Target::XEN)),
        (Some(Target::XEN), None),
        (Some(Target::Native), Some(Target::XEN)),
    ];
    for (from, to) in cases {
        let case = format!("{from:?} -> {to:?}");
        if let Some(start) = from {
            let r = ia64_transition(&mut elf, Some(start)).expect("reach the starting state");
            assert_eq!(r.refused_total, 0, "{case}: {r}");
        }
        let start = elf.bytes().to_vec();
        let writes = match to {
            Some(t) => Patcher::new().verify(&elf, t).total().patched,
            // A revert writes what a dry run of the original state would: count it from a
            // report of the revert itself, undone below.
            None => {
                let r = ia64_transition(&mut elf, None).expect("count the revert");
                ia64_transition(&mut elf, from).expect("back");
                assert!(elf.bytes() == &start[..], "{case}: back to the start");
                r.total().patched
            }
        };
        assert!(writes > 0, "{case}: the transition writes sites");
        println!("{case}: {writes} sites written");
        let stages = (0..)
            .take_while(|k| ia64_rolls_back(&mut elf, from, to, Fault::Stage(*k)))
            .count();
        let steps = (0..)
            .take_while(|k| ia64_rolls_back(&mut elf, from, to, Fault::Step(*k)))
            .count();
        assert_eq!(
            stages, writes,
            "{case}: a fault at each stage, one per site written"
        );
        assert_eq!(
            steps, writes,
            "{case}: a fault at each commit step, one per write"
        );
        assert!(
            ia64_rolls_back(&mut elf, from, to, Fault::Serialise),
            "{case}: serialisation"
        );
        let report = ia64_transition(&mut elf, to).expect("the next transition succeeds");
        assert_eq!(report.transaction, Transaction::Committed, "{case}");
        assert_eq!(report.refused_total, 0, "{case}: {report}");
        assert_eq!(report.total().patched, writes, "{case}: {report}");
        ia64_transition(&mut elf, None).expect("back to the original bytes");
        assert!(elf.bytes() == &original[..], "{case}: original again");
    }
}
