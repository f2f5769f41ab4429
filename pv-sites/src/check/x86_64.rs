//! The x86_64 contract check: every site, native routine, backend stub, option 4 adapter and
//! probe decoded with iced-x86's instruction info (registers read and written, implicit ones
//! included) and held against the contract its record or descriptor states.
//!
//! This is the independent oracle for the macro's own analysis: it reads iced's tables, never
//! pv-abi's mnemonic tables, so a wrong entry would have to be made twice, the same way, to
//! pass. What it knows besides iced is stated here, each with its source: the callee-clobbered
//! registers of the System V ABI and of each hypervisor's hypercall, and Xen's forced emulation
//! prefix.

use super::{Checked, Violation};
use crate::Error;
use crate::elf::Elf;
use iced_x86::{
    Decoder, DecoderOptions, FlowControl, Formatter, Instruction, InstructionInfoFactory,
    IntelFormatter, Mnemonic, OpAccess, OpKind, Register,
};
use pv_runtime::engine::{Descriptor, Section};
use pv_runtime::site::RawRecord;
use pv_runtime::{Binding, BodyKind, Hypervisor, Image};

/// The general registers, by hardware encoding (the contract's mask bits).
const GPRS: [&str; 16] = [
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
    "r14", "r15",
];
const RSP: u8 = 4;
const RBP: u8 = 5;

const fn mask(bits: &[u8]) -> u64 {
    let mut m = 0;
    let mut i = 0;
    while i < bits.len() {
        m |= 1 << bits[i];
        i += 1;
    }
    m
}

/// What a System V callee may change: rax, rcx, rdx, rsi, rdi, r8-r11 (System V AMD64 ABI,
/// §3.2.1, figure 3.4).
const SYSV_CLOBBERS: u64 = mask(&[0, 1, 2, 6, 7, 8, 9, 10, 11]);
/// What an entry of Xen's hypercall page may change: rax (the result), rcx and r11 (`syscall`),
/// and the argument registers rdi, rsi, rdx, r10, r8, which debug builds of Xen scramble
/// (`xen/include/public/arch-x86/xen-x86_64.h`; Linux's `__HYPERCALL_CLOBBER*`).
const XEN_PAGE_CLOBBERS: u64 = mask(&[0, 1, 11, 7, 6, 2, 10, 8]);
/// What a call of the Hyper-V hypercall page may change: Linux's `hv_do_hypercall` declares
/// rax, rcx, rdx and r8-r11 (`arch/x86/include/asm/mshyperv.h`).
const HYPERV_PAGE_CLOBBERS: u64 = mask(&[0, 1, 2, 8, 9, 10, 11]);
/// KVM's `vmcall`/`vmmcall` returns in rax and changes nothing else
/// (`Documentation/virt/kvm/x86/hypercalls.rst`); iced lists no register for it.
const KVM_HYPERCALL_CLOBBERS: u64 = mask(&[0]);
/// Xen's forced emulation prefix, `ud2; .ascii "xen"` (`XEN_EMULATE_PREFIX`,
/// `xen/include/public/arch-x86/xen.h`): Xen emulates the instruction that follows. Decoded
/// alone its last three bytes would read as a `js` out of the body.
const XEN_EMULATE_PREFIX: [u8; 5] = [0x0f, 0x0b, b'x', b'e', b'n'];

/// Checks every site and routine of an x86_64 ELF file against its contract.
pub(super) fn check(elf: &Elf) -> Result<Checked, Error> {
    let descriptors = super::descriptors(elf, std::mem::size_of::<pv_runtime::Intrinsic>())?;
    if descriptors.is_empty() {
        return Err(Error::NoSites);
    }
    let mut out = Checked::default();
    let checker = Checker { elf };
    for d in &descriptors {
        checker.descriptor(d, &mut out);
    }
    for r in pv_runtime::site::records(elf) {
        let r = r.map_err(|(at, e)| Error::Record(at, e))?;
        checker.record(&r, &mut out);
    }
    Ok(out)
}

/// What a body is held to.
struct Rules {
    /// Registers it may leave changed (flags are not general registers: always allowed).
    allowed: u64,
    /// Whether it ends with `ret` (a routine) or falls through (a site or a copied body).
    routine: bool,
    /// Which calls it may make: (target, what the callee may change).
    calls: Calls,
    /// Whether a deprivileged backend (Xen PV) runs it: a privileged instruction is an error.
    deprivileged: bool,
}

