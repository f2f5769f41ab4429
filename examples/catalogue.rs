//! Links every x86_64 catalogue intrinsic into one binary, so that `pv-sites --check` can hold
//! all of their sites, routines, stubs and probes to their contracts (`scripts/test` does).
//! Running it prints how many intrinsics it links.

#[path = "../tests/common/catalogue.rs"]
mod catalogue;

fn main() {
    let linked = catalogue::link_all();
    println!("{} x86_64 catalogue intrinsics linked", linked.len());
}
