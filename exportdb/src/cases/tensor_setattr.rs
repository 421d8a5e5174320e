//! Python attaches an attribute to a tensor with `setattr(x, attr, value)`. A Rust value
//! has the fields of its type and no others, so there is nothing to set on a `Tensor`;
//! the nearest construct is a wrapper struct that carries the tensor and its named
//! extras (`Tagged`). Building it in `forward` is plain Rust, and the attribute's name
//! (a `&str` input) is specialised while exporting, as PyTorch specialises it: a call
//! with another name is rejected by the program's input check. The attribute itself is
//! unused, so the graph is `x + 4` after the `randn` that made it, which stays (as in
//! PyTorch) because drawing advances the random generator.

use std::collections::BTreeMap;

use ferrex::prelude::*;

/// A tensor with named attributes: what `setattr` on a tensor becomes in Rust.
pub struct Tagged {
    pub tensor: Tensor,
    pub attrs: BTreeMap<String, Tensor>,
}

#[export_module]
pub struct TensorSetattr {}

#[export_module]
impl TensorSetattr {
    fn forward(&self, x: &Tensor, attr: &str) -> Tensor {
        let mut tagged = Tagged {
            tensor: x.clone(),
            attrs: BTreeMap::new(),
        };
        tagged.attrs.insert(attr.to_string(), Tensor::randn([3, 2]));
        &tagged.tensor + 4
    }
}

fn example_inputs() -> (Tensor, String) {
    (Tensor::randn([3, 2]), "attr".to_string())
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(&TensorSetattr {}, example_inputs(), None, vec![])
}

inventory::submit! {
    Case {
        name: "tensor_setattr",
        tags: &["python.builtin", "rust.struct"],
        verdict: Verdict::Supported,
        file: include_str!("tensor_setattr.rs"),
        code: include_str!("tensor_setattr.rs"),
        run,
    }
}