/// Where a body may call.
#[derive(Clone, Copy)]
enum Calls {
    /// Nowhere: the body is copied into sites.
    None,
    /// Only `target`, directly or through the slot `slot`, which changes `effect` (a site).
    Site { target: u64, slot: u64, effect: u64 },
    /// Any function (a stub, adapter or probe): the callee's effect comes from its ABI, from
    /// the routine's own bytes (another pv routine), or from the slot's contract.
    Any { slot: u64, effect: u64 },
}

/// A register's value, symbolically: what it held on entry, the stack pointer saved by
/// `mov rbp, rsp` at a stack depth, or anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Value {
    Entry(u8),
    Frame(usize),
    Other,
}

struct Checker<'e> {
    elf: &'e Elf,
}

impl Checker<'_> {
    fn name(&self, desc: u64) -> String {
        self.elf.symbol_at(desc).map_or("?".into(), |s| {
            s.strip_suffix("::__PV_DESC").unwrap_or(s).to_string()
        })
    }

    /// A descriptor's routines: native (option 4: its adapter), every backend stub, the probe.
    fn descriptor(&self, d: &Descriptor, out: &mut Checked) {
        let intrinsic = self.name(d.at);
        let Some(contract) = d.contract else { return };
        let allowed = contract.defs | contract.clobbers;
        let any = Calls::Any {
            slot: d.slot,
            effect: allowed,
        };
        let mut routines = vec![(d.native, "native routine".to_string(), false)];
        for hv in Hypervisor::ALL {
            let (kind, routine) = (d.kinds[hv.index()], d.routines[hv.index()]);
            if matches!(kind, BodyKind::Native | BodyKind::Nop) && routine == d.native {
                continue;
            }
            routines.push((
                routine,
                format!("{} stub ({})", hv.abi().display, kind.name()),
                hv.abi().deprivileged,
            ));
        }
        let probe = std::mem::offset_of!(pv_runtime::Intrinsic, probe) as u64;
        if let Some(p) = self.elf.pointer(d.at + probe) {
            routines.push((p, "probe".into(), false));
        }
        for (addr, what, deprivileged) in routines {
            let rules = Rules {
                allowed,
                routine: true,
                calls: any,
                deprivileged,
            };
            out.routines += 1;
            self.routine(&intrinsic, addr, &what, &rules, out);
        }
    }

    /// A routine found by its symbol's extent.
    fn routine(&self, intrinsic: &str, addr: u64, what: &str, rules: &Rules, out: &mut Checked) {
        let body = format!("{what} {}", self.elf.symbol_at(addr).unwrap_or("?"));
        match super::extent(self.elf, addr) {
            Some(bytes) => {
                self.body(intrinsic, &body, addr, bytes, rules, &mut out.violations);
            }
            None => out.violations.push(Violation {
                intrinsic: intrinsic.into(),
                body,
                addr,
                instruction: String::new(),
                what: "no sized symbol starts here: its extent is unknown".into(),
            }),
        }
    }

    /// A site and its native body copy, held to the record's contract.
    fn record(&self, r: &RawRecord, out: &mut Checked) {
        let intrinsic = self.name(r.desc);
        let Ok(d) = pv_runtime::engine::descriptor(self.elf, r.desc) else {
            out.violations.push(Violation {
                intrinsic,
                body: format!("site {:#x}", r.site),
                addr: r.site,
                instruction: String::new(),
                what: "its descriptor cannot be read".into(),
            });
            return;
        };
        let allowed = r.defs | r.clobbers;
        let calls = match r.binding {
            Binding::DirectBranch | Binding::IndirectBranch => Calls::Site {
                target: d.native,
                slot: d.slot,
                effect: allowed,
            },
            _ => Calls::None,
        };
        let rules = Rules {
            allowed,
            routine: false,
            calls,
            deprivileged: false,
        };
        out.sites += 1;
        let kind = if r.probe { "probe site" } else { "site" };
        let owner = self.elf.symbol_at(r.site).unwrap_or("?");
        let bytes = self.elf.read(r.site, r.len).unwrap_or(&[]);
        let body = format!("{kind} in {owner}");
        self.body(
            &intrinsic,
            &body,
            r.site,
            bytes,
            &rules,
            &mut out.violations,
        );
        if r.repl_len > 0 {
            let copy = self.elf.read(r.repl, r.repl_len).unwrap_or(&[]);
            let rules = Rules {
                calls: Calls::None,
                ..rules
            };
            let body = format!("native copy for the {kind} in {owner}");
            self.body(&intrinsic, &body, r.repl, copy, &rules, &mut out.violations);
        }
    }

    /// Checks one body; returns the registers it leaves changed.
    fn body(
        &self,
        intrinsic: &str,
        body: &str,
        start: u64,
        bytes: &[u8],
        rules: &Rules,
        violations: &mut Vec<Violation>,
    ) -> u64 {
        let end = start + bytes.len() as u64;
        let mut fmt = IntelFormatter::new();
        fmt.options_mut().set_space_after_operand_separator(true);
        let mut info = InstructionInfoFactory::new();
        let mut regs: [Value; 16] = std::array::from_fn(|r| Value::Entry(r as u8));
        // Who last changed each register from its entry value.
        let mut culprit: [(u64, String); 16] = std::array::from_fn(|_| (0, String::new()));
        let mut stack: Vec<Value> = Vec::new();
        let mut returned = false;
        let insns = decode(bytes, start);
        let last = insns.len().saturating_sub(1);
        for (k, (insn, emulated)) in insns.into_iter().enumerate() {
            let ip = insn.ip();
            let mut text = String::new();
            fmt.format(&insn, &mut text);
            let mut fail = |what: String| {
                violations.push(Violation {
                    intrinsic: intrinsic.into(),
                    body: body.into(),
                    addr: ip,
                    instruction: text.clone(),
                    what,
                })
            };
            if insn.is_invalid() {
                fail("not a valid instruction".into());
                continue;
            }
            if returned {
                fail("follows the routine's `ret`".into());
            }
            // A privileged instruction after Xen's emulation prefix is Xen's to emulate.
            if rules.deprivileged && insn.is_privileged() && !emulated {
                fail("privileged, in a body that Xen PV runs deprivileged".into());
            }
            let mut set = |regs: &mut [Value; 16], r: u8, v: Value| {
                if regs[r as usize] == Value::Entry(r) && v != Value::Entry(r) {
                    culprit[r as usize] = (ip, text.clone());
                }
                regs[r as usize] = v;
            };
            let ops: Vec<OpKind> = (0..insn.op_count()).map(|i| insn.op_kind(i)).collect();
            let reg0 = gpr(insn.op0_register());
            let imm1 = ops.len() == 2 && is_immediate(ops[1]);
            match insn.mnemonic() {
                Mnemonic::Push | Mnemonic::Pushfq => {
                    stack.push(match (ops.first(), reg0) {
                        (Some(OpKind::Register), Some(r)) => regs[r as usize],
                        _ => Value::Other,
                    });
                    if insn.memory_base() == Register::RSP {
                        fail("reads the stack through rsp".into());
                    }
                    continue;
                }
                Mnemonic::Pop | Mnemonic::Popfq => {
                    let Some(v) = stack.pop() else {
                        fail("pops what the caller pushed: rsp ends above its entry".into());
                        continue;
                    };
                    if let (Some(OpKind::Register), Some(r)) = (ops.first(), reg0) {
                        set(&mut regs, r, v);
                    }
                    continue;
                }
                Mnemonic::Ret => {
                    if !rules.routine || k != last {
                        fail("returns from the middle of the body".into());
                    } else if !stack.is_empty() {
                        fail(format!(
                            "returns with rsp {} bytes below its entry value",
                            8 * stack.len()
                        ));
                    }
                    returned = true;
                    continue;
                }
                Mnemonic::Sub | Mnemonic::Add if reg0 == Some(RSP) && imm1 => {
                    let n = insn.immediate(1) as i64;
                    let n = if insn.mnemonic() == Mnemonic::Sub {
                        n
                    } else {
                        -n
                    };
                    if n % 8 != 0 {
                        fail(format!("moves rsp by {n} bytes, not whole slots"));
                    } else if n > 0 {
                        stack.extend((0..n / 8).map(|_| Value::Other));
                    } else if stack.len() < (-n / 8) as usize {
                        fail("frees what the caller pushed: rsp ends above its entry".into());
                    } else {
                        stack.truncate(stack.len() - (-n / 8) as usize);
                    }
                    continue;
                }
                // Aligning the stack inside a frame: undone by `mov rsp, rbp`.
                Mnemonic::And if reg0 == Some(RSP) && imm1 => {
                    stack.push(Value::Other);
                    continue;
                }
                Mnemonic::Mov if ops == [OpKind::Register, OpKind::Register] => {
                    let (dst, src) = (reg0, gpr(insn.op1_register()));
                    let full = insn.op0_register().is_gpr64() && insn.op1_register().is_gpr64();
                    match (dst, src) {
                        (Some(RBP), Some(RSP)) if full => {
                            set(&mut regs, RBP, Value::Frame(stack.len()));
                            continue;
                        }
                        (Some(RSP), Some(RBP)) if full => {
                            match regs[RBP as usize] {
                                Value::Frame(depth) if depth <= stack.len() => {
                                    stack.truncate(depth)
                                }
                                _ => fail("sets rsp from rbp, which holds no saved rsp".into()),
                            }
                            continue;
                        }
                        (Some(d), Some(s)) if full && d != RSP && s != RSP => {
                            let v = regs[s as usize];
                            set(&mut regs, d, v);
                            continue;
                        }
                        _ => {}
                    }
                }
                Mnemonic::Call => {
                    let effect = self.call(&insn, rules, (start, end), intrinsic, &mut fail);
                    for r in (0..16u8).filter(|r| effect & 1 << r != 0 && *r != RSP) {
                        set(&mut regs, r, Value::Other);
                    }
                    continue;
                }
                Mnemonic::Vmcall | Mnemonic::Vmmcall => {
                    for r in (0..16u8).filter(|r| KVM_HYPERCALL_CLOBBERS & 1 << r != 0) {
                        set(&mut regs, r, Value::Other);
                    }
                }
                _ => {}
            }
            match insn.flow_control() {
                FlowControl::ConditionalBranch | FlowControl::UnconditionalBranch => {
                    let target = insn.near_branch_target();
                    if !(start..end).contains(&target) {
                        fail(format!("branches to {target:#x}, out of the body"));
                    }
                }
                FlowControl::IndirectBranch | FlowControl::Return => {
                    fail("leaves the body".into());
                }
                _ => {}
            }
            let used = info.info(&insn);
            if used
                .used_memory()
                .iter()
                .any(|m| m.base() == Register::RSP || m.index() == Register::RSP)
            {
                fail("reads rsp (addresses the stack) other than by push, pop or call".into());
            }
            for u in used.used_registers() {
                let Some(r) = gpr(u.register()) else { continue };
                let writes = matches!(
                    u.access(),
                    OpAccess::Write
                        | OpAccess::CondWrite
                        | OpAccess::ReadWrite
                        | OpAccess::ReadCondWrite
                );
                if r == RSP {
                    fail(if writes {
                        "writes rsp other than by push, pop, call or a frame".into()
                    } else {
                        "reads rsp other than by push, pop or call".into()
                    });
                } else if writes {
                    set(&mut regs, r, Value::Other);
                }
            }
        }
        let tail = end;
        let mut report = |addr: u64, instruction: String, what: String| {
            violations.push(Violation {
                intrinsic: intrinsic.into(),
                body: body.into(),
                addr,
                instruction,
                what,
            })
        };
        if rules.routine && !returned {
            report(
                tail,
                String::new(),
                "the routine does not end with `ret`".into(),
            );
        }
        if !rules.routine && !stack.is_empty() {
            report(
                tail,
                String::new(),
                format!(
                    "ends with rsp {} bytes below its entry value",
                    8 * stack.len()
                ),
            );
        }
        let mut changed = 0;
        for r in (0..16u8).filter(|r| *r != RSP) {
            if regs[r as usize] == Value::Entry(r) {
                continue;
            }
            changed |= 1 << r;
            if rules.allowed & 1 << r == 0 {
                let (addr, insn) = culprit[r as usize].clone();
                report(
                    addr,
                    insn,
                    format!(
                        "writes {}, which is not in defs ∪ clobbers ∪ flags and is not restored",
                        GPRS[r as usize]
                    ),
                );
            }
        }
        changed
    }

    /// A call's effect on the caller's registers, or a violation where the body may not call
    /// there.
    fn call(
        &self,
        insn: &Instruction,
        rules: &Rules,
        (start, end): (u64, u64),
        intrinsic: &str,
        fail: &mut impl FnMut(String),
    ) -> u64 {
        let direct = insn.op0_kind() == OpKind::NearBranch64;
        let through = (insn.op0_kind() == OpKind::Memory && insn.is_ip_rel_memory_operand())
            .then(|| insn.ip_rel_memory_address());
        match rules.calls {
            Calls::None => {
                fail("calls out of a body that is copied into sites".into());
                0
            }
            Calls::Site {
                target,
                slot,
                effect,
            } => {
                let ok = (direct && insn.near_branch_target() == target) || through == Some(slot);
                if !ok {
                    fail("calls something other than the native routine or the slot".into());
                }
                effect
            }
            Calls::Any { slot, effect } => {
                if through == Some(slot) {
                    return effect;
                }
                if !direct {
                    fail("an indirect call other than through the intrinsic's slot".into());
                    return SYSV_CLOBBERS;
                }
                let target = insn.near_branch_target();
                if (start..end).contains(&target) {
                    fail("calls into its own body".into());
                    return SYSV_CLOBBERS;
                }
                let mut found = Vec::new();
                let effect = self.callee(intrinsic, target, rules.deprivileged, &mut found);
                for v in found {
                    fail(format!(
                        "calls {}, where {:#x} `{}` {}",
                        v.body, v.addr, v.instruction, v.what
                    ))
                }
                effect
            }
        }
    }

    /// What a direct call of `target` may change: the hypercall ABI for a hypervisor's page,
    /// the routine's own effect for another pv routine (an option 4 adapter calling its
    /// contract routine, whose own violations go to `violations`), and the System V clobbers
    /// for any other function.
    fn callee(
        &self,
        intrinsic: &str,
        target: u64,
        deprivileged: bool,
        violations: &mut Vec<Violation>,
    ) -> u64 {
        // A hypercall page is a reserved page of text: one symbol at its start.
        let within = |name: &str| {
            self.elf
                .symbol(name)
                .is_some_and(|page| (page..page + 4096).contains(&target))
        };
        if within(pv_runtime::abi::xen::HYPERCALL_PAGE_SYMBOL) {
            return XEN_PAGE_CLOBBERS;
        }
        if within(pv_runtime::abi::hyperv::HYPERCALL_PAGE_SYMBOL) {
            return HYPERV_PAGE_CLOBBERS;
        }
        let routines = self.elf.section(Section::Routines);
        if routines.contains(target, 1)
            && let Some(bytes) = super::extent(self.elf, target)
        {
            // Its registers are the caller's to account for; its other faults are its own.
            let rules = Rules {
                allowed: !0,
                routine: true,
                calls: Calls::Any {
                    slot: 0,
                    effect: SYSV_CLOBBERS,
                },
                deprivileged,
            };
            let body = format!("routine {}", self.elf.symbol_at(target).unwrap_or("?"));
            return self.body(intrinsic, &body, target, bytes, &rules, violations);
        }
        SYSV_CLOBBERS
    }
}

