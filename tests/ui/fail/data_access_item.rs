// Reading a value out of a tensor to compute with it.
use ferrex::prelude::*;

#[export_module]
struct Normalize {}

#[export_module]
impl Normalize {
    fn forward(&self, x: &Tensor) -> Tensor {
        let total = x.sum().item::<f64>().unwrap();
        x / total
    }
}

fn main() {}
