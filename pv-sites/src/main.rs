//! `pv-sites [--json] FILE`: lists every pv patch site of a built x86_64 or ia64 ELF file —
//! address, function, intrinsic, binding, contract, the bytes disassembled, and what the Native
//! and Xen plans would write — without running it. `pv-sites --check FILE` instead holds every
//! site and routine of an x86_64 or ia64 file to its register contract (see `pv_sites::check`).

const USAGE: &str = "usage: pv-sites [--json | --check] FILE";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // An unknown flag is an error: a misspelt `--check` must not list and exit 0.
    if let Some(flag) = args
        .iter()
        .find(|a| a.starts_with("--") && !matches!(a.as_str(), "--json" | "--check"))
    {
        eprintln!("pv-sites: unknown flag `{flag}`\n{USAGE}");
        std::process::exit(2);
    }
    let json = args.iter().any(|a| a == "--json");
    let check = args.iter().any(|a| a == "--check");
    let files: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let ([file], false) = (files.as_slice(), json && check) else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };
    let path = std::path::Path::new(file);
    if check {
        match pv_sites::check::check(path) {
            Ok(checked) => {
                for v in &checked.violations {
                    println!("{v}");
                }
                println!("{} routines checked", checked.routines);
                println!(
                    "{} sites checked, {} violations",
                    checked.sites,
                    checked.violations.len()
                );
                if !checked.violations.is_empty() {
                    std::process::exit(1);
                }
            }
            Err(e) => {
                eprintln!("pv-sites: {file}: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    match pv_sites::list(path) {
        Ok(listing) if json => print!("{}", pv_sites::render::json(&listing)),
        Ok(listing) => print!("{}", pv_sites::render::table(&listing)),
        Err(e) => {
            eprintln!("pv-sites: {file}: {e}");
            std::process::exit(1);
        }
    }
}
