//! The hypervisors pv knows, as data: how a guest finds each one (its CPUID signature and
//! Linux's detection rule), whether it runs the guest kernel deprivileged, how a hypercall is
//! made, and its hypercall numbers. No hypervisor is special: each is one row, and a
//! declaration names a body per backend (`xen = ...`, `kvm = ...`, `hyperv = ...`).
//!
//! Sources: Linux `arch/x86/kernel/cpu/hypervisor.c` (`detect_hypervisor_vendor`),
//! `arch/x86/include/asm/cpuid/api.h` (`cpuid_base_hypervisor`), `arch/x86/xen/`,
//! `arch/x86/kernel/kvm.c`, `arch/x86/kernel/cpu/mshyperv.c`; Xen
//! `xen/include/public/arch-x86/cpuid.h`; KVM `Documentation/virt/kvm/x86/cpuid.rst`,
//! `hypercalls.rst`; Hyper-V `include/hyperv/hvgdk_mini.h`. Summarised with citations in
//! `shared/reference/hypervisor-abis.md`.

/// A hypervisor with an x86_64 guest ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Hypervisor {
    /// Xen, paravirtualized (PV) guest: the kernel runs deprivileged.
    Xen = 0,
    /// KVM: a hardware-virtualized guest with KVM's paravirtual extensions.
    Kvm = 1,
    /// Microsoft Hyper-V: a hardware-virtualized guest with Hyper-V's enlightenments.
    HyperV = 2,
}

/// How a backend's stub makes a hypercall on x86_64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallAbi {
    /// `call page + entry_size * nr` with the arguments in `args` (register bits); the
    /// result in rax; `clobbers` may change.
    Page {
        /// The symbol of the page.
        symbol: &'static str,
        /// Bytes per entry.
        entry_size: usize,
        /// Argument registers, in order.
        args: &'static [u8],
        /// Registers the call may change (flags included).
        clobbers: u64,
    },
    /// One instruction (`vmcall` on Intel, `vmmcall` on AMD), chosen at boot by CPU vendor as
    /// Linux's `ALTERNATIVE` does: the number in rax, arguments in `args`, result in rax,
    /// nothing else clobbered.
    Instruction {
        /// Argument registers, in order.
        args: &'static [u8],
    },
    /// `call page` with a control word in rcx (call code, fast bit, rep count), input in rdx,
    /// output in r8; the status in rax; `clobbers` may change.
    ControlWord {
        /// The symbol of the page.
        symbol: &'static str,
        /// Registers the call may change (flags included).
        clobbers: u64,
    },
}

/// How a hypercall passes its arguments (Hyper-V has three kinds of call).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallKind {
    /// The arguments in registers, as the ABI says.
    Plain,
    /// Hyper-V "fast" call: inputs in rdx and r8 instead of memory (control bit 16).
    Fast,
    /// Hyper-V "rep" call: the last argument is the repetition count (control bits 43:32).
    Rep,
}

/// One hypercall: name as written in `hypercall(name, ...)`, number, argument count.
#[derive(Clone, Copy, Debug)]
pub struct Hypercall {
    /// Name as written in `xen = hypercall(name, ...)` (and `kvm =`, `hyperv =`).
    pub name: &'static str,
    /// Hypercall number (Xen `__HYPERVISOR_*`, `KVM_HC_*`, Hyper-V call code).
    pub nr: u32,
    /// Number of arguments the declaration passes.
    pub args: u8,
    /// How they are passed.
    pub kind: CallKind,
}

impl Hypercall {
    /// A plain hypercall.
    pub const fn plain(name: &'static str, nr: u32, args: u8) -> Hypercall {
        Hypercall {
            name,
            nr,
            args,
            kind: CallKind::Plain,
        }
    }
}

/// One hypervisor's guest ABI.
#[derive(Clone, Copy, Debug)]
pub struct Abi {
    /// The hypervisor.
    pub hypervisor: Hypervisor,
    /// Its name in reports and in the documentation.
    pub display: &'static str,
    /// EBX, ECX, EDX of its CPUID base leaf.
    pub signature: &'static [u8; 12],
    /// Whether Linux scans 0x40000000..0x40010000 in steps of 0x100 for the signature
    /// (`cpuid_base_hypervisor`); else only 0x40000000 is read.
    pub scans: bool,
    /// Leaves the base leaf's EAX must report past the base (Xen 2; Hyper-V, which is
    /// fixed at 0x40000000, at least 0x40000005 as its EAX).
    pub min_leaves: u32,
    /// Whether the guest kernel runs deprivileged, so that a privileged native instruction
    /// faults or is ignored instead of working (Xen PV: ring 3).
    pub deprivileged: bool,
    /// How a hypercall is made.
    pub call: CallAbi,
    /// The hypercalls a declaration may name.
    pub hypercalls: &'static [Hypercall],
    /// Where the facts come from.
    pub source: &'static str,
}

/// The x86_64 register bits of `pv_abi::x86_64`, for the tables below.
mod bit {
    pub const RAX: u8 = 0;
    pub const RCX: u8 = 1;
    pub const RDX: u8 = 2;
    pub const RBX: u8 = 3;
    pub const RSI: u8 = 6;
    pub const RDI: u8 = 7;
    pub const R8: u8 = 8;
    pub const R9: u8 = 9;
    pub const R10: u8 = 10;
    pub const R11: u8 = 11;
}

