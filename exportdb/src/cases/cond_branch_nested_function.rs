//! `cond!` branches that call functions nested in `forward`: local `fn` items, which in
//! turn call closures capturing their arguments. Local items are part of the body, so
//! strict export checks them; tracing runs through them. The predicate
//! `x.size(0) < 10` is known while exporting, so the true branch (`x + x`) is traced.

use ferrex::cond;
use ferrex::prelude::*;

#[export_module]
pub struct CondBranchNestedFunction {}

#[export_module]
impl CondBranchNestedFunction {
    fn forward(&self, x: &Tensor) -> Tensor {
        fn true_fn(x: &Tensor) -> Tensor {
            let inner_true_fn = |y: &Tensor| x + y;
            inner_true_fn(x)
        }
        fn false_fn(x: &Tensor) -> Tensor {
            let inner_false_fn = |y: &Tensor| x - y;
            inner_false_fn(x)
        }
        cond!(x.size(0) < 10, |x| true_fn(&x), |x| false_fn(&x), [x])
    }
}

fn example_inputs() -> (Tensor,) {
    (Tensor::randn([3]),)
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(&CondBranchNestedFunction {}, example_inputs(), None, vec![])
}

inventory::submit! {
    Case {
        name: "cond_branch_nested_function",
        tags: &["torch.cond", "torch.dynamic-shape"],
        verdict: Verdict::Supported,
        file: include_str!("cond_branch_nested_function.rs"),
        code: include_str!("cond_branch_nested_function.rs"),
        run,
    }
}
