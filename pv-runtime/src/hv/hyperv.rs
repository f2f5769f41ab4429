//! The Hyper-V personality: Hyper-V's side of its x86_64 hypercall interface, written from the
//! Hypervisor Top-Level Functional Specification as Linux transcribes it
//! (`include/hyperv/hvgdk_mini.h`, `include/asm-generic/mshyperv.h`) and from KVM's Hyper-V
//! emulation (`arch/x86/kvm/hyperv.c`), cited per definition.
//!
//! The guest enables its hypercall page with two `wrmsr`s, in order: `HV_X64_MSR_GUEST_OS_ID`
//! (nonzero), then `HV_X64_MSR_HYPERCALL` = page address | enable. This hypervisor fills the
//! guest's page ([`crate::hyperv::hypercall_page`]) at install, with an entry that tests whether
//! the page is enabled: if it is not, the entry executes `ud2` inside the page, so the guest
//! gets the `#UD` (`SIGILL`, handed to the previous handler) that calling its own page, still
//! `ud2`-filled because no hypervisor wrote it, would give; if it is, it calls the dispatcher.
//! Calling convention: rcx = control, rdx = input GPA or fast input 1, r8 = output GPA or fast
//! input 2; result in rax. The entry preserves every other register Linux's `hv_do_hypercall`
//! expects preserved (rbx, rsi, rdi, rbp, r12–r15, the SSE state); rcx, rdx, r8–r11 and the
//! flags may change.

use super::{State, bump, load, msr_written, read, set, write};
use crate::store::{Log, Records};
use crate::writer::{RemapError, RemapWriter, TextWriter};
use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

/// Hypercall codes (`HVCALL_*`, `include/hyperv/hvgdk_mini.h`).
const HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE: u64 = 0x2;
const HVCALL_FLUSH_VIRTUAL_ADDRESS_LIST: u64 = 0x3;
const HVCALL_NOTIFY_LONG_SPIN_WAIT: u64 = 0x8;
const HVCALL_SEND_IPI: u64 = 0xb;
/// Status codes (`HV_STATUS_*`, `include/hyperv/hvgdk_mini.h`).
const HV_STATUS_SUCCESS: u64 = 0;
const HV_STATUS_INVALID_HYPERCALL_CODE: u64 = 2;
const HV_STATUS_INVALID_HYPERCALL_INPUT: u64 = 3;
const HV_STATUS_INVALID_ALIGNMENT: u64 = 4;
const HV_STATUS_INVALID_PARAMETER: u64 = 5;
/// Control word fields (`HV_HYPERCALL_*`, `include/hyperv/hvgdk_mini.h`): call code 15:0, fast
/// 16, variable header size 26:17, rep count 43:32, rep start 59:48.
const HV_HYPERCALL_FAST_BIT: u64 = 1 << 16;
const HV_HYPERCALL_VARHEAD_OFFSET: u32 = 17;
const HV_HYPERCALL_REP_COMP_OFFSET: u32 = 32;
const HV_HYPERCALL_REP_START_OFFSET: u32 = 48;
/// `struct hv_tlb_flush` flags (`HV_FLUSH_*`, `include/hyperv/hvgdk_mini.h`): ALL_PROCESSORS,
/// ALL_VIRTUAL_ADDRESS_SPACES, NON_GLOBAL_MAPPINGS_ONLY; the other bits are reserved.
const HV_FLUSH_FLAGS: u64 = 0b111;
/// `HV_IPI_LOW_VECTOR`, `HV_IPI_HIGH_VECTOR` (`arch/x86/kvm/hyperv.c`, from the TLFS).
const IPI_VECTORS: core::ops::RangeInclusive<u64> = 0x10..=0xff;
/// `struct hv_tlb_flush` without its GVA list: address_space, flags, processor_mask.
const FLUSH_HEADER: u64 = 24;
/// The input page: the header and GVA list of one call must fit in it.
const PAGE: u64 = 4096;

