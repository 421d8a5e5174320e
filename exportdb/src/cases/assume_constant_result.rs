//! PyTorch's escape hatch `assume_constant_result`: a helper that reads tensor data
//! (`y.item()`, here 4) runs once while exporting and its result is baked into the graph
//! as a constant. In ferrex the helper's call is wrapped in `ferrex::assume_constant(..)`:
//! it sees the example inputs, its ops compute eagerly, and the program lists the value
//! under "Assumed constants" with the line that produced it. The program is then only
//! right for inputs giving the same value, which it does not check (the author's
//! promise, as in PyTorch). Written in non-strict mode: strict export rejects the
//! `.item()` read inside the helper.

use ferrex::prelude::*;

#[export_module]
pub struct AssumeConstantResult {}

#[export_module(strict = false)]
impl AssumeConstantResult {
    fn get_item(&self, y: &Tensor) -> i64 {
        y.item::<i64>().unwrap_or(0)
    }

    fn forward(&self, x: &Tensor, y: &Tensor) -> Tensor {
        let end = ferrex::assume_constant(|| self.get_item(y));
        x.slice(0, None::<i64>, Some(end), 1)
    }
}

fn example_inputs() -> (Tensor, Tensor) {
    (Tensor::randn([3, 2]), Tensor::scalar(4i64))
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(
        &AssumeConstantResult {},
        example_inputs(),
        None,
        vec![(Tensor::randn([3, 2]), Tensor::scalar(4i64))],
    )
}

inventory::submit! {
    Case {
        name: "assume_constant_result",
        tags: &["torch.escape-hatch"],
        verdict: Verdict::Supported,
        file: include_str!("assume_constant_result.rs"),
        code: include_str!("assume_constant_result.rs"),
        run,
    }
}
