// An archive above the embedding limit (here 1000 bytes) is refused, with the fix. (The
// path leads from trybuild's project, `target/tests/trybuild/ferrex-aot`, to the fixture.)
ferrex_aot::include_program!(pub mod mlp = "../../../../runtime/aot/tests/fixtures/mlp_b8.pt2", max_embed = 1000);

fn main() {}
