//! The ia64 contract check. Every site, native body copy, Xen body copy and routine of an ia64
//! image is decoded by pv's ia64 interpreter (`pv_ia64_sim::insn`, `pv_ia64_sim::bundle`), and
//! what each instruction reads and writes comes from the interpreter's own table
//! (`pv_ia64_sim::access`): both written from the Itanium manuals, sharing nothing with
//! pv-abi's templates and register tables or with the engine's bundle codec.
//!
//! Values are followed through moves, so a register saved and restored counts as kept: b0 in
//! a local, ar.pfs by `alloc` and `mov ar.pfs=`, the predicates by `mov r=pr` and `mov pr=r,-1`,
//! gp by Linux's stub. The slot's loads are followed too, so a site may only call its native
//! routine or what its slot holds, and option 3 in Linux's form must leave its return address
//! in b6. The walk is linear, as the x86_64 check's is: pv's bodies branch only forward.
//!
//! What the check knows besides the interpreter's table, each with its source:
//! - the record format's mask bits (`pv_abi::record`, the ia64 layout in `pv_abi::ia64`);
//! - the software conventions' scratch registers, for calls of C functions;
//! - Xen/ia64's hypercall and hyperprivop effects, and the instructions it cannot trap.

use super::{Checked, Violation};
use crate::Error;
use crate::elf::Elf;
use pv_ia64_sim::access::{Key, access};
use pv_ia64_sim::cpu::AR_PFS;
use pv_ia64_sim::insn::{self, File, Insn, Kind, Op, Src, Target};
use pv_runtime::engine::{Descriptor, Section};
use pv_runtime::site::RawRecord;
use pv_runtime::{Binding, BodyKind, Hypervisor, Image};
use std::collections::{BTreeSet, HashMap};

/// Application register numbers (vol. 1, §3.1.8 "Application Registers"; Linux's
/// `ia64regs.h` encodes them as 3072 + n): `ar.eflag`, `ar.csd`, `ar.ssd`, `ar.ccv`.
const AR_EFLAG: u8 = 24;
const AR_CSD: u8 = 25;
const AR_SSD: u8 = 26;
const AR_CCV: u8 = 32;

/// The registers a set of effects names.
type Effect = BTreeSet<Key>;

/// The record format's mask bit of `key` (`pv_abi::record`: "arch register mask"; for ia64
/// r0-r31 → 0-31, b0-b7 → 32-39, p0-p15 → 40-55, then the application registers of
/// `pv_abi::ia64::APP_REGS`, by name, from 56). `None`: no contract can name it.
fn bit(key: Key) -> Option<u8> {
    match key {
        Key::G(n @ 0..=31) => Some(n),
        Key::B(n @ 0..=7) => Some(32 + n),
        Key::P(n @ 0..=15) => Some(40 + n),
        Key::A(n) => pv_runtime::abi::ia64::APP_REGS
            .iter()
            .position(|(name, _)| *name == insn::ar_name(n))
            .map(|i| 56 + i as u8),
        _ => None,
    }
}

/// The register's name as objdump spells it.
fn name(key: Key) -> String {
    match key {
        Key::G(n) => format!("r{n}"),
        Key::B(n) => format!("b{n}"),
        Key::P(n) => format!("p{n}"),
        Key::A(n) => insn::ar_name(n),
    }
}

/// Application registers a contract need not speak of: the kernel registers ar.k0-ar.k7 and
/// the interval time counter ar.itc (AR 44) hold the machine's state, and writing them is what
/// an intrinsic is for, as writing a control register is (vol. 1, §3.1.8); ar.csd and ar.ssd
/// are scratch (Linux's and Xen's `asm/ptrace.h`: "used by cmp8xchg16 (scratch)", "reserved for
/// future use (scratch)") and no compiler keeps a value in them across a call (GCC's
/// `CALL_USED_REGISTERS`, gcc/config/ia64/ia64.h, does not even allocate them).
fn is_unnamed(key: Key) -> bool {
    matches!(key, Key::A(0..=7 | 44 | AR_CSD | AR_SSD))
}