/// The instructions of `bytes` at `start`, each with whether Xen's emulation prefix precedes
/// it (the prefix itself is not an instruction of the body).
fn decode(bytes: &[u8], start: u64) -> Vec<(Instruction, bool)> {
    let mut out = Vec::new();
    let mut offset = 0;
    let mut emulated = false;
    while offset < bytes.len() {
        if bytes[offset..].starts_with(&XEN_EMULATE_PREFIX) {
            offset += XEN_EMULATE_PREFIX.len();
            emulated = true;
            continue;
        }
        let mut decoder = Decoder::with_ip(
            64,
            &bytes[offset..],
            start + offset as u64,
            DecoderOptions::NONE,
        );
        let insn = decoder.decode();
        offset += insn.len().max(1);
        out.push((insn, emulated));
        emulated = false;
    }
    out
}

/// The general register (encoding) a register of any width belongs to.
fn gpr(r: Register) -> Option<u8> {
    r.is_gpr()
        .then(|| (r.full_register() as u32 - Register::RAX as u32) as u8)
        .filter(|b| *b < 16)
}

fn is_immediate(k: OpKind) -> bool {
    matches!(
        k,
        OpKind::Immediate8
            | OpKind::Immediate8to16
            | OpKind::Immediate8to32
            | OpKind::Immediate8to64
            | OpKind::Immediate16
            | OpKind::Immediate32
            | OpKind::Immediate32to64
            | OpKind::Immediate64
    )
}
