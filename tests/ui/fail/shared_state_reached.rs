// State shared between calls reached where syntax cannot place it: an element and a field
// of a static, a `self::` path, the model through an alias, a method returning a cell, a
// deref of an `Arc`. The compiler tells by type that each receiver holds shared state.
use ferrex::prelude::*;
use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

static SCALE: [AtomicU32; 2] = [AtomicU32::new(1), AtomicU32::new(1)];
struct Stats {
    hits: AtomicU32,
}
static STATE: Stats = Stats { hits: AtomicU32::new(1) };
static COUNTER: AtomicU32 = AtomicU32::new(1);

#[export_module]
struct Model {
    #[config]
    calls: Cell<u32>,
    #[config]
    hits: Arc<AtomicU32>,
}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        let a = SCALE[0].fetch_add(1, Ordering::Relaxed) + STATE.hits.load(Ordering::Relaxed);
        let b = self::COUNTER.fetch_add(1, Ordering::Relaxed);
        let s = self;
        s.calls.set(2);
        let c = self.cell().get() + (*self.hits).load(Ordering::Relaxed);
        x * f64::from(a + b + c)
    }

    fn cell(&self) -> &Cell<u32> {
        &self.calls
    }
}

fn main() {}