/// The mask (record bits) of `keys`.
fn mask(keys: impl IntoIterator<Item = Key>) -> u64 {
    keys.into_iter().filter_map(bit).fold(0, |m, b| m | 1 << b)
}

/// What a call of a C function may change: the scratch registers of the Itanium Software
/// Conventions and Runtime Architecture Guide (Intel 245358), as GCC's `CALL_USED_REGISTERS`
/// (gcc/config/ia64/ia64.h) has them: r2, r3, r8-r11, r14-r31, b6, b7, p6-p15 and ar.ccv (p1-p5
/// and p16-p63 are preserved); and ar.csd, ar.ssd (see [`is_unnamed`]). b0 and ar.pfs are
/// `br.call`'s own. The caller's output registers are the callee's inputs and are not kept
/// either (see `Walk::call`).
fn c_scratch() -> impl Iterator<Item = Key> {
    [2, 3, 8, 9, 10, 11]
        .into_iter()
        .chain(14..=31)
        .map(Key::G)
        .chain([Key::B(6), Key::B(7)])
        .chain((6..=15).map(Key::P))
        .chain([Key::A(AR_CCV), Key::A(AR_CSD), Key::A(AR_SSD)])
}

/// What Xen/ia64's hypercall (`break 0x1000`) changes, from the Xen build of
/// `ia64_leave_syscall` (xen/arch/ia64/linux-xen/entry.S, RELEASE-4.0.0; its header comment is
/// Linux's and says otherwise): r2 gets the number back (`fast_hypercall` kept it in the r15
/// slot, ivt.S), r3 is left holding a Xen stack address, r8 is the result, r9 is reloaded
/// from a pt_regs slot this path never wrote, r10, r14, r15 and b7 are zeroed, bank 1's
/// r16-r31 are cleared or hold Xen's saved values, and ar.ccv, ar.csd and ar.ssd are zeroed.
/// r11 is restored, as are r1, r12, r13, b0, b6, pr and the RSE state.
fn hypercall() -> impl Iterator<Item = Key> {
    [2, 3, 8, 9, 10]
        .into_iter()
        .chain(14..=31)
        .map(Key::G)
        .chain([Key::B(7), Key::A(AR_CCV), Key::A(AR_CSD), Key::A(AR_SSD)])
}

/// Xen/ia64's hypercall immediate (`vcpu->breakimm`'s default, xen/arch/ia64/xen/domain.c).
const HYPERCALL_IMM: u64 = 0x1000;
/// The last hyperprivop, `HYPERPRIVOP_SET_RR0_TO_RR4` (xen/include/public/arch-ia64.h).
const HYPERPRIVOP_MAX: u64 = 0x1a;
/// The hyperprivops that change r8, and nothing else the guest sees: GET_IVR, GET_TPR, THASH,
/// GET_RR, GET_CPUID, GET_PMD, GET_EFLAG and GET_PSR return their value there
/// (`ia64_hyperprivop`, xen/arch/ia64/xen/privop.c), and SET_KR's fast path counts r8 down by
/// 8 (`hyper_set_kr`, xen/arch/ia64/xen/hyperprivop.S; Linux's `MOV_TO_KR` saves r8 around
/// it). The other fast paths run in bank 0 and "cannot use r1-r15" (ivt.S).
const HYPERPRIVOP_R8: [u64; 9] = [0x08, 0x09, 0x0d, 0x10, 0x12, 0x14, 0x15, 0x16, 0x19];

/// Instructions a deprivileged Xen/ia64 guest (PL1, `CONFIG_CPL0_EMUL`) runs without a trap
/// and with the wrong result: Linux's arch/ia64/include/asm/xen/privop.h paravirtualizes them
/// "for correctness" — `fc`, `thash` and `ttag` (privilege-sensitive), reads of cpuid and pmd
/// (readable at any level), and moves to and from ar.eflag. (`cover`, also on that list, is
/// outside the interpreter's subset, so the check refuses it anyway.)
fn is_sensitive(op: &Op) -> bool {
    matches!(
        op,
        Op::Thash(..)
            | Op::Ttag(..)
            | Op::Fc(_)
            | Op::MovFromInd(File::Cpuid | File::Pmd, ..)
            | Op::MovFromAr(_, _, AR_EFLAG)
            | Op::MovToAr(_, AR_EFLAG, _)
    )
}

