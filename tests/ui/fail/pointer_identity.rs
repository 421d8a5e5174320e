// The tutorial's Bad3: Python's `id(x)` is `x.id()`.
use ferrex::prelude::*;

#[export_module]
struct Bad3 {}

#[export_module]
impl Bad3 {
    fn forward(&self, x: &Tensor) -> Tensor {
        let x = x + 1.0;
        &x + x.id() as f64
    }
}

fn main() {}
