//! Indexing: `index_select`, `gather`, `index.Tensor` (advanced indexing with
//! `Tensor?[]`) and `embedding`. Indices are checked against the sizes before any data is
//! read: an out-of-range index is an error, never a panic.

use ndarray::{ArcArray, ArrayD, IxDyn};

use super::op_def;
use super::util::{broadcast_shapes, concrete, first_result, meta_of, normalize_dim, with_dtype};
use crate::error::OpError;
use crate::op_bail;
use crate::symbolic::SymInt;
use crate::tensor::{DType, Element, Storage, Tensor, TensorMeta};

fn check_index_dtype(m: &TensorMeta, op: &str) -> Result<(), OpError> {
    if !matches!(m.dtype, DType::I64 | DType::I32) {
        op_bail!(
            "{op}(): Expected dtype int32/int64 for index, but got {}",
            m.dtype
        );
    }
    Ok(())
}

/// The indices of an index tensor, each checked to lie in `[-len, len)` when
/// `allow_negative`, else `[0, len)`, and made non-negative.
fn checked_indices(
    s: &Storage,
    len: usize,
    allow_negative: bool,
    what: &str,
) -> Result<Vec<usize>, OpError> {
    let n = len as i64;
    s.to_vec::<i64>()
        .into_iter()
        .map(|i| {
            let lo = if allow_negative { -n } else { 0 };
            if i < lo || i >= n {
                op_bail!("{what}: index {i} is out of bounds for dimension with size {len}");
            }
            Ok(if i < 0 { (i + n) as usize } else { i as usize })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// index_select

fn index_select_meta(args: &IndexSelect) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&args.self_)?;
    let idx = meta_of(&args.index)?;
    check_index_dtype(&idx, "index_select")?;
    if idx.rank() > 1 {
        op_bail!("index_select(): Index is supposed to be a vector");
    }
    let d = normalize_dim(args.dim, m.rank())?;
    let mut sizes = m.sizes.clone();
    if m.rank() == 0 {
        // A 0-dim source takes a one-element index and stays 0-dim.
        return Ok(vec![m]);
    }
    sizes[d] = idx.numel();
    Ok(vec![TensorMeta::new(m.dtype, sizes)])
}

fn index_select_kernel(args: &IndexSelect, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let s = args.self_.storage_or_op_error()?;
    let r = s.shape().len();
    let d = normalize_dim(args.dim, r)?;
    let idx = args.index.storage_or_op_error()?;
    if r == 0 {
        checked_indices(&idx, 1, false, "index_select(): index out of range in self")?;
        return Ok(vec![s]);
    }
    let ids = checked_indices(
        &idx,
        s.shape()[d],
        false,
        "index_select(): index out of range in self",
    )?;
    Ok(vec![select_along(&s, d, &ids)?])
}

/// Entries `ids` (checked) along dim `d` of `s`: per index of the outer dims, one
/// contiguous run of the inner dims per id (ndarray's `select` appended row by row, most
/// of an eager embedding).
fn select_along(s: &Storage, d: usize, ids: &[usize]) -> Result<Storage, OpError> {
    fn run<T: Copy>(x: &[T], shape: &[usize], d: usize, ids: &[usize]) -> Option<Vec<T>> {
        let inner: usize = shape.get(d + 1..)?.iter().product();
        let outer: usize = shape.get(..d)?.iter().product();
        let len = *shape.get(d)?;
        let total = outer.checked_mul(ids.len())?.checked_mul(inner)?;
        let mut out = Vec::new();
        out.try_reserve_exact(total).ok()?;
        for o in 0..outer {
            let base = o * len * inner;
            for &i in ids {
                out.extend_from_slice(x.get(base + i * inner..base + (i + 1) * inner)?);
            }
        }
        Some(out)
    }
    let mut shape = s.shape().to_vec();
    let s = s.contiguous();
    let failed = || OpError::new("select: the result does not fit in memory");
    let data = crate::map_storage!(&s, x => {
        let v = run(x.as_slice().ok_or_else(failed)?, &shape, d, ids).ok_or_else(failed)?;
        shape[d] = ids.len();
        ArrayD::from_shape_vec(IxDyn(&shape), v).map_err(|_| failed())?.into_shared()
    });
    Ok(data)
}

fn index_select_lowering<T: Clone>(a: &IndexSelect<T>) -> Result<super::Lowering<T>, OpError> {
    Ok(super::Lowering::Gather {
        input: a.self_.clone(),
        dim: a.dim,
        indices: vec![a.index.clone()],
        negative: false,
    })
}

op_def! {
    pub static INDEX_SELECT: struct IndexSelect =
        "aten::index_select(Tensor self, int dim, Tensor index) -> Tensor" {
        meta: index_select_meta,
        kernel: index_select_kernel,
        lowering: index_select_lowering,
    }
}

// ---------------------------------------------------------------------------------------
// gather

fn gather_meta(args: &Gather) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&args.self_)?;
    let idx = meta_of(&args.index)?;
    if idx.dtype != DType::I64 {
        op_bail!("gather(): Expected dtype int64 for index");
    }
    let d = normalize_dim(args.dim, m.rank())?;
    if idx.rank().max(1) != m.rank().max(1) {
        op_bail!("Index tensor must have the same number of dimensions as input tensor");
    }
    for (k, (i, s)) in idx.sizes.iter().zip(&m.sizes).enumerate() {
        if k != d && i.hint() > s.hint() {
            op_bail!(
                "Size does not match at dimension {k} expected index {} to be smaller than self {} apart from dimension {d}",
                crate::symbolic::format_sizes(&idx.sizes),
                crate::symbolic::format_sizes(&m.sizes)
            );
        }
    }
    Ok(vec![TensorMeta::new(m.dtype, idx.sizes)])
}

