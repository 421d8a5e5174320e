//! Submodules of different types in one list: `Vec<Box<dyn nn::Layer>>`, Rust's
//! heterogeneous `ModuleList`. Every `#[export_module]` type whose forward maps a tensor
//! to a tensor is a `Layer`; a boxed layer is still a module, so its parameters are
//! part of the program (`blocks.0.weight`, …) and calling it through the trait object
//! traces its forward.

use ferrex::prelude::*;

#[export_module]
pub struct Scale {
    #[param]
    factor: Tensor,
}

#[export_module]
impl Scale {
    fn forward(&self, x: &Tensor) -> Tensor {
        x * &self.factor
    }
}

#[export_module]
pub struct BoxedDynSubmodules {
    blocks: Vec<Box<dyn nn::Layer>>,
}

#[export_module]
impl BoxedDynSubmodules {
    fn forward(&self, x: &Tensor) -> Tensor {
        let mut h = x.clone();
        for block in &self.blocks {
            h = block.forward_layer(&h);
        }
        h
    }
}

fn model() -> BoxedDynSubmodules {
    BoxedDynSubmodules {
        blocks: vec![
            Box::new(nn::Linear::new(4, 4)),
            Box::new(nn::Tanh {}),
            Box::new(Scale {
                factor: Tensor::full([4], 0.5),
            }),
        ],
    }
}

fn example_inputs() -> (Tensor,) {
    (Tensor::randn([2, 4]),)
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(&model(), example_inputs(), None, vec![])
}

inventory::submit! {
    Case {
        name: "boxed_dyn_submodules",
        tags: &["python.object-model", "rust.trait-object"],
        verdict: Verdict::Supported,
        file: include_str!("boxed_dyn_submodules.rs"),
        code: include_str!("boxed_dyn_submodules.rs"),
        run,
    }
}
