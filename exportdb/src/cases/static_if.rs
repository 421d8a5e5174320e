//! A branch on a value known while exporting (here the rank, `x.dim() == 3`) is
//! decided then: the taken branch is traced into the graph and the other is dropped.
//! The rank is fixed by the program's input checks, so no guard is needed.

use ferrex::prelude::*;

#[export_module]
pub struct StaticIf {}

#[export_module]
impl StaticIf {
    fn forward(&self, x: &Tensor) -> Tensor {
        if x.dim() == 3 {
            return x + Tensor::ones([1, 1, 1]);
        }
        x.clone()
    }
}

fn example_inputs() -> (Tensor,) {
    (Tensor::randn([3, 2, 2]),)
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(&StaticIf {}, example_inputs(), None, vec![])
}

inventory::submit! {
    Case {
        name: "static_if",
        tags: &["python.control-flow"],
        verdict: Verdict::Supported,
        file: include_str!("static_if.rs"),
        code: include_str!("static_if.rs"),
        run,
    }
}