/// Synthetic MSRs (`HV_X64_MSR_*`, `include/hyperv/hvgdk_mini.h`).
const HV_X64_MSR_GUEST_OS_ID: u32 = 0x4000_0000;
const HV_X64_MSR_HYPERCALL: u32 = 0x4000_0001;
const HV_X64_MSR_VP_INDEX: u32 = 0x4000_0002;
const HV_X64_MSR_REFERENCE_TSC: u32 = 0x4000_0021;
const HV_X64_MSR_EOI: u32 = 0x4000_0070;
const HV_X64_MSR_ICR: u32 = 0x4000_0071;
const HV_X64_MSR_TPR: u32 = 0x4000_0072;
/// Bit 0 of `HV_X64_MSR_HYPERCALL` and `HV_X64_MSR_REFERENCE_TSC`: enable; bits 63:12: the page
/// (`union hv_x64_msr_hypercall_contents`, `include/hyperv/hvgdk_mini.h`).
const MSR_ENABLE: u64 = 1;
const MSR_PAGE: u64 = !0xfff;

/// The signature at 0x40000000: "Microsoft Hv" (`HYPERV_CPUID_VENDOR_AND_MAX_FUNCTIONS`).
const SIGNATURE: [u32; 3] = [0x7263_694d, 0x666f_736f, 0x7648_2074];
/// `HYPERV_CPUID_INTERFACE` EAX: "Hv#1" (`HV_ISOLATION`-free interface signature, TLFS).
const INTERFACE: u32 = 0x3123_7648;
/// `HYPERV_CPUID_FEATURES` EAX (`include/hyperv/hvgdk_mini.h`): the MSRs emulated here.
const FEATURES: u32 = 1 << 4 // HV_MSR_APIC_ACCESS_AVAILABLE
    | 1 << 5 // HV_MSR_HYPERCALL_AVAILABLE
    | 1 << 6 // HV_MSR_VP_INDEX_AVAILABLE
    | 1 << 9; // HV_MSR_REFERENCE_TSC_AVAILABLE
/// `HYPERV_CPUID_ENLIGHTMENT_INFO` EAX (`include/hyperv/hvgdk_mini.h`): the calls and MSRs
/// offered here.
const HINTS: u32 = 1 << 2 // HV_X64_REMOTE_TLB_FLUSH_RECOMMENDED
    | 1 << 3 // HV_X64_APIC_ACCESS_RECOMMENDED
    | 1 << 5 // HV_X64_RELAXED_TIMING_RECOMMENDED
    | 1 << 10; // HV_X64_CLUSTER_IPI_RECOMMENDED
/// `HYPERV_CPUID_ENLIGHTMENT_INFO` EBX: spin-wait retries before `NOTIFY_LONG_SPIN_WAIT`
/// (neither 0 nor 0xffffffff, which mean "never notify", `arch/x86/kvm/hyperv.c`).
const SPIN_RETRIES: u32 = 0xfff;
/// `HYPERV_CPUID_IMPLEMENT_LIMITS` EAX: the highest leaf this hypervisor answers.
const MAX_LEAF: u32 = 0x4000_0005;

/// One Hyper-V hypercall as the hypervisor received it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HypervCall {
    /// rcx: the control word.
    pub control: u64,
    /// rdx: the input GPA, or fast input 1.
    pub input: u64,
    /// r8: the output GPA, or fast input 2.
    pub output: u64,
    /// rax on return: status (15:0) and reps completed (43:32).
    pub result: u64,
}

/// 1 while the guest's page is enabled; read by the page's entry.
static ENABLED: AtomicU8 = AtomicU8::new(0);
static GUEST_OS_ID: AtomicU64 = AtomicU64::new(0);
static HYPERCALL: AtomicU64 = AtomicU64::new(0);
static REFERENCE_TSC: AtomicU64 = AtomicU64::new(0);
static ICR: AtomicU64 = AtomicU64::new(0);
static TPR: AtomicU64 = AtomicU64::new(0);
static TOTAL: AtomicU64 = AtomicU64::new(0);
static CALLS: Records<256, 4> = Records::new();
static FLUSHES: Records<256, 3> = Records::new();
static GVAS: Log<1024> = Log::new();

/// Copies the Hyper-V state into `s`.
pub(super) fn fill(s: &mut State) {
    s.hyperv_total = load(&TOTAL);
    s.hyperv_calls = CALLS
        .values()
        .map(|[control, input, output, result]| HypervCall {
            control,
            input,
            output,
            result,
        })
        .collect();
    s.hyperv_flushes = FLUSHES.values().collect();
    s.hyperv_flushed_gvas = GVAS.values().collect();
}

