//! The Xen personality: what Xen does for an HVM/PVH guest that asks for a hypercall page, and
//! the hypercalls pv's Xen bodies make, served on the guest's real memory and vCPU state.
//!
//! Written from Xen's public headers and hypervisor sources (cited per item), apart from pv's
//! own guest-side tables in pv-abi, so that each can catch the other. Hypercall pointers are
//! guest-virtual, translated through the guest's current page tables as Xen does.
//!
//! One difference from Xen, forced by this host: Xen's HVM hypercall page holds `mov eax, nr;
//! vmcall; ret` (Xen `xen/arch/x86/hvm/vmx/vmx.c`, `vmx_init_hypercall_page`). This host's KVM
//! hangs the vCPU on `vmcall`/`vmmcall` (platform-facts), so the monitor's page holds `mov eax,
//! nr; out HYPERCALL_PORT, al; ret`: a port exit carries the call to the monitor, with every
//! register as the guest left it.

use crate::memory::Memory;
use kvm_ioctls::VcpuFd;
use std::collections::BTreeMap;

/// Hypercall numbers (Xen `xen/include/public/xen.h`, `__HYPERVISOR_*`).
mod nr {
    pub const SET_TRAP_TABLE: u64 = 0;
    pub const SET_GDT: u64 = 2;
    pub const FPU_TASKSWITCH: u64 = 5;
    pub const PLATFORM_OP: u64 = 7;
    pub const XEN_VERSION: u64 = 17;
    pub const CONSOLE_IO: u64 = 18;
    pub const IRET: u64 = 23;
    pub const VCPU_OP: u64 = 24;
    pub const SET_SEGMENT_BASE: u64 = 25;
    pub const MMUEXT_OP: u64 = 26;
    pub const SCHED_OP: u64 = 29;
}

/// The name Xen's `xen.h` gives hypercall `n`, for the counts.
fn name(n: u64) -> &'static str {
    match n {
        nr::SET_TRAP_TABLE => "set_trap_table",
        nr::SET_GDT => "set_gdt",
        nr::FPU_TASKSWITCH => "fpu_taskswitch",
        nr::PLATFORM_OP => "platform_op",
        nr::XEN_VERSION => "xen_version",
        nr::CONSOLE_IO => "console_io",
        nr::IRET => "iret",
        nr::VCPU_OP => "vcpu_op",
        nr::SET_SEGMENT_BASE => "set_segment_base",
        nr::MMUEXT_OP => "mmuext_op",
        nr::SCHED_OP => "sched_op",
        _ => "other",
    }
}

/// Error numbers (Xen `xen/include/public/errno.h`).
const EPERM: i64 = -1;
const ENOENT: i64 = -2;
const EFAULT: i64 = -14;
const EINVAL: i64 = -22;
const ENOSYS: i64 = -38;

/// The version the CPUID leaf base+1 reports: 4.19.
pub const VERSION: u32 = 4 << 16 | 19;
/// The hypercall-page MSR CPUID base+2 names (Xen `cpuid_hypervisor_leaves`: 0x40000000 without
/// Viridian).
pub const HYPERCALL_PAGE_MSR: u32 = 0x4000_0000;
/// The port the monitor's hypercall page writes to.
pub const HYPERCALL_PORT: u16 = 0x99;
/// Hypercall page: 4096 bytes of 32-byte entries (Xen `hypercall_page_initialise`).
const ENTRIES: u64 = 4096 / 32;
/// `sizeof(struct vcpu_info)` on x86_64 (Xen `xen.h`).
const VCPU_INFO_SIZE: u64 = 64;
/// Offsets of `evtchn_upcall_pending` and `evtchn_upcall_mask` in `struct vcpu_info`.
const UPCALL_PENDING: u64 = 0;
const UPCALL_MASK: u64 = 1;
/// `FIRST_RESERVED_GDT_ENTRY` (Xen `xen/arch/x86/include/asm/desc.h`: 14 pages of 512).
const FIRST_RESERVED_GDT_ENTRY: u64 = 14 * 512;
/// cr0.TS (Intel SDM vol. 3A, "Control Registers").
const CR0_TS: u64 = 1 << 3;
/// MSRs (Intel SDM vol. 4): FS base, GS base, the swapgs shadow.
const MSR_FS_BASE: u32 = 0xc000_0100;
const MSR_GS_BASE: u32 = 0xc000_0101;
const MSR_SHADOW_GS_BASE: u32 = 0xc000_0102;

