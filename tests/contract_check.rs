//! The byte check (`pv-sites --check`) against this test's own executable: the whole x86_64
//! catalogue is linked and must pass, and a hand-built intrinsic whose contract lies must fail,
//! naming the instruction and the register. And the macro's write classification
//! (`pv_abi::x86_64::writes`) must agree with iced-x86 on every instruction of the catalogue's
//! bodies, and on the instructions issue 15 found it wrong for. On ia64 the same check, with
//! the ia64 interpreter's table, passes the catalogue image and catches a set of lies.

mod common;

use iced_x86::{Decoder, DecoderOptions, InstructionInfoFactory, OpAccess, Register};
use pv_runtime::Image;
use pv_runtime::abi::x86_64::writes;
use pv_sites::check::{Violation, check};
use pv_sites::elf::Elf;

/// Wrong on purpose, and built by hand because the macro refuses it: the contract says only
/// rax is written, but the native routine writes r9, and the Xen stub runs `cli` and calls a C
/// function without saving what C may clobber.
mod liar {
    use pv_runtime::{Arch, Binding, Body, BodyKind, Contract, Intrinsic, Slot};

    #[unsafe(naked)]
    #[unsafe(link_section = "pv_routines")]
    unsafe extern "C" fn native() {
        core::arch::naked_asm!("mov r9, 1", "xor eax, eax", "ret")
    }

    extern "C" fn helper() {}

    #[unsafe(naked)]
    #[unsafe(link_section = "pv_routines")]
    unsafe extern "C" fn xen() {
        core::arch::naked_asm!("cli", "call {f}", "ret", f = sym helper)
    }

    #[unsafe(naked)]
    unsafe extern "C" fn probe() {
        core::arch::naked_asm!("sub rsp, 8", "call {f}", "add rsp, 8", "ret", f = sym native)
    }

    #[unsafe(link_section = "pv_slots")]
    static SLOT: Slot = Slot::new(native);

    #[used]
    #[unsafe(link_section = "pv_intrinsics")]
    pub static LIAR: Intrinsic = Intrinsic {
        name: "liar",
        module: "contract_check",
        arch: Arch::X86_64,
        binding: Binding::DirectBranch,
        contract: Contract {
            uses: 0,
            defs: 1,
            clobbers: 1 << 16,
        },
        native,
        backends: [
            Body {
                kind: BodyKind::Call,
                routine: xen,
            },
            Body {
                kind: BodyKind::Native,
                routine: native,
            },
            Body {
                kind: BodyKind::Native,
                routine: native,
            },
        ],
        probe,
        slot: &SLOT,
    };
}

fn own() -> std::path::PathBuf {
    std::env::current_exe().unwrap()
}

#[test]
fn the_catalogue_passes_and_the_liar_is_caught() {
    assert_eq!(common::catalogue::link_all().len(), 38);
    assert_eq!(liar::LIAR.name, "liar");
    let checked = check(&own()).unwrap();
    let (lies, others): (Vec<&Violation>, Vec<&Violation>) = checked
        .violations
        .iter()
        .partition(|v| v.intrinsic.ends_with("liar::LIAR"));
    let listed: Vec<String> = others.iter().map(|v| v.to_string()).collect();
    assert!(
        others.is_empty(),
        "the catalogue violates:\n{}",
        listed.join("\n")
    );
    // The catalogue's sites and routines were all looked at.
    assert!(checked.sites >= 38, "{} sites", checked.sites);
    assert!(checked.routines >= 38 * 3, "{} routines", checked.routines);
    let found = |instruction: &str, what: &str| {
        lies.iter()
            .any(|v| v.instruction == instruction && v.what.contains(what))
    };
    let listed: Vec<String> = lies.iter().map(|v| v.to_string()).collect();
    let listed = listed.join("\n");
    assert!(found("mov r9, 1", "writes r9"), "{listed}");
    assert!(found("cli", "privileged"), "{listed}");
    // The stub's call may clobber what C may; the contract preserves rsi, which it never saves.
    assert!(
        lies.iter().any(|v| v.instruction.starts_with("call ")
            && v.body.starts_with("Xen stub")
            && v.what.contains("writes rsi")),
        "{listed}"
    );
    // rax is the result: writing it is no violation.
    assert!(
        !lies.iter().any(|v| v.what.contains("writes rax")),
        "{listed}"
    );
}

