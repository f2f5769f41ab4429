//! `--json`: the outcome as one JSON object, written by hand (a handful of maps and strings).

use crate::outcome::{Counts, Outcome, Step};
use std::collections::BTreeMap;
use std::fmt::Write;

/// A JSON string literal (RFC 8259 section 7: quote, backslash and control characters
/// escaped).
pub fn string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn map<V>(m: &BTreeMap<String, V>, value: impl Fn(&V) -> String) -> String {
    let fields: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{}: {}", string(k), value(v)))
        .collect();
    format!("{{{}}}", fields.join(", "))
}

fn counts(c: &Counts) -> String {
    format!(
        "{{\"patched\": {}, \"unchanged\": {}, \"refused\": {}}}",
        c.patched, c.unchanged, c.refused
    )
}

fn step(s: &Step) -> String {
    format!(
        "{{\"line\": {}, \"exits\": {}, \"hypercalls\": {}, \"kvm_exits\": {}, \"emulated\": {}}}",
        string(&s.line),
        map(&s.exits, u64::to_string),
        map(&s.hypercalls, u64::to_string),
        s.kvm_exits,
        s.emulated
    )
}

/// The outcome as one JSON object.
pub fn outcome(o: &Outcome) -> String {
    let opt = |v: Option<u64>| v.map_or("null".to_string(), |v| v.to_string());
    let handlers: Vec<String> = o
        .state
        .handlers
        .iter()
        .map(|(v, a)| format!("[{v}, {a}]"))
        .collect();
    let steps: Vec<String> = o.steps.iter().map(step).collect();
    let refused: Vec<String> = o.refused().iter().map(|l| string(l)).collect();
    format!(
        "{{\"mode\": {}, \"end\": {}, \"succeeded\": {}, \"target\": {}, \"report\": {}, \
         \"refused\": [{}], \"hypercalls\": {}, \"exits\": {}, \"emulated_instructions\": {}, \
         \"kvm_stats\": {}, \"state\": {{\"cr3\": {}, \"kernel_gs_base\": {}, \"kvm_system_time\": {}, \
         \"handlers\": [{}], \"gdt\": {:?}}}, \"steps\": [{}], \"console\": {}}}",
        string(o.mode.name()),
        string(&o.end.describe()),
        o.end.succeeded(),
        o.target().map_or("null".into(), string),
        map(&o.report(), counts),
        refused.join(", "),
        map(&o.hypercalls, u64::to_string),
        map(&o.exits, u64::to_string),
        opt(o.emulated_instructions()),
        o.kvm_stats
            .as_ref()
            .map_or("null".into(), |s| map(s, u64::to_string)),
        o.state.cr3,
        o.state.kernel_gs_base,
        o.state.kvm_system_time,
        handlers.join(", "),
        o.state.gdt,
        steps.join(", "),
        string(&o.console)
    )
}
