//! The register contract, proven: every intrinsic's probe runs with a distinct canary value in
//! every general register, and no register outside the declared results and clobbers may
//! change — natively (where the instruction runs in userland), after `apply(Xen)`, and after
//! `apply(Native)`. A deliberately wrong descriptor proves the check can fail.

mod common;

use pv::x86_64::{CpuidRegs, DescriptorTablePointer};
use pv_runtime::hv::Hypervisor;
use pv_runtime::probe::{self, Regs};
use pv_runtime::writer::RemapWriter;
use pv_runtime::{Binding, Intrinsic, Live, Patcher, Target};

mod decl {
    use pv_macros::pv_intrinsic;

    extern "C" fn pick(a: u64, b: u64, c: u64) -> u64 {
        a ^ b.rotate_left(7) ^ c
    }

    // One test intrinsic per binding with three arguments in a permuted order, so that stubs and
    // adapters must move them.
    #[pv_intrinsic(binding = 1, reg = "r8", clobber = [rax], native = "mov rax, rsi; rol rax, 7; xor r8, rax; xor r8, rdi",
        xen = call(pick))]
    pub fn pick1(a: u64, #[pv(reg = "rsi")] b: u64, #[pv(reg = "rdi")] c: u64) -> u64;
    #[pv_intrinsic(binding = 2, reg = "r8", clobber = [rax], native = "mov rax, rsi; rol rax, 7; xor r8, rax; xor r8, rdi",
        xen = call(pick))]
    pub fn pick2(a: u64, #[pv(reg = "rsi")] b: u64, #[pv(reg = "rdi")] c: u64) -> u64;
    #[pv_intrinsic(binding = 3, reg = "r8", clobber = [rax], native = "mov rax, rsi; rol rax, 7; xor r8, rax; xor r8, rdi",
        xen = call(pick))]
    pub fn pick3(a: u64, #[pv(reg = "rsi")] b: u64, #[pv(reg = "rdi")] c: u64) -> u64;
    #[pv_intrinsic(binding = 4, reg = "r8", clobber = [rax], native = "mov rax, rsi; rol rax, 7; xor r8, rax; xor r8, rdi",
        xen = call(pick))]
    pub fn pick4(a: u64, #[pv(reg = "rsi")] b: u64, #[pv(reg = "rdi")] c: u64) -> u64;
}

/// Wrong on purpose, and built by hand because the macro refuses it: a probe that writes r9
/// while its contract says only rax.
mod liar {
    use pv_runtime::{Arch, Binding, Body, BodyKind, Contract, Intrinsic, Slot};

    #[unsafe(naked)]
    unsafe extern "C" fn probe() {
        core::arch::naked_asm!("mov r9, 1", "xor eax, eax", "ret")
    }

    static SLOT: Slot = Slot::new(probe);

    pub static LIAR: Intrinsic = Intrinsic {
        name: "liar",
        module: "canary",
        arch: Arch::X86_64,
        binding: Binding::InlinePatch,
        contract: Contract {
            uses: 0,
            defs: 1,
            clobbers: 1 << 16,
        },
        native: probe,
        backends: [Body {
            kind: BodyKind::Native,
            routine: probe,
        }; 3],
        probe,
        slot: &SLOT,
    };
}

fn canaries() -> Regs {
    core::array::from_fn(|i| {
        0xc0de_0000_0000_0000 | (i as u64) << 32 | (0x0101_0101 * (i as u64 + 1))
    })
}

/// Register values (by encoding) an intrinsic needs to run meaningfully.
struct Args {
    cpuid: Box<CpuidRegs>,
    idt: Box<[u64; 64]>,
    table: Box<DescriptorTablePointer>,
}

impl Args {
    fn new() -> Self {
        let idt = Box::new([0u64; 64]);
        let table = Box::new(DescriptorTablePointer {
            limit: 32 * 16 - 1,
            base: idt.as_ptr() as u64,
        });
        Args {
            cpuid: Box::default(),
            idt,
            table,
        }
    }

