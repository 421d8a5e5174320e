//! An `if` on a size (`x.size(0) == 3`) is decided while exporting: the taken branch
//! (`cos`) is traced and the other dropped. As in PyTorch's example, the sizes of `x`
//! are static here, so the program accepts only `[3, 2, 2]` inputs anyway. Declared
//! dynamic (`Dim::new("batch")`), the first dimension would be specialised by the
//! comparison and the export would fail with "batch = x.size()[0] was marked dynamic,
//! but the program specialised it to the constant 3 (guard x.size()[0] == 3)"; a
//! condition that only bounds the size (`x.size(0) > 2`) keeps it dynamic, given a
//! `Dim` whose range satisfies it (`.min(3)`).

use ferrex::prelude::*;

#[export_module]
pub struct DynamicShapeIfGuard {}

#[export_module]
impl DynamicShapeIfGuard {
    fn forward(&self, x: &Tensor) -> Tensor {
        if x.size(0) == 3 {
            return x.cos();
        }
        x.sin()
    }
}

fn example_inputs() -> (Tensor,) {
    (Tensor::randn([3, 2, 2]),)
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(&DynamicShapeIfGuard {}, example_inputs(), None, vec![])
}

inventory::submit! {
    Case {
        name: "dynamic_shape_if_guard",
        tags: &["python.control-flow", "torch.dynamic-shape"],
        verdict: Verdict::Supported,
        file: include_str!("dynamic_shape_if_guard.rs"),
        code: include_str!("dynamic_shape_if_guard.rs"),
        run,
    }
}
