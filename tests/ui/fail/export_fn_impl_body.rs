// A helper type's impl marked `#[ferrex::export_fn]`: its methods are checked like forward.
use ferrex::prelude::*;

struct Gate {
    threshold: f32,
}

#[ferrex::export_fn]
impl Gate {
    fn apply(&self, x: &Tensor) -> Tensor {
        if x.mean().item::<f32>().unwrap_or(0.0) > self.threshold {
            x.relu()
        } else {
            x.clone()
        }
    }
}

#[export_module]
struct Model {
    gate: Gate,
}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.gate.apply(x)
    }
}

fn main() {}
