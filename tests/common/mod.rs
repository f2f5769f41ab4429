//! Helpers shared by the runtime tests: one patching test at a time per process, site lookup,
//! and decoding with iced-x86.
#![allow(dead_code)]

pub mod catalogue;

use iced_x86::{Decoder, DecoderOptions, Instruction, Mnemonic};
use pv_runtime::Site;
use std::sync::{Mutex, MutexGuard};

static PATCHING: Mutex<()> = Mutex::new(());

/// Patching rewrites the whole process's text: tests of one binary take turns.
pub fn serial() -> MutexGuard<'static, ()> {
    PATCHING.lock().unwrap_or_else(|p| p.into_inner())
}

/// The call sites (probes excluded) of intrinsics named `name` declared in a module whose
/// path ends with `module`.
pub fn sites_of(module: &str, name: &str) -> Vec<Site> {
    pv_runtime::sites()
        .map(|s| s.expect("every record decodes"))
        .filter(|s| {
            !s.record.probe && s.intrinsic.name == name && s.intrinsic.module.ends_with(module)
        })
        .collect()
}

/// Every site, probes included.
pub fn all_sites() -> Vec<Site> {
    pv_runtime::sites()
        .map(|s| s.expect("every record decodes"))
        .collect()
}

/// Decodes `bytes` as if at `ip`.
pub fn decode(bytes: &[u8], ip: usize) -> Vec<Instruction> {
    Decoder::with_ip(64, bytes, ip as u64, DecoderOptions::NONE)
        .into_iter()
        .collect()
}

/// Asserts that `site` holds exactly `call target` followed by nops filling the site.
pub fn assert_call_then_nops(site: &Site, target: usize) {
    let insns = decode(site.current(), site.addr());
    assert!(!insns.is_empty());
    assert_eq!(
        insns[0].mnemonic(),
        Mnemonic::Call,
        "{}: {insns:?}",
        site.intrinsic.name
    );
    assert_eq!(
        insns[0].near_branch_target(),
        target as u64,
        "{}: call target",
        site.intrinsic.name
    );
    assert!(
        insns[1..].iter().all(|i| i.mnemonic() == Mnemonic::Nop),
        "{}: tail {insns:?}",
        site.intrinsic.name
    );
    assert_eq!(
        insns.iter().map(|i| i.len()).sum::<usize>(),
        site.record.len,
        "{}: tiles the site",
        site.intrinsic.name
    );
    assert!(insns.iter().all(|i| !i.is_invalid()));
}

pub mod ia64;
pub mod skip;

/// Lines of `/proc/self/maps` that are both writable and executable.
pub fn wx_mappings() -> Vec<String> {
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
