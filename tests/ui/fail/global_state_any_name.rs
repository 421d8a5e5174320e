// Global state is found whatever it is named and however it is reached: a lowercase
// static, a path into a module, an alias, a `use` inside the body, a `thread_local!` key.
use ferrex::prelude::*;
use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

static scale_bits: AtomicU32 = AtomicU32::new(0x4000_0000);
static TOTAL: AtomicU64 = AtomicU64::new(1);

mod state {
    pub static level: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1);
    pub static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
}

thread_local! {
    static calls: Cell<f64> = const { Cell::new(0.0) };
}

#[export_module]
struct Model {}

#[export_module]
impl Model {
    fn forward(&self, x: &Tensor) -> Tensor {
        let a = x * f32::from_bits(scale_bits.load(Ordering::Relaxed)) as f64;
        let b = a * state::level.fetch_add(1, Ordering::SeqCst) as f64;
        let total = &TOTAL;
        let c = b * total.load(Ordering::SeqCst) as f64;
        use state::COUNTER as counter;
        let d = c * counter.fetch_add(1, Ordering::SeqCst) as f64;
        d * calls.with(|c| c.get())
    }
}

fn main() {}
