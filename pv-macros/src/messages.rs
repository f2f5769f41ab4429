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

// Architecture and registers (check).

/// A register neither architecture knows; `hint` is a sub-register's 64-bit name or a "did you
/// mean".
pub fn unknown_register(name: &str, hint: &str) -> String {
    format!("unknown register `{name}`{hint}")
}
/// The `hint` of [`unknown_register`] for an x86_64 sub-register.
pub fn whole_register(name: &str) -> String {
    format!(": pv contracts name whole registers, write `{name}`")
}
/// Register names of two architectures in one declaration.
pub const CONFLICTING_ARCH: &str = "this register belongs to another architecture than the ones \
     before it: name registers of one architecture, and add `arch = x86_64` or `arch = ia64` if \
     names are shared";
/// No `arch` and no register that decides it: `names` are the shared names (none: no register).
pub fn ambiguous_arch(names: &[&str]) -> String {
    let why = if names.is_empty() {
        "no register is named".to_string()
    } else {
        format!("`{}` exist on both x86_64 and ia64", names.join("`, `"))
    };
    format!("cannot infer the architecture: {why}; add `arch = x86_64` or `arch = ia64`")
}
/// A register the declared architecture does not have; `hint` is a "did you mean".
pub fn unknown_arch_register(arch: &str, name: &str, hint: &str) -> String {
    format!("unknown {arch} register `{name}`{hint}")
}
/// A register used where its class or role forbids (`what` is the use, `why` the register's).
pub fn cannot_be_used(name: &str, what: &str, why: &str) -> String {
    format!("`{name}` cannot be {what}: {why}")
}
/// A register twice in `clobber`.
pub fn clobber_twice(name: &str) -> String {
    format!("`{name}` is listed twice in `clobber`")
}
/// `reg` also in `clobber`.
pub fn reg_in_clobber(name: &str) -> String {
    format!("`{name}` is `reg`, which is always written: remove it from `clobber`")
}

// Arguments, result and bodies (check).

/// Argument 0 with neither `reg` nor `#[pv(reg)]`.
pub const ARG0_WITHOUT_REG: &str =
    "argument 0 needs a register: add `reg = \"...\"` or `#[pv(reg = \"...\")]`";
/// More arguments than the architecture's pv argument order has registers.
pub fn too_many_args(arch: &str, order: &[&str]) -> String {
    format!(
        "more arguments than {arch} pv argument registers (`reg`, then {})",
        order.join(", ")
    )
}
/// Two arguments assigned one register.
pub fn argument_register_twice(name: &str) -> String {
    format!("two arguments in `{name}`")
}
/// A result without `reg`.
pub const RESULT_WITHOUT_REG: &str = "a result needs a register: add `reg = \"...\"`";
/// An empty native sequence.
pub const NATIVE_EMPTY: &str = "the native sequence is empty: it is what runs on bare metal";
/// `B = nop` on a declaration with a result (`key` is the backend's key).
pub fn nop_with_result(key: &str) -> String {
    format!(
        "`{key} = nop` leaves the result undefined: the declaration returns a value, and a site \
         made of nops writes nothing to `reg`; write `{key} = asm(\"...\")` that sets it (e.g. \
         `xor eax, eax` for 0)"
    )
}
/// An empty backend `asm` body.
pub fn backend_asm_empty(display: &str, key: &str) -> String {
    format!("the {display} sequence is empty: write `{key} = nop` for a site that does nothing")
}
/// `-> !`.
pub const NEVER_TYPE: &str = "an intrinsic returns to its caller in every patch state, so it \
     cannot return `!`: declare it without a result (`fn name(args);`) and diverge after calling it";
/// A reference argument or result; `ptr` is the raw pointer to take (`*const`, `*mut`).
pub fn reference(ptr: &str) -> String {
    format!(
        "a reference cannot cross a site (the sequence could not honour its lifetime): take a raw \
         pointer, `{ptr} T`, and pass `&x as {ptr} _`"
    )
}
/// A named type pv does not know to be a register value (a newtype, say).
pub fn not_a_register_value(shown: &str) -> String {
    format!(
        "`{shown}` is not a register value pv knows: use an integer, `bool`, `char` or a raw \
         pointer; for a `#[repr(transparent)]` newtype over an integer, declare the integer and \
         convert at the call (`{shown}(intrinsic(x.0))`)"
    )
}
/// A type wider than a register.
pub const WIDE_TYPE: &str =
    "does not fit one register: use an integer, `bool`, `char`, or a raw pointer (≤ 64 bits)";

