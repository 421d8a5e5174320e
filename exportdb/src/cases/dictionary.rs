//! Maps of named tensors in and out. `forward` takes a `BTreeMap<String, Tensor>` (its
//! entries become the inputs `inputs_x`, `inputs_y`, in key order), builds a local map,
//! and returns a map (its values are the outputs, in key order). Only the tensors are
//! traced; the keys are structure, fixed while exporting. `y` is an `i64` scalar
//! tensor: `y * x2` promotes to `f32`, as in PyTorch.

use std::collections::BTreeMap;

use ferrex::prelude::*;

#[export_module]
pub struct Dictionary {}

#[export_module]
impl Dictionary {
    fn forward(&self, inputs: &BTreeMap<String, Tensor>) -> BTreeMap<String, Tensor> {
        let mut elements = BTreeMap::new();
        elements.insert("x2".to_string(), &inputs["x"] * &inputs["x"]);
        let y = &inputs["y"] * &elements["x2"];
        BTreeMap::from([("y".to_string(), y)])
    }
}

fn example_inputs() -> (BTreeMap<String, Tensor>,) {
    (BTreeMap::from([
        ("x".to_string(), Tensor::randn([3, 2])),
        ("y".to_string(), Tensor::scalar(4i64)),
    ]),)
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(&Dictionary {}, example_inputs(), None, vec![])
}

inventory::submit! {
    Case {
        name: "dictionary",
        tags: &["python.data-structure"],
        verdict: Verdict::Supported,
        file: include_str!("dictionary.rs"),
        code: include_str!("dictionary.rs"),
        run,
    }
}
