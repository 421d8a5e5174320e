// Methods of values of types strict export has not read, reached without a constructor
// call: a unit struct bound in forward, and a `static` of a helper type. Both read a
// counter.
use ferrex::prelude::*;
use std::sync::atomic::{AtomicU32, Ordering};

static SEEN: AtomicU32 = AtomicU32::new(1);

struct Opts;

impl Opts {
    fn gain(&self) -> f64 {
        f64::from(SEEN.fetch_add(1, Ordering::Relaxed))
    }
}

struct Stats {
    hits: AtomicU32,
}

impl Stats {
    fn bump(&self) -> f64 {
        f64::from(self.hits.fetch_add(1, Ordering::Relaxed))
    }
}

static STATE: Stats = Stats { hits: AtomicU32::new(1) };

#[export_module]
struct Model {}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        let o = Opts;
        x * o.gain() * STATE.bump()
    }
}

fn main() {}
