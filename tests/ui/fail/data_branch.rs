// The tutorial's Bad1: an `if` on the value of a tensor.
use ferrex::prelude::*;

#[export_module]
struct Bad1 {}

#[export_module]
impl Bad1 {
    fn forward(&self, x: &Tensor) -> Tensor {
        if x.sum().item::<f32>().unwrap() > 0.0 {
            return x.sin();
        }
        x.cos()
    }
}

fn main() {}
