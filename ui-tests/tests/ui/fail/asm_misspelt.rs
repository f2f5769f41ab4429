// A misspelt mnemonic is the assembler's to find: today once per naked routine holding the
// sequence, without a location (README, Limits: "Assembler errors").
use pv_macros::pv_intrinsic;

#[pv_intrinsic(binding = indirect_branch, reg = "rax", native = "movv rax, 1", xen = native)]
fn one() -> u64;

fn main() {}
