// The body of a `#[ferrex::export_fn]` helper is checked like forward's.
use ferrex::prelude::*;

#[ferrex::export_fn]
fn clip(x: &Tensor) -> Tensor {
    let max = x.amax(&[], false).item::<f64>().unwrap();
    x / max
}

#[export_module]
struct Model {}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        clip(x).relu()
    }
}

fn main() {}