/// Clears the Hyper-V state: the page is disabled until the guest enables it again.
pub(super) fn reset() {
    ENABLED.store(0, Ordering::Release);
    for c in [&GUEST_OS_ID, &HYPERCALL, &REFERENCE_TSC, &ICR, &TPR, &TOTAL] {
        set(c, 0);
    }
    CALLS.clear();
    FLUSHES.clear();
    GVAS.clear();
}

/// Disables the page (at uninstall): calls into it fault again.
pub(super) fn disable() {
    ENABLED.store(0, Ordering::Release);
}

/// The result word: status in 15:0, reps completed in 43:32.
fn result(status: u64, reps: u64) -> u64 {
    status | reps << HV_HYPERCALL_REP_COMP_OFFSET
}

/// One hypercall through the enabled page (`kvm_hv_hypercall`, `arch/x86/kvm/hyperv.c`).
extern "C" fn dispatch(control: u64, input: u64, output: u64) -> u64 {
    bump(&TOTAL);
    super::interrupt();
    let r = call(control, input);
    super::keep(CALLS.push([control, input, output, r]));
    r
}

fn call(control: u64, input: u64) -> u64 {
    let code = control & 0xffff;
    let fast = control & HV_HYPERCALL_FAST_BIT != 0;
    let varhead = control >> HV_HYPERCALL_VARHEAD_OFFSET & 0x3ff;
    let reps = control >> HV_HYPERCALL_REP_COMP_OFFSET & 0xfff;
    let start = control >> HV_HYPERCALL_REP_START_OFFSET & 0xfff;
    let simple = reps == 0 && start == 0 && varhead == 0;
    match code {
        HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE if !simple || fast => {
            // Fast would carry the 24-byte input in XMM registers, not offered (no
            // HV_X64_HYPERCALL_XMM_INPUT_AVAILABLE).
            result(HV_STATUS_INVALID_HYPERCALL_INPUT, 0)
        }
        HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE => match flush_header(input) {
            Ok(_) => result(HV_STATUS_SUCCESS, 0),
            Err(status) => result(status, 0),
        },
        HVCALL_FLUSH_VIRTUAL_ADDRESS_LIST
            if reps == 0
                || start > reps
                || varhead != 0
                || fast
                || FLUSH_HEADER + 8 * reps > PAGE =>
        {
            result(HV_STATUS_INVALID_HYPERCALL_INPUT, 0)
        }
        HVCALL_FLUSH_VIRTUAL_ADDRESS_LIST => {
            if let Err(status) = flush_header(input) {
                return result(status, start);
            }
            for rep in start..reps {
                match read::<u64>(input + FLUSH_HEADER + 8 * rep) {
                    Ok(gva) => super::keep(GVAS.push(gva)),
                    Err(()) => return result(HV_STATUS_INVALID_HYPERCALL_INPUT, rep),
                }
            }
            result(HV_STATUS_SUCCESS, reps)
        }
        HVCALL_NOTIFY_LONG_SPIN_WAIT if !simple => result(HV_STATUS_INVALID_HYPERCALL_INPUT, 0),
        // The spin count (rdx when fast) is a hint; the vCPU would be descheduled.
        HVCALL_NOTIFY_LONG_SPIN_WAIT => result(HV_STATUS_SUCCESS, 0),
        HVCALL_SEND_IPI if !simple => result(HV_STATUS_INVALID_HYPERCALL_INPUT, 0),
        HVCALL_SEND_IPI => {
            // `struct hv_send_ipi { u32 vector; u32 reserved; u64 cpu_mask; }`: in rdx and r8
            // when fast, at the input GPA otherwise.
            let vector = if fast {
                input & 0xffff_ffff
            } else {
                match input_words::<2>(input) {
                    Ok([v, _mask]) => v & 0xffff_ffff,
                    Err(status) => return result(status, 0),
                }
            };
            let status = if IPI_VECTORS.contains(&vector) {
                HV_STATUS_SUCCESS
            } else {
                HV_STATUS_INVALID_PARAMETER
            };
            result(status, 0)
        }
        _ => result(HV_STATUS_INVALID_HYPERCALL_CODE, 0),
    }
}