/// A `trap_info` entry as Xen keeps it (Xen `arch-x86/xen.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trap {
    /// DPL in bits 0-1, bit 2: mask events on entry.
    pub flags: u8,
    /// Handler code selector.
    pub cs: u16,
    /// Handler address.
    pub address: u64,
}

/// How the guest ended, when a hypercall ends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// `SCHEDOP_shutdown` with this reason.
    Shutdown(u32),
    /// `VCPUOP_down` on the last vCPU: Xen shuts the domain down (poweroff).
    Down,
}

/// What the Xen personality holds about the guest.
#[derive(Debug, Default)]
pub struct Xen {
    /// Guest-physical address of the hypercall page, once asked for.
    pub hypercall_page: Option<u64>,
    /// Guest-physical address of the registered `vcpu_info`.
    pub vcpu_info: Option<u64>,
    /// The virtual IDT from `set_trap_table`, by vector.
    pub traps: BTreeMap<u8, Trap>,
    /// The GDT from `set_gdt`: its frames and descriptors.
    pub gdt: Option<(Vec<u64>, Vec<u64>)>,
    /// Hypercalls served, by name.
    pub calls: BTreeMap<&'static str, u64>,
    /// Console bytes written with `console_io`.
    pub console: Vec<u8>,
    /// `mmuext_op` commands served, by name.
    pub mmuext: BTreeMap<&'static str, u64>,
    /// Addresses flushed with `MMUEXT_INVLPG_*`.
    pub invlpg: Vec<u64>,
    /// `SCHEDOP_block` calls (the vCPU is woken at once: the monitor has no timer).
    pub blocks: u64,
}

/// A hypercall's five arguments (rdi, rsi, rdx, r10, r8: Xen `public/arch-x86/xen-x86_64.h`).
struct Args([u64; 5]);

/// The vCPU and memory a hypercall acts on.
struct Guest<'a> {
    vcpu: &'a VcpuFd,
    mem: &'a mut Memory,
    cr3: u64,
}

impl Guest<'_> {
    fn read(&self, va: u64, len: usize) -> Option<Vec<u8>> {
        self.mem.read_virt(self.cr3, va, len)
    }

    fn read_u64(&self, va: u64) -> Option<u64> {
        let b = self.read(va, 8)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    }

    fn set_msr(&self, index: u32, data: u64) -> Result<(), String> {
        let msrs = kvm_bindings::Msrs::from_entries(&[kvm_bindings::kvm_msr_entry {
            index,
            data,
            ..Default::default()
        }])
        .map_err(|e| format!("{e:?}"))?;
        match self.vcpu.set_msrs(&msrs) {
            Ok(1) => Ok(()),
            other => Err(format!("KVM_SET_MSRS {index:#x}: {other:?}")),
        }
    }
}

impl Xen {
    /// A guest `wrmsr` to the hypercall-page MSR: Xen fills the page at gfn `value >> 12`;
    /// page index `value & 0xfff` must be 0 (Xen `xen/arch/x86/msr.c`, `guest_wrmsr`, and
    /// `cpuid.c`: "#GP otherwise"). Returns whether the write is accepted.
    pub fn write_page_msr(&mut self, mem: &mut Memory, value: u64) -> bool {
        let gpa = value & !0xfff;
        if value & 0xfff != 0 || mem.read(gpa, &mut [0; 4096]).is_none() {
            return false;
        }
        let mut page = vec![0xccu8; 4096];
        for i in 0..ENTRIES {
            let at = (i * 32) as usize;
            let entry: &[u8] = if i == nr::IRET {
                // Xen writes ud2 for iret on HVM: it is a PV-only hypercall.
                &[0x0f, 0x0b]
            } else {
                &[0xb8, i as u8, 0, 0, 0, 0xe6, HYPERCALL_PORT as u8, 0xc3]
            };
            page[at..at + entry.len()].copy_from_slice(entry);
        }
        mem.write(gpa, &page);
        self.hypercall_page = Some(gpa);
        true
    }

