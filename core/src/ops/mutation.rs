//! Writes into tensor elements: `aten::index_put_` (in place) and its functional form
//! `aten::index_put`. `x.set_item_(&[0, 0], 3.0)` — Python's `x[0, 0] = 3` — records
//! `index_put_`; functionalization turns it into `index_put`, and a written input or
//! buffer becomes a USER_INPUT_MUTATION / BUFFER_MUTATION output.

use ndarray::{ArrayD, Axis, IxDyn};

use super::op_def;
use super::util::meta_of;
use super::util::{broadcast_shapes, concrete};
use crate::error::OpError;
use crate::op_bail;
use crate::symbolic::SymInt;
use crate::tensor::{DType, Element, Storage, Tensor, TensorMeta};

/// The `Tensor?[] indices` argument; every entry must be present (no `None` slices).
fn index_tensors(args: &IndexPut) -> Result<Vec<Tensor>, OpError> {
    args.indices
        .iter()
        .enumerate()
        .map(|(i, t)| {
            t.clone().ok_or_else(|| {
                OpError(format!(
                    "index {i} is None; index_put supports integer index tensors for leading dims only"
                ))
            })
        })
        .collect()
}

/// The broadcast shape of the index tensors and the number of indexed dims, checked
/// against `self`.
fn index_shape(self_meta: &TensorMeta, indices: &[Tensor]) -> Result<Vec<SymInt>, OpError> {
    if indices.len() > self_meta.rank() {
        op_bail!(
            "too many indices for tensor of dimension {} (got {})",
            self_meta.rank(),
            indices.len()
        );
    }
    let mut shape = Vec::new();
    for t in indices {
        let m = t.meta().map_err(|e| OpError(e.to_string()))?;
        if !matches!(m.dtype, DType::I64 | DType::I32) {
            op_bail!(
                "tensors used as indices must be long or int tensors, got {}",
                m.dtype
            );
        }
        shape = broadcast_shapes(&shape, &m.sizes)?;
    }
    Ok(shape)
}

fn index_put_meta(args: &IndexPut) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&args.self_)?;
    let indices = index_tensors(args)?;
    let mut target = index_shape(&m, &indices)?;
    target.extend(m.sizes[indices.len()..].iter().cloned());
    let values = meta_of(&args.values)?;
    let b = broadcast_shapes(&target, &values.sizes)?;
    if b.len() != target.len() || b.iter().zip(&target).any(|(x, y)| !x.same_as(y)) {
        op_bail!(
            "shape mismatch: value tensor of shape {:?} cannot be broadcast to indexing result of shape {:?}",
            values.sizes.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            target.iter().map(|s| s.to_string()).collect::<Vec<_>>()
        );
    }
    Ok(vec![m])
}

fn put<T: Element>(
    s: &Storage,
    indices: &[ArrayD<i64>],
    index_shape: &[usize],
    values: &Storage,
    accumulate: bool,
) -> Result<Storage, OpError> {
    let mut out: ArrayD<T> = s.typed::<T>().as_standard_layout().into_owned();
    let dims: Vec<usize> = out.shape().to_vec();
    let rest = &dims[indices.len()..];
    let mut value_shape = index_shape.to_vec();
    value_shape.extend_from_slice(rest);
    let vals = values.typed::<T>();
    let vals = vals.broadcast(IxDyn(&value_shape)).ok_or_else(|| {
        OpError(format!(
            "shape mismatch: value tensor of shape {:?} cannot be broadcast to indexing result of shape {:?}",
            values.shape(),
            value_shape
        ))
    })?;
    let idx: Vec<_> = indices
        .iter()
        .map(|a| a.broadcast(IxDyn(index_shape)))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| OpError::new("shape mismatch: indices could not be broadcast together"))?;
    for pos in ndarray::indices(IxDyn(index_shape)) {
        let mut target = out.view_mut();
        for (d, ix) in idx.iter().enumerate() {
            let size = dims[d] as i64;
            let i = ix[&pos];
            let j = if i < 0 { i + size } else { i };
            if j < 0 || j >= size {
                op_bail!("index {i} is out of bounds for dimension {d} with size {size}");
            }
            target = target.index_axis_move(Axis(0), j as usize);
        }
        let mut source = vals.view();
        for k in 0..index_shape.len() {
            source = source.index_axis_move(Axis(0), pos[k]);
        }
        target.zip_mut_with(&source, |o, &v| {
            *o = if accumulate {
                T::from_f64(o.to_f64() + v.to_f64())
            } else {
                v
            }
        });
    }
    Ok(T::wrap(out.into_shared()))
}

