//! The torch.export tutorial, in Rust. Each section prints what its PyTorch counterpart
//! prints; run with `cargo run --release --example tutorial`.

use ferrex::prelude::*;

// ---------------------------------------------------------------------------------------
// Basic Usage

#[export_module]
struct MyModule {
    lin: nn::Linear,
}

#[export_module]
impl MyModule {
    fn forward(&self, x: &Tensor, y: &Tensor) -> Tensor {
        F::relu_(self.lin.forward(&(x + y)))
    }
}

fn basic_usage() -> Result<(), Box<dyn std::error::Error>> {
    println!("== Basic Usage ==\n");
    let m = MyModule {
        lin: nn::Linear::new(100, 10),
    };
    let exported_mod = ferrex::export(&m, (Tensor::randn([8, 100]), Tensor::randn([8, 100])))?;
    let out = exported_mod
        .module()
        .call((Tensor::randn([8, 100]), Tensor::randn([8, 100])))?;
    println!("{}\n", out[0]);
    println!("{exported_mod}");
    Ok(())
}

fn main() {
    ferrex::manual_seed(0);
    if let Err(e) = basic_usage() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
