//! Activation functions.

use super::elementwise::unary_numeric;
use super::{OpArgs, OpDef};
use crate::error::OpError;
use crate::tensor::{Storage, TensorMeta};

fn same_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    Ok(vec![args.meta(0)?])
}

fn relu_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let a = args.storage(0)?;
    if a.dtype() == crate::DType::Bool {
        return Err(OpError::new("relu is not implemented for bool tensors"));
    }
    // `max(x, 0)` keeps NaN, as PyTorch does.
    Ok(vec![unary_numeric(
        &a,
        |x| if x < 0.0 { 0.0 } else { x },
        Some(|x| x.max(0)),
    )])
}

pub static RELU: OpDef = OpDef::new("aten::relu(Tensor self) -> Tensor", same_meta, relu_kernel);
pub static RELU_: OpDef = OpDef::new(
    "aten::relu_(Tensor(a!) self) -> Tensor(a!)",
    same_meta,
    relu_kernel,
)
.inplace_of(&RELU);

pub static OPS: &[&OpDef] = &[&RELU, &RELU_];