fn gather_typed<T: Element>(
    x: &ArcArray<T, IxDyn>,
    index: &ArcArray<i64, IxDyn>,
    d: usize,
) -> Result<ArcArray<T, IxDyn>, OpError> {
    if x.ndim() == 0 {
        let v = x.iter().next().copied().unwrap_or_default();
        if let Some(i) = index.iter().find(|&&i| i != 0) {
            op_bail!("index {i} is out of bounds for dimension 0 with size 1");
        }
        return Ok(index.map(|_| v).into_shared());
    }
    let (shape, ishape) = (x.shape(), index.shape());
    if ishape.len() != shape.len() || (0..shape.len()).any(|k| k != d && ishape[k] > shape[k]) {
        op_bail!("gather(): index {ishape:?} does not fit self {shape:?} outside dimension {d}");
    }
    let len = shape[d] as i64;
    // Row-major walks of both (an odometer over the index), not ndarray's indexing by
    // position lists: 28× PyTorch's time on a [64, 1024] gather.
    let (xc, ic) = (x.as_standard_layout(), index.as_standard_layout());
    let (Some(xs), Some(is)) = (xc.as_slice(), ic.as_slice()) else {
        op_bail!("gather(): operands not laid out row-major");
    };
    let mut strides = vec![1usize; shape.len()];
    for k in (0..shape.len().saturating_sub(1)).rev() {
        strides[k] = strides[k + 1] * shape[k + 1];
    }
    // ATen's gather counts no index from the end (`take_along_dim` wraps its own).
    if let Some(&i) = is.iter().find(|&&i| i < 0 || i >= len) {
        op_bail!("index {i} is out of bounds for dimension {d} with size {len}");
    }
    let mut out = ferrex_kernels::try_filled(is.len(), T::default()).map_err(|e| OpError(e.0))?;
    // One row of the index (its last dim) at a time, the odometer over the dims before.
    let last = shape.len() - 1;
    let width = ishape[last].max(1);
    let (mut pos, mut base) = (vec![0usize; last], 0usize);
    for (row, dst) in is.chunks(width).zip(out.chunks_mut(width)) {
        let src = &xs[base..];
        for (c, (o, &i)) in dst.iter_mut().zip(row).enumerate() {
            let j = i as usize; // checked in 0..len above
            *o = src[if d == last { j } else { c + j * strides[d] }];
        }
        for k in (0..last).rev() {
            pos[k] += 1;
            if k != d {
                base += strides[k];
            }
            if pos[k] < ishape[k] {
                break;
            }
            if k != d {
                base -= strides[k] * ishape[k];
            }
            pos[k] = 0;
        }
    }
    ArrayD::from_shape_vec(IxDyn(ishape), out)
        .map(ArrayD::into_shared)
        .map_err(|e| OpError(format!("gather(): {e}")))
}

fn gather_kernel(args: &Gather, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let s = args.self_.storage_or_op_error()?;
    let d = normalize_dim(args.dim, s.shape().len())?;
    let idx = args.index.storage_or_op_error()?.typed::<i64>();
    Ok(vec![
        with_dtype!(s.dtype(), T => T::wrap(gather_typed(&s.typed::<T>(), &idx, d)?)),
    ])
}

