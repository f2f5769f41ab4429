//! Xen's x86_64 structures as pv uses them: the guest side (`pv_runtime::xen`) and the test
//! hypervisor's side (`pv_runtime::hv::xen`), defined separately, each held against the sizes
//! and offsets of Xen's public headers; and `XENPF_resource_op` through the guest's helper
//! against the hypervisor's checks.

mod common;

use core::mem::{offset_of, size_of};
use pv_runtime::hv::{self, Hypervisor};
use pv_runtime::xen::pv::{self as guest, ResourceEntry};

/// `struct trap_info` (`xen/include/public/arch-x86/xen.h`): 16 bytes, vector@0 flags@1 cs@2
/// address@8.
#[test]
fn trap_info() {
    let want = (16, [0, 1, 2, 8]);
    type G = guest::TrapInfo;
    type H = hv::xen::TrapInfo;
    assert_eq!(
        (
            size_of::<G>(),
            [
                offset_of!(G, vector),
                offset_of!(G, flags),
                offset_of!(G, cs),
                offset_of!(G, address)
            ]
        ),
        want
    );
    assert_eq!(
        (
            size_of::<H>(),
            [
                offset_of!(H, vector),
                offset_of!(H, flags),
                offset_of!(H, cs),
                offset_of!(H, address)
            ]
        ),
        want
    );
}

/// `struct xen_platform_op` (`xen/include/public/platform.h`): 136 bytes, cmd@0
/// interface_version@4 u@8; `struct xenpf_resource_op`: nr_entries@0 cpu@4 entries@8.
#[test]
fn platform_op_and_resource_op() {
    type G = guest::PlatformOp;
    type H = hv::xen::PlatformOp;
    assert_eq!(
        (
            size_of::<G>(),
            offset_of!(G, cmd),
            offset_of!(G, interface_version),
            offset_of!(G, u)
        ),
        (136, 0, 4, 8)
    );
    assert_eq!(
        (
            size_of::<H>(),
            offset_of!(H, cmd),
            offset_of!(H, interface_version),
            offset_of!(H, resource_op)
        ),
        (136, 0, 4, 8)
    );
    type GR = guest::ResourceOp;
    type HR = hv::xen::ResourceOp;
    let want = (16, [0, 4, 8]);
    assert_eq!(
        (
            size_of::<GR>(),
            [
                offset_of!(GR, nr_entries),
                offset_of!(GR, cpu),
                offset_of!(GR, entries)
            ]
        ),
        want
    );
    assert_eq!(
        (
            size_of::<HR>(),
            [
                offset_of!(HR, nr_entries),
                offset_of!(HR, cpu),
                offset_of!(HR, entries)
            ]
        ),
        want
    );
}

/// `struct xenpf_resource_entry` (`xen/include/public/platform.h`): 24 bytes, u@0 rsvd@4
/// idx@8 val@16 (idx is 64-bit).
#[test]
fn resource_entry() {
    type G = guest::ResourceEntry;
    type H = hv::xen::ResourceEntry;
    let want = (24, [0, 4, 8, 16]);
    assert_eq!(
        (
            size_of::<G>(),
            [
                offset_of!(G, u),
                offset_of!(G, rsvd),
                offset_of!(G, idx),
                offset_of!(G, val)
            ]
        ),
        want
    );
    assert_eq!(
        (
            size_of::<H>(),
            [
                offset_of!(H, u),
                offset_of!(H, rsvd),
                offset_of!(H, idx),
                offset_of!(H, val)
            ]
        ),
        want
    );
}

/// `struct mmuext_op` (`xen/include/public/xen.h`): 24 bytes, cmd@0 arg1@8 arg2@16.
#[test]
fn mmuext_op() {
    type G = guest::MmuextOp;
    type H = hv::xen::MmuextOp;
    let want = (24, [0, 8, 16]);
    assert_eq!(
        (
            size_of::<G>(),
            [offset_of!(G, cmd), offset_of!(G, arg1), offset_of!(G, arg2)]
        ),
        want
    );
    assert_eq!(
        (
            size_of::<H>(),
            [offset_of!(H, cmd), offset_of!(H, arg1), offset_of!(H, arg2)]
        ),
        want
    );
}

