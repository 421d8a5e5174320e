//! A LeNet-style CNN from the zoo: export it, print the program, and compare the exported
//! program's output with the eager model's. `cargo run --release --example lenet`

use ferrex::Tensor;
use ferrex_examples::zoo::LeNet;

fn main() {
    ferrex::manual_seed(0);
    let model = LeNet::new();
    match ferrex_examples::export_and_compare(&model, Tensor::randn([2, 1, 28, 28])) {
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
