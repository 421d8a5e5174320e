// A macro of the user's, given a tensor: its expansion (here a data read) is not visible.
use ferrex::prelude::*;

macro_rules! first_value {
    ($t:expr) => {
        $t.item::<f32>().unwrap_or(0.0)
    };
}

#[export_module]
struct Model {}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        let v = first_value!(x.sum());
        x * v as f64
    }
}

fn main() {}
