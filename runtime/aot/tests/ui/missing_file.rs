ferrex_aot::include_program!(pub mod mlp = "tests/fixtures/no_such_program.pt2");

fn main() {}
