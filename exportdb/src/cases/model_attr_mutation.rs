//! `forward` replaces a model attribute (a list of tensors) on every call, then reads it.
//! Rust cannot assign a field through `&self` (and `forward(&mut self)` is rejected at
//! compile time: the graph holds no model state besides buffers), so the closest meaning
//! is a `#[buffer]` whose value `forward` replaces in place with `copy_`: exported as
//! `aten::copy` and a `BUFFER_MUTATION` output, so the program replaces the value too, as
//! the eager model does. PyTorch 2.15 exports the case without recording the
//! replacement (its graph computes the new list and reads it within one call); ferrex
//! records what a later call would see.

use ferrex::prelude::*;

#[export_module]
pub struct ModelAttrMutation {
    #[buffer(persistent = false)]
    attr_0: Tensor,
    #[buffer(persistent = false)]
    attr_1: Tensor,
}

#[export_module]
impl ModelAttrMutation {
    fn recreate_list(&self) -> [Tensor; 2] {
        [Tensor::zeros([3, 2]), Tensor::zeros([3, 2])]
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let [first, second] = self.recreate_list();
        self.attr_0.copy_(&first);
        self.attr_1.copy_(&second);
        x.sum() + self.attr_0.sum()
    }
}

fn model() -> ModelAttrMutation {
    ModelAttrMutation {
        attr_0: Tensor::randn([3, 2]),
        attr_1: Tensor::randn([3, 2]),
    }
}

fn example_inputs() -> (Tensor,) {
    (Tensor::randn([3, 2]),)
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(
        &model(),
        example_inputs(),
        None,
        vec![(Tensor::randn([3, 2]),)],
    )
}

inventory::submit! {
    Case {
        name: "model_attr_mutation",
        tags: &["python.object-model"],
        verdict: Verdict::Supported,
        file: include_str!("model_attr_mutation.rs"),
        code: include_str!("model_attr_mutation.rs"),
        run,
    }
}
