//! Writes the ia64 assembly of the catalogue — every ia64 declaration's routines, a sample call
//! site with its record, the ops table, descriptors and Xen bodies — as one `.S` file, from the
//! templates the macro used. `pv-ia64-asm [out.S]` (standard output without an argument);
//! assemble with `ia64-linux-gnu-as -x`, link with `ia64-linux-gnu-ld --no-relax`.

use std::io::Write;

fn main() {
    // The catalogue's declarations live in its `pv_ia64_decls` section.
    use pv as _;
    let mut text = String::new();
    let decls = pv_runtime::arch::ia64::decls();
    if let Err(e) = pv_runtime::abi::ia64::file::write(&mut text, decls) {
        eprintln!("pv-ia64-asm: cannot format the assembly: {e}");
        std::process::exit(1);
    }
    let written = match std::env::args().nth(1) {
        Some(path) => std::fs::write(&path, &text)
            .map(|()| eprintln!("pv-ia64-asm: {} declarations -> {path}", decls.len())),
        None => std::io::stdout().write_all(text.as_bytes()),
    };
    if let Err(e) = written {
        eprintln!("pv-ia64-asm: {e}");
        std::process::exit(1);
    }
}
