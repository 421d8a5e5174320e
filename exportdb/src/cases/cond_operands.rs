//! `cond!` operands are a list of tensors matching the branches' parameters
//! (`[x, y]` for `|x, y|`). PyTorch's example branches on `x.shape[0] > 2` with `x`'s
//! first dimension dynamic, and keeps the symbolic predicate in its `cond` node. In
//! ferrex, `x.size(0).sym_gt(2)` is that symbolic comparison (a `SymBool`): `cond!`
//! records it as a one-element tensor computed from the size
//! (`scalar_tensor(s0 - 2) > 0`) and keeps both branches, so the program takes the
//! right one for every size. (A plain `x.size(0) > 2` is a `bool`: answered from the
//! example and guarded, which specialises the program.)

use ferrex::cond;
use ferrex::prelude::*;
use ferrex::{Dim, DynamicShapes};

#[export_module]
pub struct CondOperands {}

#[export_module]
impl CondOperands {
    fn forward(&self, x: &Tensor, y: &Tensor) -> Tensor {
        fn true_fn(x: &Tensor, y: &Tensor) -> Tensor {
            x + y
        }
        fn false_fn(x: &Tensor, y: &Tensor) -> Tensor {
            x - y
        }
        cond!(
            x.size(0).sym_gt(2),
            |x, y| true_fn(&x, &y),
            |x, y| false_fn(&x, &y),
            [x, y]
        )
    }
}

fn example_inputs() -> (Tensor, Tensor) {
    (Tensor::randn([3, 2]), Tensor::randn([2]))
}

fn dynamic_shapes() -> DynamicShapes {
    DynamicShapes::new().input("x", [(0, Dim::new("dim0_3"))])
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(
        &CondOperands {},
        example_inputs(),
        Some(dynamic_shapes()),
        // Both branches: a longer and a shorter first dimension than the example's.
        vec![
            (Tensor::randn([5, 2]), Tensor::randn([2])),
            (Tensor::randn([2, 2]), Tensor::randn([2])),
        ],
    )
}

inventory::submit! {
    Case {
        name: "cond_operands",
        tags: &["torch.cond", "torch.dynamic-shape"],
        verdict: Verdict::Supported,
        file: include_str!("cond_operands.rs"),
        code: include_str!("cond_operands.rs"),
        run,
    }
}
