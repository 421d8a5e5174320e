//! A value read out of a tensor with `x.sym_item()`, bounded with `ferrex::check`, then
//! an `if` that the bounds decide: `a < 6` holds for every `a` in `[0, 5]`, so the
//! export keeps the `sin` branch without a guard, and the program checks the bounds
//! (`aten::_assert_scalar`) when it runs. A comparison the bounds do not decide (`a < 3`)
//! is an export error naming the `ferrex::check` that would decide it; a branch on the
//! value itself is written with `cond!`.
//!
//! Non-strict: strict mode rejects `if a < 6`, as syntax cannot see the checked range.

use ferrex::prelude::*;

#[export_module]
pub struct ConstrainAsValueExample {}

#[export_module(strict = false)]
impl ConstrainAsValueExample {
    fn forward(&self, x: &Tensor, y: &Tensor) -> Tensor {
        let a = match x.sym_item() {
            Ok(a) => a,
            Err(e) => return Tensor::from_error(e),
        };
        ferrex::check(a.sym_ge(0));
        ferrex::check(a.sym_le(5));
        if a < 6 {
            return y.sin();
        }
        y.cos()
    }
}

fn example_inputs() -> (Tensor, Tensor) {
    (Tensor::scalar(4i64), Tensor::randn([5, 5]))
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(
        &ConstrainAsValueExample {},
        example_inputs(),
        None,
        vec![(Tensor::scalar(0i64), Tensor::randn([5, 5]))],
    )
}

inventory::submit! {
    Case {
        name: "constrain_as_value_example",
        tags: &["torch.dynamic-value", "torch.escape-hatch"],
        verdict: Verdict::Supported,
        file: include_str!("constrain_as_value_example.rs"),
        code: include_str!("constrain_as_value_example.rs"),
        run,
    }
}
