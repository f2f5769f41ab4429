//! The workload: the catalogue's x86_64 intrinsics, each step one `work <step> <result>` line.
//! It runs twice: patched for the machine found, then reverted (native bodies).
//!
//! Under KVM the guest never calls an intrinsic whose KVM body is a `vmcall` hypercall
//! (`kick_cpu`, `yield_to`, `send_ipi`): this host's KVM hangs the vCPU on `vmcall`
//! (shared/reference/platform-facts.md).
//!
//! The halt step needs an interrupt on vector 0x30 to wake up. The guest arms the legacy
//! timer for it on every machine that has one — the 8259A interrupt controller remapped to
//! vectors 0x30-0x3f (Intel 8259A data sheet, ICW1-ICW4; the IBM PC's ports 0x20/0x21 and
//! 0xa0/0xa1, the slave on IR2), and the 8254 timer's counter 0 in mode 0, interrupt on
//! terminal count (Intel 8254 data sheet: control word at port 0x43, counter 0 at port 0x40,
//! 1.193182 MHz input) — so it wakes itself under QEMU, with TCG or KVM. A monitor without
//! those devices ignores the port writes and sends vector 0x30 itself. Patched for Xen the
//! timer is useless (the Xen bodies keep the real IF clear): `SCHEDOP_block` returns when the
//! monitor makes an event pending.

use crate::console::{self, dec, fail, hex, puts};
use crate::idt;
use pv::x86_64 as x86;
use pv_runtime::{Guest, Hypervisor, Target};
use x86::DescriptorTablePointer;

unsafe extern "C" {
    /// The guest's PML4 (boot.rs).
    static pv_guest_pml4: [u64; 512];
    /// The guest's `lgdt` operand (boot.rs).
    static pv_guest_gdt_ptr: DescriptorTablePointer;
}

/// `X86_EFLAGS_IF`.
const IF: u64 = 1 << 9;
/// `MSR_KERNEL_GS_BASE` (Intel SDM Vol. 4, IA32_KERNEL_GS_BASE).
const MSR_KERNEL_GS_BASE: u32 = 0xc000_0102;
/// The value the MSR step writes and reads back: canonical, since `wrmsr` of a non-canonical
/// address to IA32_KERNEL_GS_BASE raises #GP (Intel SDM Vol. 2B, WRMSR, "Protected Mode
/// Exceptions"; QEMU's TCG does not check, KVM does).
const MSR_VALUE: u64 = 0x0000_5678_9abc_def0;
/// KVM's feature leaf, base + 1: `KVM_FEATURE_CLOCKSOURCE2` (EAX bit 3), which gates
/// `MSR_KVM_SYSTEM_TIME_NEW` (Linux `Documentation/virt/kvm/x86/cpuid.rst`, `msr.rst`).
const KVM_FEATURE_CLOCKSOURCE2: u32 = 1 << 3;
/// 8259A ports.
const PIC1_CMD: u16 = 0x20;
const PIC1_DATA: u16 = 0x21;
const PIC2_CMD: u16 = 0xa0;
const PIC2_DATA: u16 = 0xa1;
/// 8254 ports.
const PIT_CH0: u16 = 0x40;
const PIT_CTRL: u16 = 0x43;
/// About 1 ms of the 8254's 1.193182 MHz clock.
const PIT_COUNT: u16 = 1193;

/// A page-aligned page.
#[repr(C, align(4096))]
struct Page([u64; 512]);

/// The second PML4 the cr3 step switches to (a copy of the first; `.noinit`).
#[unsafe(link_section = ".noinit.pv_guest_pml4")]
static mut SECOND_PML4: Page = Page([0; 512]);
/// kvmclock's `pvclock_vcpu_time_info` (32 bytes; `version` at offset 0).
static mut KVMCLOCK: Page = Page([0; 512]);

fn line(step: &str, result: &str) {
    puts("work ");
    puts(step);
    puts(" ");
    puts(result);
    puts("\n");
}

fn line_hex(step: &str, label: &str, v: u64) {
    puts("work ");
    puts(step);
    puts(" ");
    puts(label);
    hex(v);
    puts("\n");
}

fn if_line(step: &str) {
    line(
        step,
        if x86::save_fl() & IF != 0 {
            "if=1"
        } else {
            "if=0"
        },
    );
}

/// Remaps the 8259As to vectors 0x30-0x3f and masks every line: the firmware left the timer
/// unmasked on vector 8, which would arrive as a double fault once the workload enables
/// interrupts.
pub fn quiet_pic() {
    for (port, v) in [
        (PIC1_CMD, 0x11), // ICW1: edge, cascade, ICW4 follows
        (PIC2_CMD, 0x11),
        (PIC1_DATA, idt::WAKE_VECTOR as u8), // ICW2: vector base
        (PIC2_DATA, idt::WAKE_VECTOR as u8 + 8),
        (PIC1_DATA, 0x04), // ICW3: slave on IR2
        (PIC2_DATA, 0x02),
        (PIC1_DATA, 0x01), // ICW4: 8086 mode
        (PIC2_DATA, 0x01),
        (PIC1_DATA, 0xff), // OCW1: all masked
        (PIC2_DATA, 0xff),
    ] {
        console::out8(port, v);
    }
}