    /// Serves the hypercall the guest's registers describe (eax = number), writing the result
    /// to rax. `Ok(Some(stop))` when the hypercall ends the guest.
    pub fn hypercall(&mut self, vcpu: &VcpuFd, mem: &mut Memory) -> Result<Option<Stop>, String> {
        let mut regs = vcpu.get_regs().map_err(|e| format!("KVM_GET_REGS: {e}"))?;
        let sregs = vcpu
            .get_sregs()
            .map_err(|e| format!("KVM_GET_SREGS: {e}"))?;
        let n = regs.rax & 0xffff_ffff;
        let args = Args([regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8]);
        *self.calls.entry(name(n)).or_default() += 1;
        let mut guest = Guest {
            vcpu,
            mem,
            cr3: sregs.cr3,
        };
        let mut stop = None;
        let ret = match n {
            nr::SET_TRAP_TABLE => self.set_trap_table(&guest, &args),
            nr::SET_GDT => self.set_gdt(&guest, &args),
            nr::FPU_TASKSWITCH => fpu_taskswitch(&guest, &args)?,
            nr::PLATFORM_OP => EPERM,
            nr::XEN_VERSION => xen_version(&args),
            nr::CONSOLE_IO => self.console_io(&guest, &args),
            nr::VCPU_OP => self.vcpu_op(&guest, &args, &mut stop),
            nr::SET_SEGMENT_BASE => set_segment_base(&guest, &args)?,
            nr::MMUEXT_OP => self.mmuext_op(&mut guest, &args)?,
            nr::SCHED_OP => self.sched_op(&mut guest, &args, &mut stop),
            _ => ENOSYS,
        };
        regs.rax = ret as u64;
        vcpu.set_regs(&regs)
            .map_err(|e| format!("KVM_SET_REGS: {e}"))?;
        Ok(stop)
    }

    /// `set_trap_table(traps)` (Xen `xen/arch/x86/pv/traps.c`, `do_set_trap_table`): a NULL
    /// table clears the virtual IDT; otherwise entries until one with address 0.
    fn set_trap_table(&mut self, g: &Guest, a: &Args) -> i64 {
        let table = a.0[0];
        if table == 0 {
            self.traps.clear();
            return 0;
        }
        for i in 0..256 {
            let Some(e) = g.read(table + i * 16, 16) else {
                return EFAULT;
            };
            let address = u64::from_le_bytes(e[8..16].try_into().unwrap_or_default());
            if address == 0 {
                break;
            }
            let trap = Trap {
                flags: e[1],
                cs: u16::from_le_bytes([e[2], e[3]]),
                address,
            };
            self.traps.insert(e[0], trap);
        }
        0
    }

    /// `set_gdt(frame_list, entries)` (Xen `xen/arch/x86/pv/descriptor-tables.c`,
    /// `do_set_gdt`): at most `FIRST_RESERVED_GDT_ENTRY` entries, in frames of 512.
    fn set_gdt(&mut self, g: &Guest, a: &Args) -> i64 {
        let [list, entries, ..] = a.0;
        if entries > FIRST_RESERVED_GDT_ENTRY {
            return EINVAL;
        }
        let mut frames = Vec::new();
        let mut descriptors = Vec::new();
        for f in 0..entries.div_ceil(512) {
            let Some(frame) = g.read_u64(list + f * 8) else {
                return EFAULT;
            };
            let n = (entries - f * 512).min(512) as usize;
            let mut bytes = vec![0; n * 8];
            if g.mem.read(frame << 12, &mut bytes).is_none() {
                return EINVAL;
            }
            frames.push(frame);
            descriptors.extend(
                bytes
                    .chunks_exact(8)
                    .map(|d| u64::from_le_bytes(d.try_into().unwrap_or_default())),
            );
        }
        self.gdt = Some((frames, descriptors));
        0
    }

    /// `console_io(cmd, count, buffer)` (Xen `xen/drivers/char/console.c`, `do_console_io`):
    /// `CONSOLEIO_write` 0 appends, `CONSOLEIO_read` 1 finds no input.
    fn console_io(&mut self, g: &Guest, a: &Args) -> i64 {
        let [cmd, count, buffer, ..] = a.0;
        match cmd {
            0 => match g.read(buffer, count.min(1 << 16) as usize) {
                Some(bytes) => {
                    self.console.extend(bytes);
                    0
                }
                None => EFAULT,
            },
            1 => 0,
            _ => EINVAL,
        }
    }

