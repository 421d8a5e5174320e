// ExportDB `interior_mutability`: model attributes mutated through `Cell` and `RefCell`
// from `forward(&self)`.
use std::cell::{Cell, RefCell};

use ferrex::prelude::*;

#[export_module]
struct InteriorMutability {
    calls: Cell<u32>,
    seen_ranks: RefCell<Vec<usize>>,
}

#[export_module]
impl InteriorMutability {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.calls.set(self.calls.get() + 1);
        self.seen_ranks.borrow_mut().push(x.dim());
        x * self.calls.get() as f64
    }
}

fn main() {}