/// Each lane of the result along `dim` reads the same lane of the input by the same
/// lane of the index.
fn gather_lowering<T: Clone>(a: &Gather<T>) -> Result<super::Lowering<T>, OpError> {
    Ok(super::Lowering::Lanes {
        inputs: vec![a.self_.clone(), a.index.clone()],
        dims: vec![a.dim],
    })
}

/// `take_along_dim`'s operands broadcast against each other in every dim but `dim`
/// (ATen's `_take_along_dim_helper`): `(self's sizes, indices' sizes)`; with no dim,
/// both flattened.
fn take_along_shapes(a: &TakeAlongDim) -> Result<(Vec<SymInt>, Vec<SymInt>, i64), OpError> {
    let (x, i) = (meta_of(&a.self_)?, meta_of(&a.indices)?);
    if i.dtype != DType::I64 {
        op_bail!(
            "torch.take_along_dim(): dtype of indices should be Long but got {}",
            i.dtype
        );
    }
    let Some(dim) = a.dim else {
        return Ok((vec![x.numel()], vec![i.numel()], 0));
    };
    if x.rank() != i.rank() {
        op_bail!(
            "torch.take_along_dim(): input and indices should have the same number of dimensions, but got {} dimensions for input, and {} dimensions for indices",
            x.rank(),
            i.rank()
        );
    }
    let d = normalize_dim(dim, x.rank())?;
    let mut self_sizes = x.sizes.clone();
    self_sizes[d] = i.sizes[d].clone();
    let indices_to = broadcast_shapes(&self_sizes, &i.sizes)?;
    let mut index_sizes = i.sizes.clone();
    index_sizes[d] = x.sizes[d].clone();
    let self_to = broadcast_shapes(&index_sizes, &x.sizes)?;
    Ok((self_to, indices_to, d as i64))
}

fn take_along_dim_meta(a: &TakeAlongDim) -> Result<Vec<TensorMeta>, OpError> {
    let dtype = meta_of(&a.self_)?.dtype;
    let (_, indices, _) = take_along_shapes(a)?;
    Ok(vec![TensorMeta::new(dtype, indices)])
}

/// `self` and `indices` broadcast to each other, the indices wrapped into the dim
/// (`remainder`: -1 is the last, as PyTorch's decomposition), then `gather`; with no
/// dim, both flattened and the indices as they are (a negative one is an error).
fn take_along_dim_decomposition(a: &TakeAlongDim) -> Result<Vec<Tensor>, OpError> {
    let (self_to, indices_to, dim) = take_along_shapes(a)?;
    let (x, i) = match a.dim {
        None => (a.self_.reshape(self_to), a.indices.reshape(indices_to)),
        Some(_) => {
            let size = self_to[dim as usize].clone();
            let i = a.indices.expand(indices_to);
            let args = vec![super::Value::Tensor(i), super::Value::Int(size)];
            let wrapped = Tensor::call_op(&super::elementwise::REMAINDER_SCALAR, args);
            (a.self_.expand(self_to), first_result(wrapped, "remainder")?)
        }
    };
    Ok(vec![x.gather(dim, &i)])
}

op_def! {
    pub static GATHER: struct Gather =
        "aten::gather(Tensor self, int dim, Tensor index, *, bool sparse_grad=False) -> Tensor" {
        meta: gather_meta,
        kernel: gather_kernel,
        lowering: gather_lowering,
    }
    /// `gather` of operands broadcast to each other but along `dim` (NumPy's
    /// `take_along_axis`); of both flattened with no dim.
    pub static TAKE_ALONG_DIM: struct TakeAlongDim =
        "aten::take_along_dim(Tensor self, Tensor indices, int? dim=None) -> Tensor" {
        meta: take_along_dim_meta,
        composite: take_along_dim_decomposition,
    }
}

// ---------------------------------------------------------------------------------------
// index.Tensor

/// How `self[indices]` maps to the result: the indexed dims, and the result's sizes
/// (the index tensors' broadcast shape where the first indexed dim was when those dims
/// are together, else first).
struct IndexPlan {
    /// For each dim of `self`: whether an index tensor applies to it.
    indexed: Vec<bool>,
    out: Vec<SymInt>,
}

