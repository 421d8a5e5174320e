//! An MLP from the zoo: export it, print the program, and compare the exported
//! program's output with the eager model's. `cargo run --release --example mlp`

use ferrex::Tensor;
use ferrex_examples::zoo::Mlp;

fn main() {
    ferrex::manual_seed(0);
    let model = Mlp::new(20, [64, 32], 5);
    match ferrex_examples::export_and_compare(&model, Tensor::randn([4, 20])) {
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
