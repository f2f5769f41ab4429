//! Patch-engine scaling with 1000 sites: see `pv_bench::scale`.

use pv_macros::pv_intrinsic;

#[pv_intrinsic(binding = inline_patch, reg = "rax", native = "lea rax, [rax + 1]", xen = call(pv_bench::xen_inc))]
fn s1(x: u64) -> u64;
#[pv_intrinsic(binding = direct_branch, reg = "rax", native = "lea rax, [rax + 1]", xen = call(pv_bench::xen_inc))]
fn s2(x: u64) -> u64;
#[pv_intrinsic(binding = indirect_branch, reg = "rax", native = "lea rax, [rax + 1]", xen = call(pv_bench::xen_inc))]
fn s3(x: u64) -> u64;

include!(concat!(env!("OUT_DIR"), "/sites_1000.rs"));

fn main() {
    pv_bench::scale::run("1000 sites", 5);
}
