//! Writes into tensor elements: `aten::index_put_` (in place) and its functional form
//! `aten::index_put`. `x.set_item_(&[0, 0], 3.0)` — Python's `x[0, 0] = 3` — records
//! `index_put_`; functionalization turns it into `index_put`, and a written input or
//! buffer becomes a USER_INPUT_MUTATION / BUFFER_MUTATION output.

use ndarray::{ArrayD, IxDyn};

use super::op_def;
use super::util::meta_of;
use super::util::{broadcast_shapes, concrete};
use crate::error::OpError;
use crate::op_bail;
use crate::symbolic::SymInt;
use crate::tensor::{DType, Element, Storage, Tensor, TensorMeta};

/// Where `index_put` writes: the dims that have an index tensor (in order), the others
/// (sliced whole, `None` entries and the trailing dims), and where the indexing result
/// puts the index tensors' broadcast dims among the sliced ones — in place of the
/// indexed dims when those are adjacent, else first (NumPy's and PyTorch's rule).
struct IndexLayout {
    tensors: Vec<Tensor>,
    indexed: Vec<usize>,
    sliced: Vec<usize>,
    at: usize,
}

fn index_layout(args: &IndexPut, rank: usize) -> Result<IndexLayout, OpError> {
    if args.indices.len() > rank {
        op_bail!(
            "too many indices for tensor of dimension {rank} (got {})",
            args.indices.len()
        );
    }
    let mut tensors = Vec::new();
    let mut indexed = Vec::new();
    for (d, t) in args.indices.iter().enumerate() {
        if let Some(t) = t {
            tensors.push(t.clone());
            indexed.push(d);
        }
    }
    let Some(&first) = indexed.first() else {
        op_bail!(
            "index_put needs at least one index tensor (all {} are None)",
            args.indices.len()
        );
    };
    let sliced: Vec<usize> = (0..rank).filter(|d| !indexed.contains(d)).collect();
    let adjacent = indexed.windows(2).all(|w| w[1] == w[0] + 1);
    let at = if adjacent { first } else { 0 };
    Ok(IndexLayout {
        tensors,
        indexed,
        sliced,
        at,
    })
}

/// The broadcast shape of the index tensors, which must be integers.
fn index_shape(indices: &[Tensor]) -> Result<Vec<SymInt>, OpError> {
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

/// The shape of the indexing result `values` must broadcast to.
fn result_shape(sizes: &[SymInt], layout: &IndexLayout, index: &[SymInt]) -> Vec<SymInt> {
    let mut shape: Vec<SymInt> = layout.sliced.iter().map(|&d| sizes[d].clone()).collect();
    let tail = shape.split_off(layout.at);
    shape.extend(index.iter().cloned());
    shape.extend(tail);
    shape
}

fn index_put_meta(args: &IndexPut) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&args.self_)?;
    let layout = index_layout(args, m.rank())?;
    let target = result_shape(&m.sizes, &layout, &index_shape(&layout.tensors)?);
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

/// The offsets (row-major, in elements) of every position of `dims` of a tensor whose
/// dims step by `steps`, the first dim outermost.
fn dim_offsets(dims: &[usize], shape: &[usize], steps: &[usize]) -> Vec<usize> {
    let mut offsets = vec![0];
    for &d in dims {
        offsets = (offsets.iter())
            .flat_map(|&o| (0..shape[d]).map(move |c| o + c * steps[d]))
            .collect();
    }
    offsets
}