/// Halts until an interrupt (or, patched for Xen, an event) arrives, and says which woke it,
/// or that the halt returned with neither.
fn halt(machine: Target, patched: bool) {
    let xen = patched
        && matches!(
            machine,
            Target::Hypervisor(Guest {
                hypervisor: Hypervisor::Xen,
                ..
            })
        );
    let timer = !xen;
    let before = idt::wakeups();
    if timer {
        // Counter 0, low then high byte, mode 0, binary; IRQ 0 unmasked.
        console::out8(PIT_CTRL, 0x30);
        console::out8(PIT_CH0, PIT_COUNT as u8);
        console::out8(PIT_CH0, (PIT_COUNT >> 8) as u8);
        console::out8(PIC1_DATA, 0xfe);
    }
    // The IDT has the wake-up gate, and something sends it: the timer above, or the monitor.
    // SAFETY: ring 0, as above.
    unsafe { x86::safe_halt() };
    if timer {
        console::out8(PIC1_DATA, 0xff);
        console::out8(PIC1_CMD, 0x20); // OCW2: non-specific end of interrupt
    }
    // SAFETY: ring 0.
    unsafe { x86::irq_disable() };
    if idt::wakeups() != before {
        return line_hex("safe_halt", "woke vector=", idt::WAKE_VECTOR as u64);
    }
    // Under Xen, `SCHEDOP_block` returns once an event is pending for this vCPU (Xen
    // `public/sched.h`); the guest has no upcall handler, so it takes the event by clearing
    // the pending flag, as Linux does before scanning (`public/xen.h`, `vcpu_info`).
    if xen {
        let info = pv_runtime::xen::vcpu_info();
        // Registered at boot (xen.rs) when the machine is Xen; only this CPU clears it.
        // SAFETY: as above.
        if unsafe { core::ptr::replace(&raw mut (*info).evtchn_upcall_pending, 0) } != 0 {
            return line("safe_halt", "woke evtchn_upcall_pending=1");
        }
    }
    // A monitor may resume a halted vCPU without delivering anything (pv-vmm without an
    // interrupt controller does): said, not failed, since the halt did return.
    line("safe_halt", "returned without a wake-up");
}

/// Registers kvmclock where KVM advertises it and prints the structure's version.
fn kvmclock() {
    let base = crate::base(Hypervisor::Kvm);
    if crate::cpuid(base + 1, 0)[0] & KVM_FEATURE_CLOCKSOURCE2 == 0 {
        line("kvmclock", "skipped (not advertised)");
        return;
    }
    let page = (&raw mut KVMCLOCK).cast::<u32>();
    // SAFETY: a static page of the guest's, identity-mapped, registered for the whole run.
    unsafe { x86::kvmclock_register(page as u64 | 1) };
    // SAFETY: the hypervisor writes the structure; a volatile read of its first field.
    let version = unsafe { core::ptr::read_volatile(page) };
    puts("work kvmclock version=");
    dec(u64::from(version));
    puts("\n");
}

/// One run of the workload on `machine`, patched for it (`patched`) or after the revert.
pub fn run(machine: Target, patched: bool) {
    // Every intrinsic below runs in ring 0 on the machine the sites were patched for (or
    // natively after the revert); the pointers passed are the guest's own valid tables.
    // SAFETY: as above, for every call in this function.
    unsafe {
        x86::irq_disable();
        if_line("irq_disable");
        x86::irq_enable();
        if_line("irq_enable");
        let flags = x86::save_fl();
        x86::restore_fl(flags & !IF);
        if_line("restore_fl");
        x86::restore_fl(flags);
        if_line("restore_fl");
        x86::irq_disable();

        let own = (&raw const pv_guest_pml4) as u64;
        line_hex("read_cr3", "", x86::read_cr3());
        let second = (&raw mut SECOND_PML4).cast::<u64>();
        core::ptr::copy_nonoverlapping((&raw const pv_guest_pml4).cast::<u64>(), second, 512);
        x86::write_cr3(second as u64);
        let back = x86::read_cr3();
        x86::write_cr3(own);
        if back != second as u64 {
            fail("work write_cr3: cr3 does not read back");
        }
        line_hex("write_cr3", "", back);

        x86::wrmsr(MSR_KERNEL_GS_BASE, MSR_VALUE);
        let msr = x86::rdmsr(MSR_KERNEL_GS_BASE);
        if msr != MSR_VALUE {
            fail("work wrmsr: MSR_KERNEL_GS_BASE does not read back");
        }
        line_hex("wrmsr", "", msr);

        x86::flush_tlb_one(second as u64);
        line_hex("flush_tlb_one", "", second as u64);
        x86::flush_tlb_all();
        line("flush_tlb_all", "ok");
        x86::wbinvd();
        line("wbinvd", "ok");
        x86::load_idt(&idt::pointer());
        line("load_idt", "ok");
        x86::load_gdt(&raw const pv_guest_gdt_ptr);
        line("load_gdt", "ok");
        x86::io_delay();
        line("io_delay", "ok");
        // The whole line goes through the `outb` intrinsic (Xen: `console_io`).
        for b in b"work outb ok\n" {
            x86::outb(console::CONSOLE_PORT, *b);
        }
    }
    halt(machine, patched);
    let kvm = matches!(
        machine,
        Target::Hypervisor(Guest {
            hypervisor: Hypervisor::Kvm,
            ..
        })
    );
    if kvm && patched {
        kvmclock();
    }
}
