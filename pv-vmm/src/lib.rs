//! pv-vmm: a KVM monitor that boots pv-guest on one vCPU as one of three machines — bare
//! metal, a Xen host, a KVM host — and reports what the guest printed, how it patched itself,
//! and what crossed the VM boundary (exits by reason, hypercalls by name, instructions KVM
//! emulated).
//!
//! The guest decides what it runs on from CPUID alone; the monitor only shapes CPUID
//! ([`cpuid`]) and serves what each machine serves ([`xen`] for the Xen host).

pub mod cpuid;
pub mod json;
pub mod loader;
pub mod memory;
pub mod outcome;
pub mod run;
pub mod stats;
pub mod vcpu;
pub mod xen;

pub use outcome::{End, Outcome};
use std::path::PathBuf;
use std::time::Duration;

/// The machine the monitor plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No hypervisor leaves, the hypervisor bit clear: the guest must patch for native.
    Bare,
    /// Xen's leaves, the hypercall page on request and Xen's hypercalls.
    Xen,
    /// The host KVM's own leaves and paravirtual MSRs.
    Kvm,
}

impl Mode {
    /// Every mode, in the order the tour shows them.
    pub const ALL: [Mode; 3] = [Mode::Bare, Mode::Xen, Mode::Kvm];

    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Bare => "bare",
            Mode::Xen => "xen",
            Mode::Kvm => "kvm",
        }
    }

    /// The mode called `name`.
    pub fn parse(name: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// One boot.
#[derive(Debug, Clone)]
pub struct Config {
    /// The machine.
    pub mode: Mode,
    /// The guest ELF (with a PVH entry note).
    pub elf: PathBuf,
    /// The command line in `hvm_start_info` (pv-guest reads `fault` and `hang`).
    pub cmdline: String,
    /// How long the vCPU may run before the watchdog stops it.
    pub timeout: Duration,
    /// Guest-physical bytes to flip (xor 0xff) after loading, before the first instruction.
    pub flip: Vec<u64>,
    /// Which entry the vCPU starts at.
    pub entry: Entry,
}

/// The guest entry the vCPU starts at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// The PVH entry (32-bit protected mode, paging off), as QEMU's `-kernel` starts it.
    Pvh,
    /// `e_entry` in long mode, on tables the monitor builds.
    Long,
}

impl Config {
    /// Boots the guest built with this crate (`PV_GUEST_ELF`) in `mode`, 20 s watchdog.
    pub fn new(mode: Mode) -> Config {
        Config {
            mode,
            elf: PathBuf::from(env!("PV_GUEST_ELF")),
            cmdline: String::new(),
            timeout: Duration::from_secs(20),
            flip: Vec::new(),
            entry: Entry::Pvh,
        }
    }
}

/// Guest RAM: 64 MiB at guest-physical 0.
pub const RAM: usize = 64 << 20;

/// Why the monitor could not run the guest at all (as opposed to a guest that failed).
pub fn kvm_unavailable() -> Option<String> {
    match kvm_ioctls::Kvm::new() {
        Ok(_) => None,
        Err(e) => Some(format!("/dev/kvm unavailable: {e}")),
    }
}

/// Boots the guest under `config` and runs it until it exits, stops, faults or hangs.
pub fn boot(config: &Config) -> Result<Outcome, String> {
    run::boot(config)
}
