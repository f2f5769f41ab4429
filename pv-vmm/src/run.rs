//! One boot: build the VM, run its vCPU until the guest ends, count what crosses the boundary.

use crate::memory::Memory;
use crate::outcome::{End, Final, Outcome, Step};
use crate::stats::Stats;
use crate::xen::{self, Xen};
use crate::{Config, Entry, Mode, RAM, cpuid, loader, vcpu};
use kvm_bindings::{
    KVM_CAP_X86_USER_SPACE_MSR, KVM_MAX_CPUID_ENTRIES, KVM_MSR_EXIT_REASON_UNKNOWN, kvm_enable_cap,
    kvm_userspace_memory_region,
};
use kvm_ioctls::{Kvm, VcpuExit, VcpuFd};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The debug-console port (QEMU `-debugcon`, Bochs port 0xe9).
pub const CONSOLE_PORT: u16 = 0xe9;
/// The exit port (QEMU `isa-debug-exit,iobase=0xf4`).
pub const EXIT_PORT: u16 = 0xf4;
/// `MSR_KERNEL_GS_BASE` (Intel SDM vol. 4, `IA32_KERNEL_GS_BASE`).
const MSR_KERNEL_GS_BASE: u32 = 0xc000_0102;
/// `MSR_KVM_SYSTEM_TIME_NEW` (Linux `Documentation/virt/kvm/x86/msr.rst`).
const MSR_KVM_SYSTEM_TIME_NEW: u32 = 0x4b56_4d01;

