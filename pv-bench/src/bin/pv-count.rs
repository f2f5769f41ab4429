//! `pv-count VARIANT N`: runs one benchmark variant N times, for callgrind to count the
//! instructions (`scripts/bench` runs it twice with different N; the difference over the
//! extra calls is the cost of one call, set-up excluded). `pv-count --list` names the variants.

use pv_bench::Patched;
use std::hint::black_box;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (name, n) = (
        args.first().map(String::as_str),
        args.get(1).and_then(|n| n.parse::<u64>().ok()),
    );
    let mut names = Vec::new();
    macro_rules! run {
        ($id:ident, $name:literal, $state:ident, $call:expr) => {
            names.push($name);
            if let (Some($name), Some(n)) = (name, n) {
                let _state = Patched::$state();
                let mut x = 0u64;
                for _ in 0..n {
                    x = ($call)(black_box(x));
                }
                black_box(x);
                return;
            }
        };
    }
    pv_bench::for_each_variant!(run);
    if name == Some("--list") {
        names.iter().for_each(|n| println!("{n}"));
    } else {
        eprintln!("usage: pv-count VARIANT N | pv-count --list");
        std::process::exit(2);
    }
}