/// `self` with `values` (broadcast to the indexing result) written (or added) at
/// `indices`, read in the result's order: the sliced dims before the index dims, the
/// index positions, the sliced dims after — so that repeated positions add in order.
fn put_any<T: Element>(
    s: &Storage,
    layout: &IndexLayout,
    indices: &[ArrayD<i64>],
    index_shape: &[usize],
    values: &Storage,
    accumulate: bool,
) -> Result<Storage, OpError> {
    let x = s.typed::<T>();
    let shape = x.shape().to_vec();
    let mut steps = vec![1; shape.len()];
    for d in (1..shape.len()).rev() {
        steps[d - 1] = steps[d] * shape[d];
    }
    let sizes: Vec<SymInt> = shape.iter().map(|&n| SymInt::Int(n as i64)).collect();
    let index_sym: Vec<SymInt> = index_shape.iter().map(|&n| SymInt::Int(n as i64)).collect();
    let value_shape = crate::ops::util::concrete(&result_shape(&sizes, layout, &index_sym));
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
    let mut idx: Vec<_> = idx.iter().map(|a| a.iter()).collect();
    let mut positions = Vec::with_capacity(index_shape.iter().product());
    for _ in 0..index_shape.iter().product::<usize>() {
        let mut at = 0;
        for (ix, &d) in idx.iter_mut().zip(&layout.indexed) {
            let (i, size) = (ix.next().copied().unwrap_or(0), shape[d] as i64);
            let j = if i < 0 { i + size } else { i };
            if j < 0 || j >= size {
                op_bail!("index {i} is out of bounds for dimension {d} with size {size}");
            }
            at += j as usize * steps[d];
        }
        positions.push(at);
    }
    let (before, after) = layout.sliced.split_at(layout.at.min(layout.sliced.len()));
    let (before, after) = (
        dim_offsets(before, &shape, &steps),
        dim_offsets(after, &shape, &steps),
    );
    let mut out: ArrayD<T> = x.as_standard_layout().into_owned();
    let Some(dst) = out.as_slice_mut() else {
        op_bail!("index_put: the result is not laid out in order");
    };
    // Read in order by the strided copy (ndarray's walk of a permuted or broadcast view,
    // element by element, was most of the op).
    let vals: std::borrow::Cow<'_, [T]> = match vals.as_slice() {
        Some(v) => std::borrow::Cow::Borrowed(v),
        None => std::borrow::Cow::Owned(crate::tensor::view_to_vec(&vals)),
    };
    let mut vals = vals.iter();
    for b in &before {
        for p in &positions {
            for (a, v) in after.iter().zip(vals.by_ref()) {
                let o = &mut dst[b + p + a];
                *o = if accumulate {
                    T::from_f64(o.to_f64() + v.to_f64())
                } else {
                    *v
                };
            }
        }
    }
    Ok(T::wrap(out.into_shared()))
}

