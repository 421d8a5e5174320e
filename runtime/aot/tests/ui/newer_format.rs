// trybuild builds this file in `target/tests/trybuild/ferrex-aot`, its crate root.
ferrex_aot::include_program!(mod mlp = "../../../../runtime/aot/tests/fixtures/newer_format.pt2");

fn main() {}