fn index_put_kernel(args: &IndexPut, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let s = args.self_.storage_or_op_error()?;
    let meta = TensorMeta::from_shape(s.dtype(), s.shape());
    let index_list = index_tensors(args)?;
    let shape = concrete(&index_shape(&meta, &index_list)?);
    let indices: Vec<ArrayD<i64>> = index_list
        .iter()
        .map(|t| {
            t.try_storage()
                .map(|st| st.typed::<i64>().into_owned())
                .map_err(|e| OpError(e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    let values = args.values.storage_or_op_error()?;
    let accumulate = args.accumulate;
    let out = match s.dtype() {
        DType::F32 => put::<f32>(&s, &indices, &shape, &values, accumulate)?,
        DType::F64 => put::<f64>(&s, &indices, &shape, &values, accumulate)?,
        DType::I64 => put::<i64>(&s, &indices, &shape, &values, accumulate)?,
        DType::I32 => put::<i32>(&s, &indices, &shape, &values, accumulate)?,
        DType::U8 => put::<u8>(&s, &indices, &shape, &values, accumulate)?,
        DType::Bool => put::<bool>(&s, &indices, &shape, &values, accumulate)?,
    };
    Ok(vec![out])
}

op_def! {
    pub static INDEX_PUT: struct IndexPut =
        "aten::index_put(Tensor self, Tensor?[] indices, Tensor values, bool accumulate=False) -> Tensor" {
        meta: index_put_meta,
        kernel: index_put_kernel,
    }
    pub static INDEX_PUT_: IndexPut =
        "aten::index_put_(Tensor(a!) self, Tensor?[] indices, Tensor values, bool accumulate=False) -> Tensor(a!)" {
        meta: index_put_meta,
        kernel: index_put_kernel,
        inplace_of: INDEX_PUT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(v: &[i64]) -> Tensor {
        Tensor::from_slice(v)
    }

    #[test]
    fn index_put_writes_and_accumulates() {
        let x = Tensor::zeros([3, 2]);
        let rows = ints(&[0, -1]);
        let y = x.index_put(std::slice::from_ref(&rows), &Tensor::ones([2]), false);
        assert_eq!(y.to_vec::<f32>().unwrap(), [1.0, 1.0, 0.0, 0.0, 1.0, 1.0]);
        assert_eq!(x.to_vec::<f32>().unwrap(), [0.0; 6], "functional form");
        let twice = ints(&[1, 1]);
        let z = x.index_put(&[twice, ints(&[0, 0])], &Tensor::full([2], 2.0), true);
        assert_eq!(z.to_vec::<f32>().unwrap(), [0.0, 0.0, 4.0, 0.0, 0.0, 0.0]);
        x.index_put_(&[rows], &Tensor::full([2], 5.0).unsqueeze(1), false);
        assert_eq!(x.to_vec::<f32>().unwrap(), [5.0, 5.0, 0.0, 0.0, 5.0, 5.0]);
    }

    #[test]
    fn set_item_and_errors() {
        let x = Tensor::zeros_dtype([2, 2], DType::I64);
        x.set_item_(&[1, -1], 7);
        assert_eq!(x.to_vec::<i64>().unwrap(), [0, 0, 0, 7]);
        let bad = Tensor::zeros([2, 2]).set_item_(&[2, 0], 1.0);
        let msg = bad.error().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg.contains("index 2 is out of bounds for dimension 0 with size 2"),
            "{msg}"
        );
        let too_many = Tensor::zeros([2]).set_item_(&[0, 0], 1.0);
        assert!(too_many.error().is_some());
    }

    #[test]
    fn schemas_parse() {
        for op in [&INDEX_PUT, &INDEX_PUT_] {
            assert!(op.parsed().is_ok(), "{}", op.schema);
        }
    }
}