/// `struct vcpu_info` (`xen/include/public/xen.h`, x86_64): 64 bytes, evtchn_upcall_pending@0
/// evtchn_upcall_mask@1 evtchn_pending_sel@8 arch.cr2@16 time@32.
#[test]
fn vcpu_info() {
    type G = pv_runtime::xen::VcpuInfo;
    type H = hv::xen::VcpuInfo;
    let want = (64, [0, 1, 8, 16, 32]);
    assert_eq!(
        (
            size_of::<G>(),
            [
                offset_of!(G, evtchn_upcall_pending),
                offset_of!(G, evtchn_upcall_mask),
                offset_of!(G, evtchn_pending_sel),
                offset_of!(G, cr2),
                offset_of!(G, time)
            ]
        ),
        want
    );
    assert_eq!(
        (
            size_of::<H>(),
            [
                offset_of!(H, evtchn_upcall_pending),
                offset_of!(H, evtchn_upcall_mask),
                offset_of!(H, evtchn_pending_sel),
                offset_of!(H, cr2),
                offset_of!(H, time)
            ]
        ),
        want
    );
}

// Xen's error numbers (`xen/include/public/errno.h`).
const EPERM: i64 = -1;
const ENODEV: i64 = -19;
const EINVAL: i64 = -22;
const EOPNOTSUPP: i64 = -95;
// MSR indices (`xen/arch/x86/include/asm/msr-index.h`).
const IA32_TSC: u32 = 0x10;
const IA32_THERM_STATUS: u32 = 0x19c;
const IA32_CMT_EVTSEL: u32 = 0xc8d;

#[test]
fn resource_op_follows_xens_checks_and_reports_the_refused_entry() {
    let _serial = common::serial();
    let _hv = Hypervisor::install().unwrap();
    // Two reads and a write on physical CPU 1 (not "this" CPU): all done.
    let mut e = [
        ResourceEntry::read(IA32_TSC),
        ResourceEntry::write(IA32_CMT_EVTSEL, 0x42),
        ResourceEntry::read(IA32_THERM_STATUS),
    ];
    assert_eq!(guest::resource_op(1, &mut e), Ok(3));
    assert_ne!(e[0].val, 0, "the TSC read");
    assert_eq!(hv::state().msrs.get(&IA32_CMT_EVTSEL), Some(&0x42));

    // Processing stops at the entry Xen refuses; its u.ret holds the error.
    let mut e = [
        ResourceEntry::read(IA32_TSC),
        ResourceEntry::write(0x174, 1),
    ];
    assert_eq!(guest::resource_op(0, &mut e), Err(EPERM), "not on the list");
    assert_eq!(e[1].ret() as i64, EPERM);
    let mut e = [ResourceEntry::write(IA32_TSC, 1)];
    assert_eq!(
        guest::resource_op(0, &mut e),
        Err(EPERM),
        "TSC not writable"
    );
    let mut e = [ResourceEntry {
        idx: 1 << 32 | IA32_TSC as u64,
        ..ResourceEntry::read(0)
    }];
    assert_eq!(guest::resource_op(0, &mut e), Err(EINVAL), "64-bit index");
    let mut e = [ResourceEntry {
        rsvd: 1,
        ..ResourceEntry::read(IA32_TSC)
    }];
    assert_eq!(guest::resource_op(0, &mut e), Err(EINVAL), "rsvd");
    let mut e = [ResourceEntry {
        u: 7,
        ..ResourceEntry::read(IA32_TSC)
    }];
    assert_eq!(guest::resource_op(0, &mut e), Err(EOPNOTSUPP), "command");
    let mut e = [ResourceEntry::read(IA32_TSC); 4];
    assert_eq!(guest::resource_op(0, &mut e), Err(EINVAL), "at most 3");
    let mut e = [ResourceEntry::read(IA32_TSC)];
    assert_eq!(
        guest::resource_op(hv::xen::PCPUS, &mut e),
        Err(ENODEV),
        "a physical CPU the host lacks"
    );
}
