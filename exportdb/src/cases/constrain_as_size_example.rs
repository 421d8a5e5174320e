//! A size read out of a tensor with `x.sym_item()` (PyTorch's `x.item()`), bounded with
//! `ferrex::check_is_size(&a)` and `ferrex::check(a.sym_le(5))` (PyTorch's
//! `torch._check_is_size(a)` and `torch._check(a <= 5)`), then used to build a tensor
//! (`Tensor::zeros([a, 5])`). While exporting, the value is an *unbacked* symbol `u0`: no
//! example value, the range `[0, 5]` from the checks. The program reads it with
//! `aten::item` and checks the bounds with `aten::_assert_scalar` each time it runs.
//!
//! Strict: `sym_item()` is a symbolic value, not data; only branching on it is rejected.

use ferrex::prelude::*;

#[export_module]
pub struct ConstrainAsSizeExample {}

#[export_module]
impl ConstrainAsSizeExample {
    fn forward(&self, x: &Tensor) -> Tensor {
        let a = match x.sym_item() {
            Ok(a) => a,
            Err(e) => return Tensor::from_error(e),
        };
        ferrex::check_is_size(&a);
        ferrex::check(a.sym_le(5));
        Tensor::zeros([a, SymInt::from(5)])
    }
}

fn example_inputs() -> (Tensor,) {
    (Tensor::scalar(4i64),)
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(
        &ConstrainAsSizeExample {},
        example_inputs(),
        None,
        vec![(Tensor::scalar(0i64),), (Tensor::scalar(5i64),)],
    )
}

inventory::submit! {
    Case {
        name: "constrain_as_size_example",
        tags: &["torch.dynamic-value", "torch.escape-hatch"],
        verdict: Verdict::Supported,
        file: include_str!("constrain_as_size_example.rs"),
        code: include_str!("constrain_as_size_example.rs"),
        run,
    }
}
