// A trait's default method that forward calls on the model: strict export has not read
// it, and no impl block of the model defines it (the fix is to move it into the
// `#[export_module]` block).
use ferrex::prelude::*;

trait Gate {
    fn gate(&self, x: &Tensor) -> Tensor {
        x.relu()
    }
}

#[export_module]
struct Model {}

impl Gate for Model {}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.gate(x)
    }
}

fn main() {}
