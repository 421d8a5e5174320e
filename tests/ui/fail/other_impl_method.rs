// Methods of the model that forward calls from outside the `#[export_module]` block: a
// plain `impl` block (with or without a tensor argument, also as `Self::m`). Strict export
// has not read them.
use ferrex::prelude::*;
use std::cell::Cell;

#[export_module]
struct Model {
    #[config]
    calls: Cell<f64>,
}

impl Model {
    fn bump(&self) -> f64 {
        self.calls.set(self.calls.get() + 1.0);
        self.calls.get()
    }

    fn act(&self, x: &Tensor) -> Tensor {
        x.sigmoid()
    }
}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        let y = x.relu() * self.bump();
        Self::act(self, &y)
    }
}

fn main() {}
