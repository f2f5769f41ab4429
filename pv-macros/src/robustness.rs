//! No input makes the macro panic: malformed attributes and items of every kind (any token
//! trees the compiler can hand over, so always balanced) come back as compile errors.

use proc_macro2::TokenStream;

fn expand(args: &str, item: &str) -> String {
    let tokens: TokenStream = args.parse().expect("test input tokenizes");
    let item: TokenStream = item.parse().expect("test input tokenizes");
    match std::panic::catch_unwind(|| crate::expand::intrinsic(tokens, item).to_string()) {
        Ok(out) => out,
        Err(_) => panic!("the macro panicked on `{args}`"),
    }
}

const ITEM: &str = "fn get(x: u64) -> u64;";

#[test]
fn malformed_attributes_are_errors() {
    let huge_list = format!(
        "reg = \"rax\", native = \"nop\", xen = native, clobber = [{}]",
        vec!["rdx"; 10_000].join(", ")
    );
    let huge_call = format!(
        "reg = \"rax\", native = \"nop\", xen = hypercall(sched_op, {})",
        vec!["1"; 2_000].join(", ")
    );
    let deep = format!(
        "reg = \"rax\", native = \"nop\", xen = {}x{}",
        "call(".repeat(40),
        ")".repeat(40)
    );
    let cases = [
        "reg",
        "reg =",
        "= \"rax\"",
        "reg \"rax\"",
        "reg = \"rax\" native = \"nop\"",
        "reg = \"rax\",, native = \"nop\"",
        "reg = concat!(\"r\", \"ax\"), native = \"nop\", xen = native",
        "reg = \"rax\", native = concat!(\"no\", \"p\"), xen = native",
        "reg = \"rax\", native = 5, xen = native",
        "reg = \"rax\", native = b\"nop\", xen = native",
        "reg = \"\", native = \"nop\", xen = native",
        "reg = \"rax\", clobber = [[rdx]], native = \"nop\", xen = native",
        "reg = \"rax\", clobber = [rdx,,], native = \"nop\", xen = native",
        "reg = \"rax\", clobber = (rdx), native = \"nop\", xen = native",
        "reg = \"rax\", clobber = [a.b.c.d], native = \"nop\", xen = native",
        "reg = \"rax\", native = \"nop\", xen = call(call(x))",
        "reg = \"rax\", native = \"nop\", xen = hypercall()",
        "reg = \"rax\", native = \"nop\", xen = hypercall(1, 2, 3)",
        "reg = \"rax\", native = \"nop\", xen = hyperprivop()",
        "reg = \"rax\", native = \"nop\", xen = asm(1)",
        "reg = \"rax\", native = \"nop\", xen = |x| x",
        "binding = -1, reg = \"rax\", native = \"nop\", xen = native",
        "binding = 300, reg = \"rax\", native = \"nop\", xen = native",
        "binding = 99999999999999999999999, reg = \"rax\", native = \"nop\", xen = native",
        "binding = 2.5, reg = \"rax\", native = \"nop\", xen = native",
        "arch = 64, reg = \"rax\", native = \"nop\", xen = native",
        "options = nostack, reg = \"rax\", native = \"nop\", xen = native",
        "reg = \"rax\", native = \"\\u{1}{}}{{\", xen = native",
        "reg = \"r8\", arch = ia64, native = \"{\", xen = native",
        "reg = \"r8\", arch = ia64, native = \"mov r8={}\", xen = native",
        "((( )))",
        "",
        &huge_list,
        &huge_call,
        &deep,
    ];
    for args in cases {
        let out = expand(args, ITEM);
        assert!(
            out.contains("compile_error"),
            "no error for `{args}`: {out}"
        );
    }
}

#[test]
fn malformed_items_are_errors() {
    let args = "reg = \"rax\", native = \"nop\", xen = native";
    let cases = [
        "",
        "fn",
        "fn get",
        "fn get() ->",
        "struct S;",
        "impl S { fn f(); }",
        "fn get(x: u64) -> u64 { x }",
        "fn get(self) -> u64;",
        "fn get((a, b): (u64, u64)) -> u64;",
        "fn get(#[pv] x: u64) -> u64;",
        "fn get(#[pv(reg)] x: u64) -> u64;",
        "fn get(#[pv(reg = 5)] x: u64) -> u64;",
        "fn get(x: impl Copy) -> u64;",
        "fn get(x: dyn Fn()) -> u64;",
        "fn get(x: [u8; 99999999999]) -> u64;",
        "fn get<T: Copy, 'a, const N: usize>(x: T) -> u64 where T: Copy;",
        "unsafe extern \"C\" fn get(x: u64, ...) -> u64;",
        "async const fn get() -> u64;",
    ];
    for item in cases {
        let out = expand(args, item);
        assert!(
            out.contains("compile_error"),
            "no error for `{item}`: {out}"
        );
    }
}

#[test]
fn a_valid_declaration_expands_without_errors() {
    let out = expand(
        "reg = \"rax\", clobber = [rdx], native = \"rdtsc\", xen = native",
        "fn get() -> u64;",
    );
    assert!(!out.contains("compile_error"), "{out}");
    let out = expand(
        "reg = \"r8\", clobber = [b0], binding = 2, native = \"mov r8=cpuid[r8]\", xen = native",
        ITEM,
    );
    assert!(!out.contains("compile_error"), "{out}");
}