/// `N` words of the input page at `gpa`: 8-byte aligned (`HV_STATUS_INVALID_ALIGNMENT`) and
/// readable (`HV_STATUS_INVALID_HYPERCALL_INPUT`, as KVM answers a failed `kvm_read_guest`).
fn input_words<const N: usize>(gpa: u64) -> Result<[u64; N], u64> {
    if !gpa.is_multiple_of(8) {
        return Err(HV_STATUS_INVALID_ALIGNMENT);
    }
    read::<[u64; N]>(gpa).map_err(|()| HV_STATUS_INVALID_HYPERCALL_INPUT)
}

/// Reads and records `struct hv_tlb_flush`'s header; reserved flag bits are
/// `HV_STATUS_INVALID_PARAMETER`.
fn flush_header(gpa: u64) -> Result<[u64; 3], u64> {
    let header = input_words::<3>(gpa)?;
    if header[1] & !HV_FLUSH_FLAGS != 0 {
        return Err(HV_STATUS_INVALID_PARAMETER);
    }
    super::keep(FLUSHES.push(header));
    Ok(header)
}

/// The page's entry: if [`ENABLED`] is 0, `ud2` (at the end of the entry, inside the page);
/// otherwise `jmp` to [`entry`]. Clobbers r11, which the calling convention allows.
fn page_entry() -> [u8; 31] {
    let mut e = [0u8; 31];
    // movabs r11, &ENABLED; cmp byte ptr [r11], 0; je ud
    e[0..2].copy_from_slice(&[0x49, 0xbb]);
    e[2..10].copy_from_slice(&(ENABLED.as_ptr() as u64).to_le_bytes());
    e[10..14].copy_from_slice(&[0x41, 0x80, 0x3b, 0x00]);
    e[14..16].copy_from_slice(&[0x74, 13]);
    // movabs r11, entry; jmp r11
    e[16..18].copy_from_slice(&[0x49, 0xbb]);
    e[18..26].copy_from_slice(&(entry as *const () as u64).to_le_bytes());
    e[26..29].copy_from_slice(&[0x41, 0xff, 0xe3]);
    // ud: ud2
    e[29..31].copy_from_slice(&[0x0f, 0x0b]);
    e
}

/// The dispatcher's entry: Hyper-V's registers to [`dispatch`]'s, on an aligned stack, with the
/// registers Linux expects preserved saved around it (the SSE state with `fxsave`).
#[unsafe(naked)]
unsafe extern "C" fn entry() {
    core::arch::naked_asm!(
        "push rbp",
        "mov rbp, rsp",
        "push rsi",
        "push rdi",
        "and rsp, -16",
        "sub rsp, 512",
        "fxsave64 [rsp]",
        "mov rdi, rcx",
        "mov rsi, rdx",
        "mov rdx, r8",
        "call {dispatch}",
        "fxrstor64 [rsp]",
        "lea rsp, [rbp - 16]",
        "pop rdi",
        "pop rsi",
        "pop rbp",
        "ret",
        dispatch = sym dispatch,
    )
}

/// Stages the guest's page entry if the page does not hold it yet.
pub(super) fn fill_page(writer: &mut RemapWriter) -> Result<(), RemapError> {
    let page = crate::hyperv::hypercall_page();
    let e = page_entry();
    // SAFETY: the page is 4096 bytes of mapped text.
    let current = unsafe { core::slice::from_raw_parts(page as *const u8, e.len()) };
    if current != e {
        // Nothing runs it until `install_as` returns.
        // SAFETY: the Hyper-V page is this binary's text, reserved for the hypervisor to fill.
        unsafe { writer.stage(page as u64, &e)? };
    }
    Ok(())
}

/// A trapped `rdmsr` of a synthetic MSR (`kvm_hv_get_msr`, `arch/x86/kvm/hyperv.c`): the
/// values written, VP_INDEX 0 (the one thread running the guest is VP 0). `None` for an MSR
/// that is not readable here (the guest's `#GP`).
pub(super) fn rdmsr(index: u32) -> Option<u64> {
    match index {
        HV_X64_MSR_GUEST_OS_ID => Some(load(&GUEST_OS_ID)),
        HV_X64_MSR_HYPERCALL => Some(load(&HYPERCALL)),
        HV_X64_MSR_VP_INDEX => Some(0),
        HV_X64_MSR_REFERENCE_TSC => Some(load(&REFERENCE_TSC)),
        HV_X64_MSR_ICR => Some(load(&ICR)),
        HV_X64_MSR_TPR => Some(load(&TPR)),
        _ => None,
    }
}

