// forward takes `&mut self` to update a model attribute.
use ferrex::prelude::*;

#[export_module]
struct Model {
    calls: u32,
}

#[export_module]
impl Model {
    fn forward(&mut self, x: &Tensor) -> Tensor {
        self.calls += 1;
        x.relu()
    }
}

fn main() {}
