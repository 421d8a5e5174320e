// A method from another impl block: its body is not checked.
use ferrex::prelude::*;

#[export_module]
struct Model {}

impl Model {
    fn scale(&self, x: &Tensor) -> Tensor {
        x * 2.0
    }
}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.scale(x).relu()
    }
}

fn main() {}
