// The `cond!` each data branch suggests, which `tests/ui_fixes.rs` pastes back and compiles:
// a branch that assigns, branches calling submodules with references, a bool read, an
// early return whose false branch is the rest of the body.
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
        let z = if x.mean().item::<f32>().unwrap_or(0.0) < 0.5 {
            self.a.forward(&y)
        } else {
            self.b.forward(&y)
        };
        if x.gt(0.0).sum().gt(0.0).item::<bool>().unwrap_or(false) {
            return self.a.forward(x);
        }
        z + y
    }
}

fn main() {}