// x86_64 (check).

/// Why the flags register cannot carry a value (the `why` of [`cannot_be_used`]).
pub const FLAGS_AS_REG: &str = "only general registers carry values; flags are always clobbered";
/// Const generics on x86_64.
pub const X86_GENERIC: &str = "x86_64 intrinsics are not generic: one declaration is one \
     descriptor and one set of routines";
/// `form = ...` on x86_64.
pub const X86_FORM: &str = "`form` chooses between ia64 option 3 forms; x86_64 has one";
/// `xen = hyperprivop(...)` on x86_64.
pub const X86_HYPERPRIVOP: &str =
    "hyperprivops are Xen/ia64's; on x86_64 write `xen = hypercall(name, ...)`";
/// Option 4 with more arguments than C passes in registers.
pub fn option4_too_many_args(max: usize, given: usize) -> String {
    format!(
        "option 4 is a C call, which passes at most {max} arguments in registers, and this \
         declaration has {given}: choose option 1-3"
    )
}
/// The same, for a binding forced by the build's policy cfg (`cfg` is its name).
pub fn policy_option4_too_many_args(
    cfg: &str,
    binding: &str,
    name: &str,
    max: usize,
    given: usize,
) -> String {
    format!(
        "`{cfg} = \"{binding}\"` cannot apply to `{name}`: option 4 is a C call, which passes at \
         most {max} arguments in registers, and it has {given}"
    )
}
/// `{` or `}` in a sequence.
pub const SEQUENCE_BRACES: &str =
    "a sequence names registers directly; `{` and `}` are not allowed";
/// A RIP-relative operand.
pub const RIP_RELATIVE: &str =
    "sequences are copied into sites: a RIP-relative operand would point elsewhere";
