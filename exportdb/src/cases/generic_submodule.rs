//! A model generic over its submodule: `Residual<L: nn::Layer>` adds its input to what
//! `L` computes. The field's type is a type parameter, so the macro cannot tell from
//! the syntax that it is a module: `#[module]` says so, and its parameters are named
//! under the field (`inner.weight`). Each instantiation exports its own graph; here
//! `L = nn::Linear`.

use ferrex::prelude::*;

#[export_module]
pub struct Residual<L: nn::Layer> {
    #[module]
    inner: L,
}

#[export_module]
impl<L: nn::Layer> Residual<L> {
    fn forward(&self, x: &Tensor) -> Tensor {
        x + self.inner.forward_layer(x)
    }
}

fn model() -> Residual<nn::Linear> {
    Residual {
        inner: nn::Linear::new(4, 4),
    }
}

fn example_inputs() -> (Tensor,) {
    (Tensor::randn([3, 4]),)
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(&model(), example_inputs(), None, vec![])
}

inventory::submit! {
    Case {
        name: "generic_submodule",
        tags: &["python.object-model", "rust.generics"],
        verdict: Verdict::Supported,
        file: include_str!("generic_submodule.rs"),
        code: include_str!("generic_submodule.rs"),
        run,
    }
}