/// How a routine returns to its site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Return {
    /// `br.ret b0`, popping the frame `br.call` made.
    BrRet,
    /// `br.cond b6`: option 3 in Linux's form, reached by `br.cond b7`, without a frame.
    B6,
}

/// Where a body may call.
#[derive(Clone, Debug)]
enum Calls {
    /// Nowhere: the body is copied into sites.
    None,
    /// Only the native routine at `native`, or what the slot holds; either changes `effect`.
    Site { native: u64, effect: Effect },
    /// Any function: another pv routine changes what its own bytes change, a C function its
    /// scratch registers.
    Any,
}

/// What a body is held to.
struct Rules {
    /// Registers (record mask bits) it may leave changed.
    allowed: u64,
    /// How it returns, for a routine; `None` for a site or a copied body, which fall through.
    routine: Option<Return>,
    /// Where it may call.
    calls: Calls,
    /// Whether Xen runs it deprivileged: `break` is how it asks Xen, and a sensitive
    /// instruction is wrong.
    deprivileged: bool,
    /// The intrinsic's slot, and whether the slot holds a function descriptor.
    slot: (u64, bool),
}

/// A register's value, symbolically.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Value {
    /// What the register held on entry.
    Entry(Key),
    /// Every predicate as on entry (`mov r=pr` before any predicate changed).
    Preds,
    /// A known constant (an address, `ip`).
    Const(u64),
    /// What the slot holds: an entry, or (Linux's form) a function descriptor's address.
    Slot,
    /// The entry of the function descriptor the slot holds.
    SlotEntry,
    /// Anything else.
    Other,
}

struct Checker<'e> {
    elf: &'e Elf,
}

/// A body to check: whose it is, what it is, and its bytes.
struct Body<'a> {
    intrinsic: &'a str,
    name: String,
    start: u64,
    bytes: &'a [u8],
}

/// Checks every site and routine of an ia64 image against its contract. ia64 descriptors
/// carry no contract: a descriptor's routines are held to the contract of its sites' records,
/// and option 4's adapters, which have no site, to the C conventions their callers rely on.
pub(super) fn check(elf: &Elf) -> Result<Checked, Error> {
    let records = pv_runtime::site::records(elf)
        .map(|r| r.map_err(|(at, e)| Error::Record(at, e)))
        .collect::<Result<Vec<RawRecord>, Error>>()?;
    let descriptors = super::descriptors(elf, pv_runtime::abi::ia64::asm::desc::SIZE)?;
    if descriptors.is_empty() {
        return Err(Error::NoSites);
    }
    let checker = Checker { elf };
    let mut out = Checked::default();
    // A descriptor's contract: its first record's (every site of an intrinsic carries the same).
    let mut contracts = HashMap::new();
    for r in &records {
        contracts.entry(r.desc).or_insert(r.defs | r.clobbers);
    }
    let mut effects = HashMap::new();
    for d in &descriptors {
        let contract = contracts.get(&d.at).copied();
        effects.insert(d.at, checker.descriptor(d, contract, &mut out));
    }
    let mut xen_bodies = BTreeSet::new();
    for r in &records {
        checker.record(r, &effects, &mut xen_bodies, &mut out);
    }
    Ok(out)
}

