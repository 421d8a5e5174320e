// `forward` must name what it returns: export stores it as the program's output type.
use ferrex::prelude::*;

#[export_module]
struct Model {}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> impl Into<Tensor> {
        x.relu()
    }
}

fn main() {}
