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