/// A trapped `wrmsr` of a synthetic MSR (`kvm_hv_set_msr_pw`, `kvm_hv_set_msr`,
/// `arch/x86/kvm/hyperv.c`). `false` (the guest's `#GP`) for an MSR that is not writable here,
/// and for an enabled `HV_X64_MSR_HYPERCALL` naming another page than the guest's: this
/// hypervisor can fill no other (KVM would write its page there).
pub(super) fn wrmsr(index: u32, value: u64) -> bool {
    match index {
        HV_X64_MSR_GUEST_OS_ID => {
            set(&GUEST_OS_ID, value);
            // "setting guest os id to zero disables hypercall page".
            if value == 0 {
                HYPERCALL.fetch_and(!MSR_ENABLE, Ordering::AcqRel);
                ENABLED.store(0, Ordering::Release);
            }
        }
        HV_X64_MSR_HYPERCALL => {
            // "if guest os id is not set hypercall should remain disabled": ignored, no fault.
            if load(&GUEST_OS_ID) == 0 {
                return true;
            }
            let enable = value & MSR_ENABLE != 0;
            if enable && value & MSR_PAGE != crate::hyperv::hypercall_page() as u64 {
                return false;
            }
            set(&HYPERCALL, value);
            ENABLED.store(u8::from(enable), Ordering::Release);
        }
        HV_X64_MSR_REFERENCE_TSC => {
            set(&REFERENCE_TSC, value);
            if value & MSR_ENABLE != 0 {
                // A GPA that cannot be written leaves the page invalid, as in KVM; no fault.
                let _ = write(value & MSR_PAGE, &tsc_page());
            }
        }
        HV_X64_MSR_EOI => {}
        HV_X64_MSR_ICR => set(&ICR, value),
        HV_X64_MSR_TPR => set(&TPR, value),
        _ => return false,
    }
    msr_written(index, value);
    true
}

/// The reference TSC page (`struct ms_hyperv_tsc_page`, `include/clocksource/hyperv_timer.h`):
/// `{u32 tsc_sequence; u32 rsvd; u64 tsc_scale; s64 tsc_offset}`, as words. Sequence 1 (0
/// would mean "invalid, use the MSR"); scale = 2^64 · 10^7 / TSC Hz, so that
/// `(tsc · scale) >> 64` counts 100 ns units; the TSC frequency is CPUID 0x16's base MHz, or
/// 1 GHz where the host does not report it; offset 0.
fn tsc_page() -> [u64; 3] {
    let mhz = match super::cpuid(0x16, 0)[0] {
        0 => 1000,
        mhz => mhz as u128,
    };
    let scale = (10_000_000u128 << 64) / (mhz * 1_000_000);
    [1, scale as u64, 0]
}

/// Hyper-V's leaves (`HYPERV_CPUID_*`, `include/hyperv/hvgdk_mini.h`), what Linux's
/// `ms_hyperv_platform` requires: the signature at 0x40000000 with a max leaf in
/// [0x40000005, 0x4000ffff], and HYPERCALL and VP_INDEX in 0x40000003 EAX.
pub(super) fn cpuid(leaf: u32) -> Option<[u32; 4]> {
    match leaf {
        0x4000_0000 => Some([MAX_LEAF, SIGNATURE[0], SIGNATURE[1], SIGNATURE[2]]),
        0x4000_0001 => Some([INTERFACE, 0, 0, 0]),
        // HYPERV_CPUID_VERSION: build 0, version 10.0.
        0x4000_0002 => Some([0, 10 << 16, 0, 0]),
        0x4000_0003 => Some([FEATURES, 0, 0, 0]),
        0x4000_0004 => Some([HINTS, SPIN_RETRIES, 0, 0]),
        // HYPERV_CPUID_IMPLEMENT_LIMITS: virtual and logical processors.
        MAX_LEAF => Some([super::VCPUS, super::VCPUS, 0, 0]),
        _ => None,
    }
}
