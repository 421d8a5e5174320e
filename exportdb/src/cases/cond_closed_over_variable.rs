//! A `cond!` on a tensor predicate (a `bool` tensor input) whose branches ignore their
//! operand and read `x` from the enclosing scope instead. Both branches are traced into
//! subgraphs of one `cond` node; the captured `x` becomes an extra operand of the node
//! (after the declared operand `x + 1`), so the program runs either branch on the
//! values of each call.

use ferrex::cond;
use ferrex::prelude::*;

#[export_module]
pub struct CondClosedOverVariable {}

#[export_module]
impl CondClosedOverVariable {
    fn forward(&self, pred: &Tensor, x: &Tensor) -> Tensor {
        cond!(pred, |_val| x * 2, |_val| x - 2, [x + 1])
    }
}

fn example_inputs() -> (Tensor, Tensor) {
    (Tensor::scalar(true), Tensor::randn([3, 2]))
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(
        &CondClosedOverVariable {},
        example_inputs(),
        None,
        vec![(Tensor::scalar(false), Tensor::randn([3, 2]))],
    )
}

inventory::submit! {
    Case {
        name: "cond_closed_over_variable",
        tags: &["python.closure", "torch.cond"],
        verdict: Verdict::Supported,
        file: include_str!("cond_closed_over_variable.rs"),
        code: include_str!("cond_closed_over_variable.rs"),
        run,
    }
}
