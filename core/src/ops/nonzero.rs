//! Ops whose output size depends on tensor data: `aten::nonzero` (the indices of the
//! non-zero elements) and `aten::masked_select` (the elements where a mask is true).
//! While tracing, that size is a new unbacked symbol (`u0`), size-like, at most the
//! number of elements; the program binds it from the result when it runs.

use super::elementwise::Unary;
use super::util::broadcast_shapes;
use super::util::meta_of;
use super::{op_def, Value};
use crate::error::OpError;
use crate::symbolic::SymInt;
use crate::tensor::{DType, Storage, Tensor, TensorMeta};

/// The data-dependent length of an op's output: an unbacked symbol while tracing
/// (`0 <= u <= numel`); eagerly its upper bound `numel`, since the kernel computes the
/// real one (the bound is what the dispatcher checks memory against, and an empty input
/// is the only case it makes the result from the meta).
fn data_dependent_length(numel: &SymInt, origin: &str) -> SymInt {
    super::hook::recording()
        .and_then(|mode| mode.new_unbacked_size(numel.as_int(), origin))
        .unwrap_or_else(|| numel.clone())
}

fn nonzero_meta(args: &Unary) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&args.self_)?;
    let n = data_dependent_length(&m.numel(), "x.nonzero()");
    Ok(vec![TensorMeta::new(
        DType::I64,
        vec![n, SymInt::Int(m.rank() as i64)],
    )])
}

fn nonzero_kernel(args: &Unary, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let s = args.self_.storage_or_op_error()?.into_dtype(DType::Bool);
    let a = s.typed::<bool>();
    let rank = a.ndim();
    let mut coords = Vec::new();
    let mut count = 0;
    for (at, &v) in a.indexed_iter() {
        if v {
            coords.extend((0..rank).map(|d| at[d] as i64));
            count += 1;
        }
    }
    Storage::from_vec(&[count, rank], coords)
        .map(|s| vec![s])
        .ok_or_else(|| OpError::new("nonzero: could not build the result"))
}

op_def! {
    pub static NONZERO: Unary = "aten::nonzero(Tensor self) -> Tensor" {
        meta: nonzero_meta,
        kernel: nonzero_kernel,
    }
}

fn masked_select_meta(args: &MaskedSelect) -> Result<Vec<TensorMeta>, OpError> {
    let (x, mask) = (meta_of(&args.self_)?, meta_of(&args.mask)?);
    if mask.dtype != DType::Bool {
        return Err(OpError(format!(
            "masked_select: expected a bool mask, got {}",
            mask.dtype
        )));
    }
    let shape = broadcast_shapes(&x.sizes, &mask.sizes)?;
    let numel = shape.iter().fold(SymInt::Int(1), |acc, s| acc.mul(s));
    let n = data_dependent_length(&numel, "x.masked_select(mask)");
    Ok(vec![TensorMeta::new(x.dtype, vec![n])])
}

fn masked_select_kernel(args: &MaskedSelect, meta: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let (x, mask) = (&args.self_, &args.mask);
    let shape = broadcast_shapes(&meta_of(x)?.sizes, &meta_of(mask)?.sizes)?;
    let dtype = meta.first().map_or(DType::F32, |m| m.dtype);
    let shape: Vec<i64> = shape.iter().map(SymInt::hint).collect();
    let values = x.expand(shape.clone()).copy().reshape([-1]);
    let keep = mask.expand(shape).copy().reshape([-1]);
    let keep = keep.to_vec::<bool>().map_err(|e| OpError(e.to_string()))?;
    let picked: Vec<i64> = (0..keep.len() as i64)
        .filter(|&i| keep[i as usize])
        .collect();
    let index = Tensor::from_slice(&picked);
    let out = values
        .index_select(0, &index)
        .to_dtype(dtype)
        .try_storage()
        .map_err(|e| OpError(e.to_string()))?;
    Ok(vec![out])
}

op_def! {
    pub static MASKED_SELECT: struct MaskedSelect =
        "aten::masked_select(Tensor self, Tensor mask) -> Tensor" {
        meta: masked_select_meta,
        kernel: masked_select_kernel,
    }
}

impl Tensor {
    /// The indices of the non-zero elements, one row per element (`[n, rank]`, i64).
    /// While exporting, `n` is an unbacked size (`u0`).
    #[track_caller]
    #[must_use]
    pub fn nonzero(&self) -> Tensor {
        crate::ops::dispatch(
            &NONZERO,
            vec![Value::Tensor(self.clone())],
            crate::error::SourceLocation::from_caller(std::panic::Location::caller()),
        )
        .into_iter()
        .next()
        .unwrap_or_else(|| self.clone())
    }

    /// The elements where `mask` (broadcast with this tensor) is true, as a 1-D tensor.
    /// While exporting, its length is an unbacked size (`u0`).
    #[track_caller]
    #[must_use]
    pub fn masked_select(&self, mask: &Tensor) -> Tensor {
        crate::ops::dispatch(
            &MASKED_SELECT,
            vec![Value::Tensor(self.clone()), Value::Tensor(mask.clone())],
            crate::error::SourceLocation::from_caller(std::panic::Location::caller()),
        )
        .into_iter()
        .next()
        .unwrap_or_else(|| self.clone())
    }
}

#[cfg(test)]
mod tests {
    use crate::Tensor;

    #[test]
    fn eager_results_are_the_selected_elements() {
        let x = Tensor::from_slice(&[0f32, 2.0, 0.0, 3.0]).reshape([2, 2]);
        assert_eq!(x.nonzero().shape(), [2, 2]);
        assert_eq!(x.nonzero().to_vec::<i64>().unwrap(), [0, 1, 1, 1]);
        let mask = x.gt(1.0);
        assert_eq!(x.masked_select(&mask).to_vec::<f32>().unwrap(), [2.0, 3.0]);
    }
}