/// The indices with bool masks replaced by their (eager) positions, one index tensor per
/// mask dim, as PyTorch's `nonzero` expansion does. A traced mask has a data-dependent
/// shape and is an error.
fn expand_masks(indices: Vec<Option<Tensor>>) -> Result<Vec<Option<Tensor>>, OpError> {
    let mut out = Vec::with_capacity(indices.len());
    for t in indices {
        let Some(t) = t else {
            out.push(None);
            continue;
        };
        if meta_of(&t)?.dtype != DType::Bool {
            out.push(Some(t));
            continue;
        }
        let s = t.storage_or_op_error().map_err(|_| {
            OpError::new(
                "indexing with a bool mask gives a data-dependent shape, which cannot be traced",
            )
        })?;
        let a = s.typed::<bool>();
        let mut coords: Vec<Vec<i64>> = vec![Vec::new(); a.ndim()];
        for (at, &v) in a.indexed_iter() {
            if v {
                for (k, c) in coords.iter_mut().enumerate() {
                    c.push(at[k] as i64);
                }
            }
        }
        for c in coords {
            out.push(Some(Tensor::from_slice(&c)));
        }
    }
    Ok(out)
}

fn index_plan(self_meta: &TensorMeta, indices: &[Option<Tensor>]) -> Result<IndexPlan, OpError> {
    if indices.len() > self_meta.rank() {
        op_bail!(
            "too many indices for tensor of dimension {} (got {})",
            self_meta.rank(),
            indices.len()
        );
    }
    let mut indexed = vec![false; self_meta.rank()];
    let mut broadcast: Vec<SymInt> = Vec::new();
    for (d, t) in indices.iter().enumerate() {
        if let Some(t) = t {
            let m = meta_of(t)?;
            if !matches!(m.dtype, DType::I64 | DType::I32) {
                op_bail!("tensors used as indices must be long, int, byte or bool tensors");
            }
            indexed[d] = true;
            broadcast = broadcast_shapes(&broadcast, &m.sizes).map_err(|_| {
                OpError::new("shape mismatch: indexing tensors could not be broadcast together")
            })?;
        }
    }
    let first = indexed.iter().position(|&b| b);
    let last = indexed.iter().rposition(|&b| b);
    let (Some(first), Some(last)) = (first, last) else {
        // No index tensor: the result is the tensor itself.
        return Ok(IndexPlan {
            indexed,
            out: self_meta.sizes.clone(),
        });
    };
    let adjacent = indexed[first..=last].iter().all(|&b| b);
    let rest: Vec<SymInt> = self_meta
        .sizes
        .iter()
        .zip(&indexed)
        .filter(|(_, &b)| !b)
        .map(|(s, _)| s.clone())
        .collect();
    let at = if adjacent { first } else { 0 };
    let mut out = rest[..at].to_vec();
    out.extend(broadcast.iter().cloned());
    out.extend_from_slice(&rest[at..]);
    Ok(IndexPlan { indexed, out })
}

fn index_meta(args: &Index) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&args.self_)?;
    let indices = expand_masks(args.indices.clone())?;
    let plan = index_plan(&m, &indices)?;
    Ok(vec![TensorMeta::new(m.dtype, plan.out)])
}

/// `self[indices]` by the runtime's gather ([`ferrex_kernels::layout::gather_along`]):
/// the index tensors broadcast together, the indexed dims moved first when they are
/// apart (PyTorch then puts the broadcast dims first too), each entry checked against
/// its dim before any read.
fn index_kernel(args: &Index, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let s = args.self_.storage_or_op_error()?;
    let m = TensorMeta::from_shape(s.dtype(), s.shape());
    let indices = expand_masks(args.indices.clone())?;
    let plan = index_plan(&m, &indices)?;
    if !plan.indexed.iter().any(|&b| b) {
        return Ok(vec![s]);
    }
    let out_shape = concrete(
        &metas
            .first()
            .ok_or_else(|| OpError::new("index has one result"))?
            .sizes,
    );
    let mut lists: Vec<(Vec<i64>, Vec<usize>)> = Vec::new();
    let mut dims: Vec<usize> = Vec::new();
    for (d, t) in indices.iter().enumerate() {
        if let Some(t) = t {
            let st = t.storage_or_op_error()?;
            lists.push((st.to_vec::<i64>(), st.shape().to_vec()));
            dims.push(d);
        }
    }
    let ids: Vec<(&[i64], &[usize])> = lists.iter().map(|(l, s)| (&l[..], &s[..])).collect();
    // Apart, the indexed dims are moved first (a copy); together, read in place.
    let together = dims.windows(2).all(|w| w[1] == w[0] + 1);
    let (first, perm) = match together {
        true => (dims[0], None),
        false => {
            let rest = (0..m.rank()).filter(|d| !plan.indexed[*d]);
            (
                0,
                Some(dims.iter().copied().chain(rest).collect::<Vec<_>>()),
            )
        }
    };
    let k = dims.len();
    Ok(vec![with_dtype!(s.dtype(), T => {
        let x = s.typed::<T>();
        let x = match &perm {
            None => x.as_standard_layout().into_owned(),
            Some(perm) => x.view().permuted_axes(IxDyn(perm)).as_standard_layout().into_owned(),
        };
        let shape = x.shape().to_vec();
        let data = x.as_slice().ok_or_else(|| OpError::new("index: input layout"))?;
        let outer = shape[..first].iter().product();
        let inner = shape[first + k..].iter().product();
        let sizes = &shape[first..first + k];
        let numel = out_shape.iter().try_fold(1usize, |p, &d| p.checked_mul(d));
        let numel = numel.ok_or_else(|| OpError::new("index: the result's size overflows"))?;
        let mut out = ferrex_kernels::alloc::try_filled(numel, T::default())
            .map_err(|e| OpError(e.to_string()))?;
        ferrex_kernels::layout::gather_along(data, [outer, inner], sizes, &ids, true, &mut out)
            .map_err(|e| OpError(format!("index: {e}")))?;
        Storage::from_vec(&out_shape, out).ok_or_else(|| OpError::new("index: output shape"))?
    })])
}

