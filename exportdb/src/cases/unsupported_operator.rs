//! PyTorch's `torch.sym_min(x.size(0), 100)`: the minimum of a size and a constant. In
//! Rust it is `SymInt::min`, which stays symbolic on a symbolic size. Used as a scalar
//! operand of a tensor op it must become a number: `guard_int()` gives its value,
//! here the static size 3, so the graph adds the constant 3, as PyTorch's does.
//! (With `x`'s first dimension declared dynamic, `guard_int()` would specialise it:
//! ferrex has no tensor op taking a symbolic scalar operand.)

use ferrex::prelude::*;

#[export_module]
pub struct TorchSymMin {}

#[export_module]
impl TorchSymMin {
    fn forward(&self, x: &Tensor) -> Tensor {
        let bound = x.size(0).min(&SymInt::from(100));
        x.sum() + bound.guard_int()
    }
}

fn example_inputs() -> (Tensor,) {
    (Tensor::randn([3, 2]),)
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(&TorchSymMin {}, example_inputs(), None, vec![])
}

inventory::submit! {
    Case {
        name: "unsupported_operator",
        tags: &["torch.operator"],
        verdict: Verdict::Supported,
        file: include_str!("unsupported_operator.rs"),
        code: include_str!("unsupported_operator.rs"),
        run,
    }
}
