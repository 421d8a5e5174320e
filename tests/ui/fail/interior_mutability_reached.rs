// Interior mutability reached other ways than `self.field.set(..)`: a read, a local alias,
// and a `Cell` inside a helper struct field.
use std::cell::{Cell, RefCell};

use ferrex::prelude::*;

struct Stats {
    calls: Cell<u32>,
}

#[export_module]
struct Model {
    #[config]
    stats: Stats,
    history: RefCell<Vec<f64>>,
    scale: Cell<f64>,
}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        let calls = &self.stats.calls;
        calls.set(calls.get() + 1);
        let h = &self.history;
        h.borrow_mut().push(1.0);
        x * self.scale.get()
    }
}

fn main() {}
