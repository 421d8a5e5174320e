// A helper function that is not `#[ferrex::export_fn]`: strict export cannot see into it.
use ferrex::prelude::*;

fn double(x: &Tensor) -> Tensor {
    x * 2.0
}

#[export_module]
struct Model {}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        double(x).relu()
    }
}

fn main() {}
