//! PyTorch's `autograd.Function` pairs a forward with a custom backward, and export
//! captures its forward. ferrex exports inference graphs and has no autograd; a
//! user-defined op is a custom op: a schema, a meta function (dtype and shape) and an
//! implementation written with tensor methods (the forward; here a copy, PyTorch's
//! `x.clone()`). The op is recorded as one node of its own namespace
//! (`exportdb::my_autograd_function.default`), runs its implementation in the exported
//! program, and `run_decompositions` lowers it to what its forward is made of
//! (`aten::clone.default`, PyTorch's graph).

use std::sync::OnceLock;

use ferrex::error::OpError;
use ferrex::ops::{custom_op, OpArgs, OpDef};
use ferrex::prelude::*;
use ferrex::tensor::TensorMeta;

fn meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    Ok(vec![args.meta(0)?])
}

/// The forward: what the op computes.
fn forward(args: &OpArgs) -> Result<Vec<Tensor>, OpError> {
    Ok(vec![args.tensor(0)?.copy()])
}

/// The op, registered on first use. `None` if registration failed.
fn my_autograd_function() -> Option<&'static OpDef> {
    static OP: OnceLock<Option<&'static OpDef>> = OnceLock::new();
    *OP.get_or_init(|| {
        custom_op("exportdb::my_autograd_function(Tensor x) -> Tensor")
            .meta(meta)
            .implementation(forward)
            .decomposition(forward)
            .register()
            .ok()
    })
}

#[export_module]
pub struct AutogradFunction {
    #[config]
    op: &'static OpDef,
}

#[export_module]
impl AutogradFunction {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.op.call(&[x])
    }
}

fn example_inputs() -> (Tensor,) {
    (Tensor::randn([3, 2]),)
}

// ---- ExportDB entry ------------------------------------------------------------------

use crate::check::{export_and_compare, Failure, Outcome};
use crate::{Case, Verdict};

fn run() -> Outcome {
    let Some(op) = my_autograd_function() else {
        return Err(Failure::Setup(
            "registering exportdb::my_autograd_function failed".into(),
        ));
    };
    export_and_compare(&AutogradFunction { op }, example_inputs(), None, vec![])
}

inventory::submit! {
    Case {
        name: "autograd_function",
        tags: &["rust.custom-op"],
        verdict: Verdict::Supported,
        file: include_str!("autograd_function.rs"),
        code: include_str!("autograd_function.rs"),
        run,
    }
}