/// Xen PV: the hypercall page, rdi, rsi, rdx, r10, r8; the C caller-saved set may change
/// (`xen/include/public/arch-x86/xen-x86_64.h`; Linux `arch/x86/include/asm/xen/hypercall.h`).
pub const XEN: Abi = Abi {
    hypervisor: Hypervisor::Xen,
    display: "Xen",
    signature: b"XenVMMXenVMM",
    scans: true,
    min_leaves: 2,
    deprivileged: true,
    call: CallAbi::Page {
        symbol: crate::xen::HYPERCALL_PAGE_SYMBOL,
        entry_size: crate::xen::HYPERCALL_ENTRY_SIZE,
        args: &[bit::RDI, bit::RSI, bit::RDX, bit::R10, bit::R8],
        clobbers: crate::x86_64::C_CLOBBERS,
    },
    hypercalls: &crate::xen::HYPERCALLS,
    source: "xen/include/public/xen.h, arch-x86/cpuid.h; Linux arch/x86/xen/",
};

/// KVM: `vmcall`/`vmmcall`, nr in rax, rbx, rcx, rdx, rsi; "no other registers will be
/// clobbered" (`Documentation/virt/kvm/x86/hypercalls.rst`).
pub const KVM: Abi = Abi {
    hypervisor: Hypervisor::Kvm,
    display: "KVM",
    signature: b"KVMKVMKVM\0\0\0",
    scans: true,
    min_leaves: 0,
    deprivileged: false,
    call: CallAbi::Instruction {
        args: &[bit::RBX, bit::RCX, bit::RDX, bit::RSI],
    },
    hypercalls: &crate::kvm::HYPERCALLS,
    source: "include/uapi/linux/kvm_para.h, Documentation/virt/kvm/x86/{cpuid,hypercalls}.rst",
};

/// Hyper-V: the hypercall page enabled through `HV_X64_MSR_GUEST_OS_ID` then
/// `HV_X64_MSR_HYPERCALL`; control in rcx, input rdx, output r8, status rax; Linux treats
/// r8-r11 and flags as clobbered (`arch/x86/include/asm/mshyperv.h`).
pub const HYPERV: Abi = Abi {
    hypervisor: Hypervisor::HyperV,
    display: "Hyper-V",
    signature: b"Microsoft Hv",
    scans: false,
    min_leaves: 5,
    deprivileged: false,
    call: CallAbi::ControlWord {
        symbol: crate::hyperv::HYPERCALL_PAGE_SYMBOL,
        clobbers: crate::x86_64::mask(&[
            bit::RAX,
            bit::RCX,
            bit::RDX,
            bit::R8,
            bit::R9,
            bit::R10,
            bit::R11,
        ]) | crate::x86_64::FLAGS,
    },
    hypercalls: &crate::hyperv::HYPERCALLS,
    source: "include/hyperv/hvgdk_mini.h, arch/x86/hyperv/hv_init.c",
};

impl Hypervisor {
    /// Every hypervisor, in code order.
    pub const ALL: [Hypervisor; 3] = [Hypervisor::Xen, Hypervisor::Kvm, Hypervisor::HyperV];

    /// The key of its body in a declaration, and its name in reports.
    pub const fn name(self) -> &'static str {
        match self {
            Hypervisor::Xen => "xen",
            Hypervisor::Kvm => "kvm",
            Hypervisor::HyperV => "hyperv",
        }
    }

    /// Looks a hypervisor up by its key.
    pub fn from_name(name: &str) -> Option<Hypervisor> {
        Hypervisor::ALL.into_iter().find(|h| h.name() == name)
    }

    /// Its guest ABI.
    pub const fn abi(self) -> &'static Abi {
        match self {
            Hypervisor::Xen => &XEN,
            Hypervisor::Kvm => &KVM,
            Hypervisor::HyperV => &HYPERV,
        }
    }

    /// Index in per-backend arrays (descriptors carry one body per hypervisor).
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl Abi {
    /// Looks a hypercall of this hypervisor up by name.
    pub fn hypercall(&self, name: &str) -> Option<&'static Hypercall> {
        self.hypercalls.iter().find(|h| h.name == name)
    }
}

/// The CPU vendor, which decides KVM's hypercall instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Vendor {
    /// `GenuineIntel` and any vendor that is not AMD's: `vmcall`.
    Intel,
    /// `AuthenticAMD` or `HygonGenuine`: `vmmcall` (Linux sets `X86_FEATURE_VMMCALL` for both,
    /// `arch/x86/kernel/cpu/amd.c`, `hygon.c`).
    Amd,
}

impl Vendor {
    /// The vendor whose CPUID leaf 0 says EBX, EDX, ECX = `id`.
    pub fn from_id(id: &[u8; 12]) -> Vendor {
        match id {
            b"AuthenticAMD" | b"HygonGenuine" => Vendor::Amd,
            _ => Vendor::Intel,
        }
    }

    /// Its hypercall instruction.
    pub const fn hypercall(self) -> [u8; 3] {
        match self {
            Vendor::Intel => VMCALL,
            Vendor::Amd => VMMCALL,
        }
    }
}

/// `vmcall` (Intel VMX).
pub const VMCALL: [u8; 3] = [0x0f, 0x01, 0xc1];
/// `vmmcall` (AMD SVM).
pub const VMMCALL: [u8; 3] = [0x0f, 0x01, 0xd9];