    /// Sets the argument registers of `i` in `regs`; `None` if the intrinsic cannot run in
    /// userland natively (a privileged instruction).
    fn fill(&mut self, i: &Intrinsic, regs: &mut Regs, native: bool) -> Option<()> {
        const RCX: usize = 1;
        const RDX: usize = 2;
        const RSI: usize = 6;
        const RDI: usize = 7;
        let _ = &self.idt;
        match i.name {
            "cpuid" => regs[RDI] = &mut *self.cpuid as *mut CpuidRegs as u64,
            "restore_fl" => regs[RDI] = 0x202,
            "rdtsc" | "rdtscp" | "save_fl" | "version" | "mix" => {}
            n if n.starts_with("pick") => {}
            _ if native => return None,
            "load_idt" | "load_gdt" => {
                regs[RDI] = &*self.table as *const DescriptorTablePointer as u64
            }
            // Option 4 (a build-wide `--cfg pv_binding="indirect_call"`) takes its arguments
            // in the C order, rdi then rsi; options 1-3 in the declared registers.
            "outb" | "inb" | "rdmsr" | "wrmsr" if i.binding == Binding::IndirectCall => {
                let (first, second) = match i.name {
                    "outb" => (0xe9, u64::from(b'!')),
                    "inb" => (0xe9, 0),
                    // The fs base: an MSR Xen emulates for a PV guest.
                    _ => (0xc000_0100, 0x10),
                };
                (regs[RDI], regs[RSI]) = (first, second);
            }
            "outb" => (regs[RDX], regs[RDI]) = (0xe9, u64::from(b'!')),
            "inb" => regs[RDX] = 0xe9,
            // The fs base: an MSR Xen emulates for a PV guest.
            "rdmsr" => regs[RCX] = 0xc000_0100,
            "wrmsr" => (regs[RCX], regs[RDI]) = (0xc000_0100, 0x10),
            "io_delay" if native => return None,
            _ => {}
        }
        Some(())
    }
}

/// Runs every runnable probe; returns (names run, names of violators with their masks).
fn run_all(native: bool) -> (Vec<&'static str>, Vec<(String, u64)>) {
    let mut args = Args::new();
    let mut ran = Vec::new();
    let mut bad = Vec::new();
    for i in pv_runtime::intrinsics() {
        let mut before = canaries();
        if args.fill(i, &mut before, native).is_none() {
            continue;
        }
        // SAFETY: only intrinsics that can run in this state, with valid arguments.
        let after = unsafe { probe::run(i, before) };
        ran.push(i.name);
        let v = probe::violations(&i.contract, &before, &after);
        if v != 0 {
            bad.push((format!("{}::{}", i.module, i.name), v));
        }
    }
    (ran, bad)
}

const R9: u64 = 1 << 9;

#[test]
fn contracts_hold_in_every_binding_and_state() {
    let _serial = common::serial();
    let canary = canaries();
    // SAFETY: the liar's probe only writes registers.
    let lied = unsafe { probe::run(&liar::LIAR, canary) };
    assert_eq!(
        probe::violations(&liar::LIAR.contract, &canary, &lied),
        R9,
        "the canary catches an undeclared write"
    );

    let (ran, bad) = run_all(true);
    for name in [
        "cpuid",
        "rdtsc",
        "rdtscp",
        "save_fl",
        "restore_fl",
        "pick1",
        "pick2",
        "pick3",
        "pick4",
    ] {
        assert!(ran.contains(&name), "{name} ran natively: {ran:?}");
    }
    assert_eq!(bad, [], "natively");

    let _hv = Hypervisor::install().expect("test hypervisor");
    let mut patcher = Patcher::new();
    // SAFETY: patching tests take turns (common::serial); no site runs while patching.
    let report = unsafe { patcher.apply(&mut Live::new(RemapWriter::new()), Target::XEN) }
        .expect("apply xen");
    assert_eq!(report.refused_total, 0, "{report}");
    let (ran, bad) = run_all(false);
    assert_eq!(
        ran.len(),
        pv_runtime::intrinsics().len(),
        "every intrinsic runs under Xen"
    );
    assert!(
        ran.len() >= 25 + 4,
        "the whole catalogue is linked: {ran:?}"
    );
    assert_eq!(bad, [], "under Xen");

    // SAFETY: patching tests take turns (common::serial); no site runs while patching.
    let report = unsafe { patcher.apply(&mut Live::new(RemapWriter::new()), Target::Native) }
        .expect("apply native");
    assert_eq!(report.refused_total, 0, "{report}");
    let (_, bad) = run_all(true);
    assert_eq!(bad, [], "after apply(Native)");

    // SAFETY: as for apply.
    unsafe { patcher.revert(&mut Live::new(RemapWriter::new())) }.expect("revert");

    // The probes compute what the functions compute.
    assert_eq!(decl::pick1(1, 2, 4), 1 ^ 2u64.rotate_left(7) ^ 4);
    assert_eq!(decl::pick4(1, 2, 4), decl::pick2(1, 2, 4));
    assert_eq!(decl::pick3(9, 8, 7), decl::pick1(9, 8, 7));
}
