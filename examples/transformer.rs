//! A transformer encoder block from the zoo: export it, print the program, and compare the exported
//! program's output with the eager model's. `cargo run --release --example transformer`

use ferrex::Tensor;
use ferrex_examples::zoo::TransformerBlock;

fn main() {
    ferrex::manual_seed(0);
    let model = TransformerBlock::new(32, 4, 64);
    match ferrex_examples::export_and_compare(&model, Tensor::randn([2, 10, 32])) {
        Ok(diff) if diff <= 1e-5 => {}
        Ok(diff) => {
            eprintln!("exported and eager outputs differ by {diff}");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
