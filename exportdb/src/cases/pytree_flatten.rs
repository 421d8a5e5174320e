//! Nested tuples and structs of tensors, in and out. Inputs are flattened into leaves
//! named by their path (`x_0_0`, `x_0_1`, `x_1`), outputs into the program's outputs in
//! order: ferrex's `Inputs`/`Outputs` traits are PyTorch's pytree. Flattening the input
//! in `forward` is plain Rust (a destructuring pattern), and only the first leaf is
//! computed with, as in PyTorch's `tree_flatten(x)[0][0] + 1`.

use ferrex::prelude::*;

#[export_module]
pub struct PytreeFlatten {}

#[export_module]
impl PytreeFlatten {
    fn forward(&self, x: ((Tensor, Tensor), Tensor)) -> (Tensor, (Tensor, Tensor)) {
        let ((a, b), c) = x;
        let leaves = [a, b, c];
        let first = &leaves[0] + 1;
        (first.clone(), (first * 2, leaves[2].relu()))
    }
}

fn example_inputs() -> (((Tensor, Tensor), Tensor),) {
    let r = || Tensor::randn([3, 2]);
    (((r(), r()), r()),)
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(&PytreeFlatten {}, example_inputs(), None, vec![])
}

inventory::submit! {
    Case {
        name: "pytree_flatten",
        tags: &["rust.pattern"],
        verdict: Verdict::Supported,
        file: include_str!("pytree_flatten.rs"),
        code: include_str!("pytree_flatten.rs"),
        run,
    }
}