/// The registers iced says an instruction writes (any write access, implicit ones included),
/// without rsp: the stack is the byte check's to follow, not the table's.
fn iced_writes(bytes: &[u8]) -> (String, u64) {
    let insn = Decoder::with_ip(64, bytes, 0, DecoderOptions::NONE).decode();
    let mut info = InstructionInfoFactory::new();
    let mask = info
        .info(&insn)
        .used_registers()
        .iter()
        .filter(|u| {
            matches!(
                u.access(),
                OpAccess::Write
                    | OpAccess::CondWrite
                    | OpAccess::ReadWrite
                    | OpAccess::ReadCondWrite
            ) && u.register().is_gpr()
        })
        .map(|u| u.register().full_register() as u32 - Register::RAX as u32)
        .filter(|b| *b < 16 && *b != 4)
        .fold(0, |m, b| m | 1 << b);
    (format!("{insn}"), mask)
}

/// The table's answer for `text`, without rsp; an instruction it does not know is a failure
/// here (every catalogue instruction must be classified).
fn table_writes(text: &str) -> u64 {
    writes(text).unwrap_or_else(|| panic!("`{text}` is not in pv-abi's table")) & !(1 << 4)
}

#[test]
fn the_table_fixes_what_issue_15_found() {
    let cases: [(&str, &[u8]); 8] = [
        ("lodsq", &[0x48, 0xad]),
        ("loop 1b", &[0xe2, 0xfe]),
        ("rdpkru", &[0x0f, 0x01, 0xee]),
        ("mul rdi", &[0x48, 0xf7, 0xe7]),
        ("lock cmpxchg [rdi], rcx", &[0xf0, 0x48, 0x0f, 0xb1, 0x0f]),
        ("rep outsb", &[0xf3, 0x6e]),
        ("rep stosq", &[0xf3, 0x48, 0xab]),
        ("mul cl", &[0xf6, 0xe1]),
    ];
    for (text, bytes) in cases {
        let (decoded, iced) = iced_writes(bytes);
        assert_eq!(table_writes(text), iced, "`{text}` (iced: `{decoded}`)");
    }
}

/// One body of a declaration: its key (`native`, `xen`, `kvm`, `hyperv`) and instructions.
type Body = (String, Vec<String>);

/// Every instruction of the catalogue's x86_64 sequences in `intrinsics.rs`, by intrinsic
/// name.
fn catalogue_text() -> Vec<(String, Vec<Body>)> {
    let source =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/intrinsics.rs")).unwrap();
    let x86 = &source[..source.find("pub mod ia64").unwrap()];
    let mut out = Vec::new();
    for decl in x86.split("#[pv_intrinsic(").skip(1) {
        let name = decl
            .split_once(" fn ")
            .and_then(|(_, rest)| rest.split(['(', '<']).next())
            .unwrap()
            .trim()
            .to_string();
        let mut bodies = Vec::new();
        for key in [
            "native = \"",
            "xen = asm(\"",
            "kvm = asm(\"",
            "hyperv = asm(\"",
        ] {
            let Some((_, rest)) = decl.split_once(key) else {
                continue;
            };
            // Up to the closing quote that no backslash escapes.
            let end = rest
                .char_indices()
                .find(|(i, c)| *c == '"' && !rest[..*i].ends_with('\\'))
                .unwrap()
                .0;
            let lines: Vec<String> = rest[..end]
                .replace("\\\"", "\"")
                .split([';', '\n'])
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('.'))
                .map(String::from)
                .collect();
            bodies.push((key.split(' ').next().unwrap().to_string(), lines));
        }
        out.push((name, bodies));
    }
    out
}