/// Index tensors that follow one another (after any number of `None`s) are a gather
/// along the first one's dim; others (apart, or none) are the eager kernel's. A bool
/// mask, whose entries are not indices, is refused by the runtime, which sees dtypes.
fn index_lowering<T: Clone>(a: &Index<T>) -> Result<super::Lowering<T>, OpError> {
    let first = a.indices.iter().position(Option::is_some);
    let given: Vec<T> = a.indices.iter().flatten().cloned().collect();
    let adjacent = first.is_some_and(|f| {
        a.indices
            .get(f..f + given.len())
            .is_some_and(|run| run.iter().all(Option::is_some))
    });
    Ok(match first {
        Some(f) if adjacent => super::Lowering::Gather {
            input: a.self_.clone(),
            dim: i64::try_from(f).map_err(|_| OpError::new("index: too many indices"))?,
            indices: given,
            negative: true,
        },
        _ => super::Lowering::Eager,
    })
}

op_def! {
    pub static INDEX_TENSOR: struct Index =
        "aten::index.Tensor(Tensor self, Tensor?[] indices) -> Tensor" {
        meta: index_meta,
        kernel: index_kernel,
        lowering: index_lowering,
    }
}

// ---------------------------------------------------------------------------------------
// embedding

fn embedding_meta(args: &Embedding) -> Result<Vec<TensorMeta>, OpError> {
    let w = meta_of(&args.weight)?;
    let idx = meta_of(&args.indices)?;
    if w.rank() != 2 {
        op_bail!("'weight' must be 2-D");
    }
    check_index_dtype(&idx, "embedding")?;
    let mut sizes = idx.sizes.clone();
    sizes.push(w.sizes[1].clone());
    Ok(vec![TensorMeta::new(w.dtype, sizes)])
}

fn embedding_kernel(args: &Embedding, out: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let out = out
        .first()
        .ok_or_else(|| OpError::new("embedding has one result"))?;
    let w = args.weight.storage_or_op_error()?.contiguous();
    let &[rows, width] = w.shape() else {
        op_bail!("'weight' must be 2-D");
    };
    let ids = args.indices.storage_or_op_error()?.to_vec::<i64>();
    let shape = concrete(&out.sizes);
    let failed = |e: ferrex_kernels::KernelError| OpError(e.to_string());
    // The runtime's gather, into a new buffer.
    Ok(vec![crate::map_storage!(&w, table => {
        let table = table.as_slice().ok_or_else(|| OpError::new("embedding: weight not contiguous"))?;
        let rows = ferrex_kernels::layout::gather_rows_new(table, [rows, width], &ids).map_err(failed)?;
        ArrayD::from_shape_vec(IxDyn(&shape), rows)
            .map_err(|e| OpError(format!("embedding: {e}")))?
            .into_shared()
    })])
}

fn embedding_lowering<T: Clone>(a: &Embedding<T>) -> Result<super::Lowering<T>, OpError> {
    Ok(super::Lowering::Gather {
        input: a.weight.clone(),
        dim: 0,
        indices: vec![a.indices.clone()],
        negative: false,
    })
}

op_def! {
    pub static EMBEDDING: struct Embedding =
        "aten::embedding(Tensor weight, Tensor indices, SymInt padding_idx=-1, bool scale_grad_by_freq=False, bool sparse=False) -> Tensor" {
        meta: embedding_meta,
        kernel: embedding_kernel,
        lowering: embedding_lowering,
    }
}
