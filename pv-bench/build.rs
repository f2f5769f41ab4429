//! With feature `scale`, writes `sites_N.rs` for N = 1, 1 000, 10 000 and 100 000: N call sites of
//! three intrinsics (options 1, 2 and 3 in turn), in functions of 1 000 calls, all kept by a
//! `#[used]` table (each chunk distinct, so LLVM cannot merge them). The scaling binaries
//! include one each.

use std::fmt::Write;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_SCALE").is_none() {
        return;
    }
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    for n in [1usize, 1_000, 10_000, 100_000] {
        let mut s = String::new();
        let chunks = n.div_ceil(1000);
        for c in 0..chunks {
            let _ = writeln!(s, "#[inline(never)]\nfn chunk_{c}(x: u64) -> u64 {{");
            for i in 0..n.min(1000) {
                let _ = writeln!(s, "    let x = s{}(x);", i % 3 + 1);
            }
            // A constant of its own, so that identical chunks are not merged into one.
            let _ = writeln!(s, "    x ^ {c}\n}}");
        }
        let names: Vec<String> = (0..chunks).map(|c| format!("chunk_{c}")).collect();
        let _ = writeln!(
            s,
            "#[used]\nstatic CHUNKS: [fn(u64) -> u64; {chunks}] = [{}];",
            names.join(", ")
        );
        std::fs::write(out.join(format!("sites_{n}.rs")), s).expect("write sites");
    }
}
