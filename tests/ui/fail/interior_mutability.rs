// A model attribute mutated through a `Cell`.
use std::cell::Cell;

use ferrex::prelude::*;

#[export_module]
struct Model {
    calls: Cell<u32>,
}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.calls.set(self.calls.get() + 1);
        x * self.calls.get() as f64
    }
}

fn main() {}
