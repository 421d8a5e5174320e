//! `op_def!`'s compile-time schema checks (`ui/op_def/*.rs` with their exact `.stderr`):
//! a malformed schema, an unknown type, a default that does not fit its type, and an
//! argument struct reused for different arguments are compile errors.
//!
//! Regenerate with `TRYBUILD=overwrite cargo test -p ferrex-tests --test op_def_ui`.

#[test]
fn op_def_schema_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/op_def/*.rs");
}
