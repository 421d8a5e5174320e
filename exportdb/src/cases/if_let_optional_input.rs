//! `if let Some(bias) = bias` on an optional input: whether the input is present is
//! structure, decided while exporting, so the branch for `Some` is traced and the bias
//! is an input of the program. A program exported with `Some` expects a tensor for
//! `bias` on every call; one exported with `None` expects `None`.

use ferrex::prelude::*;

#[export_module]
pub struct IfLetOptionalInput {}

#[export_module]
impl IfLetOptionalInput {
    fn forward(&self, x: &Tensor, bias: Option<&Tensor>) -> Tensor {
        let y = x.matmul(&x.t());
        if let Some(bias) = bias {
            return y + bias;
        }
        y
    }
}

fn example_inputs() -> (Tensor, Option<Tensor>) {
    (Tensor::randn([3, 2]), Some(Tensor::randn([3])))
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(&IfLetOptionalInput {}, example_inputs(), None, vec![])
}

inventory::submit! {
    Case {
        name: "if_let_optional_input",
        tags: &["python.control-flow", "rust.option", "rust.pattern"],
        verdict: Verdict::Supported,
        file: include_str!("if_let_optional_input.rs"),
        code: include_str!("if_let_optional_input.rs"),
        run,
    }
}
