// A misspelt mnemonic: no mnemonic iced-x86 knows, one edit from one it does. The macro says so
// once, at the string, and emits no assembly (the assembler would report it once per copy of
// the sequence, without a location for the routines' copies).
use pv_macros::pv_intrinsic;

#[pv_intrinsic(binding = indirect_branch, reg = "rax", native = "movv rax, 1", xen = native)]
fn one() -> u64;

fn main() {}