    /// `vcpu_op(cmd, vcpuid, arg)` (Xen `xen/common/domain.c`, `do_vcpu_op`): one vCPU, id 0.
    /// `VCPUOP_register_vcpu_info` 10 takes `{u64 mfn; u32 offset; u32 rsvd}` once, the
    /// structure within the page (`map_vcpu_info`); `VCPUOP_down` 2 on the last vCPU shuts the
    /// domain down; `VCPUOP_is_up` 3 answers 1.
    fn vcpu_op(&mut self, g: &Guest, a: &Args, stop: &mut Option<Stop>) -> i64 {
        let [cmd, vcpuid, arg, ..] = a.0;
        if vcpuid != 0 {
            return ENOENT;
        }
        match cmd {
            10 => {
                let Some(info) = g.read(arg, 16) else {
                    return EFAULT;
                };
                let mfn = u64::from_le_bytes(info[..8].try_into().unwrap_or_default());
                let offset = u32::from_le_bytes(info[8..12].try_into().unwrap_or_default());
                let gpa = (mfn << 12) + offset as u64;
                let fits = offset as u64 + VCPU_INFO_SIZE <= 4096
                    && g.mem.read(gpa, &mut [0; VCPU_INFO_SIZE as usize]).is_some();
                if !fits || self.vcpu_info.is_some() {
                    return EINVAL;
                }
                self.vcpu_info = Some(gpa);
                0
            }
            2 => {
                *stop = Some(Stop::Down);
                0
            }
            3 => 1,
            _ => ENOSYS,
        }
    }

    /// `mmuext_op(ops, count, pdone, foreigndom)` (Xen `xen/arch/x86/mm.c`, `do_mmuext_op`;
    /// `struct mmuext_op` = `u32 cmd`@0, `arg1`@8, `arg2`@16, 24 bytes). Served: NEW_BASEPTR 5
    /// (the frame must be a page-table page whose present entries stay in RAM: this monitor's
    /// stand-in for Xen's validation of a pinned L4), TLB_FLUSH_LOCAL 6, INVLPG_LOCAL 7,
    /// TLB_FLUSH_ALL 10, INVLPG_ALL 11, FLUSH_CACHE 12.
    fn mmuext_op(&mut self, g: &mut Guest, a: &Args) -> Result<i64, String> {
        let [ops, count, pdone, ..] = a.0;
        let mut done = 0;
        let mut ret = 0;
        for i in 0..count.min(4096) {
            let Some(op) = g.read(ops + i * 24, 24) else {
                ret = EFAULT;
                break;
            };
            let cmd = u32::from_le_bytes(op[..4].try_into().unwrap_or_default());
            let arg1 = u64::from_le_bytes(op[8..16].try_into().unwrap_or_default());
            let (what, r) = match cmd {
                5 => ("new_baseptr", self.new_baseptr(g, arg1)?),
                6 => ("tlb_flush_local", reload_cr3(g)?),
                7 => ("invlpg_local", self.invlpg(arg1)),
                10 => ("tlb_flush_all", reload_cr3(g)?),
                11 => ("invlpg_all", self.invlpg(arg1)),
                12 => ("flush_cache", 0),
                _ => ("other", EINVAL),
            };
            *self.mmuext.entry(what).or_default() += 1;
            if r != 0 {
                ret = r;
                break;
            }
            done += 1;
        }
        if pdone != 0
            && g.mem
                .write_virt(g.cr3, pdone, &(done as u32).to_le_bytes())
                .is_none()
        {
            ret = EFAULT;
        }
        Ok(ret)
    }

    fn invlpg(&mut self, addr: u64) -> i64 {
        self.invlpg.push(addr);
        0
    }