/// A call or branch to anything but a local numeric label.
pub fn far_branch(insn: &str) -> String {
    format!(
        "`{insn}`: sequences are copied into sites, so they may only branch to local numeric \
         labels; to call code, use `xen = call(path)` or another binding"
    )
}
/// A write of a register neither `reg` nor clobbered; `fix` is [`save_reserved`] or
/// [`add_clobber`].
pub fn undeclared_write(insn: &str, reg: &str, fix: &str) -> String {
    format!("`{insn}` writes `{reg}`, which is neither `reg` nor in `clobber`: {fix}")
}
/// The `fix` of [`undeclared_write`] for a register no contract may clobber.
pub fn save_reserved(reg: &str, why: &str) -> String {
    format!("`{reg}` cannot be clobbered ({why}): save and restore it with push/pop")
}
/// The `fix` of [`undeclared_write`] otherwise.
pub fn add_clobber(reg: &str) -> String {
    format!("add `{reg}` to `clobber` (or save and restore it with push/pop)")
}
/// More instructions than a site has bytes.
pub fn native_too_long(count: usize, max: usize) -> String {
    format!("{count} instructions cannot fit a site of at most {max} bytes")
}
/// `B = emulated` over a sequence with nothing privileged (`display` names the backend).
pub fn emulated_not_privileged(key: &str, display: &str) -> String {
    format!(
        "`{key} = emulated` claims that {display} traps and emulates the native sequence, but \
         nothing in it is privileged: write `{key} = native`"
    )
}
/// A privileged native body a deprivileged backend would run; `what` is ` it` (no body given)
/// or `` `xen = native` ``.
pub fn privileged_native(insn: &str, why: &str, key: &str, display: &str, what: &str) -> String {
    format!(
        "`{insn}` is privileged ({why}), and {display} runs the kernel deprivileged, where{what} \
         faults or does nothing: give a body for it, e.g. `{key} = call(path)` or `{key} = \
         hypercall(name, ...)`, or write `{key} = emulated` if {display} traps and emulates it"
    )
}
/// A privileged instruction in a deprivileged backend's `asm` body.
pub fn privileged_asm(insn: &str, why: &str, display: &str) -> String {
    format!(
        "`{insn}` is privileged ({why}), and {display} runs this body deprivileged, where it \
         faults or does nothing: make the body a hypercall or a call"
    )
}
/// A return in a sequence.
pub fn sequence_ret(insn: &str) -> String {
    format!(
        "`{insn}`: sequences are copied into sites, where it would return from the function the \
         site is in; a sequence ends by falling through"
    )
}
/// A `pop` of what the sequence did not push.
pub fn pop_unbalanced(insn: &str) -> String {
    format!(
        "`{insn}` pops what the sequence did not push: a sequence must leave the stack as it \
         found it"
    )
}
/// Another write of rsp.
pub fn moves_rsp(insn: &str) -> String {
    format!(
        "`{insn}` changes the stack pointer: a sequence runs in its caller's frame and must leave \
         rsp as it found it; save registers with balanced `push`/`pop`"
    )
}
/// A read of rsp.
pub fn reads_rsp(insn: &str) -> String {
    format!(
        "`{insn}` reads `rsp`: the stack depth of a sequence differs between bindings and patch \
         states (a call pushes a return address), so nothing on the stack is where it would \
         expect; pass the value as an argument"
    )
}
/// A `push` without its `pop`.
pub fn push_unbalanced(insn: &str, depth: i32) -> String {
    format!(
        "`{insn}` is not undone: the sequence pushes {depth} more time(s) than it pops, and must \
         leave the stack as it found it; add the matching `pop`"
    )
}
/// AT&T syntax.
pub fn att_syntax(insn: &str) -> String {
    format!(
        "`{insn}` is AT&T syntax: sequences are Intel syntax, as `asm!` takes them (destination \
         first, registers without `%`, e.g. `mov rdx, rax`)"
    )
}
/// A mnemonic one edit away from a real one, and no mnemonic itself.
pub fn misspelt_mnemonic(insn: &str, word: &str, meant: &str) -> String {
    format!("`{insn}`: `{word}` is not an x86 mnemonic; did you mean `{meant}`?")
}
/// A branch to a local label the sequence does not define on that side (`place`: after or
/// before; `side`: f or b).
pub fn undefined_label(insn: &str, label: &str, side: &str, place: &str) -> String {
    format!(
        "`{insn}` branches to `{label}{side}`, but the sequence defines no `{label}:` {place} it: \
         a sequence may branch only to its own local numeric labels"
    )
}

// ia64 (check).

/// Why a register of another class cannot carry a value (the `why` of [`cannot_be_used`]).
pub fn ia64_not_a_value(class: &str) -> String {
    format!("a {class} cannot carry a value; use a general register (r8 is the pv convention)")
}
/// Why a register without a mask bit cannot appear in a contract.
pub const IA64_NO_PLACE: &str = "it has no place in a pv contract";
/// A KVM or Hyper-V body on ia64.
pub fn ia64_backend(key: &str, display: &str) -> String {
    format!("`{key}`: {display} has no ia64 guest ABI; ia64 intrinsics have a Xen body only")
}
/// No Xen body on ia64.
pub const IA64_MISSING_XEN: &str = "missing `xen = ...`: Xen/ia64 runs the kernel at privilege \
     level 1, where the privileged operations ia64 intrinsics stand for fault or misbehave; write \
     `xen = native` (Xen emulates the fault), `xen = nop`, `xen = asm(\"...\")`, \
     `xen = hyperprivop(name)`, `xen = hypercall(name, args...)` or `xen = call(path)`";
