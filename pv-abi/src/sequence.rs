//! Instruction sequences as declarations write them: `;`- or newline-separated, one splitter
//! for the macro's checks, its expansion and the ia64 templates.

/// The instructions of a `;`/newline separated sequence, trimmed, empty ones skipped.
pub fn instructions(text: &str) -> impl Iterator<Item = &str> {
    text.split([';', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The mnemonic of an instruction: its first word, past a `lock` or `rep` prefix (any case).
pub fn mnemonic(insn: &str) -> &str {
    let mut words = insn.split_whitespace();
    let first = words.next().unwrap_or("");
    let prefix = ["lock", "rep", "repe", "repz", "repne", "repnz"]
        .iter()
        .any(|p| p.eq_ignore_ascii_case(first));
    if prefix {
        words.next().unwrap_or("")
    } else {
        first
    }
}
