//! `map!` applies a body to each slice of a tensor along its first dimension and stacks
//! the results: `ferrex::map!(|x, y| x + y, xs, [y])` passes one row of `xs` as `x`
//! and the extra operand `y` whole (PyTorch's `map(body, xs, y)`). The body is traced
//! once into a subgraph, `body_graph_0`, of one `map_impl` node, so the program runs
//! it for however many rows `xs` has: here the first dimension of `xs` is dynamic.

use ferrex::prelude::*;
use ferrex::{Dim, DynamicShapes};

#[export_module]
pub struct DynamicShapeMap {}

#[export_module]
impl DynamicShapeMap {
    fn forward(&self, xs: &Tensor, y: &Tensor) -> Tensor {
        ferrex::map!(|x, y| x + y, xs, [y])
    }
}

fn example_inputs() -> (Tensor, Tensor) {
    (Tensor::randn([3, 2]), Tensor::randn([2]))
}

fn dynamic_shapes() -> DynamicShapes {
    DynamicShapes::new().input("xs", [(0, Dim::new("rows"))])
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    export_and_compare(
        &DynamicShapeMap {},
        example_inputs(),
        Some(dynamic_shapes()),
        vec![(Tensor::randn([7, 2]), Tensor::randn([2]))],
    )
}

inventory::submit! {
    Case {
        name: "dynamic_shape_map",
        tags: &["torch.dynamic-shape", "torch.map"],
        verdict: Verdict::Supported,
        file: include_str!("dynamic_shape_map.rs"),
        code: include_str!("dynamic_shape_map.rs"),
        run,
    }
}
