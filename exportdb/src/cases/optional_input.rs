//! An optional input, `y: Option<&Tensor>`, standing for Python's parameter with a
//! tensor default. Whether it is present is structure, decided while exporting: called
//! with `None`, `forward` uses the model's default tensor, a constant field, which
//! the program takes as a `CONSTANT_TENSOR` input (PyTorch lifts the default the same
//! way). The program is specialised to `None`: calling it with a tensor for `y` is
//! rejected by its input check.

use ferrex::prelude::*;

#[export_module]
pub struct OptionalInput {
    default_y: Tensor,
}

#[export_module]
impl OptionalInput {
    fn forward(&self, x: &Tensor, y: Option<&Tensor>) -> Tensor {
        let y = y.unwrap_or(&self.default_y);
        x + y
    }
}

fn model() -> OptionalInput {
    OptionalInput {
        default_y: Tensor::randn([2, 3]),
    }
}

fn example_inputs() -> (Tensor, Option<Tensor>) {
    (Tensor::randn([2, 3]), None)
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(&model(), example_inputs(), None, vec![])
}

inventory::submit! {
    Case {
        name: "optional_input",
        tags: &["python.object-model", "rust.option"],
        verdict: Verdict::Supported,
        file: include_str!("optional_input.rs"),
        code: include_str!("optional_input.rs"),
        run,
    }
}
