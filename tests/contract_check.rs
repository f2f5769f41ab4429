//! The byte check (`pv-sites --check`) against this test's own executable: the whole x86_64
//! catalogue is linked and must pass, and a hand-built intrinsic whose contract lies must fail,
//! naming the instruction and the register. And the macro's write classification
//! (`pv_abi::x86_64::writes`) must agree with iced-x86 on every instruction of the catalogue's
//! bodies, and on the instructions issue 15 found it wrong for.

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
