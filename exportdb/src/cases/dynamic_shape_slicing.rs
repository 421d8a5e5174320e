//! Slices whose bounds are computed from sizes (`x.size(0) - 2`, `x.size(1) - 1`) and
//! that step by 2. With both dimensions of `x` dynamic, the bounds stay expressions
//! over the size symbols in the graph, and so do the sizes of the results.

use ferrex::prelude::*;
use ferrex::{Dim, DynamicShapes};

#[export_module]
pub struct DynamicShapeSlicing {}

#[export_module]
impl DynamicShapeSlicing {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.slice(0, None::<i64>, Some(x.size(0) - 2), 1).slice(
            1,
            Some(x.size(1) - 1),
            None::<i64>,
            2,
        )
    }
}

fn example_inputs() -> (Tensor,) {
    (Tensor::randn([3, 2]),)
}

fn dynamic_shapes() -> DynamicShapes {
    DynamicShapes::new().input(
        "x",
        [(0, Dim::new("rows").min(2)), (1, Dim::new("cols").min(1))],
    )
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(
        &DynamicShapeSlicing {},
        example_inputs(),
        Some(dynamic_shapes()),
        vec![(Tensor::randn([7, 6]),)],
    )
}

inventory::submit! {
    Case {
        name: "dynamic_shape_slicing",
        tags: &["torch.dynamic-shape"],
        verdict: Verdict::Supported,
        file: include_str!("dynamic_shape_slicing.rs"),
        code: include_str!("dynamic_shape_slicing.rs"),
        run,
    }
}
