//! Rebinding a name with `let` (shadowing) — to a new tensor, or from a tensor to a
//! plain value and back — is ordinary Rust: strict export follows what each binding
//! holds, and tracing records each op once. Shadowing does not mutate: the first `x`
//! is still the input.

use ferrex::prelude::*;

#[export_module]
pub struct Shadowing {}

#[export_module]
impl Shadowing {
    fn forward(&self, x: &Tensor) -> Tensor {
        let input = x;
        let x = x + 1;
        let x = x.relu();
        let scale = x.dim();
        let scale = scale as f64 * 0.5;
        let x = (x * scale, input.sin());
        let (x, y) = x;
        x + y
    }
}

fn example_inputs() -> (Tensor,) {
    (Tensor::randn([2, 3]),)
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(&Shadowing {}, example_inputs(), None, vec![])
}

inventory::submit! {
    Case {
        name: "shadowing",
        tags: &["rust.shadowing"],
        verdict: Verdict::Supported,
        file: include_str!("shadowing.rs"),
        code: include_str!("shadowing.rs"),
        run,
    }
}
