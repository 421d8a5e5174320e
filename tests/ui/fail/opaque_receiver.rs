// Methods of types strict export cannot see into, given a tensor: a helper held in a field,
// a helper built inside forward, one reached through a loop over a field, and a helper's
// `forward` called through its type.
use ferrex::prelude::*;

struct Scaler {
    by: f64,
}

impl Scaler {
    fn apply(&self, x: &Tensor) -> Tensor {
        x * self.by
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        self.apply(x)
    }
}

#[export_module]
struct Model {
    scaler: Scaler,
    stages: Vec<Scaler>,
}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        let y = self.scaler.apply(x);
        let local = Scaler { by: 3.0 };
        let mut z = local.apply(&y);
        for s in &self.stages {
            z = s.apply(&z);
        }
        Scaler::forward(&self.scaler, &z)
    }
}

fn main() {}
