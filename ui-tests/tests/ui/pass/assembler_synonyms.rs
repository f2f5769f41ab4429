// The assembler's own spellings that iced-x86 spells otherwise are not taken for typos:
// condition-code synonyms (jz, setz, cmovnz, jnae), movabs, and a prefix before a mnemonic.
use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rax", native = "test rax, rax; jz 2f; inc rax; 2: nop", xen = native)]
fn inc_unless_zero(x: u64) -> u64;

#[pv_intrinsic(reg = "rax", clobber = [rcx], native = "xor ecx, ecx; test rax, rax; setz cl; cmovnz rax, rcx; jnae 2f; 2: nop", xen = native)]
fn zero_or_nonzero(x: u64) -> u64;

#[pv_intrinsic(reg = "rax", native = "movabs rax, 0x1122334455667788", xen = native)]
fn wide() -> u64;

#[pv_intrinsic(reg = "rdi", native = "lock inc qword ptr [rdi]", xen = native)]
fn bump(counter: *mut u64);

fn main() {
    assert_eq!(inc_unless_zero(0), 0);
    assert_eq!(inc_unless_zero(4), 5);
    assert_eq!(zero_or_nonzero(0), 0, "setz gives 1 in cl, but cmovnz keeps rax = 0");
    assert_eq!(zero_or_nonzero(7), 0, "cmovnz copies rcx (0)");
    assert_eq!(wide(), 0x1122_3344_5566_7788);
    let mut n = 41u64;
    bump(&mut n);
    assert_eq!(n, 42);
}
