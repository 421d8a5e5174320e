//! Helper methods of the model are inlined into the graph. Python's classmethod is an
//! associated function in Rust (`fn method(x: &Tensor) -> Tensor`, no `self`), called
//! as `Self::method(..)`; a method taking `&self` is called as `self.method(..)`.
//! Strict export checks the body of every method of the annotated impl block that
//! `forward` calls, and tracing runs through them, so each call leaves its ops in the
//! graph (`add` three times). `nn::Linear` is recorded whole, as `aten::linear`, as
//! PyTorch 2.15 records it.

use ferrex::prelude::*;

#[export_module]
pub struct ClassMethod {
    linear: nn::Linear,
}

#[export_module]
impl ClassMethod {
    fn method(x: &Tensor) -> Tensor {
        x + 1
    }

    fn method_of_self(&self, x: &Tensor) -> Tensor {
        Self::method(x)
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let x = self.linear.forward(x);
        Self::method(&x) * self.method_of_self(&x) * Self::method(&x)
    }
}

fn model() -> ClassMethod {
    ClassMethod {
        linear: nn::Linear::new(4, 2),
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
        name: "class_method",
        tags: &["rust.associated-fn"],
        verdict: Verdict::Supported,
        file: include_str!("class_method.rs"),
        code: include_str!("class_method.rs"),
        run,
    }
}
