// An assert on the values of a tensor (asserts on sizes are allowed).
use ferrex::prelude::*;

#[export_module]
struct Model {}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        assert!(x.sum().item::<f32>().unwrap() > 0.0, "x must be positive");
        x.relu()
    }
}

fn main() {}
