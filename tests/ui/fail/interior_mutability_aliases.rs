// Interior mutability reached through a local alias of a helper, an element of a field,
// and an atomic in a helper struct.
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use ferrex::prelude::*;

struct Counters {
    calls: Cell<u32>,
    seen: AtomicU64,
}

#[export_module]
struct Model {
    #[config]
    counters: Counters,
    #[config]
    cells: Vec<Cell<f64>>,
}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        let c = &self.counters;
        c.calls.set(1);
        self.counters.seen.fetch_add(1, Ordering::Relaxed);
        x * self.cells[0].get()
    }
}

fn main() {}
