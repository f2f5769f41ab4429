//! `pv-ia64-sim run FILE --entry SYMBOL [--platform bare|xen] [--set REG=VALUE]...`: calls
//! `SYMBOL` in the linked ia64 image `FILE` as `br.call` would from a frame of 8 outputs
//! (set r32-r39 for its inputs; b0 holds a sentinel return address, gp the image's `__gp`)
//! and runs until it returns; prints
//! every register that changed as `REG=0x…`, the platform's counters as `platform.NAME=…`,
//! and `bundles=N`. Exit status 1, with the address and bytes, on a bundle outside the
//! interpreter's subset or any fault; 2 on bad usage.

use pv_ia64_sim::elf::Image;
use pv_ia64_sim::platform::Platform;
use pv_ia64_sim::platform::bare::Bare;
use pv_ia64_sim::platform::xen::Xen;
use pv_ia64_sim::{Machine, Reg};
use std::process::exit;

/// The most bundles a run may execute.
const LIMIT: u64 = 1_000_000;

struct Args {
    file: String,
    entry: String,
    xen: bool,
    sets: Vec<(Reg, u64)>,
}

fn usage(why: &str) -> ! {
    eprintln!(
        "pv-ia64-sim: {why}\nusage: pv-ia64-sim run FILE --entry SYMBOL [--platform bare|xen] [--set REG=VALUE]..."
    );
    exit(2)
}

fn number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s
            .parse::<u64>()
            .ok()
            .or_else(|| s.parse::<i64>().ok().map(|v| v as u64)),
    }
}

fn parse() -> Args {
    let mut it = std::env::args().skip(1);
    if it.next().as_deref() != Some("run") {
        usage("the only command is `run`");
    }
    let file = it.next().unwrap_or_else(|| usage("no FILE"));
    let (mut entry, mut xen, mut sets) = (None, false, Vec::new());
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--entry" => entry = Some(value),
            "--platform" => {
                xen = match value.as_str() {
                    "bare" => false,
                    "xen" => true,
                    other => usage(&format!("unknown platform {other}")),
                }
            }
            "--set" => {
                let (reg, v) = value
                    .split_once('=')
                    .unwrap_or_else(|| usage("--set takes REG=VALUE"));
                let reg: Reg = reg.parse().unwrap_or_else(|e: String| usage(&e));
                let v = number(v).unwrap_or_else(|| usage(&format!("bad value {v}")));
                sets.push((reg, v));
            }
            other => usage(&format!("unknown option {other}")),
        }
    }
    Args {
        file,
        entry: entry.unwrap_or_else(|| usage("--entry SYMBOL is required")),
        xen,
        sets,
    }
}

fn run<P: Platform>(image: Image, platform: P, args: &Args) -> Result<(), String> {
    let entry = image
        .symbol(&args.entry)
        .ok_or_else(|| format!("no symbol {} in {}", args.entry, args.file))?;
    let mut m = Machine::new(image.mem, platform);
    m.cpu.alloc(8, 0).map_err(str::to_string)?;
    if let Some(gp) = image.gp {
        m.cpu.set_gr(1, gp).map_err(|e| format!("{e:?}"))?;
    }
    for (reg, v) in &args.sets {
        m.cpu
            .set(*reg, *v)
            .map_err(|e| format!("--set {reg}: {e:?}"))?;
    }
    let before = m.cpu.snapshot();
    m.call(entry, LIMIT).map_err(|s| s.to_string())?;
    for ((reg, old), (_, new)) in before.iter().zip(m.cpu.snapshot()) {
        if *old != new {
            println!("{reg}={new:#x}");
        }
    }
    for (name, v) in m.platform.report() {
        println!("platform.{name}={v:#x}");
    }
    println!("bundles={}", m.bundles);
    Ok(())
}

fn main() {
    let args = parse();
    let image = Image::load(std::path::Path::new(&args.file)).unwrap_or_else(|e| {
        eprintln!("pv-ia64-sim: {e}");
        exit(1)
    });
    let done = if args.xen {
        run(image, Xen::new(2, 0), &args)
    } else {
        run(image, Bare::default(), &args)
    };
    if let Err(e) = done {
        eprintln!("pv-ia64-sim: {e}");
        exit(1);
    }
}
