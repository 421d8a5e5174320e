//! A tensor constructor whose size is computed from an input's size:
//! `Tensor::zeros([x.size(0) * 2])`. With `x`'s first dimension dynamic, the
//! constructor keeps the symbolic size (`mul = sym_size_int * 2`, then
//! `aten::zeros.default([mul])`), so the program builds the right size for every input.

use ferrex::prelude::*;
use ferrex::{Dim, DynamicShapes};

#[export_module]
pub struct DynamicShapeConstructor {}

#[export_module]
impl DynamicShapeConstructor {
    fn forward(&self, x: &Tensor) -> Tensor {
        Tensor::zeros([x.size(0) * 2])
    }
}

fn example_inputs() -> (Tensor,) {
    (Tensor::randn([3, 2]),)
}

fn dynamic_shapes() -> DynamicShapes {
    DynamicShapes::new().input("x", [(0, Dim::new("batch"))])
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(
        &DynamicShapeConstructor {},
        example_inputs(),
        Some(dynamic_shapes()),
        vec![(Tensor::randn([5, 2]),)],
    )
}

inventory::submit! {
    Case {
        name: "dynamic_shape_constructor",
        tags: &["torch.dynamic-shape"],
        verdict: Verdict::Supported,
        file: include_str!("dynamic_shape_constructor.rs"),
        code: include_str!("dynamic_shape_constructor.rs"),
        run,
    }
}
