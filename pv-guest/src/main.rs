//! pv-guest: a small bootable x86_64 kernel that detects its machine by CPUID, patches its own
//! pv sites for it with pv-runtime's engine, runs a workload through the catalogue's
//! intrinsics, reverts, checks that its text is byte for byte what it was, and runs the
//! workload again natively. Every step prints one line on the debug console (port 0xe9); the
//! run ends through port 0xf4 (README, "The guest kernel", has the protocol).
#![no_std]
#![no_main]

mod boot;
mod console;
mod idt;
mod mem;
mod patch;
mod work;
mod writer;
mod xen;

use console::{fail, puts};
use pv_runtime::detect::priority;
use pv_runtime::{Guest, Hypervisor, Target};

/// `hvm_start_info.magic` (Xen `start_info.h`: `XEN_HVM_START_MAGIC_VALUE`).
const START_MAGIC: u32 = 0x336e_c578;
/// Offset of `cmdline_paddr` in `struct hvm_start_info` (`start_info.h`: magic, version,
/// flags, nr_modules as 4 `uint32_t`, then `modlist_paddr`, then `cmdline_paddr`).
const CMDLINE_OFFSET: u64 = 24;
/// The longest command line read.
const CMDLINE_MAX: usize = 256;
/// The end of the identity map: everything the guest reads from outside must lie below.
const MAPPED: u64 = 1 << 30;

/// CPUID, as the detector takes it.
pub fn cpuid(leaf: u32, sub: u32) -> [u32; 4] {
    let r = core::arch::x86_64::__cpuid_count(leaf, sub);
    [r.eax, r.ebx, r.ecx, r.edx]
}

/// What the command line asks for.
struct Cmdline {
    fault: bool,
    hang: bool,
}

/// Reads the command line `hvm_start_info` names (none when `start_info` is 0).
fn cmdline(start_info: u64) -> Cmdline {
    let mut cmd = Cmdline {
        fault: false,
        hang: false,
    };
    if start_info == 0 {
        return cmd;
    }
    if start_info >= MAPPED - 64 {
        fail("hvm_start_info lies outside the identity map");
    }
    // The loader passes the structure's physical address, identity-mapped.
    // SAFETY: below the mapped limit; a loader that passes it owns that memory for us.
    let (magic, paddr) = unsafe {
        (
            core::ptr::read_volatile(start_info as *const u32),
            core::ptr::read_volatile((start_info + CMDLINE_OFFSET) as *const u64),
        )
    };
    if magic != START_MAGIC {
        fail("hvm_start_info has the wrong magic");
    }
    if paddr == 0 {
        return cmd;
    }
    if paddr >= MAPPED - CMDLINE_MAX as u64 {
        fail("the command line lies outside the identity map");
    }
    let mut word = [0u8; 16];
    let mut len = 0;
    for i in 0..=CMDLINE_MAX {
        // Below the mapped limit: the NUL-terminated string the loader passed, or at most
        // `CMDLINE_MAX` bytes from its start, all mapped.
        let b = if i == CMDLINE_MAX {
            0
        } else {
            // SAFETY: as above.
            unsafe { core::ptr::read_volatile((paddr + i as u64) as *const u8) }
        };
        if b == 0 || b == b' ' {
            match &word[..len] {
                b"fault" => cmd.fault = true,
                b"hang" => cmd.hang = true,
                _ => {}
            }
            len = 0;
            if b == 0 {
                break;
            }
        } else if len < word.len() {
            word[len] = b;
            len += 1;
        }
    }
    cmd
}

/// Prints the signature at leaf 0x40000000, unprintable bytes as `?`.
fn signature() {
    let [_, ebx, ecx, edx] = cpuid(0x4000_0000, 0);
    for w in [ebx, ecx, edx] {
        for b in w.to_le_bytes() {
            let b = if b.is_ascii_graphic() { b } else { b'?' };
            console::out8(console::CONSOLE_PORT, b);
        }
    }
}

/// Step 2: the target, from CPUID only, and its console line.
fn detect() -> Target<'static> {
    puts("hypervisor: ");
    let target = pv_runtime::detect_with(cpuid);
    match target {
        Target::Hypervisor(Guest { hypervisor, .. }) => puts(match hypervisor {
            Hypervisor::Xen => "xen",
            Hypervisor::Kvm => "kvm",
            Hypervisor::HyperV => "hyperv",
        }),
        _ if cpuid(1, 0)[2] & 1 << 31 == 0 => puts("none"),
        _ => {
            puts("unknown:");
            signature();
        }
    }
    puts("\n");
    target
}

/// The base leaf where `hv`'s signature was found (Linux's `cpuid_base_hypervisor`).
pub fn base(hv: Hypervisor) -> u32 {
    priority(&cpuid, hv.abi())
}

/// The target's name in `target` lines.
fn target_name(target: Target) -> &'static str {
    match target {
        Target::Hypervisor(Guest { hypervisor, .. }) => match hypervisor {
            Hypervisor::Xen => "xen",
            Hypervisor::Kvm => "kvm",
            Hypervisor::HyperV => "hyperv",
        },
        _ => "native",
    }
}

/// The Rust entry, from `boot.rs`: `start_info` is `hvm_start_info`'s physical address,
/// `entry` which entry the loader took.
#[unsafe(no_mangle)]
extern "C" fn pv_guest_main(start_info: u64, entry: u32) -> ! {
    idt::init();
    puts("pv-guest: boot (");
    puts(if entry == boot::ENTRY_PVH {
        "pvh"
    } else {
        "start64"
    });
    puts(")\n");
    let cmd = cmdline(start_info);
    if cmd.fault {
        // A page fault on purpose: nothing is mapped at 128 TiB - 1 TiB.
        // SAFETY: not sound as a read, by design: the fault handler reports and exits.
        unsafe { core::ptr::read_volatile(0x7f00_0000_0000 as *const u64) };
    }
    if cmd.hang {
        // SAFETY: spinning forever with interrupts off, on purpose (the monitor's timeout test).
        unsafe { core::arch::asm!("cli", "2:", "jmp 2b", options(noreturn)) };
    }
    let target = detect();
    match target {
        Target::Hypervisor(Guest {
            hypervisor: Hypervisor::Xen,
            ..
        }) => xen::init(base(Hypervisor::Xen)),
        Target::Hypervisor(Guest {
            hypervisor: Hypervisor::HyperV,
            ..
        }) => {
            // SAFETY: the target is Hyper-V, whose MSRs `enable` writes; before any hypercall.
            unsafe { pv_runtime::hyperv::enable() };
            puts("hyperv: hypercall page at ");
            console::hex(pv_runtime::hyperv::hypercall_page() as u64);
            puts("\n");
        }
        _ => {}
    }
    work::quiet_pic();
    let copy = patch::copy_text();
    let patcher = patch::apply(target);
    puts("target ");
    puts(target_name(target));
    puts("\n");
    work::run(target, true);
    patch::revert(patcher, copy);
    work::run(target, false);
    puts("pv-guest: done\n");
    console::exit(console::SUCCESS)
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    fail("panic")
}
