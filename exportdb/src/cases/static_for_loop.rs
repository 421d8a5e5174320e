//! A loop with a constant trip count is unrolled while exporting: ten `add` nodes, each
//! with its own constant, and a `Vec<Tensor>` output of ten tensors.

use ferrex::prelude::*;

#[export_module]
pub struct StaticForLoop {}

#[export_module]
impl StaticForLoop {
    fn forward(&self, x: &Tensor) -> Vec<Tensor> {
        let mut ret = Vec::new();
        for i in 0..10i64 {
            ret.push(i + x);
        }
        ret
    }
}

fn example_inputs() -> (Tensor,) {
    (Tensor::randn([3, 2]),)
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(&StaticForLoop {}, example_inputs(), None, vec![])
}

inventory::submit! {
    Case {
        name: "static_for_loop",
        tags: &["python.control-flow"],
        verdict: Verdict::Supported,
        file: include_str!("static_for_loop.rs"),
        code: include_str!("static_for_loop.rs"),
        run,
    }
}
