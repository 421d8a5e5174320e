//! The compile-time rejections of the catalogue: each `ui/<case>.rs` is the code of a case
//! that strict export rejects, and `ui/<case>.stderr` the exact diagnostic, which the
//! catalogue shows.
//!
//! Regenerate the expected output with `TRYBUILD=overwrite cargo test -p
//! ferrex-exportdb --test ui`, then read every `.stderr`.

#[test]
fn compile_time_rejections() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/*.rs");
}
