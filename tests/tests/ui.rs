//! The trybuild UI suite of strict export: one compile-fail program per graph-break rule
//! (`ui/fail/<rule>.rs` with its exact `.stderr`), and one program per allowed construct
//! (`ui/pass/*.rs`), each of which also exports and runs its model.
//!
//! Regenerate the expected output with `TRYBUILD=overwrite cargo test -p ferrex-tests
//! --test ui`, then read every `.stderr`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/fail/*.rs");
    t.pass("ui/pass/*.rs");
}
