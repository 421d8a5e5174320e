//! Python's `x, *y = args; x + y[0]` is a slice pattern in Rust: `[x, y, ..]` on a
//! `&[Tensor]` input (carried as a `Vec`, whose elements are the inputs `args_0`,
//! `args_1`, `args_2`). Matching on the length of a list is structure, known while
//! exporting; the graph is `args_0 + args_1`, and the unused third tensor stays an
//! input. The `i64` scalar is promoted to `f32` by the add.

use ferrex::prelude::*;

#[export_module]
pub struct ListUnpack {}

#[export_module]
impl ListUnpack {
    fn forward(&self, args: &[Tensor]) -> Tensor {
        match args {
            [x, y, ..] => x + y,
            [x] => x.clone(),
            [] => Tensor::zeros([0]),
        }
    }
}

fn example_inputs() -> (Vec<Tensor>,) {
    (vec![
        Tensor::randn([3, 2]),
        Tensor::scalar(4i64),
        Tensor::scalar(5i64),
    ],)
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(&ListUnpack {}, example_inputs(), None, vec![])
}

inventory::submit! {
    Case {
        name: "list_unpack",
        tags: &["python.control-flow", "python.data-structure", "rust.pattern"],
        verdict: Verdict::Supported,
        file: include_str!("list_unpack.rs"),
        code: include_str!("list_unpack.rs"),
        run,
    }
}
