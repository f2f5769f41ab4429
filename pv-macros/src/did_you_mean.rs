//! Suggestions for misspelt names (keys, registers, hypercalls, hyperprivops): the closest
//! candidate by edit distance, if it is close enough to be what the user meant.

/// `", did you mean `x`?"` for the closest candidate, or nothing.
pub fn did_you_mean<S: AsRef<str>>(word: &str, candidates: impl IntoIterator<Item = S>) -> String {
    let best = candidates
        .into_iter()
        .map(|c| (distance(word, c.as_ref()), c.as_ref().to_string()))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, c)| (*d, c.chars().next() != word.chars().next()));
    best.map_or(String::new(), |(_, c)| format!(", did you mean `{c}`?"))
}

/// Levenshtein distance (insertions, deletions, substitutions), by characters.
pub fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
