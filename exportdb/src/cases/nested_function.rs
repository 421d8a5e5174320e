//! A closure defined in `forward` that captures tensors of the enclosing scope and
//! mutates one of them in place (Python's `nonlocal x; x += 1`). `Tensor` is a shared
//! handle, so the closure captures `x` by reference and `x.add_(1)` updates it for
//! every alias — including the argument `y`, which *is* `x` — as in Python. The
//! in-place add is recorded by its functional form, and later uses read its result.

use ferrex::prelude::*;

#[export_module]
pub struct NestedFunction {}

#[export_module]
impl NestedFunction {
    fn forward(&self, a: &Tensor, b: &Tensor) -> Tensor {
        let x = a + b;
        let z = a - b;
        let closure = |y: &Tensor| {
            x.add_(1);
            &x * y + &z
        };
        closure(&x)
    }
}

fn example_inputs() -> (Tensor, Tensor) {
    (Tensor::randn([3, 2]), Tensor::randn([2]))
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(&NestedFunction {}, example_inputs(), None, vec![])
}

inventory::submit! {
    Case {
        name: "nested_function",
        tags: &["python.closure"],
        verdict: Verdict::Supported,
        file: include_str!("nested_function.rs"),
        code: include_str!("nested_function.rs"),
        run,
    }
}
