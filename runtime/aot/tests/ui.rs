//! `include_program!`'s errors, exact (`tests/ui/*.stderr`): each is a compile error on
//! the path, naming the resolved path.

#[test]
fn include_program_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
