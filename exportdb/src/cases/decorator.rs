//! Python wraps `forward` in a decorator that adds 1 to its result. Rust has no
//! decorators on methods; the wrapper is a generic helper taking the wrapped function
//! as a closure, marked `#[ferrex::export_fn]` so that strict export checks its body.
//! Tracing runs through the wrapper and the closure: the graph is `x + y`, then `+ 1`.

use ferrex::prelude::*;

#[ferrex::export_fn]
fn plus_one<F: Fn(&Tensor, &Tensor) -> Tensor>(f: F, x: &Tensor, y: &Tensor) -> Tensor {
    f(x, y) + 1
}

#[export_module]
pub struct Decorator {}

#[export_module]
impl Decorator {
    fn forward(&self, x: &Tensor, y: &Tensor) -> Tensor {
        plus_one(|x, y| x + y, x, y)
    }
}

fn example_inputs() -> (Tensor, Tensor) {
    (Tensor::randn([3, 2]), Tensor::randn([3, 2]))
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(&Decorator {}, example_inputs(), None, vec![])
}

inventory::submit! {
    Case {
        name: "decorator",
        tags: &["rust.generics"],
        verdict: Verdict::Supported,
        file: include_str!("decorator.rs"),
        code: include_str!("decorator.rs"),
        run,
    }
}
