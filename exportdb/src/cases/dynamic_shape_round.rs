//! Rounding a symbolic size. PyTorch's `x[: round(x.shape[0] / 2)]` fails to export
//! (symbolic floats do not round). Sizes in ferrex are integers (`SymInt`), and Rust
//! spells the rounding in integer arithmetic: for a size `n >= 0`,
//! `(n as f64 / 2.0).round()` (half away from zero) is `(n + 1) / 2`, and `/` on a
//! `SymInt` is floor division, which stays symbolic. The slice keeps the expression
//! `(s0 + 1)//2` as its bound, and the program is valid for every size of `x`'s first
//! dimension. (Python's `round` rounds half to even; `(n + 1) / 2` rounds half up, as
//! Rust's `f64::round` does.)

use ferrex::prelude::*;
use ferrex::{Dim, DynamicShapes};

#[export_module]
pub struct DynamicShapeRound {}

#[export_module]
impl DynamicShapeRound {
    fn forward(&self, x: &Tensor) -> Tensor {
        let half = (x.size(0) + 1) / 2;
        x.slice(0, None::<i64>, Some(half), 1)
    }
}

fn example_inputs() -> (Tensor,) {
    (Tensor::randn([3, 2]),)
}

fn dynamic_shapes() -> DynamicShapes {
    DynamicShapes::new().input("x", [(0, Dim::new("dim0_x"))])
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(
        &DynamicShapeRound {},
        example_inputs(),
        Some(dynamic_shapes()),
        vec![(Tensor::randn([8, 2]),), (Tensor::randn([1, 2]),)],
    )
}

inventory::submit! {
    Case {
        name: "dynamic_shape_round",
        tags: &["python.builtin", "torch.dynamic-shape"],
        verdict: Verdict::Supported,
        file: include_str!("dynamic_shape_round.rs"),
        code: include_str!("dynamic_shape_round.rs"),
        run,
    }
}
