//! `assert!` on sizes: while exporting, sizes are known, so the assertion is checked
//! then, and on a dynamic dimension each comparison is recorded as a guard of the
//! program. Here `x`'s first dimension is declared with `Dim::new("batch").min(3)`, so
//! both asserts (`> 2`, `> 1`) hold over the whole range and the program is valid for
//! every batch size from 3 up; a call with 2 rows is rejected by the input check. (Asserts
//! on tensor *data* are a compile-time graph break: see `panic_on_tensor_data`.)

use ferrex::prelude::*;
use ferrex::{Dim, DynamicShapes};

#[export_module]
pub struct DynamicShapeAssert {}

#[export_module]
impl DynamicShapeAssert {
    fn forward(&self, x: &Tensor) -> Tensor {
        assert!(x.size(0) > 2, "{} is greater than 2", x.size(0));
        assert!(x.size(0) > 1);
        x.clone()
    }
}

fn example_inputs() -> (Tensor,) {
    (Tensor::randn([3, 2]),)
}

fn dynamic_shapes() -> DynamicShapes {
    DynamicShapes::new().input("x", [(0, Dim::new("batch").min(3))])
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(
        &DynamicShapeAssert {},
        example_inputs(),
        Some(dynamic_shapes()),
        vec![(Tensor::randn([9, 2]),)],
    )
}

inventory::submit! {
    Case {
        name: "dynamic_shape_assert",
        tags: &["python.assert"],
        verdict: Verdict::Supported,
        file: include_str!("dynamic_shape_assert.rs"),
        code: include_str!("dynamic_shape_assert.rs"),
        run,
    }
}
