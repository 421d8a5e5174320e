//! `forward` returns a size, not a tensor: `x.size(1) + 1` is a `SymInt`. With `x`'s
//! second dimension dynamic, the output is the expression `s0 + 1`, evaluated from the
//! input's size when the program runs (it returns it as an `i64` scalar tensor).

use ferrex::prelude::*;
use ferrex::{Dim, DynamicShapes};

#[export_module]
pub struct ScalarOutput {}

#[export_module]
impl ScalarOutput {
    fn forward(&self, x: &Tensor) -> SymInt {
        x.size(1) + 1
    }
}

fn example_inputs() -> (Tensor,) {
    (Tensor::randn([3, 2]),)
}

fn dynamic_shapes() -> DynamicShapes {
    DynamicShapes::new().input("x", [(1, Dim::new("dim1_x"))])
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(
        &ScalarOutput {},
        example_inputs(),
        Some(dynamic_shapes()),
        vec![(Tensor::randn([3, 7]),)],
    )
}

inventory::submit! {
    Case {
        name: "scalar_output",
        tags: &["torch.dynamic-shape"],
        verdict: Verdict::Supported,
        file: include_str!("scalar_output.rs"),
        code: include_str!("scalar_output.rs"),
        run,
    }
}
