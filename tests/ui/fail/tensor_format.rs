// Printing a tensor's values from forward.
use ferrex::prelude::*;

#[export_module]
struct Model {}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        println!("input: {:?}", x);
        let y = x.relu();
        println!("output: {y}");
        y
    }
}

fn main() {}
