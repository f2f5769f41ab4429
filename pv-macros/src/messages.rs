//! The catalogue of pv's own compile errors: one constant or function per message, so that a
//! message is worded in one place, reviewed as a list, and found from the README's rule table
//! (each row quotes the first line its trybuild case prints; `ui-tests/tests/ui.rs` holds the
//! rows to the committed `.stderr` files). Each says what is wrong and what to write instead.
//! Where a message is raised stays with the rule that raises it.

use pv_abi::Hypervisor;
use pv_abi::backend::Abi;

// The attribute's keys (parse).

/// `reg = rax`: a register written as a word.
pub fn reg_not_string(word: &str) -> String {
    format!("write the register as a string: `reg = \"{word}\"`")
}
/// `reg = ...` that is not even a word.
pub const REG_NOT_NAME: &str = "expected a register name as a string, e.g. `reg = \"r8\"`";
/// `form = ...` other than `linux` or `seed`.
pub const UNKNOWN_FORM: &str =
    "unknown form: write `form = linux` or `form = seed` (ia64 option 3)";
/// `arch = ...` other than the two.
pub const UNKNOWN_ARCH: &str = "unknown architecture: write `arch = x86_64` or `arch = ia64`";
/// `binding = ...` that names no option.
pub const UNKNOWN_BINDING: &str = "unknown binding: write `inline_patch` (1), `direct_branch` (2), \
     `indirect_branch` (3) or `indirect_call` (4)";
/// `clobber = rdx` without brackets.
pub const CLOBBER_NOT_LIST: &str = "expected a list in brackets, e.g. `clobber = [rcx, rdx]`";
/// A `clobber` element that is not a name.
pub const CLOBBER_NOT_NAME: &str = "expected a register name";
/// `native` absent.
pub const MISSING_NATIVE: &str = "missing `native = \"...\"`: the native instruction sequence";
/// `options = [...]`, as `asm!` would take it.
pub fn asm_option(option: &str) -> String {
    format!(
        "`{option}`: `asm!` options do not apply to a pv site — any site may become a call (so it \
         uses the stack, writes flags and may touch memory), and its contract is `reg` and `clobber`"
    )
}

// Backend bodies (parse).

/// A backend body in none of its forms: the forms of `hv`'s key.
pub fn backend_forms(hv: Hypervisor) -> String {
    let k = hv.name();
    let ia64 = if hv == Hypervisor::Xen {
        format!(", `{k} = hyperprivop(name)` (ia64)")
    } else {
        String::new()
    };
    format!(
        "write `{k} = native`, `{k} = emulated`, `{k} = nop`, `{k} = asm(\"...\")`, \
         `{k} = hypercall(name, args...)`{ia64} or `{k} = call(path)`"
    )
}
/// A hyperprivop name Xen/ia64 does not have; `hint` is a "did you mean".
pub fn unknown_hyperprivop(word: &str, hint: &str) -> String {
    format!("unknown Xen/ia64 hyperprivop `{word}`{hint}")
}
/// A hypercall written as its number `n`, which `name` (if pv knows it) would spell.
pub fn hypercall_by_number(abi: &Abi, n: &str, name: Option<&str>) -> String {
    let fix = match name {
        Some(name) => format!("write `{name}`, {} hypercall number {n}", abi.display),
        None => format!("{} has no hypercall number {n} pv knows", abi.display),
    };
    format!(
        "name the hypercall rather than its number, so its argument count can be checked: {fix}"
    )
}
/// A hypercall name the backend's table lacks; `hint` is a "did you mean".
pub fn unknown_hypercall(abi: &Abi, word: &str, hint: &str) -> String {
    format!("unknown {} hypercall `{word}`{hint}", abi.display)
}
/// A hypercall given another number of arguments than its table row says.
pub fn hypercall_arg_count(name: &str, takes: u8, given: usize) -> String {
    format!("hypercall `{name}` takes {takes} argument(s), {given} given")
}
/// A hypercall argument naming something other than a parameter.
pub const HYPERCALL_ARG_UNKNOWN: &str = "not a parameter of this declaration";
/// A hypercall argument that is an expression.
pub const HYPERCALL_ARG_EXPR: &str =
    "a hypercall argument is a parameter name or an integer constant";

// The declaration's shape (parse).

/// `#[pv(constant)]` on an argument.
pub const CONSTANT_ATTR: &str = "a value folded into the site must be a compile-time constant: \
     declare it as a const generic parameter, e.g. `fn getreg<const REG: u16>()`";
/// Any other `#[pv(...)]` on an argument.
pub const ARG_ATTR_UNKNOWN: &str =
    "unknown argument attribute: the only one is `#[pv(reg = \"...\")]`";
/// What a declaration cannot be (`async`, `const`, ...), with why.
pub fn cannot_be(what: &str) -> String {
    format!("an intrinsic cannot be {what}")
}
/// The `what` of [`cannot_be`] for each qualifier.
pub const ASYNC: &str = "`async`: it is one instruction sequence";
pub const CONST: &str = "`const`: it runs machine instructions";
pub const EXTERN: &str = "`extern`: pv chooses the calling convention per binding";
pub const VARIADIC: &str = "variadic: each argument needs a register";
pub const WHERE: &str = "constrained by a `where` clause";
pub const GENERIC_TYPE: &str = "generic over types: one declaration is one machine-code contract";
pub const GENERIC_LIFETIME: &str = "generic over lifetimes: arguments are register values";
/// `#[pv_intrinsic]` twice on one declaration.
pub const ATTRIBUTE_TWICE: &str = "`#[pv_intrinsic]` is given twice: one declaration is one \
     intrinsic; put every key in one attribute";
/// `#[inline(...)]` on a declaration.
pub const INLINE_ATTR: &str = "pv makes every intrinsic `#[inline(always)]`, since its site is \
     inline asm that belongs in the caller: remove this attribute; to keep the instructions out \
     of line, choose `binding = direct_branch` (a call to the native routine) or `binding = \
     indirect_call` (a C call through the slot)";
/// `#[target_feature]` on a declaration.
pub const TARGET_FEATURE: &str = "`#[target_feature]` does not apply to an intrinsic: pv \
     assembles its sequences as written whatever features the function enables, and patching \
     replaces them with routines the attribute never reaches; remove it, and call an intrinsic \
     that needs an extension only where `is_x86_feature_detected!` says it exists";
/// An argument that is a pattern.
pub const PATTERN_ARG: &str = "an argument is a plain name, e.g. `index: u64`";
/// `self`.
pub const METHOD: &str = "an intrinsic is a free function, not a method";
/// A function with a body.
pub const HAS_BODY: &str =
    "an intrinsic is declared without a body (`fn name(args) -> T;`): pv generates the body";
/// Not a function at all.
pub const NOT_A_FUNCTION: &str =
    "#[pv_intrinsic] applies to a function declaration: `fn name(args) -> T;`";
/// A part failed without an error: a bug in pv, reported rather than panicking.
pub const INTERNAL: &str =
    "internal error in #[pv_intrinsic]: a part failed without an error; please report";
