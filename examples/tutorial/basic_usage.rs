//! Basic Usage: export `MyModule`, print the program, run it.

use ferrex::prelude::*;

#[export_module]
pub struct MyModule {
    lin: nn::Linear,
}

#[export_module]
impl MyModule {
    fn forward(&self, x: &Tensor, y: &Tensor) -> Tensor {
        F::relu_(self.lin.forward(&(x + y)))
    }
}

pub fn run() -> crate::SectionResult {
    let m = MyModule {
        lin: nn::Linear::new(100, 10),
    };
    let exported_mod = ferrex::export(&m, (Tensor::randn([8, 100]), Tensor::randn([8, 100])))?;
    crate::keep("tutorial_basic_usage", &exported_mod);
    let out = exported_mod
        .module()
        .call((Tensor::randn([8, 100]), Tensor::randn([8, 100])))?;
    println!("{}\n", out[0]);
    println!("{exported_mod}");
    println!(
        "Graph signature (typed):\n{:#?}",
        exported_mod.graph_signature().input_specs[0]
    );
    Ok(())
}
