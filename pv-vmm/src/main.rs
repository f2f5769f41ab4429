//! `pv-vmm --mode bare|xen|kvm [--json] [--entry pvh|long] [--cmdline TEXT] [--timeout SECONDS]
//! [--elf FILE]`:
//! boots pv-guest and prints its console and the monitor's counts.

use pv_vmm::{Config, Entry, Mode, boot, json};
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: pv-vmm --mode bare|xen|kvm [--json] [--entry pvh|long] [--cmdline TEXT] [--timeout SECONDS] [--elf FILE]";

fn parse() -> Result<(Config, bool), String> {
    let mut args = std::env::args().skip(1);
    let mut mode = None;
    let mut json = false;
    let mut config = Config::new(Mode::Bare);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--mode" => {
                let m = value()?;
                mode = Some(Mode::parse(&m).ok_or(format!("unknown mode `{m}`"))?);
            }
            "--json" => json = true,
            "--entry" => {
                config.entry = match value()?.as_str() {
                    "pvh" => Entry::Pvh,
                    "long" => Entry::Long,
                    other => return Err(format!("unknown entry `{other}`")),
                }
            }
            "--cmdline" => config.cmdline = value()?,
            "--elf" => config.elf = value()?.into(),
            "--timeout" => {
                let s = value()?;
                config.timeout =
                    Duration::from_secs(s.parse().map_err(|_| format!("bad timeout `{s}`"))?);
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    config.mode = mode.ok_or("--mode is required")?;
    Ok((config, json))
}

fn main() -> ExitCode {
    let (config, as_json) = match parse() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pv-vmm: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let outcome = match boot(&config) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("pv-vmm: {e}");
            return ExitCode::from(3);
        }
    };
    if as_json {
        println!("{}", json::outcome(&outcome));
    } else {
        print!("{}", outcome.console);
        println!(
            "-- pv-vmm ({}): {}",
            config.mode.name(),
            outcome.end.describe()
        );
        println!("exits: {:?}", outcome.exits);
        println!("hypercalls: {:?}", outcome.hypercalls);
        if let Some(n) = outcome.emulated_instructions() {
            println!("instructions KVM emulated: {n}");
        }
    }
    if outcome.end.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
