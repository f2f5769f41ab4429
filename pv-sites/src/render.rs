//! A listing as a table for people, or as JSON for CI diffs.

use crate::{Listing, Planned};
use std::fmt::Write;

/// The listing as a human-readable table.
pub fn table(l: &Listing) -> String {
    let mut out = String::new();
    let probes = l.sites.iter().filter(|s| s.probe).count();
    let _ = writeln!(
        out,
        "{} ({:?}): {} sites, {probes} of them self-test probes",
        l.path,
        l.machine,
        l.sites.len()
    );
    for s in &l.sites {
        let _ = writeln!(
            out,
            "\n{:#x}  {}  in {}\n  option {} {}{}, {} bytes; uses [{}] defines [{}] clobbers [{}]{}",
            s.addr,
            s.intrinsic,
            s.function,
            s.binding.rfc_number(),
            s.binding.name(),
            if s.probe { " (probe)" } else { "" },
            s.len,
            s.uses.join(" "),
            s.defs.join(" "),
            s.clobbers.join(" "),
            if s.pristine {
                ""
            } else {
                "\n  NOT AS COMPILED: the engine would refuse this site"
            },
        );
        let _ = writeln!(out, "  now:    {}", s.original.join("; "));
        let _ = writeln!(out, "  native: {}", planned(&s.native));
        let _ = writeln!(out, "  xen:    {}", planned(&s.xen));
    }
    out
}

fn planned(p: &Planned) -> String {
    match p {
        Ok(insns) => insns.join("; "),
        Err(e) => format!("refused: {e}"),
    }
}

fn string(s: &str) -> String {
    let mut out = String::from('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn strings(v: &[String]) -> String {
    format!(
        "[{}]",
        v.iter().map(|s| string(s)).collect::<Vec<_>>().join(", ")
    )
}

fn plan_json(p: &Planned) -> String {
    match p {
        Ok(insns) => format!("{{\"instructions\": {}}}", strings(insns)),
        Err(e) => format!("{{\"refused\": {}}}", string(e)),
    }
}

/// The listing as JSON: one object per site, stable field order.
pub fn json(l: &Listing) -> String {
    let sites: Vec<String> = l
        .sites
        .iter()
        .map(|s| {
            format!(
                "    {{\"address\": \"{:#x}\", \"function\": {}, \"intrinsic\": {}, \"binding\": {}, \"binding_name\": {}, \
                 \"probe\": {}, \"length\": {}, \"uses\": {}, \"defines\": {}, \"clobbers\": {}, \"pristine\": {}, \
                 \"bytes\": \"{}\", \"now\": {}, \"native\": {}, \"xen\": {}}}",
                s.addr,
                string(&s.function),
                string(&s.intrinsic),
                s.binding.rfc_number(),
                string(s.binding.name()),
                s.probe,
                s.len,
                strings(&s.uses),
                strings(&s.defs),
                strings(&s.clobbers),
                s.pristine,
                s.bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
                strings(&s.original),
                plan_json(&s.native),
                plan_json(&s.xen),
            )
        })
        .collect();
    format!(
        "{{\n  \"file\": {},\n  \"arch\": {},\n  \"sites\": [\n{}\n  ]\n}}\n",
        string(&l.path),
        string(match l.machine {
            crate::Machine::X86_64 => "x86_64",
            crate::Machine::Ia64 => "ia64",
        }),
        sites.join(",\n")
    )
}
