//! Custom Ops: define an op (schema, meta function, implementation), call it from
//! forward, and it exports as one node of its own namespace.

use ferrex::error::OpError;
use ferrex::ops::{custom_op, OpArgs, OpDef};
use ferrex::prelude::*;
use ferrex::tensor::TensorMeta;
use std::sync::OnceLock;

/// The "fake" implementation: the output is like the input (`torch.empty_like`).
fn custom_op_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    Ok(vec![args.meta(0)?])
}

fn custom_op_impl(args: &OpArgs) -> Result<Vec<Tensor>, OpError> {
    println!("custom_op called!");
    Ok(vec![args.tensor(0)?.relu()])
}

/// Registered once, on first use.
pub fn my_custom_op() -> Result<&'static OpDef, OpError> {
    static OP: OnceLock<Result<&'static OpDef, OpError>> = OnceLock::new();
    OP.get_or_init(|| {
        custom_op("my_custom_library::custom_op(Tensor input) -> Tensor")
            .meta(custom_op_meta)
            .implementation(custom_op_impl)
            .register()
    })
    .clone()
}

#[export_module]
pub struct CustomOpExample {}

#[export_module]
impl CustomOpExample {
    fn forward(&self, x: &Tensor) -> Tensor {
        let x = x.sin();
        let x = match my_custom_op() {
            Ok(op) => op.call(&[&x]),
            Err(_) => x,
        };
        x.cos()
    }
}

pub fn run() -> crate::SectionResult {
    my_custom_op()?;
    let ep = ferrex::export(&CustomOpExample {}, (Tensor::randn([3, 3]),))?;
    crate::keep("tutorial_custom_op", &ep);
    println!("{ep}");
    let out = ep.module().call((Tensor::randn([3, 3]),))?;
    println!("{}", out[0]);
    Ok(())
}
