//! `pv-sites [--json] FILE`: lists every pv patch site of a built x86_64 or ia64 ELF file —
//! address, function, intrinsic, binding, contract, the bytes disassembled, and what the Native
//! and Xen plans would write — without running it.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let files: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let [file] = files.as_slice() else {
        eprintln!("usage: pv-sites [--json] FILE");
        std::process::exit(2);
    };
    match pv_sites::list(std::path::Path::new(file)) {
        Ok(listing) if json => print!("{}", pv_sites::render::json(&listing)),
        Ok(listing) => print!("{}", pv_sites::render::table(&listing)),
        Err(e) => {
            eprintln!("pv-sites: {file}: {e}");
            std::process::exit(1);
        }
    }
}