/// `form = linux` on another option than 3.
pub const IA64_FORM_NOT_OPTION3: &str = "`form = linux` is a form of option 3 (`indirect_branch`)";
/// A binding's own clobbers missing from `clobber`; `reason` is the binding row's.
pub fn ia64_own_clobbers(missing: &[&str], reason: &str) -> String {
    format!(
        "`{}` must be in `clobber`: {reason}; add `clobber = [{}]`",
        missing.join("`, `"),
        missing.join(", ")
    )
}
/// A C-preserved register clobbered by option 4.
pub fn ia64_preserved_option4(name: &str) -> String {
    format!(
        "`{name}` is preserved by the C convention, and option 4 is a C call: its callee cannot \
         clobber it; choose option 1-3 (the compiler saves it around the site) or save it in the \
         sequence"
    )
}
/// A hyperprivop with another operand count than the declaration's arguments.
pub fn hyperprivop_count(name: &str, takes: u8, given: usize) -> String {
    format!(
        "hyperprivop `{name}` takes {takes} operand(s) in r8, r9, r10, r11, r14; the declaration \
         has {given} argument(s)"
    )
}
/// A hyperprivop whose result disagrees with the declaration's.
pub fn hyperprivop_result(name: &str, returns: bool) -> String {
    let says = if returns {
        "returns a value in r8"
    } else {
        "returns nothing"
    };
    format!("hyperprivop `{name}` {says}; the declaration disagrees")
}
/// A Xen/ia64 hypercall where the routine has no register frame.
pub const IA64_HYPERCALL_FRAMELESS: &str = "a Xen/ia64 hypercall (`break 0x1000`, number in r2) \
     takes its arguments in stacked registers r32-r36, which only a routine entered with \
     `br.call` can allocate: use option 2, option 3 in the seed's form, or option 4";
/// `xen = call(...)` in option 3's Linux form.
pub const IA64_LINUX_FORM_CALL: &str = "routines of option 3 in Linux's form are entered with \
     `br.cond`, without a register frame of their own, so they cannot call a C function: use the \
     seed's form or option 2 for `xen = call(...)`";
/// `xen = call(...)` in option 1.
pub const IA64_CALL_INLINE: &str = "ia64 option 1 sites are patched by copying a body into their \
     bundles, and a Rust function cannot be copied: use `direct_branch` or `indirect_branch` for \
     `xen = call(...)`";
/// An instruction pv cannot bundle.
pub fn ia64_unknown_unit(insn: &str) -> String {
    format!(
        "`{insn}`: pv does not know which unit (M, I, A, B, F, L+X) this instruction needs, so it \
         cannot bundle it; write lower-case GNU as mnemonics of the instructions pv supports"
    )
}
/// A run-time argument named as a template placeholder.
pub fn ia64_runtime_constant(name: &str) -> String {
    format!(
        "`{name}` is a run-time argument: a value folded into the site must be a compile-time \
         constant; declare it as a const generic parameter, e.g. `<const {}: u16>`",
        name.to_uppercase()
    )
}
/// A placeholder that names nothing.
pub fn ia64_unknown_placeholder(name: &str) -> String {
    format!("`{{{name}}}` names no const generic parameter of this declaration")
}
/// A write of a stacked register where the routine has no frame; `form` says why it has none.
pub fn ia64_stacked_write(insn: &str, reg: &str, linux_form: bool) -> String {
    let form = if linux_form {
        "option 3 in Linux's form runs its routines with `br.cond`"
    } else {
        "option 1 copies the sequence into the site"
    };
    format!(
        "`{insn}` writes `{reg}`, a stacked register, and {form}, without a register frame of its \
         own: `{reg}` is a register of the function the site is in; use a scratch register (r2, \
         r3, r14-r31) and declare it in `clobber`"
    )
}
/// The `fix` of [`undeclared_write`] on ia64, which has no push/pop.
pub fn ia64_add_clobber(reg: &str) -> String {
    format!("add `{reg}` to `clobber`")
}
/// A native sequence longer than an option 1 site.
pub fn ia64_too_long_inline(slots: usize, room: usize) -> String {
    format!("{slots} instructions exceed the room of an option 1 site ({room} slots in 5 bundles)")
}

// Where the declaration stands (read from its source file).

/// In an `extern` block.
pub const IN_EXTERN_BLOCK: &str = "#[pv_intrinsic] declares an intrinsic, not a foreign \
     function: move the declaration out of the `extern` block (pv generates its body)";
/// In a trait or `impl`.
pub const IN_TRAIT: &str = "#[pv_intrinsic] declares a free function, not a trait or `impl` \
     item: move the declaration into a module, and call it from the method";