#[test]
fn the_macro_and_the_byte_check_classify_every_catalogue_instruction_alike() {
    common::catalogue::link_all();
    let elf = Elf::load(&own()).unwrap();
    let mut compared = 0;
    let mut differ = Vec::new();
    for (name, bodies) in catalogue_text() {
        let prefix = format!("pv::x86_64::{name}");
        for (key, lines) in bodies {
            // Option 4's contract routine holds the body; otherwise the routine itself.
            let routine = [
                format!("{prefix}::__pv_{key}_contract"),
                format!("{prefix}::__pv_{key}"),
            ]
            .iter()
            .find_map(|s| elf.symbol(s))
            .unwrap_or_else(|| panic!("{prefix}: no {key} routine"));
            let size = elf.symbol_size(routine).unwrap();
            let bytes = elf.read(routine, size as usize).unwrap();
            let mut decoded = Vec::new();
            let mut offset = 0;
            while offset < bytes.len() {
                // Xen's emulation prefix (`ud2; .ascii "xen"`): the `ud2` is the instruction.
                let insn = Decoder::with_ip(64, &bytes[offset..], 0, DecoderOptions::NONE).decode();
                decoded.push(offset);
                offset += insn.len();
                if bytes[offset - insn.len()..].starts_with(&[0x0f, 0x0b, b'x', b'e', b'n']) {
                    offset += 3;
                }
            }
            // The routine is the body and its `ret`.
            assert_eq!(decoded.len(), lines.len() + 1, "{prefix} {key}: {lines:?}");
            for (text, at) in lines.iter().zip(&decoded) {
                let (insn, iced) = iced_writes(&bytes[*at..]);
                if table_writes(text) != iced {
                    differ.push(format!(
                        "{prefix} {key}: `{text}`: table {:#x}, iced {iced:#x} (`{insn}`)",
                        table_writes(text)
                    ));
                }
                compared += 1;
            }
        }
    }
    assert!(compared >= 100, "{compared} instructions compared");
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

/// The ia64 catalogue, with a hypercall routine and a C-call thunk added (the catalogue has
/// neither), as one image: `--check` with the ia64 interpreter's table. `edit` rewrites the
/// `.S` text before it is assembled, to build a lie the writer would never emit.
fn ia64_image(
    name: &str,
    extra: &[pv_runtime::abi::ia64::asm::Decl],
    edit: impl Fn(String) -> String,
) -> (pv_sites::check::Checked, usize) {
    use common::ia64::{assemble, link, scratch};
    let mut decls = pv_runtime::arch::ia64::decls().to_vec();
    decls.extend_from_slice(extra);
    let dir = scratch(name);
    let mut text = String::new();
    pv_runtime::abi::ia64::file::write(&mut text, &decls).unwrap();
    let path = link(&dir, &assemble(&dir, name, &edit(text)));
    let sites = decls
        .iter()
        .filter(|d| d.binding != pv_runtime::Binding::IndirectCall)
        .count();
    (check(&path).unwrap(), sites)
}

/// Declarations that use the routine shapes the catalogue lacks: Xen's hypercall (`sched_op`,
/// arguments in the frame's outputs) and a C call, each under option 2.
fn ia64_extras() -> [pv_runtime::abi::ia64::asm::Decl<'static>; 2] {
    use pv_runtime::Binding;
    use pv_runtime::abi::ia64::asm::{Decl, Form, HypercallArg, XenBody};
    let block = Decl {
        name: "block",
        module: "contract_check",
        binding: Binding::DirectBranch,
        form: Form::Seed,
        args: &[8],
        carrier: Some(8),
        clobbers: 0,
        native: "nop.m 0",
        xen: XenBody::Hypercall(29, &[HypercallArg::Const(1), HypercallArg::Reg(8)]),
    };
    let via_c = Decl {
        name: "via_c",
        xen: XenBody::Call("xen_helper"),
        ..block
    };
    [block, via_c]
}

/// The C function `via_c`'s Xen routine calls, for the linker.
const XEN_HELPER: &str = "\n\t.text\n\t.global xen_helper\n\t.proc xen_helper\nxen_helper:\n{ .mib\n\tnop.m 0\n\tnop.i 0\n\tbr.ret.sptk.many b0 ;;\n}\n\t.endp xen_helper\n";

#[test]
fn the_ia64_catalogue_passes_the_interpreters_table() {
    let (checked, sites) = ia64_image("check-ok", &ia64_extras(), |t| t + XEN_HELPER);
    let listed: Vec<String> = checked.violations.iter().map(|v| v.to_string()).collect();
    assert!(
        listed.is_empty(),
        "the catalogue violates:\n{}",
        listed.join("\n")
    );
    assert_eq!(
        checked.sites, sites,
        "one record per declaration with a site"
    );
    // Every declaration has a native routine; Xen's is another unless Xen runs the native one.
    assert!(
        checked.routines > sites + 10,
        "{} routines",
        checked.routines
    );
}

/// `text` with `from` replaced by `to` once, between the line `label:` and the next `.endp`
/// or site comment: a lie the `.S` writer would never tell.
fn edit_in(text: &str, label: &str, from: &str, to: &str) -> String {
    let start = text
        .find(&format!("\n{label}:"))
        .unwrap_or_else(|| panic!("{label}"));
    let end = start + text[start..].find(".endp").unwrap();
    let at = start
        + text[start..end]
            .find(from)
            .unwrap_or_else(|| panic!("{from} in {label}"));
    format!("{}{to}{}", &text[..at], &text[at + from.len()..])
}

#[test]
fn an_ia64_contract_that_lies_is_caught_naming_the_instruction() {
    use pv_runtime::Binding;
    use pv_runtime::abi::ia64::asm::{Decl, Form, XenBody};
    let base = Decl {
        name: "",
        module: "contract_check",
        binding: Binding::InlinePatch,
        form: Form::Seed,
        args: &[8],
        carrier: Some(8),
        clobbers: 0,
        native: "mov r8=ar.itc",
        xen: XenBody::Native,
    };
    let liars = [
        // The contract says r8 only; the body writes r9.
        Decl {
            name: "lie_r9",
            native: "mov r9=r8",
            ..base
        },
        // A copied body has no frame: r32 is the caller's.
        Decl {
            name: "lie_stacked",
            xen: XenBody::Asm("mov r32=r8"),
            ..base
        },
        // thash does not trap at PL1: Xen cannot give the guest its answer.
        Decl {
            name: "lie_sensitive",
            xen: XenBody::Asm("thash r8=r8"),
            ..base
        },
        // Bare metal takes a Break Instruction fault.
        Decl {
            name: "lie_break",
            native: "break.m 0x7",
            ..base
        },
        // GET_IVR returns in r8, which this contract keeps.
        Decl {
            name: "lie_hyperprivop",
            args: &[],
            carrier: None,
            native: "mf",
            xen: XenBody::Hyperprivop(0x08),
            ..base
        },
        // A frame of its own, in a body copied into the caller's.
        Decl {
            name: "lie_alloc",
            native: "alloc r8=ar.pfs,0,1,0,0",
            ..base
        },
    ];
    let mut extra = ia64_extras().to_vec();
    extra.extend(liars);
    let (checked, _) = ia64_image("check-lies", &extra, |t| {
        // The hypercall routine forgets to restore r9, the C-call thunk b0, an option 4
        // adapter ar.pfs after its call, Linux's stub gp.
        let t = edit_in(&(t + XEN_HELPER), "pv_xen_block", "mov r9=r35", "nop 0");
        let t = edit_in(&t, "pv_xen_via_c", "mov b0=r33", "nop 0");
        let t = edit_in(&t, "pv_native_c_get_cpuid_call", "mov ar.pfs=r33", "nop 0");
        let t = edit_in(
            &t,
            "pv_site_get_cpuid_indirect_linux",
            "mov gp=r16",
            "nop 0",
        );
        // An option 3 site that loads another intrinsic's slot.
        edit_in(
            &t,
            "pv_site_get_cpuid_indirect",
            "r2=pv_slot_get_cpuid_indirect ",
            "r2=pv_slot_get_cpuid_direct ",
        )
    });
    let listed: Vec<String> = checked.violations.iter().map(|v| v.to_string()).collect();
    let listed = listed.join("\n");
    let found = |intrinsic: &str, body: &str, instruction: &str, what: &str| {
        checked.violations.iter().any(|v| {
            v.intrinsic == intrinsic
                && v.body.starts_with(body)
                && v.instruction == instruction
                && v.what.contains(what)
        })
    };
    let expected = [
        (
            "lie_r9",
            "site in",
            "mov r9=r8",
            "writes r9, which is not in defs",
        ),
        ("lie_r9", "native routine", "mov r9=r8", "writes r9"),
        (
            "lie_stacked",
            "Xen body copy",
            "mov r32=r8",
            "writes r32, a stacked register",
        ),
        (
            "lie_sensitive",
            "Xen body copy",
            "thash r8=r8",
            "privilege-sensitive",
        ),
        ("lie_break", "site in", "break.m 0x7", "runs on bare metal"),
        (
            "lie_hyperprivop",
            "Xen body copy",
            "break.m 0x8",
            "writes r8, which is not in defs",
        ),
        (
            "lie_alloc",
            "site in",
            "alloc r8=ar.pfs,1,1,0",
            "allocates a register frame",
        ),
        (
            "block",
            "Xen routine",
            "break.m 0x1000",
            "writes r9, which is not in defs",
        ),
        (
            "get_cpuid_call",
            "native routine",
            "br.ret.sptk.many b0",
            "ar.pfs changed",
        ),
        (
            "via_c",
            "Xen routine",
            "br.ret.sptk.many b0",
            "does not hold the return address",
        ),
        (
            "get_cpuid_indirect_linux",
            "site in",
            "ld8 r1=[r2]",
            "writes r1",
        ),
        (
            "get_cpuid_indirect",
            "site in",
            "br.call.sptk.many b0=b1",
            "calls something other than the native routine or the slot",
        ),
    ];
    for (intrinsic, body, instruction, what) in expected {
        assert!(
            found(intrinsic, body, instruction, what),
            "no `{what}` at `{instruction}` in {intrinsic}'s {body}:\n{listed}"
        );
    }
    // Nothing else: every violation is one of the lies.
    let lying = [
        "lie_",
        "block",
        "via_c",
        "get_cpuid_call",
        // Both option 3 forms.
        "get_cpuid_indirect",
    ];
    assert!(
        checked
            .violations
            .iter()
            .all(|v| lying.iter().any(|l| v.intrinsic.starts_with(l))),
        "{listed}"
    );
}

/// The registers the ia64 interpreter's table says the one instruction of `bundle` writes, by
/// name (objdump's), without r0 and p0; and the instruction's text.
fn ia64_interpreter_writes(bundle: &[u8]) -> (String, Vec<String>) {
    use pv_ia64_sim::access::{Key, access};
    use pv_ia64_sim::insn::{At, Op, ar_name};
    let insns: Vec<_> = pv_ia64_sim::insn::bundle(bundle.try_into().unwrap())
        .unwrap()
        .into_iter()
        .map(|slot| slot.insn.unwrap())
        .filter(|insn| !matches!(insn.op, Op::Nop(..)))
        .collect();
    assert_eq!(insns.len(), 1, "one instruction per bundle: {bundle:02x?}");
    let mut names: Vec<String> = access(&insns[0])
        .1
        .into_iter()
        .filter(|k| !matches!(k, Key::G(0) | Key::P(0)))
        .map(|k| match k {
            Key::G(n) => format!("r{n}"),
            Key::B(n) => format!("b{n}"),
            Key::P(n) => format!("p{n}"),
            Key::A(n) => ar_name(n),
        })
        .collect();
    names.sort();
    (At(&insns[0], 0).to_string(), names)
}

#[test]
fn the_macro_and_the_ia64_interpreter_classify_every_catalogue_instruction_alike() {
    use pv_runtime::abi::ia64::{asm::XenBody, reg_name, writes};
    let (_dir, elf) = common::ia64::catalogue("classify");
    let mut compared = 0;
    let mut differ = Vec::new();
    for r in pv_runtime::site::records(&elf) {
        let r = r.unwrap();
        let d = pv_runtime::engine::descriptor(&elf, r.desc).unwrap();
        let name = d.name(&elf);
        let decl = pv_runtime::arch::ia64::decls()
            .iter()
            .find(|x| x.name == name)
            .unwrap();
        // One instruction per bundle: the i-th instruction of a body is its i-th bundle.
        let mut bodies = vec![(decl.native, r.repl)];
        if let (XenBody::Asm(text), Some(span)) = (decl.xen, d.xen_body) {
            bodies.push((text, span.start));
        }
        for (text, start) in bodies {
            for (i, insn) in pv_runtime::abi::sequence::instructions(text).enumerate() {
                let bundle = elf.read(start + 16 * i as u64, 16).unwrap();
                let (decoded, table) = ia64_interpreter_writes(bundle);
                let mask = writes(insn);
                let mut macro_: Vec<String> = (0..64u8)
                    .filter(|b| mask & 1 << b != 0)
                    .map(|b| reg_name(b).as_str().to_string())
                    .collect();
                macro_.sort();
                // Registers without a mask bit (stacked, rotating predicates) are the byte
                // check's alone: the macro refuses stacked writes by their own rule.
                let table: Vec<String> = table
                    .into_iter()
                    .filter(|n| {
                        pv_runtime::abi::ia64::reg(n).is_some_and(|r| r.bit.is_some())
                            || ["r1", "r12", "r13"].contains(&n.as_str())
                    })
                    .collect();
                compared += 1;
                if macro_ != table {
                    differ.push(format!(
                        "{name}: `{insn}` (`{decoded}`): macro {macro_:?}, interpreter {table:?}"
                    ));
                }
            }
        }
    }
    assert!(compared >= 30, "only {compared} instructions compared");
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}
