// Global state reached from forward: a `thread_local!` counter, a `static` atomic, a
// `static` lock, and a `thread_local!` declared in the body.
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use ferrex::prelude::*;

thread_local! {
    static CALLS: Cell<u32> = const { Cell::new(0) };
}

static SEEN: AtomicUsize = AtomicUsize::new(0);
static LAST_SCALE: Mutex<f64> = Mutex::new(1.0);

#[export_module]
struct Model {}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        CALLS.with(|c| c.set(c.get() + 1));
        let n = SEEN.fetch_add(1, Ordering::Relaxed);
        let scale = LAST_SCALE.lock().map(|s| *s).unwrap_or(1.0);
        thread_local! {
            static LOCAL: Cell<u32> = const { Cell::new(0) };
        }
        x * (n as f64 + scale)
    }
}

fn main() {}
