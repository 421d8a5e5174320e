//! A `loop` whose `break` is decided by a size: halve the sequence (`[::2]` along the
//! first dimension) until at most 4 rows are left. Sizes are known while exporting, so
//! the loop is unrolled as many times as the example's size needs (three times for 20
//! rows), and with the first dimension dynamic each size comparison is a guard. The
//! dimension is declared `Dim::new("seq").min(17).max(32)`, the range on which the loop
//! runs three times; declared `[0, int_oo]`, the first comparison (`x.size()[0] > 4`)
//! would be reported as a constraint violation with the fix `.min(5)`, and the later
//! ones (on `(s0 + 1) // 2`, …) are checked when the program runs.

use ferrex::prelude::*;
use ferrex::{Dim, DynamicShapes};

#[export_module]
pub struct LoopWithShapeBreak {}

#[export_module]
impl LoopWithShapeBreak {
    fn forward(&self, x: &Tensor) -> Tensor {
        let mut h = x.clone();
        loop {
            if h.size(0) <= 4 {
                break;
            }
            h = h.slice(0, None::<i64>, None::<i64>, 2);
        }
        h.sum_dim(&[0], false)
    }
}

fn example_inputs() -> (Tensor,) {
    (Tensor::randn([20, 3]),)
}

fn dynamic_shapes() -> DynamicShapes {
    DynamicShapes::new().input("x", [(0, Dim::new("seq").min(17).max(32))])
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(
        &LoopWithShapeBreak {},
        example_inputs(),
        Some(dynamic_shapes()),
        vec![(Tensor::randn([32, 3]),), (Tensor::randn([17, 3]),)],
    )
}

inventory::submit! {
    Case {
        name: "loop_with_shape_break",
        tags: &["python.control-flow", "torch.dynamic-shape", "rust.loop"],
        verdict: Verdict::Supported,
        file: include_str!("loop_with_shape_break.rs"),
        code: include_str!("loop_with_shape_break.rs"),
        run,
    }
}