/// Stops a vCPU that runs past its time: after the deadline it signals the vCPU thread until
/// the run loop notices, so `KVM_RUN` returns `EINTR` (Linux `api.rst`, "KVM_RUN": a pending
/// signal makes it return) — also from a vCPU that hangs on an instruction KVM cannot finish
/// (`vmcall` on this host).
struct Watchdog {
    fired: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

extern "C" fn wake(_: libc::c_int) {}

impl Watchdog {
    fn start(timeout: Duration) -> Watchdog {
        static HANDLER: std::sync::Once = std::sync::Once::new();
        HANDLER.call_once(|| {
            // Without SA_RESTART, so that KVM_RUN returns EINTR.
            // SAFETY: installs a handler that does nothing; the zeroed sigaction is valid.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = wake as *const () as usize;
                libc::sigaction(libc::SIGUSR2, &action, std::ptr::null_mut());
            }
        });
        // SAFETY: this thread's id; the watchdog stops signalling it before it returns.
        let vcpu_thread = unsafe { libc::pthread_self() };
        let fired = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let (f, d) = (fired.clone(), done.clone());
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + timeout;
            while Instant::now() < deadline {
                if d.load(Ordering::Acquire) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            f.store(true, Ordering::Release);
            while !d.load(Ordering::Acquire) {
                // SAFETY: the vCPU thread lives until it sets `done` and joins us.
                unsafe { libc::pthread_kill(vcpu_thread, libc::SIGUSR2) };
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Watchdog {
            fired,
            done,
            thread: Some(thread),
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A VM exit, copied out of the `kvm_run` page so the vCPU can be used while handling it.
enum Exit {
    Out(u16, Vec<u8>),
    In(u16),
    Mmio(&'static str),
    Hlt,
    Wrmsr(u32, u64),
    Rdmsr(u32),
    Shutdown,
    Stopped(String),
    Interrupted,
}

/// The counters one boot keeps, and the per-step snapshots.
struct Counters {
    exits: BTreeMap<String, u64>,
    console: Vec<u8>,
    console_writes: u64,
    steps: Vec<Step>,
    /// The counters at the last step boundary.
    mark: Mark,
}

/// The counters at one moment.
#[derive(Default)]
struct Mark {
    exits: BTreeMap<String, u64>,
    hypercalls: BTreeMap<String, u64>,
    kvm: BTreeMap<String, u64>,
    console_writes: u64,
}

fn delta(now: &BTreeMap<String, u64>, then: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    now.iter()
        .filter_map(|(k, v)| {
            let d = v - then.get(k).copied().unwrap_or(0);
            (d > 0).then(|| (k.clone(), d))
        })
        .collect()
}

fn hypercalls(xen: &Xen) -> BTreeMap<String, u64> {
    xen.calls.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

impl Counters {
    fn count(&mut self, reason: String) {
        *self.exits.entry(reason).or_default() += 1;
    }

    /// Appends console bytes; a finished `work …` line closes a step.
    fn console(&mut self, bytes: &[u8], xen: &Xen, stats: Option<&Stats>) {
        for &b in bytes {
            self.console.push(b);
            if b != b'\n' {
                continue;
            }
            let start = self.console[..self.console.len() - 1]
                .iter()
                .rposition(|&c| c == b'\n')
                .map_or(0, |i| i + 1);
            let line =
                String::from_utf8_lossy(&self.console[start..self.console.len() - 1]).into_owned();
            if line.starts_with("work ") {
                self.close_step(line, xen, stats);
            } else if line.starts_with("target ") || line.starts_with("revert ") {
                // Steps begin after the report and again after revert.
                self.mark = self.snapshot(xen, stats);
            }
        }
    }

    fn snapshot(&self, xen: &Xen, stats: Option<&Stats>) -> Mark {
        Mark {
            exits: self.exits.clone(),
            hypercalls: hypercalls(xen),
            kvm: stats.and_then(|s| s.read().ok()).unwrap_or_default(),
            console_writes: self.console_writes,
        }
    }

    fn close_step(&mut self, line: String, xen: &Xen, stats: Option<&Stats>) {
        let now = self.snapshot(xen, stats);
        let then = &self.mark;
        let mut step_exits = delta(&now.exits, &then.exits);
        step_exits.remove(&format!("io_out {CONSOLE_PORT:#x}"));
        let console = now.console_writes - then.console_writes;
        let kvm_delta = delta(&now.kvm, &then.kvm);
        let kvm_exits = kvm_delta.get("exits").copied().unwrap_or(0);
        self.steps.push(Step {
            line,
            exits: step_exits,
            hypercalls: delta(&now.hypercalls, &then.hypercalls),
            kvm_exits: kvm_exits.saturating_sub(console),
            emulated: kvm_delta.get("insn_emulation").copied().unwrap_or(0),
        });
        self.mark = now;
    }
}

fn next_exit(vcpu: &mut VcpuFd) -> Exit {
    match vcpu.run() {
        Ok(VcpuExit::IoOut(port, data)) => Exit::Out(port, data.to_vec()),
        Ok(VcpuExit::IoIn(port, data)) => {
            // Nothing answers on this machine's ports: all ones, as an empty ISA bus.
            data.fill(0xff);
            Exit::In(port)
        }
        Ok(VcpuExit::MmioRead(_, data)) => {
            data.fill(0xff);
            Exit::Mmio("mmio_read")
        }
        Ok(VcpuExit::MmioWrite(..)) => Exit::Mmio("mmio_write"),
        Ok(VcpuExit::Hlt) => Exit::Hlt,
        Ok(VcpuExit::X86Wrmsr(e)) => {
            // Refused unless the machine serves it (see `handle`): #GP, as KVM does for an
            // MSR it does not know.
            *e.error = 1;
            Exit::Wrmsr(e.index, e.data)
        }
        Ok(VcpuExit::X86Rdmsr(e)) => {
            *e.error = 1;
            Exit::Rdmsr(e.index)
        }
        Ok(VcpuExit::Shutdown) => Exit::Shutdown,
        Ok(VcpuExit::InternalError) => {
            let run = vcpu.get_kvm_run();
            // SAFETY: KVM filled the `internal` member for KVM_EXIT_INTERNAL_ERROR.
            let suberror = unsafe { run.__bindgen_anon_1.internal.suberror };
            Exit::Stopped(format!(
                "KVM_EXIT_INTERNAL_ERROR, suberror {suberror} (1 = instruction emulation failed)"
            ))
        }
        Ok(VcpuExit::FailEntry(reason, _)) => {
            Exit::Stopped(format!("KVM_EXIT_FAIL_ENTRY, reason {reason:#x}"))
        }
        Ok(other) => Exit::Stopped(format!("unexpected exit {other:?}")),
        Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => Exit::Interrupted,
        Err(e) => Exit::Stopped(format!("KVM_RUN: {e}")),
    }
}

/// Accepts the MSR write of the last exit (KVM_EXIT_X86_WRMSR), which `next_exit` marked
/// refused: KVM reads `error` at the next KVM_RUN.
fn accept_msr_write(vcpu: &mut VcpuFd) {
    vcpu.get_kvm_run().__bindgen_anon_1.msr.error = 0;
}

fn rip(vcpu: &VcpuFd) -> u64 {
    vcpu.get_regs().map_or(0, |r| r.rip)
}

/// Builds the VM, runs the guest, collects the outcome.
pub fn boot(config: &Config) -> Result<Outcome, String> {
    // RAM first: locals drop in reverse order, so the mapping outlives the VM and vCPU.
    let mut mem = Memory::new(RAM).map_err(|e| format!("guest RAM: {e}"))?;
    let kvm = Kvm::new().map_err(|e| format!("/dev/kvm unavailable: {e}"))?;
    let vm = kvm.create_vm().map_err(|e| format!("KVM_CREATE_VM: {e}"))?;
    let region = kvm_userspace_memory_region {
        slot: 0,
        flags: 0,
        guest_phys_addr: 0,
        memory_size: RAM as u64,
        userspace_addr: mem.host_base(),
    };
    // `mem` was declared before `vm` and the vCPU, so it is dropped after them.
    // SAFETY: the region is our own mapping of RAM bytes, alive until after the VM is gone.
    unsafe { vm.set_user_memory_region(region) }.map_err(|e| format!("memory region: {e}"))?;
    // Unknown MSRs exit to the monitor (Linux `api.rst`, KVM_CAP_X86_USER_SPACE_MSR), where
    // Xen's hypercall-page MSR is served and the rest refused with #GP.
    let mut cap = kvm_enable_cap {
        cap: KVM_CAP_X86_USER_SPACE_MSR,
        ..Default::default()
    };
    cap.args[0] = KVM_MSR_EXIT_REASON_UNKNOWN as u64;
    vm.enable_cap(&cap)
        .map_err(|e| format!("KVM_CAP_X86_USER_SPACE_MSR: {e}"))?;

    // The PC's interrupt controllers and timer (8259 pair, IOAPIC, 8254), in the kernel:
    // the guest's halt arms the 8254 and waits for its interrupt, as on a PC.
    vm.create_irq_chip()
        .map_err(|e| format!("KVM_CREATE_IRQCHIP: {e}"))?;
    vm.create_pit2(kvm_bindings::kvm_pit_config::default())
        .map_err(|e| format!("KVM_CREATE_PIT2: {e}"))?;
    let elf = std::fs::read(&config.elf)
        .map_err(|e| format!("guest ELF {}: {e}", config.elf.display()))?;
    let image = loader::load(&mut mem, &elf)?;
    loader::write_start_info(&mut mem, &config.cmdline)?;
    for &at in &config.flip {
        let mut b = [0u8];
        mem.read(at, &mut b)
            .ok_or_else(|| format!("flip: {at:#x} outside RAM"))?;
        mem.write(at, &[b[0] ^ 0xff]);
    }

    let mut vcpu = vm.create_vcpu(0).map_err(|e| format!("vCPU: {e}"))?;
    let host = kvm
        .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
        .map_err(|e| format!("KVM_GET_SUPPORTED_CPUID: {e}"))?;
    vcpu.set_cpuid2(&cpuid::for_mode(&host, config.mode)?)
        .map_err(|e| format!("KVM_SET_CPUID2: {e}"))?;
    let mut sregs = vcpu.get_sregs().map_err(|e| format!("sregs: {e}"))?;
    let mut regs = vcpu.get_regs().map_err(|e| format!("regs: {e}"))?;
    match config.entry {
        Entry::Pvh => {
            let entry = image
                .pvh_entry
                .ok_or("the guest has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)")?;
            vcpu::pvh(&mut sregs, &mut regs, entry, loader::START_INFO);
        }
        Entry::Long => vcpu::long_mode(
            &mut mem,
            &mut sregs,
            &mut regs,
            image.entry64,
            loader::START_INFO,
        )?,
    }
    vcpu.set_sregs(&sregs).map_err(|e| format!("sregs: {e}"))?;
    vcpu.set_regs(&regs).map_err(|e| format!("regs: {e}"))?;
    let stats = Stats::open(&vcpu).ok();

    let mut xen = Xen::default();
    let mut c = Counters {
        exits: BTreeMap::new(),
        console: Vec::new(),
        console_writes: 0,
        steps: Vec::new(),
        mark: Default::default(),
    };
    let watchdog = Watchdog::start(config.timeout);
    let end = loop {
        match next_exit(&mut vcpu) {
            Exit::Out(port, data) => {
                c.count(format!("io_out {port:#x}"));
                match port {
                    CONSOLE_PORT => {
                        c.console_writes += 1;
                        c.console(&data, &xen, stats.as_ref());
                    }
                    EXIT_PORT => break End::Exit(data.first().copied().unwrap_or(0)),
                    xen::HYPERCALL_PORT
                        if config.mode == Mode::Xen && xen.hypercall_page.is_some() =>
                    {
                        let stop = xen.hypercall(&vcpu, &mut mem)?;
                        let written = std::mem::take(&mut xen.console);
                        c.console(&written, &xen, stats.as_ref());
                        match stop {
                            Some(xen::Stop::Shutdown(r)) => break End::XenShutdown(r),
                            Some(xen::Stop::Down) => break End::XenDown,
                            None => {}
                        }
                    }
                    _ => {}
                }
            }
            Exit::In(port) => c.count(format!("io_in {port:#x}")),
            Exit::Mmio(kind) => c.count(kind.to_string()),
            // No timer or interrupt controller: a halted vCPU is woken at once, as if an event
            // had arrived.
            Exit::Hlt => c.count("hlt".into()),
            Exit::Wrmsr(index, value) => {
                c.count(format!("wrmsr {index:#x}"));
                if config.mode == Mode::Xen
                    && index == xen::HYPERCALL_PAGE_MSR
                    && xen.write_page_msr(&mut mem, value)
                {
                    accept_msr_write(&mut vcpu);
                }
            }
            Exit::Rdmsr(index) => c.count(format!("rdmsr {index:#x}")),
            Exit::Shutdown => break End::TripleFault { rip: rip(&vcpu) },
            Exit::Stopped(why) => break End::Failed(format!("{why} at rip {:#x}", rip(&vcpu))),
            Exit::Interrupted if watchdog.fired.load(Ordering::Acquire) => {
                break End::Hung {
                    rip: rip(&vcpu),
                    after_s: config.timeout.as_secs(),
                };
            }
            Exit::Interrupted => {}
        }
    };
    drop(watchdog);
    let state = final_state(&vcpu, &mem, config.mode, &xen)?;
    Ok(Outcome {
        mode: config.mode,
        end,
        console: String::from_utf8_lossy(&c.console).into_owned(),
        exits: c.exits,
        hypercalls: hypercalls(&xen),
        kvm_stats: stats.and_then(|s| s.read().ok()),
        steps: c.steps,
        state,
    })
}

/// What the machine would use at the end: cr3, the MSR, the handlers and the GDT.
fn final_state(vcpu: &VcpuFd, mem: &Memory, mode: Mode, xen: &Xen) -> Result<Final, String> {
    let sregs = vcpu.get_sregs().map_err(|e| format!("sregs: {e}"))?;
    let entry = |index| kvm_bindings::kvm_msr_entry {
        index,
        ..Default::default()
    };
    let mut msrs = kvm_bindings::Msrs::from_entries(&[
        entry(MSR_KERNEL_GS_BASE),
        entry(MSR_KVM_SYSTEM_TIME_NEW),
    ])
    .map_err(|e| format!("{e:?}"))?;
    let read = vcpu
        .get_msrs(&mut msrs)
        .map_err(|e| format!("KVM_GET_MSRS: {e}"))?;
    let msr = |i: usize| if i < read { msrs.as_slice()[i].data } else { 0 };
    let (kernel_gs_base, kvm_system_time) = (msr(0), msr(1));
    let (handlers, gdt) = if mode == Mode::Xen && !xen.traps.is_empty() {
        let handlers = xen.traps.iter().map(|(v, t)| (*v, t.address)).collect();
        let gdt = xen.gdt.as_ref().map(|g| g.1.clone()).unwrap_or_default();
        (handlers, gdt)
    } else {
        (
            idt_handlers(mem, sregs.cr3, sregs.idt.base, sregs.idt.limit),
            {
                let n = (sregs.gdt.limit as usize + 1) / 8;
                let bytes = mem
                    .read_virt(sregs.cr3, sregs.gdt.base, n * 8)
                    .unwrap_or_default();
                bytes
                    .chunks_exact(8)
                    .map(|d| u64::from_le_bytes(d.try_into().unwrap_or_default()))
                    .collect()
            },
        )
    };
    Ok(Final {
        cr3: sregs.cr3,
        kernel_gs_base,
        kvm_system_time,
        handlers,
        gdt,
    })
}

/// The present interrupt and trap gates of a 64-bit IDT (Intel SDM vol. 3A, "64-Bit Mode IDT":
/// 16-byte gates, offset in bits 0-15, 48-63 and the second quadword's low half).
fn idt_handlers(mem: &Memory, cr3: u64, base: u64, limit: u16) -> Vec<(u8, u64)> {
    let n = ((limit as usize + 1) / 16).min(256);
    let Some(bytes) = mem.read_virt(cr3, base, n * 16) else {
        return Vec::new();
    };
    bytes
        .chunks_exact(16)
        .enumerate()
        .filter_map(|(v, g)| {
            let lo = u64::from_le_bytes(g[..8].try_into().ok()?);
            let hi = u64::from_le_bytes(g[8..].try_into().ok()?);
            let kind = lo >> 40 & 0xf;
            (lo & 1 << 47 != 0 && (kind == 0xe || kind == 0xf)).then(|| {
                let address = (lo & 0xffff) | (lo >> 32 & 0xffff_0000) | (hi & 0xffff_ffff) << 32;
                (v as u8, address)
            })
        })
        .collect()
}
