//! `cond!` operands are a list of tensors matching the branches' parameters
//! (`[x, y]` for `|x, y|`). PyTorch's example branches on `x.shape[0] > 2` with `x`'s
//! first dimension dynamic, and keeps the symbolic predicate in its `cond` node.
//! ferrex's `cond!` takes a `bool` or a one-element tensor: a comparison of a symbolic
//! size is a `bool` answered from the example (3 > 2) and recorded as the guard
//! `x.size()[0] > 2`, which the declared range `[0, int_oo]` does not satisfy, so the
//! export fails with the violation and the suggested fix. Following the fix
//! (`Dim::new("dim0_3").min(3)`) exports the true branch only; a tensor predicate
//! keeps both branches in a `cond` node (see `cond_closed_over_variable`).

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
            x.size(0) > 2,
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

use crate::check::{export_only, Outcome};
use crate::{Case, Rejection, Verdict};

fn run() -> Outcome {
    export_only(&CondOperands {}, example_inputs(), Some(dynamic_shapes()))
}

inventory::submit! {
    Case {
        name: "cond_operands",
        tags: &["torch.cond", "torch.dynamic-shape"],
        verdict: Verdict::NotSupported(Rejection::ExportTime),
        file: include_str!("cond_operands.rs"),
        code: include_str!("cond_operands.rs"),
        run,
    }
}
