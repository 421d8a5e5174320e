// A function strict export cannot read, given no tensor, whose result forward uses: a
// helper that reads a global, an associated function of an unmarked type, and the same
// inside an `#[export_fn]` body. Each needs a marker, or its result is frozen into the
// graph.
use ferrex::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};

static CALLS: AtomicUsize = AtomicUsize::new(0);

fn gain() -> f64 {
    CALLS.load(Ordering::Relaxed) as f64 + 1.0
}

struct Clock;

impl Clock {
    fn ticks() -> f64 {
        2.0
    }
}

#[ferrex::export_fn]
fn scaled(x: &Tensor) -> Tensor {
    x * gain()
}

#[export_module]
struct Model {}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        let y = scaled(x) * gain();
        y * Clock::ticks()
    }
}

fn main() {}
