ferrex_aot::include_program!(pub mod mlp = "Cargo.toml");

fn main() {
    // The module is still emitted: naming it is no second error.
    let _ = mlp::Model::new;
}
