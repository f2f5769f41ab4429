//! What one boot produced: how it ended, the console, the guest's own patch report read from
//! the console, and the monitor's counts.

use crate::Mode;
use std::collections::BTreeMap;

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The guest wrote this byte to the exit port (0x10 success, 0x11 failure).
    Exit(u8),
    /// A Xen guest shut itself down (`SCHEDOP_shutdown`) with this reason.
    XenShutdown(u32),
    /// A Xen guest took its last vCPU down (`VCPUOP_down`).
    XenDown,
    /// The vCPU triple-faulted (`KVM_EXIT_SHUTDOWN`), at this rip.
    TripleFault {
        /// Where.
        rip: u64,
    },
    /// The watchdog stopped a vCPU that ran past its time.
    Hung {
        /// The guest's rip when stopped.
        rip: u64,
        /// The time it had, in seconds.
        after_s: u64,
    },
    /// KVM could not go on (an internal or emulation error, a failed entry).
    Failed(String),
}

impl End {
    /// The guest reported success through the exit port.
    pub fn succeeded(&self) -> bool {
        *self == End::Exit(0x10)
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            End::Exit(v) => format!("exit port {v:#x}"),
            End::XenShutdown(r) => format!("xen shutdown reason {r}"),
            End::XenDown => "xen vcpu down".into(),
            End::TripleFault { rip } => format!("triple fault at rip {rip:#x}"),
            End::Hung { rip, after_s } => {
                format!("watchdog: vCPU still running after {after_s} s, rip {rip:#x}")
            }
            End::Failed(why) => format!("KVM stopped: {why}"),
        }
    }
}

/// The guest's patch counts for one binding (its `report` line).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Sites patched.
    pub patched: u64,
    /// Sites already right.
    pub unchanged: u64,
    /// Sites refused.
    pub refused: u64,
}

/// Counters taken between two console lines of the workload.
#[derive(Debug, Clone, Default)]
pub struct Step {
    /// The guest's `work …` line that ended the step.
    pub line: String,
    /// Exits that reached the monitor, by reason (console-port writes left out).
    pub exits: BTreeMap<String, u64>,
    /// Hypercalls served, by name.
    pub hypercalls: BTreeMap<String, u64>,
    /// KVM's own exit count (in-kernel and user space), console-port writes left out.
    pub kvm_exits: u64,
    /// Instructions KVM emulated.
    pub emulated: u64,
}

/// The guest state the monitor sees at the end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Final {
    /// cr3.
    pub cr3: u64,
    /// `MSR_KERNEL_GS_BASE` (0xc0000102).
    pub kernel_gs_base: u64,
    /// `MSR_KVM_SYSTEM_TIME_NEW` (0x4b564d01): the kvmclock area the guest registered with
    /// the host's KVM (its address, bit 0 = enabled); 0 when it registered none.
    pub kvm_system_time: u64,
    /// The interrupt handlers the machine would dispatch to: the IDT's present gates (bare,
    /// KVM) or the trap table (Xen), as (vector, handler address).
    pub handlers: Vec<(u8, u64)>,
    /// The GDT's descriptors: from GDTR (bare, KVM) or `set_gdt` (Xen).
    pub gdt: Vec<u64>,
}

/// Everything one boot produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The machine.
    pub mode: Mode,
    /// How it ended.
    pub end: End,
    /// The console: port 0xe9 and Xen's `console_io`, in order.
    pub console: String,
    /// Exits that reached the monitor, by reason.
    pub exits: BTreeMap<String, u64>,
    /// Hypercalls served, by name (Xen mode).
    pub hypercalls: BTreeMap<String, u64>,
    /// KVM's statistics at the end (from the vCPU's statistics file), when available.
    pub kvm_stats: Option<BTreeMap<String, u64>>,
    /// Per workload step.
    pub steps: Vec<Step>,
    /// The guest state at the end.
    pub state: Final,
}

impl Outcome {
    /// Instructions KVM emulated in all (`insn_emulation`), when statistics are available.
    pub fn emulated_instructions(&self) -> Option<u64> {
        self.kvm_stats.as_ref()?.get("insn_emulation").copied()
    }

    /// The guest's `report <binding> …` lines.
    pub fn report(&self) -> BTreeMap<String, Counts> {
        let mut out = BTreeMap::new();
        for line in self.console.lines() {
            let mut words = line.split_whitespace();
            if words.next() != Some("report") {
                continue;
            }
            let Some(binding) = words.next() else {
                continue;
            };
            let mut c = Counts::default();
            for w in words {
                let (k, v) = w.split_once('=').unwrap_or((w, ""));
                let v = v.parse().unwrap_or(u64::MAX);
                match k {
                    "patched" => c.patched = v,
                    "unchanged" => c.unchanged = v,
                    "refused" => c.refused = v,
                    _ => {}
                }
            }
            out.entry(binding.to_string()).or_insert(c);
        }
        out
    }

    /// The target the guest patched for (its `target …` line).
    pub fn target(&self) -> Option<&str> {
        self.console.lines().find_map(|l| l.strip_prefix("target "))
    }

    /// The guest's `refused …` lines.
    pub fn refused(&self) -> Vec<&str> {
        self.console
            .lines()
            .filter(|l| l.starts_with("refused "))
            .collect()
    }
}
