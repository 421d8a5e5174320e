// The `cond!` each data branch suggests: a branch that assigns, a bool read, branches
// calling submodules with references.
use ferrex::prelude::*;

#[export_module]
struct Model {
    a: nn::Linear,
    b: nn::Linear,
}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        let mut y = x.sin();
        if y.sum().item::<f32>().unwrap_or(0.0) > 0.0 {
            y = y.relu();
        }
        if x.gt(0.0).all().item::<bool>().unwrap_or(false) {
            return self.a.forward(x);
        }
        let z = if x.mean().item::<f32>().unwrap_or(0.0) < 0.5 {
            self.a.forward(&y)
        } else {
            self.b.forward(&y)
        };
        z + y
    }
}

fn main() {}
