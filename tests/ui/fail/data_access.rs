// The tutorial's Bad2: writing through `.data`.
use ferrex::prelude::*;

#[export_module]
struct Bad2 {}

#[export_module]
impl Bad2 {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.data().set_item_(&[0, 0], 3.0);
        x.clone()
    }
}

fn main() {}
