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
    for target in [Target::Native, Target::Xen] {
        // SAFETY: the image is a file in memory; nothing runs it.
        let report = unsafe { patcher.apply(&mut elf, target) }.expect("apply");
        assert_eq!(report.refused_total, 0, "{report}");
        let path = dir.join(format!("decode-{target:?}.elf"));
        elf.save(&path).unwrap();
        n += compare(&path);
    }
    let _ = scratch;
    eprintln!("{n} bundles read alike by objdump and the interpreter");
}
