//! Decompositions: `run_decompositions` lowers the exported graph to the core op set
//! with PyTorch's default table (`linear` → `permute` + `addmm`).

use ferrex::prelude::*;

#[export_module]
pub struct M {
    lin: nn::Linear,
}

#[export_module]
impl M {
    fn forward(&self, x: &Tensor, y: &Tensor) -> Tensor {
        F::relu_(self.lin.forward(&(x + y)))
    }
}

pub fn run() -> crate::SectionResult {
    let m = M {
        lin: nn::Linear::new(100, 10),
    };
    let ep = ferrex::export(&m, (Tensor::randn([8, 100]), Tensor::randn([8, 100])))?;
    let core = ep.run_decompositions()?;
    crate::keep("tutorial_decompositions", &ep);
    crate::keep("tutorial_decompositions_core", &core);
    println!("{core}");
    Ok(())
}
