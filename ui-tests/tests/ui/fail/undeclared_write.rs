// The most common slip: rdtsc writes rdx as well as rax.
use pv_macros::pv_intrinsic;

#[pv_intrinsic(reg = "rax", native = "rdtsc; shl rdx, 32; or rax, rdx", xen = native)]
fn rdtsc() -> u64;

fn main() {}
