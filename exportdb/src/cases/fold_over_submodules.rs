//! Iterator chains over a list of submodules: `self.layers.iter().fold(x, |h, layer|
//! layer.forward(&h).relu())` runs each `nn::Linear` in turn. The list's length is
//! structure, known while exporting, so the fold is unrolled into the graph like a
//! `for` loop; the parameters are named by position (`layers.0.weight`), as in
//! PyTorch's `ModuleList`.

use ferrex::prelude::*;

#[export_module]
pub struct FoldOverSubmodules {
    layers: Vec<nn::Linear>,
}

#[export_module]
impl FoldOverSubmodules {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.layers
            .iter()
            .fold(x.clone(), |h, layer| layer.forward(&h).relu())
    }
}

fn model() -> FoldOverSubmodules {
    FoldOverSubmodules {
        layers: vec![
            nn::Linear::new(4, 8),
            nn::Linear::new(8, 8),
            nn::Linear::new(8, 2),
        ],
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
        name: "fold_over_submodules",
        tags: &["python.control-flow", "rust.iterator"],
        verdict: Verdict::Supported,
        file: include_str!("fold_over_submodules.rs"),
        code: include_str!("fold_over_submodules.rs"),
        run,
    }
}
