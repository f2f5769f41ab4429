//! Declarations that must compile (and run), and misuses that must fail with the committed
//! diagnostics. `TRYBUILD=overwrite cargo test -p ui-tests` regenerates the `.stderr` files;
//! the toolchain is pinned so they stay stable.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
