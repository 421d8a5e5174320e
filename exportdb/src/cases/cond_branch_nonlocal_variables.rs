//! `cond!` operands taken from the enclosing scope of `forward`: a tensor computed there
//! (`my_tensor_var`), and a tensor made from a plain number (`my_primitive_var`, via
//! `Tensor::scalar`), passed with `x` as in PyTorch's example and named by the
//! branches' parameters `|x, y, z|`. The tensor created while exporting is lifted into
//! a `CONSTANT_TENSOR` input of the program (`c_lifted_tensor_0`). The predicate
//! `x.size(0) > 5` is known while exporting, so the true branch is traced. (With a
//! tensor predicate, tensors a branch reads from the enclosing scope without being
//! passed become extra operands of the `cond` node: see `cond_closed_over_variable`.)

use ferrex::cond;
use ferrex::prelude::*;

#[export_module]
pub struct CondBranchNonlocalVariables {}

#[export_module]
impl CondBranchNonlocalVariables {
    fn forward(&self, x: &Tensor) -> Tensor {
        let my_tensor_var = x + 100;
        let my_primitive_var = std::f32::consts::PI;
        fn true_fn(x: &Tensor, y: &Tensor, z: &Tensor) -> Tensor {
            x + y + z
        }
        fn false_fn(x: &Tensor, y: &Tensor, z: &Tensor) -> Tensor {
            x - y - z
        }
        cond!(
            x.size(0) > 5,
            |x, y, z| true_fn(&x, &y, &z),
            |x, y, z| false_fn(&x, &y, &z),
            [x, my_tensor_var, Tensor::scalar(my_primitive_var)]
        )
    }
}

fn example_inputs() -> (Tensor,) {
    (Tensor::randn([6]),)
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(
        &CondBranchNonlocalVariables {},
        example_inputs(),
        None,
        vec![],
    )
}

inventory::submit! {
    Case {
        name: "cond_branch_nonlocal_variables",
        tags: &["torch.cond", "torch.dynamic-shape"],
        verdict: Verdict::Supported,
        file: include_str!("cond_branch_nonlocal_variables.rs"),
        code: include_str!("cond_branch_nonlocal_variables.rs"),
        run,
    }
}