impl Checker<'_> {
    /// A descriptor's routines, each held to `contract` (or to the C conventions, for option
    /// 4's adapters); returns what calling any of them changes.
    fn descriptor(&self, d: &Descriptor, contract: Option<u64>, out: &mut Checked) -> Effect {
        let intrinsic = d.name(self.elf).to_string();
        let adapter = d.binding == Binding::IndirectCall;
        let (allowed, ret) = match contract {
            Some(c) if !adapter => (c, if d.fdesc { Return::B6 } else { Return::BrRet }),
            _ => (mask(c_scratch()), Return::BrRet),
        };
        let xen = Hypervisor::Xen.index();
        let mut seen = BTreeSet::new();
        let mut effect = Effect::new();
        let routines = std::iter::once((d.native, "native routine".to_string(), false)).chain(
            Hypervisor::ALL.iter().map(|hv| {
                let kind = d.kinds[hv.index()];
                let what = format!("{} routine ({})", hv.abi().display, kind.name());
                (d.routines[hv.index()], what, hv.index() == xen)
            }),
        );
        for (routine, what, on_xen) in routines {
            // Options 3 (Linux's form) and 4 name function descriptors; the others entries.
            let entry = if d.fdesc || adapter {
                self.elf.pointer(routine)
            } else {
                Some(routine)
            };
            let Some(entry) = entry.filter(|e| seen.insert(*e)) else {
                continue;
            };
            // The native routine runs under Xen too where Xen's body is the native one.
            let deprivileged = on_xen || d.kinds[xen] == BodyKind::Native;
            let rules = Rules {
                allowed,
                routine: Some(ret),
                calls: Calls::Any,
                deprivileged,
                slot: (d.slot, d.fdesc),
            };
            out.routines += 1;
            let body = format!("{what} {}", self.elf.symbol_at(entry).unwrap_or("?"));
            match super::extent(self.elf, entry) {
                Some(bytes) => {
                    let b = Body {
                        intrinsic: &intrinsic,
                        name: body,
                        start: entry,
                        bytes,
                    };
                    effect.extend(self.body(&b, &rules, out, 0))
                }
                None => out.violations.push(Violation {
                    intrinsic: intrinsic.clone(),
                    body,
                    addr: entry,
                    instruction: String::new(),
                    what: "no sized symbol starts here: its extent is unknown".into(),
                }),
            }
        }
        effect
    }

    /// A site, its native body copy and (once per intrinsic) Xen's body copy, held to the
    /// record's contract.
    fn record(
        &self,
        r: &RawRecord,
        effects: &HashMap<u64, Effect>,
        xen_bodies: &mut BTreeSet<u64>,
        out: &mut Checked,
    ) {
        let owner = self.elf.symbol_at(r.site).unwrap_or("?");
        let Ok(d) = pv_runtime::engine::descriptor(self.elf, r.desc) else {
            out.violations.push(Violation {
                intrinsic: "?".into(),
                body: format!("site in {owner}"),
                addr: r.site,
                instruction: String::new(),
                what: "its descriptor cannot be read".into(),
            });
            return;
        };
        let intrinsic = d.name(self.elf).to_string();
        let calls = match r.binding {
            Binding::DirectBranch | Binding::IndirectBranch => Calls::Site {
                native: d.entry(self.elf, d.native).unwrap_or(0),
                effect: effects.get(&d.at).cloned().unwrap_or_default(),
            },
            _ => Calls::None,
        };
        let rules = Rules {
            allowed: r.defs | r.clobbers,
            routine: None,
            calls,
            deprivileged: false,
            slot: (d.slot, d.fdesc),
        };
        out.sites += 1;
        let kind = if r.probe { "probe site" } else { "site" };
        let body = |name: String, start: u64, len: usize| Body {
            intrinsic: &intrinsic,
            name,
            start,
            bytes: self.elf.read(start, len).unwrap_or(&[]),
        };
        let site = body(format!("{kind} in {owner}"), r.site, r.len);
        self.body(&site, &rules, out, 0);
        let copy = Rules {
            calls: Calls::None,
            ..rules
        };
        if r.repl_len > 0 {
            let name = format!("native copy for the {kind} in {owner}");
            self.body(&body(name, r.repl, r.repl_len), &copy, out, 0);
        }
        if let Some(span) = d
            .xen_body
            .filter(|s| s.len > 0 && xen_bodies.insert(s.start))
        {
            let rules = Rules {
                deprivileged: true,
                ..copy
            };
            let name = format!("Xen body copy ({})", r.xen_kind.name());
            self.body(&body(name, span.start, span.len as usize), &rules, out, 0);
        }
    }

    /// Checks one body; returns the registers it leaves changed. `depth` counts the routines
    /// being followed into.
    fn body(&self, b: &Body, rules: &Rules, out: &mut Checked, depth: usize) -> Effect {
        let (intrinsic, body, start, bytes) = (b.intrinsic, b.name.as_str(), b.start, b.bytes);
        let mut walk = Walk {
            checker: self,
            intrinsic,
            body,
            rules,
            span: start..start + bytes.len() as u64,
            values: HashMap::new(),
            culprit: HashMap::new(),
            frame: None,
            ended: false,
            depth,
            violations: Vec::new(),
        };
        walk.bundles(bytes);
        let effect = walk.finish();
        out.violations.append(&mut walk.violations);
        effect
    }
}

