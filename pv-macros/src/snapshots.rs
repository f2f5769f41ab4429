//! Expansion snapshots: one representative declaration per binding and architecture, expanded
//! and pretty-printed (prettyplease), compared with the committed `snapshots/*.rs` — the review
//! reference for what the macro generates. A change fails the test; after reviewing it, bless
//! the new expansions with `PV_BLESS=1 cargo test -p pv-macros snapshots`.

use std::path::PathBuf;

const CASES: [(&str, &str, &str); 11] = [
    (
        "x86_64_inline_patch",
        r#"binding = inline_patch, reg = "rax", clobber = [rdx], native = "rdtsc; shl rdx, 32; or rax, rdx", xen = native"#,
        "pub fn rdtsc() -> u64;",
    ),
    (
        "x86_64_direct_branch",
        r#"binding = direct_branch, reg = "rdi", clobber = [rax, rcx, rdx], native = "push rbx; mov eax, [rdi]; cpuid; mov [rdi], eax; pop rbx", xen = asm("push rbx; mov eax, [rdi]; ud2; .ascii \"xen\"; cpuid; mov [rdi], eax; pop rbx")"#,
        "/// cpuid leaf `[regs]`, eax only.\npub unsafe fn cpuid_eax(regs: *mut u32);",
    ),
    (
        "x86_64_indirect_branch",
        r#"binding = indirect_branch, reg = "rdi", native = "mov cr3, rdi", xen = call(xen_write_cr3)"#,
        "pub unsafe fn write_cr3(value: u64);",
    ),
    (
        "x86_64_indirect_call",
        r#"binding = indirect_call, reg = "rdi", native = "lidt [rdi]", xen = call(xen_load_idt)"#,
        "pub unsafe fn load_idt(ptr: *const u8);",
    ),
    (
        "x86_64_hypercall",
        r#"binding = direct_branch, arch = x86_64, native = "sti; hlt", xen = hypercall(sched_op, 1, 0)"#,
        "pub unsafe fn safe_halt();",
    ),
    (
        "x86_64_argument_registers",
        r#"binding = inline_patch, reg = "rax", clobber = [rdx], native = "rdmsr; shl rdx, 32; or rax, rdx", xen = asm("xor eax, eax")"#,
        "pub unsafe fn rdmsr(#[pv(reg = \"rcx\")] msr: u32) -> u64;",
    ),
    (
        "ia64_inline_patch",
        r#"binding = inline_patch, arch = ia64, reg = "r8", native = "mov r8=cpuid[r8]", xen = hyperprivop(get_cpuid)"#,
        "pub fn get_cpuid(index: u64) -> u64;",
    ),
    (
        "ia64_direct_branch",
        r#"reg = "r8", clobber = [b0], binding = direct_branch, native = "mov r8=cpuid[r8]", xen = hyperprivop(get_cpuid)"#,
        "pub fn get_cpuid(index: u64) -> u64;",
    ),
    (
        "ia64_indirect_branch_seed",
        r#"binding = indirect_branch, reg = "r8", clobber = [r2, b0, b1], native = "mov r8=cpuid[r8]", xen = hyperprivop(get_cpuid)"#,
        "pub fn get_cpuid(index: u64) -> u64;",
    ),
    (
        "ia64_indirect_branch_linux",
        r#"binding = indirect_branch, form = linux, reg = "r8", clobber = [r2, r3, r16, r17, b6, b7], native = "mov r8=cpuid[r8]", xen = hyperprivop(get_cpuid)"#,
        "pub fn get_cpuid(index: u64) -> u64;",
    ),
    (
        "ia64_indirect_call",
        r#"binding = indirect_call, arch = ia64, reg = "r8", native = "mov r8=cpuid[r8]", xen = hyperprivop(get_cpuid)"#,
        "pub fn get_cpuid(index: u64) -> u64;",
    ),
];

fn expand(args: &str, item: &str) -> String {
    let tokens = crate::expand::intrinsic(args.parse().unwrap(), item.parse().unwrap());
    let file: syn::File = syn::parse2(tokens.clone()).unwrap_or_else(|e| panic!("{e}: {tokens}"));
    with_safety(&prettyplease::unparse(&file))
}

/// The expansion with the macro's `// SAFETY:` reasons (`expand::safety`) above the `unsafe`
/// blocks they justify, as hand-written code would read: the tokens lost the comments.
fn with_safety(text: &str) -> String {
    use crate::expand::safety;
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let next = lines.peek().copied().unwrap_or("");
        let (code, opens) = (line.trim(), line.trim_end().ends_with('{'));
        let block = code.split_whitespace().eq(["unsafe", "{"]);
        let reason = if block && next.contains("asm!(") {
            Some(safety::SITE)
        } else if code.contains("= unsafe") && opens && next.contains("transmute(") {
            Some(safety::SLOT_TYPE)
        } else if code.contains("= unsafe") && code.contains("__pv_f(") {
            Some(safety::SLOT_CALL)
        } else {
            None
        };
        if let Some(reason) = reason {
            let indent = &line[..line.len() - line.trim_start().len()];
            out.push_str(&format!("{indent}// SAFETY: {reason}\n"));
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("snapshots")
        .join(format!("{name}.rs"))
}

#[test]
fn expansions_match_their_snapshots() {
    let bless = std::env::var_os("PV_BLESS").is_some();
    let mut changed = Vec::new();
    for (name, args, item) in CASES {
        let text = format!(
            "// #[pv_intrinsic({args})]\n// {}\n\n{}",
            item.replace('\n', "\n// "),
            expand(args, item)
        );
        assert!(
            !text.contains("compile_error"),
            "{name} expands with an error:\n{text}"
        );
        let file = path(name);
        if bless {
            std::fs::write(&file, &text).unwrap();
        } else if std::fs::read_to_string(&file).ok().as_deref() != Some(text.as_str()) {
            changed.push(name);
        }
    }
    assert!(
        changed.is_empty(),
        "expansions changed: {changed:?}; review them and bless with `PV_BLESS=1 cargo test -p pv-macros snapshots`"
    );
}
