//! PyTorch's escape hatch `assume_constant_result` runs a helper on tensor data while
//! exporting (`y.item()`, here 4) and bakes its result into the graph as a constant.
//! ferrex has no such hatch: while exporting, a tensor input has a dtype and a shape
//! but no values. Strict export rejects `.item()` at compile time; non-strict export
//! (used here) traces the helper and fails at the read, with its file, line and code.
//! The honest Rust spelling of "a value fixed at export" is a non-tensor input
//! (`y: i64`): non-tensor inputs are specialised as constants of the program, and each
//! call checks that it gets the same value.

use ferrex::prelude::*;

#[export_module]
pub struct AssumeConstantResult {}

#[export_module(strict = false)]
impl AssumeConstantResult {
    fn get_item(&self, y: &Tensor) -> i64 {
        y.item::<i64>().unwrap_or(0)
    }

    fn forward(&self, x: &Tensor, y: &Tensor) -> Tensor {
        x.slice(0, None::<i64>, Some(self.get_item(y)), 1)
    }
}

fn example_inputs() -> (Tensor, Tensor) {
    (Tensor::randn([3, 2]), Tensor::scalar(4i64))
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_only, Outcome};
use crate::{Case, Rejection, Verdict};

fn run() -> Outcome {
    export_only(&AssumeConstantResult {}, example_inputs(), None)
}

inventory::submit! {
    Case {
        name: "assume_constant_result",
        tags: &["torch.escape-hatch"],
        verdict: Verdict::NotSupported(Rejection::ExportTime),
        file: include_str!("assume_constant_result.rs"),
        code: include_str!("assume_constant_result.rs"),
        run,
    }
}