/// One body being walked, instruction by instruction.
struct Walk<'c> {
    checker: &'c Checker<'c>,
    intrinsic: &'c str,
    body: &'c str,
    rules: &'c Rules,
    span: std::ops::Range<u64>,
    values: HashMap<Key, Value>,
    /// The instruction that first changed each register from its entry value.
    culprit: HashMap<Key, (u64, String)>,
    /// The routine's own register frame, (size, locals), once it did `alloc`.
    frame: Option<(u8, u8)>,
    ended: bool,
    depth: usize,
    violations: Vec<Violation>,
}

impl Walk<'_> {
    fn fail(&mut self, addr: u64, instruction: &str, what: String) {
        self.violations.push(Violation {
            intrinsic: self.intrinsic.into(),
            body: self.body.into(),
            addr,
            instruction: instruction.into(),
            what,
        });
    }

    fn get(&self, key: Key) -> Value {
        match key {
            Key::G(0) => Value::Const(0),
            _ => self.values.get(&key).copied().unwrap_or(Value::Entry(key)),
        }
    }

    /// Sets `key` to `v`; under a qualifying predicate the register may also keep its value.
    fn set(&mut self, key: Key, v: Value, qp: u8, at: (u64, &str)) {
        if matches!(key, Key::G(0) | Key::P(0)) {
            return;
        }
        let old = self.get(key);
        let v = if qp != 0 && v != old { Value::Other } else { v };
        if old == Value::Entry(key) && v != old {
            self.culprit.insert(key, (at.0, at.1.to_string()));
        }
        self.values.insert(key, v);
    }

    /// Decodes and walks every bundle.
    fn bundles(&mut self, bytes: &[u8]) {
        if !bytes.len().is_multiple_of(16) || bytes.is_empty() {
            let what = format!("{} bytes are not whole bundles", bytes.len());
            self.fail(self.span.start, "", what);
            return;
        }
        for (i, chunk) in bytes.chunks_exact(16).enumerate() {
            let ip = self.span.start + 16 * i as u64;
            let mut b = [0; 16];
            b.copy_from_slice(chunk);
            let slots = match insn::bundle(&b) {
                Ok(slots) => slots,
                Err(t) => {
                    self.fail(ip, "", format!("reserved template {t:#x}"));
                    continue;
                }
            };
            for slot in slots {
                match slot.insn {
                    Ok(insn) => self.insn(&insn, ip),
                    Err(bits) => self.fail(
                        ip,
                        &format!("slot {} ({:?}) {bits:#013x}", slot.index, slot.unit),
                        "outside the interpreter's subset: what it writes is unknown".into(),
                    ),
                }
            }
        }
    }

    fn insn(&mut self, insn: &Insn, ip: u64) {
        if matches!(insn.op, Op::Nop(..)) {
            return;
        }
        let text = insn::At(insn, ip).to_string();
        let at = (ip, text.as_str());
        let qp = insn.qp;
        if self.ended {
            self.fail(ip, &text, "follows the routine's return".into());
        }
        if self.rules.deprivileged && is_sensitive(&insn.op) {
            let what = "privilege-sensitive: Xen/ia64 runs the guest at PL1, where this does not trap and does not give the guest's result (Linux paravirtualizes it for correctness)".into();
            self.fail(ip, &text, what);
        }
        if let Op::Alloc(r1, sof, sol, _) = insn.op {
            if self.rules.routine.is_none() {
                let what = "allocates a register frame in a body copied into its caller: it would resize the caller's frame".into();
                return self.fail(ip, &text, what);
            }
            if self.frame.is_some() {
                return self.fail(ip, &text, "a second alloc".into());
            }
            self.frame = Some((sof, sol));
            return self.set(Key::G(r1), Value::Entry(Key::A(AR_PFS)), qp, at);
        }
        let (reads, writes) = access(insn);
        for k in reads.iter().chain(&writes) {
            let Key::G(n @ 32..) = *k else { continue };
            let verb = if writes.contains(k) {
                "writes"
            } else {
                "reads"
            };
            match self.frame {
                None => {
                    let what = format!(
                        "{verb} r{n}, a stacked register of the caller's frame: the body has no frame of its own (no alloc)"
                    );
                    self.fail(ip, &text, what)
                }
                Some((sof, _)) if n >= 32 + sof => {
                    let what = format!("{verb} r{n}, outside its frame of {sof} registers");
                    self.fail(ip, &text, what)
                }
                Some(_) => {}
            }
        }
        let g = |w: &Self, r: u8| w.get(Key::G(r));
        match insn.op {
            Op::Break(_, imm) => self.brk(imm, qp, at),
            Op::Br(kind, target, _) => {
                let to = match target {
                    Target::Rel(d) => Value::Const(ip.wrapping_add_signed(d)),
                    Target::Br(b) => self.get(Key::B(b)),
                };
                self.branch(kind, to, qp, at)
            }
            Op::Brl(kind, d, _) => {
                self.branch(kind, Value::Const(ip.wrapping_add_signed(d)), qp, at)
            }
            Op::Movl(r1, imm) => self.set(Key::G(r1), Value::Const(imm), qp, at),
            Op::MovFromIp(r1) => self.set(Key::G(r1), Value::Const(ip), qp, at),
            // `mov r1=r3` is `adds r1=0,r3`.
            Op::AddImm { r1, imm, r3, .. } => {
                let v = match (imm, g(self, r3)) {
                    (0, v) => v,
                    (_, Value::Const(c)) => Value::Const(c.wrapping_add_signed(imm)),
                    _ => Value::Other,
                };
                self.set(Key::G(r1), v, qp, at)
            }
            Op::Load {
                size: 8,
                r1,
                r3,
                post,
                ..
            } => {
                let (slot, fdesc) = self.rules.slot;
                let v = match g(self, r3) {
                    Value::Const(c) if c == slot => Value::Slot,
                    Value::Slot if fdesc => Value::SlotEntry,
                    _ => Value::Other,
                };
                self.set(Key::G(r1), v, qp, at);
                if post.is_some() {
                    self.set(Key::G(r3), Value::Other, qp, at);
                }
            }
            Op::MovToBr(b, r2) => self.set(Key::B(b), g(self, r2), qp, at),
            Op::MovFromBr(r1, b) => self.set(Key::G(r1), self.get(Key::B(b)), qp, at),
            Op::MovToAr(_, ar, Src::Reg(r2)) => self.set(Key::A(ar), g(self, r2), qp, at),
            Op::MovFromAr(_, r1, ar) => self.set(Key::G(r1), self.get(Key::A(ar)), qp, at),
            Op::MovFromPr(r1) => {
                let kept = (1..64).all(|p| self.get(Key::P(p)) == Value::Entry(Key::P(p)));
                let v = if kept { Value::Preds } else { Value::Other };
                self.set(Key::G(r1), v, qp, at)
            }
            Op::MovToPr(r2, mask) => {
                let all = g(self, r2) == Value::Preds;
                for p in (1..64).filter(|p| mask >> p & 1 == 1) {
                    let v = if all {
                        Value::Entry(Key::P(p))
                    } else {
                        Value::Other
                    };
                    self.set(Key::P(p), v, qp, at);
                }
            }
            _ => {
                for k in writes {
                    self.set(k, Value::Other, qp, at);
                }
            }
        }
    }

    /// `break imm`: a Xen/ia64 hyperprivop or hypercall, in a body Xen runs.
    fn brk(&mut self, imm: u64, qp: u8, at: (u64, &str)) {
        if !self.rules.deprivileged {
            let what = "`break` in a body that runs on bare metal: a Break Instruction fault";
            return self.fail(at.0, at.1, what.into());
        }
        let effect: Vec<Key> = match imm {
            HYPERCALL_IMM if self.rules.routine.is_none() => {
                let what = "a hypercall in a body copied into sites: Xen reads its arguments from the output registers of the frame that breaks, which a copied body does not own";
                return self.fail(at.0, at.1, what.into());
            }
            HYPERCALL_IMM => hypercall().collect(),
            1..=HYPERPRIVOP_MAX if HYPERPRIVOP_R8.contains(&imm) => vec![Key::G(8)],
            1..=HYPERPRIVOP_MAX => vec![],
            _ => {
                let what = format!(
                    "break {imm:#x} is neither a Xen/ia64 hyperprivop (1-{HYPERPRIVOP_MAX:#x}) nor its hypercall ({HYPERCALL_IMM:#x})"
                );
                return self.fail(at.0, at.1, what);
            }
        };
        for k in effect {
            self.set(k, Value::Other, qp, at);
        }
    }

    fn branch(&mut self, kind: Kind, to: Value, qp: u8, at: (u64, &str)) {
        let (ip, text) = at;
        let next = ip + 16;
        match kind {
            Kind::Ret => {
                if self.rules.routine != Some(Return::BrRet) {
                    let what = match self.rules.routine {
                        None => "returns from a body that falls through to its site's next bundle",
                        Some(_) => {
                            "returns with br.ret from a routine its site reached by br.cond (Linux's form returns by br.cond b6)"
                        }
                    };
                    self.fail(ip, text, what.into());
                }
                if to != Value::Entry(Key::B(0)) {
                    let what = "returns through a branch register that does not hold the return address (b0 on entry)";
                    self.fail(ip, text, what.into());
                }
                if self.get(Key::A(AR_PFS)) != Value::Entry(Key::A(AR_PFS)) {
                    let what = "returns with ar.pfs changed: br.ret would restore a frame that is not the caller's";
                    self.fail(ip, text, what.into());
                }
                if qp == 0 {
                    self.end();
                }
            }
            Kind::Cond => {
                if let Value::Const(t) = to
                    && self.span.contains(&t)
                {
                    return;
                }
                if self.rules.routine == Some(Return::B6) && to == Value::Entry(Key::B(6)) {
                    if self.frame.is_some() {
                        let what =
                            "returns by br.cond with a frame of its own, which only br.ret pops";
                        self.fail(ip, text, what.into());
                    }
                    if qp == 0 {
                        self.end();
                    }
                    return;
                }
                let through_slot = to == Value::SlotEntry;
                if let (Calls::Site { effect, .. }, true) = (&self.rules.calls, through_slot) {
                    let effect = effect.clone();
                    if self.get(Key::B(6)) != Value::Const(next) {
                        let what = "branches to the slot's routine without the address of the next bundle in b6, where the routine returns";
                        self.fail(ip, text, what.into());
                    }
                    for k in effect {
                        self.set(k, Value::Other, qp, at);
                    }
                    return;
                }
                let what = match to {
                    Value::Const(t) => format!("branches to {t:#x}, out of the body"),
                    _ => "branches out of the body through a branch register".into(),
                };
                self.fail(ip, text, what)
            }
            Kind::Call(b1) => {
                let effect = self.call(to, at);
                self.set(Key::B(b1), Value::Const(next), qp, at);
                self.set(Key::A(AR_PFS), Value::Other, qp, at);
                // The callee's inputs are this frame's outputs: the callee may change them.
                if let Some((sof, sol)) = self.frame {
                    for r in 32 + sol..32 + sof {
                        self.set(Key::G(r), Value::Other, qp, at);
                    }
                }
                for k in effect {
                    self.set(k, Value::Other, qp, at);
                }
            }
        }
    }

    /// What a call of `to` changes, or a violation where the body may not call there.
    fn call(&mut self, to: Value, (ip, text): (u64, &str)) -> Effect {
        let (_, fdesc) = self.rules.slot;
        match &self.rules.calls {
            Calls::None => {
                let what = "calls out of a body that is copied into sites".into();
                self.fail(ip, text, what);
                Effect::new()
            }
            Calls::Site { native, effect } => {
                let ok = to == Value::Const(*native) || (!fdesc && to == Value::Slot);
                let effect = effect.clone();
                if !ok {
                    let what = "calls something other than the native routine or the slot".into();
                    self.fail(ip, text, what);
                }
                effect
            }
            Calls::Any => match to {
                Value::Const(t) if self.span.contains(&t) => {
                    self.fail(ip, text, "calls into its own body".into());
                    c_scratch().collect()
                }
                Value::Const(t) => self.callee(t, (ip, text)),
                _ => {
                    let what = "an indirect call the check cannot follow".into();
                    self.fail(ip, text, what);
                    c_scratch().collect()
                }
            },
        }
    }

    /// What a direct call of `target` changes: another pv routine's own effect (its faults
    /// are reported as the caller's), a C function's scratch registers.
    fn callee(&mut self, target: u64, (ip, text): (u64, &str)) -> Effect {
        let elf = self.checker.elf;
        if !elf.section(Section::Routines).contains(target, 16) {
            return c_scratch().collect();
        }
        let (Some(bytes), true) = (super::extent(self.checker.elf, target), self.depth < 4) else {
            let what = format!("calls {target:#x}, a routine the check cannot follow");
            self.fail(ip, text, what);
            return c_scratch().collect();
        };
        let rules = Rules {
            allowed: !0,
            routine: Some(Return::BrRet),
            calls: Calls::Any,
            deprivileged: self.rules.deprivileged,
            slot: (0, false),
        };
        let body = Body {
            intrinsic: self.intrinsic,
            name: format!("routine {}", elf.symbol_at(target).unwrap_or("?")),
            start: target,
            bytes,
        };
        let mut out = Checked::default();
        let effect = self.checker.body(&body, &rules, &mut out, self.depth + 1);
        for v in out.violations {
            let what = format!(
                "calls {}, where {:#x} `{}` {}",
                v.body, v.addr, v.instruction, v.what
            );
            self.fail(ip, text, what);
        }
        effect
    }

    /// A return: the routine's frame, and its stacked registers, are gone.
    fn end(&mut self) {
        self.ended = true;
        if self.frame.take().is_some() {
            self.values.retain(|k, _| !matches!(k, Key::G(32..)));
        }
    }

    /// The body's end: a routine must have returned; every register it leaves changed must
    /// be allowed. Returns those registers.
    fn finish(&mut self) -> Effect {
        let end = self.span.end;
        if self.rules.routine.is_some() && !self.ended {
            self.fail(end, "", "the routine does not end with a return".into());
        }
        let mut changed: Vec<(Key, Value)> = self.values.iter().map(|(k, v)| (*k, *v)).collect();
        changed.sort_by_key(|(k, _)| *k);
        let mut effect = Effect::new();
        for (k, v) in changed {
            if v == Value::Entry(k) || is_unnamed(k) {
                continue;
            }
            effect.insert(k);
            let (addr, insn) = self
                .culprit
                .get(&k)
                .cloned()
                .unwrap_or((end, String::new()));
            match bit(k) {
                Some(b) if self.rules.allowed & 1 << b != 0 => {}
                Some(_) => {
                    let what = format!(
                        "writes {}, which is not in defs ∪ clobbers and is not restored",
                        name(k)
                    );
                    self.fail(addr, &insn, what)
                }
                // Stacked registers were refused where they were written.
                None if matches!(k, Key::G(_)) => {}
                None => {
                    let what = format!(
                        "writes {}, which no contract can name, and does not restore it",
                        name(k)
                    );
                    self.fail(addr, &insn, what)
                }
            }
        }
        effect
    }
}
