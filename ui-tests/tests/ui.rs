//! Declarations that must compile (and run), and misuses that must fail with the committed
//! diagnostics. `TRYBUILD=overwrite cargo test -p ui-tests` regenerates the `.stderr` files;
//! the toolchain is pinned so they stay stable.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}

/// The README's rule table names every compile-fail case, and nothing else.
#[test]
fn every_rule_is_documented() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let cases: Vec<String> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ui/fail"))
            .unwrap()
            .filter_map(|e| e.unwrap().file_name().into_string().ok())
            .filter(|n| n.ends_with(".rs"))
            .collect();
    assert!(cases.len() >= 40, "{} compile-fail cases", cases.len());
    for case in &cases {
        assert!(
            readme.contains(&format!("`{case}`")),
            "README's rule table lacks {case}"
        );
    }
    let passes = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ui/pass"))
        .unwrap()
        .count();
    assert!(passes >= 10, "{passes} pass cases");
    let listed = readme.matches(".rs` |").count();
    assert_eq!(listed, cases.len(), "README lists cases that do not exist");
}

/// Each README rule row quotes the first line of its case's committed `.stderr`: the row's
/// error cell starts that line's message, where `…` marks a cut (what follows it must follow
/// in the message too).
#[test]
fn every_rule_row_quotes_its_error() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let mut wrong = Vec::new();
    let mut rows = 0;
    for line in readme.lines().filter(|l| l.ends_with(".rs` |")) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        let [.., quoted, case] = cells[..] else {
            panic!("not a rule row: {line}");
        };
        let case = case.trim_matches('`').trim_end_matches(".rs");
        let stderr = std::fs::read_to_string(format!(
            "{}/tests/ui/fail/{case}.stderr",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let first = stderr.lines().next().unwrap_or("");
        // `error: message` or `error[E0428]: message`.
        let message = first.split_once(": ").map_or(first, |(_, m)| m);
        let mut pieces = quoted.split('…');
        let mut rest = message.strip_prefix(pieces.next().unwrap_or(""));
        for piece in pieces {
            rest = rest.and_then(|r| r.find(piece).map(|at| &r[at + piece.len()..]));
        }
        if rest.is_none() {
            wrong.push(format!("{case}.rs: README `{quoted}`, .stderr `{message}`"));
        }
        rows += 1;
    }
    assert!(
        wrong.is_empty(),
        "rows that misquote their error:\n{}",
        wrong.join("\n")
    );
    assert!(rows >= 40, "{rows} rule rows");
}
