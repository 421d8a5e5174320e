//! An in-place op on an input (`x.mul_(2)`) is recorded by its functional form
//! (`aten::mul.Tensor`), later uses read the result, and the mutation becomes a
//! `USER_INPUT_MUTATION` output: running the exported program writes the new value into
//! the caller's tensor, as the eager model does. `Tensor` is a shared handle, so
//! `forward(&self, x: &Tensor)` may mutate `x` in place without `&mut`.

use ferrex::prelude::*;

#[export_module]
pub struct UserInputMutation {}

#[export_module]
impl UserInputMutation {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.mul_(2);
        x.cos()
    }
}

fn example_inputs() -> (Tensor,) {
    (Tensor::randn([3, 2]),)
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(&UserInputMutation {}, example_inputs(), None, vec![])
}

inventory::submit! {
    Case {
        name: "user_input_mutation",
        tags: &["torch.mutation"],
        verdict: Verdict::Supported,
        file: include_str!("user_input_mutation.rs"),
        code: include_str!("user_input_mutation.rs"),
        run,
    }
}
