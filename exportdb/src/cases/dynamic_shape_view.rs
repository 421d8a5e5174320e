//! `view` with a shape built from the input's symbolic sizes: all sizes but the last,
//! then `[2, 5]`. `x.sizes()` is a `Vec<SymInt>`; with the first dimension dynamic the
//! new shape keeps its symbol, and `permute` follows.

use ferrex::prelude::*;
use ferrex::{Dim, DynamicShapes};

#[export_module]
pub struct DynamicShapeView {}

#[export_module]
impl DynamicShapeView {
    fn forward(&self, x: &Tensor) -> Tensor {
        let mut new_shape = x.sizes();
        new_shape.pop();
        new_shape.extend([SymInt::from(2), SymInt::from(5)]);
        x.view(&new_shape).permute(&[0, 2, 1])
    }
}

fn example_inputs() -> (Tensor,) {
    (Tensor::randn([10, 10]),)
}

fn dynamic_shapes() -> DynamicShapes {
    DynamicShapes::new().input("x", [(0, Dim::new("batch"))])
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(
        &DynamicShapeView {},
        example_inputs(),
        Some(dynamic_shapes()),
        vec![(Tensor::randn([4, 10]),)],
    )
}

inventory::submit! {
    Case {
        name: "dynamic_shape_view",
        tags: &["torch.dynamic-shape"],
        verdict: Verdict::Supported,
        file: include_str!("dynamic_shape_view.rs"),
        code: include_str!("dynamic_shape_view.rs"),
        run,
    }
}