fn index_put_kernel(args: &IndexPut, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let s = args.self_.storage_or_op_error()?;
    let layout = index_layout(args, s.shape().len())?;
    let shape = concrete(&index_shape(&layout.tensors)?);
    let indices: Vec<ArrayD<i64>> = layout
        .tensors
        .iter()
        .map(|t| {
            t.try_storage()
                .map(|st| st.typed::<i64>().into_owned())
                .map_err(|e| OpError(e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    let values = args.values.storage_or_op_error()?;
    let (l, acc) = (&layout, args.accumulate);
    let out = match s.dtype() {
        DType::F32 => put_any::<f32>(&s, l, &indices, &shape, &values, acc)?,
        DType::F64 => put_any::<f64>(&s, l, &indices, &shape, &values, acc)?,
        DType::I64 => put_any::<i64>(&s, l, &indices, &shape, &values, acc)?,
        DType::I32 => put_any::<i32>(&s, l, &indices, &shape, &values, acc)?,
        DType::U8 => put_any::<u8>(&s, l, &indices, &shape, &values, acc)?,
        DType::Bool => put_any::<bool>(&s, l, &indices, &shape, &values, acc)?,
    };
    Ok(vec![out])
}

/// `index_fill(self, dim, index, value)`: `self` with the slices at `index` along `dim`
/// set to `value` — an `index_put` whose index list is `dim` `None`s then `index`, as
/// PyTorch's core IR writes it.
fn index_fill(
    self_: &Tensor,
    dim: i64,
    index: &Tensor,
    value: &Tensor,
) -> Result<Vec<Tensor>, OpError> {
    let m = meta_of(self_)?;
    let d = super::util::normalize_dim(dim, m.rank())?;
    let mut indices: Vec<Option<Tensor>> = vec![None; d];
    indices.push(Some(index.clone()));
    let value = value.to_dtype(m.dtype);
    let args = vec![
        super::Value::Tensor(self_.clone()),
        super::Value::OptTensorList(indices),
        super::Value::Tensor(value),
        super::Value::Bool(false),
    ];
    Ok(Tensor::call_op(&INDEX_PUT, args))
}

fn index_fill_meta(
    self_: &Tensor,
    dim: i64,
    index: &Tensor,
    value: Option<&Tensor>,
) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(self_)?;
    super::util::normalize_dim(dim, m.rank())?;
    let i = meta_of(index)?;
    if i.rank() > 1 || !matches!(i.dtype, DType::I64 | DType::I32) {
        op_bail!("index_fill_(): Expected a long tensor for index of at most one dimension, got {} of {} dims", i.dtype, i.rank());
    }
    if let Some(v) = value {
        let v = meta_of(v)?;
        if v.rank() != 0 {
            op_bail!("index_fill_ only supports a 0-dimensional value tensor, but got tensor with {} dimension(s).", v.rank());
        }
    }
    Ok(vec![m])
}

op_def! {
    pub static INDEX_FILL_INT_SCALAR: struct IndexFillScalar =
        "aten::index_fill.int_Scalar(Tensor self, int dim, Tensor index, Scalar value) -> Tensor" {
        meta: |a: &IndexFillScalar| index_fill_meta(&a.self_, a.dim, &a.index, None),
        composite: |a: &IndexFillScalar| {
            let value = super::constructors::scalar_tensor_of(a.value, meta_of(&a.self_)?.dtype);
            index_fill(&a.self_, a.dim, &a.index, &value)
        },
    }
    pub static INDEX_FILL_INT_TENSOR: struct IndexFillTensor =
        "aten::index_fill.int_Tensor(Tensor self, int dim, Tensor index, Tensor value) -> Tensor" {
        meta: |a: &IndexFillTensor| index_fill_meta(&a.self_, a.dim, &a.index, Some(&a.value)),
        composite: |a: &IndexFillTensor| index_fill(&a.self_, a.dim, &a.index, &a.value),
    }
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

    /// `x[:, idx] = v` and `x[i, :, k] += v` (`None` slices whole dims): the index dims
    /// of the values sit where the indexed dims are when those are adjacent, else first.
    #[test]
    fn none_entries_slice_whole_dims() {
        let put = |x: &Tensor, indices: Vec<Option<Tensor>>, v: &Tensor, acc: bool| {
            let args = vec![
                super::super::Value::Tensor(x.clone()),
                super::super::Value::OptTensorList(indices),
                super::super::Value::Tensor(v.clone()),
                super::super::Value::Bool(acc),
            ];
            super::super::run_eager(&INDEX_PUT, &args).map(|mut r| r.swap_remove(0))
        };
        // x: [2, 3]; x[:, [2, 0]] = [[1, 2], [3, 4]].
        let x = Tensor::zeros([2, 3]);
        let v = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]);
        let y = put(&x, vec![None, Some(ints(&[2, 0]))], &v, false).unwrap();
        assert_eq!(y.to_vec::<f32>().unwrap(), [2.0, 0.0, 1.0, 4.0, 0.0, 3.0]);
        // x: [2, 2, 2]; x[[1, 0], :, [0, 1]] += v, v: [2 (index), 2 (dim 1)].
        let x = Tensor::zeros([2, 2, 2]);
        let y = put(
            &x,
            vec![Some(ints(&[1, 0])), None, Some(ints(&[0, 1]))],
            &v,
            true,
        )
        .unwrap();
        // y[1, j, 0] = v[0, j]; y[0, j, 1] = v[1, j].
        assert_eq!(
            y.to_vec::<f32>().unwrap(),
            [0.0, 3.0, 0.0, 4.0, 1.0, 0.0, 2.0, 0.0]
        );
        let err = put(&x, vec![None, None], &v, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("at least one index tensor"), "{err}");
        // x[:, [0, 1, 1]] is [2, 3, 2]: a [2, 2] value does not broadcast to it.
        let err = put(&x, vec![None, Some(ints(&[0, 1, 1]))], &v, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("must match the size of tensor b (2)"), "{err}");
    }

    /// Sliced dims on both sides of the index dim, a repeated index that adds twice in
    /// order, and values read through a permute: against the loop written out.
    #[test]
    fn index_put_reads_permuted_values_around_the_index_dim() {
        let x = Tensor::arange(24).reshape([2, 4, 3]).to_dtype(DType::F32);
        let idx = ints(&[3, 0, 3]);
        let base = Tensor::arange(18).reshape([3, 2, 3]).to_dtype(DType::F32);
        let v = base.permute(&[1, 0, 2]);
        let args = vec![
            super::super::Value::Tensor(x.clone()),
            super::super::Value::OptTensorList(vec![None, Some(idx)]),
            super::super::Value::Tensor(v),
            super::super::Value::Bool(true),
        ];
        let y = super::super::run_eager(&INDEX_PUT, &args)
            .unwrap()
            .swap_remove(0);
        let (mut want, b) = (x.to_vec::<f32>().unwrap(), base.to_vec::<f32>().unwrap());
        for a in 0..2 {
            for (p, row) in [3usize, 0, 3].into_iter().enumerate() {
                for c in 0..3 {
                    want[(a * 4 + row) * 3 + c] += b[(p * 2 + a) * 3 + c];
                }
            }
        }
        assert_eq!(y.to_vec::<f32>().unwrap(), want);
    }

    #[test]
    fn schemas_parse() {
        for op in [&INDEX_PUT, &INDEX_PUT_] {
            assert!(op.parsed().is_ok(), "{}", op.schema);
        }
    }
}
