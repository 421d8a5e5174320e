// `is_traced` is true while exporting and false when the model runs: a branch on it makes
// the program differ from the model.
use ferrex::prelude::*;

#[export_module]
struct Model {}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        if x.is_traced() {
            x.relu()
        } else {
            x.sigmoid()
        }
    }
}

fn main() {}
