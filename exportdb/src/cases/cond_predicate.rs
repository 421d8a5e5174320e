//! The predicate of `cond!` is a one-element tensor or a `bool`. Here it is a `bool`
//! computed from the shape (`x.dim() > 2 && x.size(2) > 10`): sizes are known while
//! exporting, so the predicate picks the branch at export time and only the taken
//! branch (`sin`) is in the graph, as PyTorch specialises a Python bool. A one-element
//! tensor predicate (`x.sum().gt(0.0)`) would instead record one `cond` node with both
//! branches as subgraphs.

use ferrex::cond;
use ferrex::prelude::*;

#[export_module]
pub struct CondPredicate {}

#[export_module]
impl CondPredicate {
    fn forward(&self, x: &Tensor) -> Tensor {
        let pred = x.dim() > 2 && x.size(2) > 10;
        cond!(pred, |x| x.cos(), |y| y.sin(), [x])
    }
}

fn example_inputs() -> (Tensor,) {
    (Tensor::randn([6, 4, 3]),)
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(&CondPredicate {}, example_inputs(), None, vec![])
}

inventory::submit! {
    Case {
        name: "cond_predicate",
        tags: &["torch.cond", "torch.dynamic-shape"],
        verdict: Verdict::Supported,
        file: include_str!("cond_predicate.rs"),
        code: include_str!("cond_predicate.rs"),
        run,
    }
}