    fn new_baseptr(&mut self, g: &mut Guest, mfn: u64) -> Result<i64, String> {
        let base = mfn << 12;
        let mut table = [0u8; 4096];
        if g.mem.read(base, &mut table).is_none() {
            return Ok(EINVAL);
        }
        let in_ram = table.chunks_exact(8).all(|e| {
            let e = u64::from_le_bytes(e.try_into().unwrap_or_default());
            e & 1 == 0
                || g.mem
                    .read((e & 0x000f_ffff_ffff_f000) + 4095, &mut [0])
                    .is_some()
        });
        if !in_ram {
            return Ok(EINVAL);
        }
        let mut sregs = g
            .vcpu
            .get_sregs()
            .map_err(|e| format!("KVM_GET_SREGS: {e}"))?;
        sregs.cr3 = base;
        g.vcpu
            .set_sregs(&sregs)
            .map_err(|e| format!("KVM_SET_SREGS: {e}"))?;
        g.cr3 = base;
        Ok(0)
    }

    /// `sched_op(cmd, arg)` (Xen `xen/common/sched/core.c`, `do_sched_op`): yield 0; block 1
    /// re-enables event delivery (clears the `vcpu_info` mask) and blocks until an event is
    /// pending: this monitor has no event channels, so the wake-up is one timer event marked
    /// pending at once (`evtchn_upcall_pending`, as Xen's `vcpu_mark_events_pending`);
    /// shutdown 2 with `{u32 reason}`.
    fn sched_op(&mut self, g: &mut Guest, a: &Args, stop: &mut Option<Stop>) -> i64 {
        let [cmd, arg, ..] = a.0;
        match cmd {
            0 => 0,
            1 => {
                self.blocks += 1;
                if let Some(info) = self.vcpu_info {
                    g.mem.write(info + UPCALL_MASK, &[0]);
                    g.mem.write(info + UPCALL_PENDING, &[1]);
                }
                0
            }
            2 => match g.read(arg, 4) {
                Some(r) => {
                    *stop = Some(Stop::Shutdown(u32::from_le_bytes(
                        r.try_into().unwrap_or_default(),
                    )));
                    0
                }
                None => EFAULT,
            },
            _ => ENOSYS,
        }
    }
}

/// Flushes the guest's TLB by writing cr3 back: KVM drops the vCPU's cached translations when
/// its cr3 is set.
fn reload_cr3(g: &Guest) -> Result<i64, String> {
    let sregs = g
        .vcpu
        .get_sregs()
        .map_err(|e| format!("KVM_GET_SREGS: {e}"))?;
    g.vcpu
        .set_sregs(&sregs)
        .map_err(|e| format!("KVM_SET_SREGS: {e}"))?;
    Ok(0)
}

/// `fpu_taskswitch(set)` (Xen `xen/arch/x86/pv/misc-hypercalls.c`): sets or clears cr0.TS.
fn fpu_taskswitch(g: &Guest, a: &Args) -> Result<i64, String> {
    let mut sregs = g
        .vcpu
        .get_sregs()
        .map_err(|e| format!("KVM_GET_SREGS: {e}"))?;
    if a.0[0] != 0 {
        sregs.cr0 |= CR0_TS;
    } else {
        sregs.cr0 &= !CR0_TS;
    }
    g.vcpu
        .set_sregs(&sregs)
        .map_err(|e| format!("KVM_SET_SREGS: {e}"))?;
    Ok(0)
}

/// `xen_version(cmd, arg)` (Xen `xen/common/kernel.c`): `XENVER_version` 0 answers
/// major << 16 | minor; the others are not served.
fn xen_version(a: &Args) -> i64 {
    if a.0[0] == 0 { VERSION as i64 } else { ENOSYS }
}

/// `set_segment_base(which, base)` (Xen `xen/arch/x86/pv/misc-hypercalls.c`,
/// `do_set_segment_base`): `SEGBASE_FS` 0, `SEGBASE_GS_USER` 1 (the swapgs shadow, in kernel
/// mode), `SEGBASE_GS_KERNEL` 2; a non-canonical base is -EINVAL.
fn set_segment_base(g: &Guest, a: &Args) -> Result<i64, String> {
    let [which, base, ..] = a.0;
    if (base as i64) << 16 >> 16 != base as i64 {
        return Ok(EINVAL);
    }
    let msr = match which {
        0 => MSR_FS_BASE,
        1 => MSR_SHADOW_GS_BASE,
        2 => MSR_GS_BASE,
        _ => return Ok(EINVAL),
    };
    g.set_msr(msr, base)?;
    Ok(0)
}
