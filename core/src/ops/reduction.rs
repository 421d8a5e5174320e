//! Reductions (`sum`, `mean`, `amax`, `max.dim`, `argmax`, `prod`, `var`, `std`, `any`,
//! `all`, `logsumexp`), scans (`cumsum`), and softmax along a dim.

use ndarray::{ArcArray, ArrayViewMut1, Axis, IxDyn};

use super::elementwise::{float_unary_dtype, Unary};
use super::lowering::{Lowering, Reduction};
use super::op_def;
use super::util::{concrete, meta_of, normalize_dim, normalize_dims, with_float_dtype};
use super::Value;
use crate::error::OpError;
use crate::symbolic::SymInt;
use crate::tensor::{view_to_vec, DType, Scalar, Storage, Tensor, TensorMeta};
use crate::{map_storage, op_bail, with_storage};

/// The dims a reduction runs over (`None` or empty: all) of a tensor of `rank` dims.
fn reduced_dims(dims: Option<&[i64]>, rank: usize) -> Result<Vec<usize>, OpError> {
    Ok(match dims {
        Some(d) if !d.is_empty() => {
            let dims = normalize_dims(d, rank)?;
            // A 0-dim tensor accepts dim 0 / -1 (PyTorch's wrap) but has no dim to reduce.
            if rank == 0 {
                Vec::new()
            } else {
                dims
            }
        }
        _ => (0..rank).collect(),
    })
}

/// The dims a reduction runs over (`None` or empty: all) and the output sizes.
fn reduce_shape(
    m: &TensorMeta,
    dims: Option<&[i64]>,
    keepdim: bool,
) -> Result<(Vec<usize>, Vec<SymInt>), OpError> {
    let dims = reduced_dims(dims, m.rank())?;
    let mut out = Vec::new();
    for (i, s) in m.sizes.iter().enumerate() {
        if dims.contains(&i) {
            if keepdim {
                out.push(SymInt::Int(1));
            }
        } else {
            out.push(s.clone());
        }
    }
    Ok((dims, out))
}

/// Sum of integers and bools is i64, as in PyTorch; floats keep their type.
fn sum_dtype(d: DType, requested: Option<DType>) -> DType {
    requested.unwrap_or(if d.is_float() { d } else { DType::I64 })
}

/// A sum of floats over `dims` on the shared kernel (`ferrex_kernels::reduce::sum`,
/// f64 accumulation, which PyTorch's pairwise sum approximates), scaled by
/// `scale(count of summed elements)` — a mean is `1 / count`. `None` for other dtypes.
pub(super) fn float_sum(
    s: &Storage,
    dims: &[usize],
    keepdim: bool,
    scale: impl Fn(usize) -> f64,
) -> Option<Storage> {
    fn go<T: crate::tensor::Element + ferrex_kernels::Float>(
        a: &ArcArray<T, IxDyn>,
        dims: &[usize],
        keepdim: bool,
        scale: f64,
    ) -> Option<Storage> {
        let shape = a.shape().to_vec();
        let reduce: Vec<bool> = (0..shape.len()).map(|d| dims.contains(&d)).collect();
        let out_shape: Vec<usize> = shape
            .iter()
            .zip(&reduce)
            .filter_map(|(&n, &r)| match (r, keepdim) {
                (false, _) => Some(n),
                (true, true) => Some(1),
                (true, false) => None,
            })
            .collect();
        let x: std::borrow::Cow<[T]> = match a.as_slice() {
            Some(x) => x.into(),
            None => crate::tensor::view_to_vec(&a.view()).into(),
        };
        let mut out = vec![T::ZERO; out_shape.iter().product()];
        ferrex_kernels::reduce::sum(&x, &shape, &reduce, scale, &mut out).ok()?;
        Storage::from_vec(&out_shape, out)
    }
    let count = |shape: &[usize]| dims.iter().filter_map(|&d| shape.get(d)).product();
    match s {
        Storage::F32(a) => go(a, dims, keepdim, scale(count(a.shape()))),
        Storage::F64(a) => go(a, dims, keepdim, scale(count(a.shape()))),
        _ => None,
    }
}

fn reduce_sum(s: &Storage, dims: &[usize], keepdim: bool, dtype: DType) -> Storage {
    fn go<T: crate::tensor::Element + num_like::Zero>(
        a: ArcArray<T, IxDyn>,
        dims: &[usize],
        keepdim: bool,
    ) -> ArcArray<T, IxDyn> {
        let mut sorted = dims.to_vec();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        let mut cur = a.into_owned();
        for &d in &sorted {
            let r = cur.fold_axis(Axis(d), T::zero(), |acc, &x| acc.plus(x));
            cur = if keepdim { r.insert_axis(Axis(d)) } else { r };
        }
        cur.into_shared()
    }
    let s = s.cast(dtype);
    if let Some(r) = float_sum(&s, dims, keepdim, |_| 1.0) {
        return r;
    }
    match s {
        Storage::F32(a) => Storage::F32(go(a, dims, keepdim)),
        Storage::F64(a) => Storage::F64(go(a, dims, keepdim)),
        Storage::I64(a) => Storage::I64(go(a, dims, keepdim)),
        Storage::I32(a) => Storage::I32(go(a, dims, keepdim)),
        Storage::Bool(a) => Storage::I64(go(a.mapv(|b| b as i64).into_shared(), dims, keepdim)),
        Storage::U8(a) => Storage::I64(go(a.mapv(i64::from).into_shared(), dims, keepdim)),
    }
}

mod num_like {
    /// Addition as PyTorch sums: integers wrap around on overflow (never a panic).
    pub trait Zero: Sized {
        fn zero() -> Self;
        fn plus(&self, x: Self) -> Self;
    }
    macro_rules! float {
        ($($t:ty),*) => { $(impl Zero for $t {
            fn zero() -> Self { 0.0 }
            fn plus(&self, x: Self) -> Self { self + x }
        })* };
    }
    macro_rules! int {
        ($($t:ty),*) => { $(impl Zero for $t {
            fn zero() -> Self { 0 }
            fn plus(&self, x: Self) -> Self { self.wrapping_add(x) }
        })* };
    }
    float!(f32, f64);
    int!(i32, i64);
}

fn sum_meta(a: &ReduceAll) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    Ok(vec![TensorMeta::new(
        sum_dtype(m.dtype, a.dtype),
        Vec::new(),
    )])
}

fn sum_kernel(a: &ReduceAll, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let s = a.self_.storage_or_op_error()?;
    let dims: Vec<usize> = (0..s.shape().len()).collect();
    Ok(vec![reduce_sum(&s, &dims, false, out_dtype(metas)?)])
}

fn sum_dim_meta(a: &ReduceDims) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    let (_, sizes) = reduce_shape(&m, a.dim.as_deref(), a.keepdim)?;
    Ok(vec![TensorMeta::new(sum_dtype(m.dtype, a.dtype), sizes)])
}

fn sum_dim_kernel(a: &ReduceDims, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let s = a.self_.storage_or_op_error()?;
    let dims = reduced_dims(a.dim.as_deref(), s.shape().len())?;
    Ok(vec![reduce_sum(&s, &dims, a.keepdim, out_dtype(metas)?)])
}

/// The dtype of the one result meta computed.
fn out_dtype(metas: &[TensorMeta]) -> Result<DType, OpError> {
    Ok(single(metas)?.dtype)
}

/// The one result meta computed.
fn single(metas: &[TensorMeta]) -> Result<&TensorMeta, OpError> {
    metas
        .first()
        .ok_or_else(|| OpError::new("reduction: no result meta"))
}

/// The concrete sizes of the first result meta computed.
fn out_shape(metas: &[TensorMeta]) -> Result<Vec<usize>, OpError> {
    Ok(concrete(&single(metas)?.sizes))
}

fn mean_dtype(m: &TensorMeta, requested: Option<DType>) -> Result<DType, OpError> {
    let d = requested.unwrap_or(m.dtype);
    if !d.is_float() {
        return Err(OpError(format!(
            "mean(): could not infer output dtype. Input dtype must be a floating point type, but got {d}"
        )));
    }
    Ok(d)
}

fn mean_dim_meta(a: &ReduceDims) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    let (_, sizes) = reduce_shape(&m, a.dim.as_deref(), a.keepdim)?;
    Ok(vec![TensorMeta::new(mean_dtype(&m, a.dtype)?, sizes)])
}

fn mean_kernel_dims(
    x: &Tensor,
    dims: Option<&[i64]>,
    keepdim: bool,
    dtype: DType,
) -> Result<Vec<Storage>, OpError> {
    let s = x.storage_or_op_error()?;
    let dims = reduced_dims(dims, s.shape().len())?;
    if let Some(mean) = float_sum(&s.cast(dtype), &dims, keepdim, |n| 1.0 / n as f64) {
        return Ok(vec![mean]);
    }
    let count: usize = dims.iter().map(|&d| s.shape()[d]).product();
    let sum = reduce_sum(&s.cast(DType::F64), &dims, keepdim, DType::F64);
    let mean = match sum {
        Storage::F64(a) => Storage::F64(a.mapv(|x| x / count as f64).into_shared()),
        other => other,
    };
    Ok(vec![mean.into_dtype(dtype)])
}

fn mean_dim_kernel(a: &ReduceDims, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    mean_kernel_dims(&a.self_, a.dim.as_deref(), a.keepdim, out_dtype(metas)?)
}

fn mean_meta(a: &ReduceAll) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    Ok(vec![TensorMeta::new(mean_dtype(&m, a.dtype)?, Vec::new())])
}

fn mean_kernel(a: &ReduceAll, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    mean_kernel_dims(&a.self_, None, false, out_dtype(metas)?)
}

/// `sum(x)` → `sum.dim_IntList(x, [])` (an empty dim list reduces every dim), as
/// PyTorch's default decomposition table writes it.
fn sum_decomposition(a: &ReduceAll) -> Result<Vec<Tensor>, OpError> {
    let mut values = vec![Value::Tensor(a.self_.clone()), Value::IntList(Vec::new())];
    if let Some(d) = a.dtype {
        values.extend([Value::Bool(false), Value::DType(d)]);
    }
    Ok(Tensor::call_op(&SUM_DIM, values))
}

/// What a sum, mean, `amax` or `amin` offers the runtime: its reduction (`dims` `None`
/// or empty: every dim).
fn reduce_lowering<T: Clone>(
    input: &T,
    dims: Option<&[i64]>,
    dtype: Option<DType>,
    op: Reduction,
) -> Lowering<T> {
    Lowering::Reduce {
        input: input.clone(),
        dims: dims.map(<[i64]>::to_vec),
        dtype,
        op,
    }
}

op_def! {
    pub static SUM: struct ReduceAll = "aten::sum(Tensor self, *, ScalarType? dtype=None) -> Tensor" {
        meta: sum_meta,
        kernel: sum_kernel,
        decomposition: sum_decomposition,
        lowering: |a: &ReduceAll<_>| Ok(reduce_lowering(&a.self_, None, a.dtype, Reduction::Sum)),
    }
    pub static SUM_DIM: struct ReduceDims =
        "aten::sum.dim_IntList(Tensor self, int[1]? dim, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor" {
        meta: sum_dim_meta,
        kernel: sum_dim_kernel,
        lowering: |a: &ReduceDims<_>| Ok(reduce_lowering(&a.self_, a.dim.as_deref(), a.dtype, Reduction::Sum)),
    }
    pub static MEAN: ReduceAll = "aten::mean(Tensor self, *, ScalarType? dtype=None) -> Tensor" {
        meta: mean_meta,
        kernel: mean_kernel,
        lowering: |a: &ReduceAll<_>| Ok(reduce_lowering(&a.self_, None, a.dtype, Reduction::Mean)),
    }
    pub static MEAN_DIM: ReduceDims =
        "aten::mean.dim(Tensor self, int[1]? dim, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor" {
        meta: mean_dim_meta,
        kernel: mean_dim_kernel,
        lowering: |a: &ReduceDims<_>| Ok(reduce_lowering(&a.self_, a.dim.as_deref(), a.dtype, Reduction::Mean)),
    }
}

// ---------------------------------------------------------------------------------------
// Shared machinery of the reductions below

/// Applies `f` to the elements of `a` over `dims`, one call per output element: the
/// reduced dims are moved last and flattened, so each call sees one contiguous row, in
/// the row-major order of the output (`out_shape`, with or without kept dims).
fn reduce_rows<T: Copy, U>(
    a: &ArcArray<T, IxDyn>,
    dims: &[usize],
    out_shape: &[usize],
    mut f: impl FnMut(&[T]) -> U,
) -> Result<ArcArray<U, IxDyn>, OpError> {
    let rank = a.ndim();
    // A 0-dim tensor accepts dim 0 / -1 but has no axis to move.
    let dims: Vec<usize> = dims.iter().copied().filter(|&d| d < rank).collect();
    let perm: Vec<usize> = (0..rank)
        .filter(|d| !dims.contains(d))
        .chain(dims.iter().copied())
        .collect();
    let inner: usize = dims.iter().map(|&d| a.shape()[d]).product();
    let outer: usize = perm[..rank - dims.len()]
        .iter()
        .map(|&d| a.shape()[d])
        .product();
    let out: Vec<U> = if inner == 0 {
        (0..outer).map(|_| f(&[])).collect()
    } else {
        // The rows in place when the reduced dims are the innermost of a row-major
        // array; else row-major by the kernels' strided copy, not ndarray's element walk.
        let rows = a.view().permuted_axes(IxDyn(&perm));
        match rows.as_slice() {
            Some(flat) => flat.chunks(inner).map(&mut f).collect(),
            None => view_to_vec(&rows).chunks(inner).map(&mut f).collect(),
        }
    };
    ArcArray::from_shape_vec(IxDyn(out_shape), out)
        .map_err(|e| OpError(format!("reduction output does not fit {out_shape:?}: {e}")))
}

/// Applies `f` to every 1-D lane of (a copy of) `a` along `dim`.
fn map_lanes<T: Clone>(
    a: &ArcArray<T, IxDyn>,
    dim: usize,
    mut f: impl FnMut(ArrayViewMut1<T>),
) -> ArcArray<T, IxDyn> {
    let mut out = a.to_owned();
    let mut view = out.view_mut();
    if view.ndim() == 0 {
        // A 0-dim tensor is one lane of one element.
        view = view.insert_axis(Axis(0));
    }
    for lane in view.lanes_mut(Axis(dim)) {
        f(lane);
    }
    out.into_shared()
}

/// PyTorch's scan for `max`/`min` along a dim: the first extreme value and its index,
/// where a NaN (incomparable) wins and ends the scan. `None` for an empty row.
fn extreme<T: PartialOrd + Copy>(row: &[T], greater: bool) -> Option<(T, usize)> {
    let best = extreme_value(row, greater)?;
    // The first position of the best value (of a NaN, the one value unequal to itself),
    // as PyTorch's `argmax` / `max.dim` give.
    #[allow(clippy::eq_op)]
    let index = match best != best {
        true => first_where(row, |v| v != v),
        false => first_where(row, |v| v == best),
    };
    Some((best, index.unwrap_or(0)))
}

/// [`extreme`]'s value alone (`amax`, `amin`): NaN if the row holds one.
fn extreme_value<T: PartialOrd + Copy>(row: &[T], greater: bool) -> Option<T> {
    let first = *row.first()?;
    let (best, nan) = if greater {
        lanewise_best(row, first, |b, v| v > b)
    } else {
        lanewise_best(row, first, |b, v| v < b)
    };
    #[allow(clippy::eq_op)]
    Some(match nan {
        true => row.iter().copied().find(|v| v != v).unwrap_or(best),
        false => best,
    })
}

/// The first position where `hit` holds, tested 16 elements at a time without an
/// early exit inside a block (which keeps the test vectorized).
#[inline(always)]
fn first_where<T: Copy>(row: &[T], hit: impl Fn(T) -> bool) -> Option<usize> {
    for (b, block) in row.chunks(16).enumerate() {
        if block.iter().fold(false, |any, &v| any | hit(v)) {
            return block.iter().position(|&v| hit(v)).map(|i| b * 16 + i);
        }
    }
    None
}

/// The best of a row by `better(best, v)` among its non-NaN values, and whether it
/// holds a NaN, kept in 16 lanes so that the loop vectorizes (a fold through one value
/// does not: each step waits for the last).
#[inline(always)]
#[allow(clippy::eq_op)]
fn lanewise_best<T: PartialEq + Copy>(
    row: &[T],
    first: T,
    better: impl Fn(T, T) -> bool,
) -> (T, bool) {
    const LANES: usize = 16;
    let pick = |b: T, v: T| if better(b, v) { v } else { b };
    let (mut lanes, mut nans) = ([first; LANES], [false; LANES]);
    let chunks = row.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for ((l, n), &v) in lanes.iter_mut().zip(&mut nans).zip(chunk) {
            *l = pick(*l, v);
            *n |= v != v;
        }
    }
    let best = lanes.into_iter().fold(first, pick);
    let nan = nans.contains(&true) || rest.iter().any(|&v| v != v);
    (rest.iter().fold(best, |b, &v| pick(b, v)), nan)
}

/// Rejects reducing a dim of static size 0 for ops with no identity (`amax`, `argmax`).
fn check_nonempty(m: &TensorMeta, dims: &[usize], name: &str) -> Result<(), OpError> {
    for &d in dims {
        if m.sizes.get(d).and_then(SymInt::as_int) == Some(0) {
            op_bail!("{name}(): Expected reduction dim {d} to have non-zero size.");
        }
    }
    if dims.is_empty() && m.numel().as_int() == Some(0) {
        op_bail!(
            "{name}(): Expected reduction dim to be specified for input.numel() == 0. \
             Specify the reduction dim with the 'dim' argument."
        );
    }
    Ok(())
}

/// Input meta, reduced dims and output sizes of a reduction of `x` over `dims` (`None`
/// or empty: all).
fn reduction_args(
    x: &Tensor,
    dims: Option<&[i64]>,
    keepdim: bool,
) -> Result<(TensorMeta, Vec<usize>, Vec<SymInt>), OpError> {
    let m = meta_of(x)?;
    let (dims, sizes) = reduce_shape(&m, dims, keepdim)?;
    Ok((m, dims, sizes))
}

// ---------------------------------------------------------------------------------------
// amax, amin, max.dim, min.dim, argmax, argmin

fn amax_meta(a: &Amax, name: &str) -> Result<Vec<TensorMeta>, OpError> {
    let (m, dims, sizes) = reduction_args(&a.self_, Some(&a.dim), a.keepdim)?;
    check_nonempty(&m, &dims, name)?;
    Ok(vec![TensorMeta::new(m.dtype, sizes)])
}

fn amax_amin_kernel(
    a: &Amax,
    metas: &[TensorMeta],
    greater: bool,
) -> Result<Vec<Storage>, OpError> {
    let s = a.self_.storage_or_op_error()?;
    let dims = reduced_dims(Some(&a.dim), s.shape().len())?;
    let shape = out_shape(metas)?;
    let values = map_storage!(&s, a => reduce_rows(a, &dims, &shape, |row| {
        extreme_value(row, greater).unwrap_or_default()
    })?);
    Ok(vec![values])
}

fn max_dim_meta(a: &ReduceDim, name: &str) -> Result<Vec<TensorMeta>, OpError> {
    let (m, dims, sizes) = reduction_args(&a.self_, Some(&[a.dim]), a.keepdim)?;
    check_nonempty(&m, &dims, name)?;
    Ok(vec![
        TensorMeta::new(m.dtype, sizes.clone()),
        TensorMeta::new(DType::I64, sizes),
    ])
}

/// Values and i64 indices of the first maximum (minimum) along the dim.
fn max_min_dim_kernel(
    a: &ReduceDim,
    metas: &[TensorMeta],
    greater: bool,
) -> Result<Vec<Storage>, OpError> {
    let s = a.self_.storage_or_op_error()?;
    let dims = reduced_dims(Some(&[a.dim]), s.shape().len())?;
    let shape = out_shape(metas)?;
    let mut indices = Vec::new();
    let values = map_storage!(&s, a => reduce_rows(a, &dims, &shape, |row| {
        let (v, i) = extreme(row, greater).unwrap_or_default();
        indices.push(i as i64);
        v
    })?);
    let indices = ArcArray::from_shape_vec(IxDyn(&shape), indices)
        .map_err(|e| OpError(format!("indices do not fit {shape:?}: {e}")))?;
    Ok(vec![values, Storage::I64(indices)])
}

/// The dims of an `argmax` / `argmin`: `dim=None` reduces the flattened tensor.
fn arg_dims(dim: Option<i64>) -> Option<[i64; 1]> {
    dim.map(|d| [d])
}

/// `dim=None` reduces the flattened tensor (with `keepdim`, every dim becomes 1).
fn argmax_meta(a: &Argmax, name: &str) -> Result<Vec<TensorMeta>, OpError> {
    let dims = arg_dims(a.dim);
    let (m, dims, sizes) = reduction_args(&a.self_, dims.as_ref().map(|d| &d[..]), a.keepdim)?;
    check_nonempty(&m, &dims, name)?;
    Ok(vec![TensorMeta::new(DType::I64, sizes)])
}

fn argmax_argmin_kernel(
    a: &Argmax,
    metas: &[TensorMeta],
    greater: bool,
) -> Result<Vec<Storage>, OpError> {
    let s = a.self_.storage_or_op_error()?;
    let dims = arg_dims(a.dim);
    let dims = reduced_dims(dims.as_ref().map(|d| &d[..]), s.shape().len())?;
    let shape = out_shape(metas)?;
    let indices = with_storage!(&s, a => reduce_rows(a, &dims, &shape, |row| {
        extreme(row, greater).map_or(0, |(_, i)| i as i64)
    })?);
    Ok(vec![Storage::I64(indices)])
}

/// Along a dim, lanes; over the flattened tensor (no dim), the eager kernel.
fn argmax_lowering<T: Clone>(a: &Argmax<T>) -> Result<Lowering<T>, OpError> {
    match a.dim {
        Some(dim) => Lowering::lanes(&a.self_, dim),
        None => Ok(Lowering::Eager),
    }
}

op_def! {
    pub static AMAX: struct Amax = "aten::amax(Tensor self, int[1] dim=[], bool keepdim=False) -> Tensor" {
        meta: |a: &Amax| amax_meta(a, "amax"),
        kernel: |a: &Amax, m: &[TensorMeta]| amax_amin_kernel(a, m, true),
        lowering: |a: &Amax<_>| Ok(reduce_lowering(&a.self_, Some(&a.dim), None, Reduction::Max)),
    }
    pub static AMIN: Amax = "aten::amin(Tensor self, int[1] dim=[], bool keepdim=False) -> Tensor" {
        meta: |a: &Amax| amax_meta(a, "amin"),
        kernel: |a: &Amax, m: &[TensorMeta]| amax_amin_kernel(a, m, false),
        lowering: |a: &Amax<_>| Ok(reduce_lowering(&a.self_, Some(&a.dim), None, Reduction::Min)),
    }
    pub static MAX_DIM: struct ReduceDim =
        "aten::max.dim(Tensor self, int dim, bool keepdim=False) -> (Tensor values, Tensor indices)" {
        meta: |a: &ReduceDim| max_dim_meta(a, "max"),
        kernel: |a: &ReduceDim, m: &[TensorMeta]| max_min_dim_kernel(a, m, true),
        lowering: |a: &ReduceDim<_>| Lowering::lanes(&a.self_, a.dim),
    }
    pub static MIN_DIM: ReduceDim =
        "aten::min.dim(Tensor self, int dim, bool keepdim=False) -> (Tensor values, Tensor indices)" {
        meta: |a: &ReduceDim| max_dim_meta(a, "min"),
        kernel: |a: &ReduceDim, m: &[TensorMeta]| max_min_dim_kernel(a, m, false),
        lowering: |a: &ReduceDim<_>| Lowering::lanes(&a.self_, a.dim),
    }
    pub static ARGMAX: struct Argmax = "aten::argmax(Tensor self, int? dim=None, bool keepdim=False) -> Tensor" {
        meta: |a: &Argmax| argmax_meta(a, "argmax"),
        kernel: |a: &Argmax, m: &[TensorMeta]| argmax_argmin_kernel(a, m, true),
        lowering: argmax_lowering,
    }
    pub static ARGMIN: Argmax = "aten::argmin(Tensor self, int? dim=None, bool keepdim=False) -> Tensor" {
        meta: |a: &Argmax| argmax_meta(a, "argmin"),
        kernel: |a: &Argmax, m: &[TensorMeta]| argmax_argmin_kernel(a, m, false),
        lowering: argmax_lowering,
    }
}

// ---------------------------------------------------------------------------------------
// prod, var, std, any, all, logsumexp

fn prod_meta(a: &ProdDim) -> Result<Vec<TensorMeta>, OpError> {
    let (m, _, sizes) = reduction_args(&a.self_, Some(&[a.dim]), a.keepdim)?;
    Ok(vec![TensorMeta::new(sum_dtype(m.dtype, a.dtype), sizes)])
}

/// Integers (and bools) multiply in wrapping i64; floats in f64, rounded once.
fn prod_kernel(a: &ProdDim, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let (dtype, shape) = (out_dtype(metas)?, out_shape(metas)?);
    let s = a.self_.storage_or_op_error()?.into_dtype(dtype);
    let dims = reduced_dims(Some(&[a.dim]), s.shape().len())?;
    let p = if dtype.is_float() {
        Storage::F64(reduce_rows(&s.typed::<f64>(), &dims, &shape, |r| {
            r.iter().product::<f64>()
        })?)
    } else {
        Storage::I64(reduce_rows(&s.typed::<i64>(), &dims, &shape, |r| {
            r.iter().fold(1i64, |p, &x| p.wrapping_mul(x))
        })?)
    };
    Ok(vec![p.into_dtype(dtype)])
}

/// `var`/`std` take only floating-point inputs.
fn var_meta(a: &VarCorrection) -> Result<Vec<TensorMeta>, OpError> {
    let (m, _, sizes) = reduction_args(&a.self_, a.dim.as_deref(), a.keepdim)?;
    if !m.dtype.is_float() {
        op_bail!(
            "std and var only support floating point and complex dtypes, got {}",
            m.dtype
        );
    }
    Ok(vec![TensorMeta::new(m.dtype, sizes)])
}

fn var_dim_meta(a: &VarDim) -> Result<Vec<TensorMeta>, OpError> {
    var_meta(&VarCorrection {
        self_: a.self_.clone(),
        dim: a.dim.clone(),
        correction: None,
        keepdim: a.keepdim,
    })
}

/// `var.dim` / `std.dim`'s `unbiased` is `var.correction`'s correction of 1 or 0.
fn var_of_dim(a: &VarDim) -> Tensor {
    let dims = a.dim.as_deref().unwrap_or(&[]);
    a.self_.var_dim(dims, i64::from(a.unbiased), a.keepdim)
}

/// `sum((x - mean)^2) / max(0, n - correction)` in f64 (two passes), `sqrt` of it for std.
fn var_std_kernel(
    a: &VarCorrection,
    metas: &[TensorMeta],
    sqrt: bool,
) -> Result<Vec<Storage>, OpError> {
    let shape = out_shape(metas)?;
    let correction = a.correction.map_or(1.0, |c| c.to::<f64>());
    let s = a.self_.storage_or_op_error()?;
    let dims = reduced_dims(a.dim.as_deref(), s.shape().len())?;
    let s = s.typed::<f64>();
    let v = reduce_rows(&s, &dims, &shape, |r| {
        let n = r.len() as f64;
        let mean = r.iter().sum::<f64>() / n;
        let ss: f64 = r.iter().map(|x| (x - mean) * (x - mean)).sum();
        let var = ss / (n - correction).max(0.0);
        if sqrt {
            var.sqrt()
        } else {
            var
        }
    })?;
    Ok(vec![Storage::F64(v).into_dtype(out_dtype(metas)?)])
}

fn any_meta(a: &ReduceDim) -> Result<Vec<TensorMeta>, OpError> {
    let (_, _, sizes) = reduction_args(&a.self_, Some(&[a.dim]), a.keepdim)?;
    Ok(vec![TensorMeta::new(DType::Bool, sizes)])
}

/// Any dtype in (nonzero is true), bool out.
fn any_all_kernel(a: &ReduceDim, metas: &[TensorMeta], any: bool) -> Result<Vec<Storage>, OpError> {
    let shape = out_shape(metas)?;
    let s = a.self_.storage_or_op_error()?;
    let dims = reduced_dims(Some(&[a.dim]), s.shape().len())?;
    let s = s.typed::<bool>();
    Ok(vec![Storage::Bool(reduce_rows(&s, &dims, &shape, |r| {
        if any {
            r.iter().any(|&x| x)
        } else {
            r.iter().all(|&x| x)
        }
    })?)])
}

fn logsumexp_meta(a: &Logsumexp) -> Result<Vec<TensorMeta>, OpError> {
    let (m, _, sizes) = reduction_args(&a.self_, Some(&a.dim), a.keepdim)?;
    Ok(vec![TensorMeta::new(float_unary_dtype(m.dtype), sizes)])
}

/// `m + log(sum(exp(x - m)))` with `m` the row's maximum, taken as 0 when infinite (so
/// rows of `-inf` give `-inf` and a `+inf` gives `+inf`, as in PyTorch).
fn logsumexp_kernel(a: &Logsumexp, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let shape = out_shape(metas)?;
    let s = a.self_.storage_or_op_error()?;
    let dims = reduced_dims(Some(&a.dim), s.shape().len())?;
    let s = s.typed::<f64>();
    let v = reduce_rows(&s, &dims, &shape, |r| {
        let m = r.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        let m = if m.is_infinite() { 0.0 } else { m };
        r.iter().map(|x| (x - m).exp()).sum::<f64>().ln() + m
    })?;
    Ok(vec![Storage::F64(v).into_dtype(out_dtype(metas)?)])
}

op_def! {
    pub static PROD_DIM_INT: struct ProdDim =
        "aten::prod.dim_int(Tensor self, int dim, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor" {
        meta: prod_meta,
        kernel: prod_kernel,
    }
    pub static VAR_CORRECTION: struct VarCorrection =
        "aten::var.correction(Tensor self, int[1]? dim=None, *, Scalar? correction=None, bool keepdim=False) -> Tensor" {
        meta: var_meta,
        kernel: |a: &VarCorrection, m: &[TensorMeta]| var_std_kernel(a, m, false),
        lowering: var_lowering,
    }
    pub static STD_CORRECTION: VarCorrection =
        "aten::std.correction(Tensor self, int[1]? dim=None, *, Scalar? correction=None, bool keepdim=False) -> Tensor" {
        meta: var_meta,
        kernel: |a: &VarCorrection, m: &[TensorMeta]| var_std_kernel(a, m, true),
        lowering: var_lowering,
    }
    pub static VAR_DIM: struct VarDim =
        "aten::var.dim(Tensor self, int[1]? dim, bool unbiased=True, bool keepdim=False) -> Tensor" {
        meta: var_dim_meta,
        composite: |a: &VarDim| Ok(vec![var_of_dim(a)]),
    }
    pub static STD_DIM: VarDim =
        "aten::std.dim(Tensor self, int[1]? dim, bool unbiased=True, bool keepdim=False) -> Tensor" {
        meta: var_dim_meta,
        // As PyTorch's Core ATen IR writes it: the variance's square root.
        composite: |a: &VarDim| Ok(vec![var_of_dim(a).sqrt()]),
    }
    pub static ANY_DIM: ReduceDim = "aten::any.dim(Tensor self, int dim, bool keepdim=False) -> Tensor" {
        meta: any_meta,
        kernel: |a: &ReduceDim, m: &[TensorMeta]| any_all_kernel(a, m, true),
    }
    pub static ALL_DIM: ReduceDim = "aten::all.dim(Tensor self, int dim, bool keepdim=False) -> Tensor" {
        meta: any_meta,
        kernel: |a: &ReduceDim, m: &[TensorMeta]| any_all_kernel(a, m, false),
    }
    pub static LOGSUMEXP: struct Logsumexp =
        "aten::logsumexp(Tensor self, int[1] dim, bool keepdim=False) -> Tensor" {
        meta: logsumexp_meta,
        kernel: logsumexp_kernel,
        lowering: logsumexp_lowering,
    }
}

/// `var` / `std` over given dims reads each lane alone: a planned step of its kernel.
/// Over every dim (`dim=None`): the eager kernel.
fn var_lowering<T: Clone>(a: &VarCorrection<T>) -> Result<Lowering<T>, OpError> {
    match &a.dim {
        Some(dims) if !dims.is_empty() => Lowering::lanes_along(&a.self_, dims),
        _ => Ok(Lowering::Eager),
    }
}

/// `logsumexp` over one dim reads each lane alone (a contrastive loss's row): the
/// runtime runs its kernel as a planned step. Over several dims: the eager kernel.
fn logsumexp_lowering<T: Clone>(a: &Logsumexp<T>) -> Result<Lowering<T>, OpError> {
    match a.dim[..] {
        [dim] => Lowering::lanes(&a.self_, dim),
        _ => Ok(Lowering::Eager),
    }
}

// ---------------------------------------------------------------------------------------
// cumsum

fn cumsum_meta(a: &Cumsum) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    normalize_dim(a.dim, m.rank())?;
    Ok(vec![TensorMeta::new(sum_dtype(m.dtype, a.dtype), m.sizes)])
}

/// Running sums accumulate floats in f64 (as PyTorch's CPU kernel does in double),
/// integers in wrapping i64.
fn cumsum_kernel(a: &Cumsum, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let dtype = out_dtype(metas)?;
    let s = a.self_.storage_or_op_error()?.into_dtype(dtype);
    let dim = normalize_dim(a.dim, s.shape().len())?;
    if let (Storage::F32(x), true) = (&s, dim + 1 == s.shape().len()) {
        if let Some(data) = x.as_slice() {
            // Rows of f32 along the last dim: summed in f64 as below, written as f32,
            // without converting the whole tensor there and back.
            // Eight rows at a time, so that their sums' additions overlap (one row's
            // each waits for the last).
            const ROWS: usize = 8;
            let row = s.shape()[dim].max(1);
            let mut out = ferrex_kernels::try_filled(data.len(), 0f32).map_err(|e| OpError(e.0))?;
            for (src, dst) in data.chunks(ROWS * row).zip(out.chunks_mut(ROWS * row)) {
                let n = src.len() / row;
                let mut acc = [0.0f64; ROWS];
                for c in 0..row {
                    for (r, a) in acc.iter_mut().enumerate().take(n) {
                        *a += f64::from(src[r * row + c]);
                        dst[r * row + c] = *a as f32;
                    }
                }
            }
            let out = Storage::from_vec(s.shape(), out);
            return Ok(vec![
                out.ok_or_else(|| OpError::new("cumsum: the output shape"))?
            ]);
        }
    }
    Ok(vec![running(&s, dim, dtype, false)])
}

/// Running sums (`product` false) or products along `dim`, into `dtype`: floats in f64
/// (as PyTorch's CPU kernels accumulate sums in double; a product is rounded to f32 at
/// each step for f32, as PyTorch's f32 `cumprod`), integers wrapping in i64.
fn running(s: &Storage, dim: usize, dtype: DType, product: bool) -> Storage {
    let out = if dtype.is_float() {
        let f32_steps = product && dtype == DType::F32;
        Storage::F64(map_lanes(&s.typed::<f64>(), dim, |mut lane| {
            let mut acc = if product { 1.0 } else { 0.0 };
            lane.iter_mut().for_each(|x| {
                acc = if product { acc * *x } else { acc + *x };
                if f32_steps {
                    acc = f64::from(acc as f32);
                }
                *x = acc;
            });
        }))
    } else {
        Storage::I64(map_lanes(&s.typed::<i64>(), dim, |mut lane| {
            let mut acc = i64::from(product);
            lane.iter_mut().for_each(|x| {
                acc = if product {
                    acc.wrapping_mul(*x)
                } else {
                    acc.wrapping_add(*x)
                };
                *x = acc;
            });
        }))
    };
    out.into_dtype(dtype)
}

op_def! {
    pub static CUMSUM: struct Cumsum = "aten::cumsum(Tensor self, int dim, *, ScalarType? dtype=None) -> Tensor" {
        meta: cumsum_meta,
        kernel: cumsum_kernel,
        lowering: |a: &Cumsum<_>| Lowering::lanes(&a.self_, a.dim),
    }
}

// ---------------------------------------------------------------------------------------
// cummax, cummin

fn cummax_meta(a: &Cummax) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    normalize_dim(a.dim, m.rank())?;
    Ok(vec![
        TensorMeta::new(m.dtype, m.sizes.clone()),
        TensorMeta::new(DType::I64, m.sizes),
    ])
}

/// The running maximum (`greater`) or minimum along `dim` and where it was found, as
/// ATen's `cummax_cummin_helper`: a later equal value takes the index over (`>=`, `<=`),
/// and a NaN, once reached, is the value (and index) of the rest of its lane.
fn cummax_kernel(a: &Cummax, greater: bool) -> Result<Vec<Storage>, OpError> {
    let s = a.self_.storage_or_op_error()?;
    let dim = normalize_dim(a.dim, s.shape().len())?;
    let mut indices = Vec::new();
    let values = map_storage!(&s, x => map_lanes(x, dim, |mut lane| {
        let mut best = None;
        for (i, x) in (0i64..).zip(lane.iter_mut()) {
            #[allow(clippy::eq_op)]
            let takes = |b: &_| match greater {
                true => *x >= *b,
                false => *x <= *b,
            } || *x != *x;
            let (v, at) = match best {
                #[allow(clippy::eq_op)]
                Some((b, at)) if b != b || !takes(&b) => (b, at),
                _ => (*x, i),
            };
            *x = v;
            indices.push(at);
            best = Some((v, at));
        }
    }));
    let mut at = indices.into_iter();
    let zeros = ArcArray::<i64, IxDyn>::zeros(IxDyn(s.shape()));
    let indices = map_lanes(&zeros, dim, |lane| {
        lane.into_iter().zip(at.by_ref()).for_each(|(i, v)| *i = v);
    });
    Ok(vec![values, Storage::I64(indices)])
}

/// `log(Σ exp)` running along `dim`, each step a `logaddexp` from `-inf` (never `exp`
/// of a large number; NaN propagates).
fn logcumsumexp_kernel(a: &Cummax, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let dtype = out_dtype(metas)?;
    let s = a.self_.storage_or_op_error()?;
    let dim = normalize_dim(a.dim, s.shape().len())?;
    let out = map_lanes(&s.typed::<f64>(), dim, |mut lane| {
        let mut acc = f64::NEG_INFINITY;
        lane.iter_mut().for_each(|x| {
            acc = ferrex_kernels::pointwise::logaddexp(acc, *x);
            *x = acc;
        });
    });
    Ok(vec![Storage::F64(out).into_dtype(dtype)])
}

op_def! {
    pub static LOGCUMSUMEXP: Cummax = "aten::logcumsumexp(Tensor self, int dim) -> Tensor" {
        meta: |a: &Cummax| {
            let m = meta_of(&a.self_)?;
            normalize_dim(a.dim, m.rank())?;
            if !m.dtype.is_float() {
                op_bail!("\"logcumsumexp_out_cpu\" not implemented for '{}'", m.dtype);
            }
            Ok(vec![m])
        },
        kernel: logcumsumexp_kernel,
        lowering: |a: &Cummax<_>| Lowering::lanes(&a.self_, a.dim),
    }
}

op_def! {
    pub static CUMMAX: struct Cummax =
        "aten::cummax(Tensor self, int dim) -> (Tensor values, Tensor indices)" {
        meta: cummax_meta,
        kernel: |a: &Cummax, _: &[TensorMeta]| cummax_kernel(a, true),
        lowering: |a: &Cummax<_>| Lowering::lanes(&a.self_, a.dim),
    }
    pub static CUMMIN: Cummax =
        "aten::cummin(Tensor self, int dim) -> (Tensor values, Tensor indices)" {
        meta: cummax_meta,
        kernel: |a: &Cummax, _: &[TensorMeta]| cummax_kernel(a, false),
        lowering: |a: &Cummax<_>| Lowering::lanes(&a.self_, a.dim),
    }
}

// ---------------------------------------------------------------------------------------
// softmax, log_softmax

/// `_softmax(self, dim, half_to_float)`: a floating-point input; `half_to_float` only
/// applies to half inputs, which ferrex does not have.
fn softmax_prim_meta(a: &SoftmaxPrim, name: &str) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    normalize_dim(a.dim, m.rank())?;
    if a.half_to_float {
        op_bail!(
            "half_to_float=True is only supported for half inputs, got {}",
            m.dtype
        );
    }
    softmax_dtype(name, m.dtype)?;
    Ok(vec![m])
}

/// `softmax.int(self, dim, dtype=None)`: the input is first converted to `dtype`.
fn softmax_int_meta(a: &SoftmaxInt, name: &str) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    normalize_dim(a.dim, m.rank())?;
    let dtype = softmax_dtype(name, a.dtype.unwrap_or(m.dtype))?;
    Ok(vec![TensorMeta::new(dtype, m.sizes)])
}

fn softmax_dtype(name: &str, dtype: DType) -> Result<DType, OpError> {
    if !dtype.is_float() {
        op_bail!(
            "{name} is only implemented for floating-point tensors, got {dtype}; pass a float \
             dtype or convert the input with `to_dtype` first"
        );
    }
    Ok(dtype)
}

/// Softmax (or log-softmax) of every lane along `dim`, shifted by the lane's maximum:
/// the shared kernel `ferrex_kernels::norm::softmax`, which the compiled runtime runs
/// too, on data of the result's dtype (its `exp` is that dtype's).
fn softmax_storage(
    x: &Tensor,
    dim: i64,
    metas: &[TensorMeta],
    log: bool,
) -> Result<Vec<Storage>, OpError> {
    let dtype = out_dtype(metas)?;
    let s = x.storage_or_op_error()?;
    let shape = s.shape().to_vec();
    let dim = normalize_dim(dim, shape.len())?;
    let geom = match shape.len() {
        0 => [1, 1, 1],
        _ => [
            shape[..dim].iter().product(),
            shape[dim],
            shape[dim + 1..].iter().product(),
        ],
    };
    let s = s.into_dtype(dtype).contiguous();
    let out = with_float_dtype!(dtype, "softmax", T => {
        let a = s.typed::<T>();
        let data = a
            .as_slice()
            .ok_or_else(|| OpError("softmax: the input is not contiguous".into()))?;
        let mut out = ferrex_kernels::try_filled(data.len(), T::default()).map_err(|e| OpError(e.0))?;
        ferrex_kernels::norm::softmax(data, geom, log, &mut out).map_err(|e| OpError(e.0))?;
        Storage::from_vec(&shape, out)
    });
    Ok(vec![out.ok_or_else(|| {
        OpError("softmax: the output does not fit its shape".into())
    })?])
}

/// `x.amax(dim, keepdim)` subtracted from `x`: the shift both softmax decompositions
/// start from.
fn shifted(x: &Tensor, dim: i64) -> Tensor {
    x - x.amax(&[dim], true)
}

/// `exp(x - amax) / sum(exp(x - amax))`, as `torch._decomp` writes `_softmax`.
fn softmax_prim_decomposition(a: &SoftmaxPrim) -> Result<Vec<Tensor>, OpError> {
    let e = shifted(&a.self_, a.dim).exp();
    Ok(vec![&e / e.sum_dim(&[a.dim], true)])
}

/// `(x - amax) - log(sum(exp(x - amax)))`, as `torch._decomp` writes `_log_softmax`.
fn log_softmax_prim_decomposition(a: &SoftmaxPrim) -> Result<Vec<Tensor>, OpError> {
    let s = shifted(&a.self_, a.dim);
    let lse = s.exp().sum_dim(&[a.dim], true).log();
    Ok(vec![&s - lse])
}

/// `softmax.int` → `_to_copy` (when a dtype is given) + `_softmax` (or its log form).
fn softmax_int_to(prim: &'static super::OpDef, a: &SoftmaxInt) -> Result<Vec<Tensor>, OpError> {
    let x = match a.dtype {
        Some(d) => a.self_.to_dtype(d),
        None => a.self_.clone(),
    };
    Ok(Tensor::call_op(
        prim,
        vec![
            Value::Tensor(x),
            Value::Int(SymInt::Int(a.dim)),
            Value::Bool(false),
        ],
    ))
}

/// What a softmax offers the runtime: the lanes along `dim` (`dtype`: the result's, when
/// the call converts).
fn softmax_lowering<T: Clone>(input: &T, dim: i64, dtype: Option<DType>, log: bool) -> Lowering<T> {
    Lowering::Softmax {
        input: input.clone(),
        dim,
        dtype,
        log,
    }
}

/// `_softmax` / `_log_softmax`: `half_to_float` is refused by meta; not lowered either.
fn softmax_prim_lowering<T: Clone>(a: &SoftmaxPrim<T>, log: bool) -> Result<Lowering<T>, OpError> {
    Ok(if a.half_to_float {
        Lowering::Eager
    } else {
        softmax_lowering(&a.self_, a.dim, None, log)
    })
}

op_def! {
    pub static _SOFTMAX: struct SoftmaxPrim =
        "aten::_softmax(Tensor self, int dim, bool half_to_float) -> Tensor" {
        meta: |a: &SoftmaxPrim| softmax_prim_meta(a, "_softmax"),
        kernel: |a: &SoftmaxPrim, m: &[TensorMeta]| softmax_storage(&a.self_, a.dim, m, false),
        decomposition: softmax_prim_decomposition,
        lowering: |a: &SoftmaxPrim<_>| softmax_prim_lowering(a, false),
        core_aten,
    }
    pub static _LOG_SOFTMAX: SoftmaxPrim =
        "aten::_log_softmax(Tensor self, int dim, bool half_to_float) -> Tensor" {
        meta: |a: &SoftmaxPrim| softmax_prim_meta(a, "_log_softmax"),
        kernel: |a: &SoftmaxPrim, m: &[TensorMeta]| softmax_storage(&a.self_, a.dim, m, true),
        decomposition: log_softmax_prim_decomposition,
        lowering: |a: &SoftmaxPrim<_>| softmax_prim_lowering(a, true),
        core_aten,
    }
    /// Recorded whole when tracing, as PyTorch's export keeps it.
    pub static SOFTMAX_INT: struct SoftmaxInt =
        "aten::softmax.int(Tensor self, int dim, ScalarType? dtype=None) -> Tensor" {
        meta: |a: &SoftmaxInt| softmax_int_meta(a, "softmax"),
        kernel: |a: &SoftmaxInt, m: &[TensorMeta]| softmax_storage(&a.self_, a.dim, m, false),
        decomposition: |a: &SoftmaxInt| softmax_int_to(&_SOFTMAX, a),
        lowering: |a: &SoftmaxInt<_>| Ok(softmax_lowering(&a.self_, a.dim, a.dtype, false)),
    }
    /// Recorded whole when tracing, as PyTorch's export keeps it.
    pub static LOG_SOFTMAX_INT: SoftmaxInt =
        "aten::log_softmax.int(Tensor self, int dim, ScalarType? dtype=None) -> Tensor" {
        meta: |a: &SoftmaxInt| softmax_int_meta(a, "log_softmax"),
        kernel: |a: &SoftmaxInt, m: &[TensorMeta]| softmax_storage(&a.self_, a.dim, m, true),
        decomposition: |a: &SoftmaxInt| softmax_int_to(&_LOG_SOFTMAX, a),
        lowering: |a: &SoftmaxInt<_>| Ok(softmax_lowering(&a.self_, a.dim, a.dtype, true)),
    }
}

// ---------------------------------------------------------------------------------------
// max / min of all elements, var / std without dims, var_mean / std_mean, vector norms,
// count_nonzero: composites of the reductions above

/// `var.correction(x, dim, correction, keepdim)`.
fn var_call(x: &Tensor, dim: Option<&[i64]>, correction: Option<Scalar>, keepdim: bool) -> Tensor {
    let dim = dim.map_or(Value::None, |d| {
        Value::IntList(d.iter().map(|&i| SymInt::Int(i)).collect())
    });
    let correction = correction.map_or(Value::None, super::constructors::scalar_value);
    let args = vec![
        Value::Tensor(x.clone()),
        dim,
        correction,
        Value::Bool(keepdim),
    ];
    Tensor::call_op(&VAR_CORRECTION, args).swap_remove(0)
}

fn all_extreme_meta(a: &Unary, name: &str) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    if m.numel().as_int() == Some(0) {
        op_bail!("{name}(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim with the 'dim' argument.");
    }
    Ok(vec![TensorMeta::new(m.dtype, vec![])])
}

fn var_default_meta(a: &VarDefault) -> Result<Vec<TensorMeta>, OpError> {
    var_meta(&VarCorrection {
        self_: a.self_.clone(),
        dim: None,
        correction: None,
        keepdim: false,
    })
}

fn var_mean_meta(a: &VarCorrection) -> Result<Vec<TensorMeta>, OpError> {
    let var = var_meta(a)?.swap_remove(0);
    Ok(vec![var.clone(), var])
}

fn var_mean_dim_meta(a: &VarDim) -> Result<Vec<TensorMeta>, OpError> {
    let var = var_dim_meta(a)?.swap_remove(0);
    Ok(vec![var.clone(), var])
}

/// `(var, mean)` over `dim` (every dim when `None`).
fn var_mean(
    x: &Tensor,
    dim: Option<&[i64]>,
    correction: Option<Scalar>,
    keepdim: bool,
    sqrt: bool,
) -> Vec<Tensor> {
    let var = var_call(x, dim, correction, keepdim);
    let var = if sqrt { var.sqrt() } else { var };
    let all: Vec<i64>;
    let dims = match dim {
        Some(d) if !d.is_empty() => d,
        _ => {
            all = (0..x.dim() as i64).collect();
            &all
        }
    };
    vec![var, x.mean_dim(dims, keepdim)]
}

fn norm_meta(a: &VectorNorm) -> Result<Vec<TensorMeta>, OpError> {
    let (m, _, sizes) = reduction_args(&a.self_, a.dim.as_deref(), a.keepdim)?;
    let dtype = a.dtype.unwrap_or(m.dtype);
    if !dtype.is_float() {
        op_bail!(
            "linalg.vector_norm: Expected a floating point or complex tensor as input. Got {}",
            m.dtype
        );
    }
    Ok(vec![TensorMeta::new(dtype, sizes)])
}

/// `‖x‖_p` over `dim`: `sqrt(Σ x²)` for 2, `Σ |x|` for 1, `max |x|` / `min |x|` for
/// ±inf, the count of non-zeros for 0, `(Σ |x|^p)^(1/p)` otherwise.
fn norm_decomposition(a: &VectorNorm) -> Result<Vec<Tensor>, OpError> {
    let x = match a.dtype {
        Some(d) => a.self_.to_dtype(d),
        None => a.self_.clone(),
    };
    let dims = a.dim.as_deref().unwrap_or(&[]);
    let p = a.ord.to::<f64>();
    let ax = x.abs();
    Ok(vec![match p {
        2.0 => x.mul(&x).sum_dim(dims, a.keepdim).sqrt(),
        1.0 => ax.sum_dim(dims, a.keepdim),
        f64::INFINITY => ax.amax(dims, a.keepdim),
        f64::NEG_INFINITY => ax.amin(dims, a.keepdim),
        0.0 => ax
            .ne(0.0)
            .to_dtype(meta_of(&x)?.dtype)
            .sum_dim(dims, a.keepdim),
        p => ax.pow(p).sum_dim(dims, a.keepdim).pow(1.0 / p),
    }])
}

fn count_nonzero_meta(x: &Tensor, dims: Option<&[i64]>) -> Result<Vec<TensorMeta>, OpError> {
    let (_, _, sizes) = reduction_args(x, dims, false)?;
    Ok(vec![TensorMeta::new(DType::I64, sizes)])
}

fn count_nonzero(x: &Tensor, dims: &[i64]) -> Vec<Tensor> {
    vec![x.ne(0).sum_dim(dims, false)]
}

op_def! {
    pub static MAX: Unary = "aten::max(Tensor self) -> Tensor" {
        meta: |a: &Unary| all_extreme_meta(a, "max"),
        composite: |a: &Unary| Ok(vec![a.self_.amax(&[], false)]),
    }
    pub static MIN: Unary = "aten::min(Tensor self) -> Tensor" {
        meta: |a: &Unary| all_extreme_meta(a, "min"),
        composite: |a: &Unary| Ok(vec![a.self_.amin(&[], false)]),
    }
    pub static VAR_DEFAULT: struct VarDefault = "aten::var(Tensor self, bool unbiased=True) -> Tensor" {
        meta: var_default_meta,
        composite: |a: &VarDefault| Ok(vec![var_call(&a.self_, None, Some(Scalar::Int(a.unbiased.into())), false)]),
    }
    pub static STD_DEFAULT: VarDefault = "aten::std(Tensor self, bool unbiased=True) -> Tensor" {
        meta: var_default_meta,
        composite: |a: &VarDefault| Ok(vec![var_call(&a.self_, None, Some(Scalar::Int(a.unbiased.into())), false).sqrt()]),
    }
    pub static VAR_MEAN_CORRECTION: VarCorrection =
        "aten::var_mean.correction(Tensor self, int[1]? dim=None, *, Scalar? correction=None, bool keepdim=False) -> (Tensor, Tensor)" {
        meta: var_mean_meta,
        composite: |a: &VarCorrection| Ok(var_mean(&a.self_, a.dim.as_deref(), a.correction, a.keepdim, false)),
    }
    pub static STD_MEAN_CORRECTION: VarCorrection =
        "aten::std_mean.correction(Tensor self, int[1]? dim=None, *, Scalar? correction=None, bool keepdim=False) -> (Tensor, Tensor)" {
        meta: var_mean_meta,
        composite: |a: &VarCorrection| Ok(var_mean(&a.self_, a.dim.as_deref(), a.correction, a.keepdim, true)),
    }
    pub static VAR_MEAN_DIM: VarDim =
        "aten::var_mean.dim(Tensor self, int[1]? dim, bool unbiased=True, bool keepdim=False) -> (Tensor, Tensor)" {
        meta: var_mean_dim_meta,
        composite: |a: &VarDim| Ok(var_mean(&a.self_, a.dim.as_deref(), Some(Scalar::Int(a.unbiased.into())), a.keepdim, false)),
    }
    pub static STD_MEAN_DIM: VarDim =
        "aten::std_mean.dim(Tensor self, int[1]? dim, bool unbiased=True, bool keepdim=False) -> (Tensor, Tensor)" {
        meta: var_mean_dim_meta,
        composite: |a: &VarDim| Ok(var_mean(&a.self_, a.dim.as_deref(), Some(Scalar::Int(a.unbiased.into())), a.keepdim, true)),
    }
    /// `torch.linalg.vector_norm` (what `F.normalize`, `x.norm(dim=…)` and
    /// `torch.linalg.norm` of vectors record).
    pub static LINALG_VECTOR_NORM: struct VectorNorm =
        "aten::linalg_vector_norm(Tensor self, Scalar ord=2, int[1]? dim=None, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor" {
        meta: norm_meta,
        composite: norm_decomposition,
    }
    pub static COUNT_NONZERO_DIM_INTLIST: struct CountNonzeroDims =
        "aten::count_nonzero.dim_IntList(Tensor self, int[] dim) -> Tensor" {
        meta: |a: &CountNonzeroDims| count_nonzero_meta(&a.self_, Some(&a.dim)),
        composite: |a: &CountNonzeroDims| Ok(count_nonzero(&a.self_, &a.dim)),
    }
    pub static COUNT_NONZERO: struct CountNonzero =
        "aten::count_nonzero(Tensor self, int? dim=None) -> Tensor" {
        meta: |a: &CountNonzero| count_nonzero_meta(&a.self_, a.dim.as_ref().map(std::slice::from_ref)),
        composite: |a: &CountNonzero| Ok(count_nonzero(&a.self_, a.dim.as_slice())),
    }
}

// ---------------------------------------------------------------------------------------
// cumprod; linalg_norm, cosine_similarity, pairwise_distance over vector norms

/// Running products ([`running`]).
fn cumprod_kernel(a: &Cumsum, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let dtype = out_dtype(metas)?;
    let s = a.self_.storage_or_op_error()?.into_dtype(dtype);
    let dim = normalize_dim(a.dim, s.shape().len())?;
    Ok(vec![running(&s, dim, dtype, true)])
}

/// `linalg_norm(x, ord, dim)` of vectors: `ord=None` is the 2-norm over `dim` (every
/// element when `dim` is `None`, the Frobenius norm of a matrix); a number is that
/// vector norm over one dim. Matrix norms by number are not supported.
fn linalg_norm_decomposition(a: &LinalgNorm) -> Result<Vec<Tensor>, OpError> {
    let dims = a.dim.clone().unwrap_or_default();
    if a.ord.is_some() && dims.len() != 1 && meta_of(&a.self_)?.rank() != 1 {
        op_bail!("linalg.norm: ferrex supports vector norms (one dim) when ord is given; matrix norms by ord are not supported");
    }
    let ord = a.ord.unwrap_or(Scalar::Float(2.0));
    let mut args = vec![
        Value::Tensor(a.self_.clone()),
        super::constructors::scalar_value(ord),
        a.dim.as_ref().map_or(Value::None, |d| {
            Value::IntList(d.iter().map(|&i| SymInt::Int(i)).collect())
        }),
        Value::Bool(a.keepdim),
    ];
    if let Some(d) = a.dtype {
        args.push(Value::DType(d));
    }
    Ok(Tensor::call_op(&LINALG_VECTOR_NORM, args))
}

fn linalg_norm_meta(a: &LinalgNorm) -> Result<Vec<TensorMeta>, OpError> {
    norm_meta(&VectorNorm {
        self_: a.self_.clone(),
        ord: a.ord.unwrap_or(Scalar::Float(2.0)),
        dim: a.dim.clone(),
        keepdim: a.keepdim,
        dtype: a.dtype,
    })
}

/// `sum(x * y) / sqrt(clamp_min(|x|² |y|², eps²))` over `dim` (PyTorch's formula).
fn cosine_similarity_decomposition(a: &CosineSimilarity) -> Result<Vec<Tensor>, OpError> {
    let (x, y, d) = (&a.x1, &a.x2, [a.dim]);
    let xx = x.mul(x).sum_dim(&d, false);
    let yy = y.mul(y).sum_dim(&d, false);
    let denom = xx.mul(&yy).clamp(Some(a.eps * a.eps), None).sqrt();
    Ok(vec![x.mul(y).sum_dim(&d, false).div(&denom)])
}

fn cosine_similarity_meta(a: &CosineSimilarity) -> Result<Vec<TensorMeta>, OpError> {
    let (x, y) = (meta_of(&a.x1)?, meta_of(&a.x2)?);
    let sizes = crate::tensor::sizes::broadcast_shapes(&x.sizes, &y.sizes)?;
    let d = normalize_dim(a.dim, sizes.len())?;
    let mut out = sizes;
    out.remove(d);
    let operand = |m: &TensorMeta| crate::tensor::PromotionOperand::Tensor {
        dtype: m.dtype,
        rank: m.rank(),
    };
    let dtype = crate::tensor::result_type(&[operand(&x), operand(&y)]);
    Ok(vec![TensorMeta::new(float_unary_dtype(dtype), out)])
}

/// `‖x - y + eps‖_p` over the last dim.
fn pairwise_distance_decomposition(a: &PairwiseDistance) -> Result<Vec<Tensor>, OpError> {
    let diff = a.x1.sub(&a.x2).add(a.eps);
    let args = vec![
        Value::Tensor(diff),
        Value::Float(a.p),
        Value::IntList(vec![SymInt::Int(-1)]),
        Value::Bool(a.keepdim),
    ];
    Ok(Tensor::call_op(&LINALG_VECTOR_NORM, args))
}

fn pairwise_distance_meta(a: &PairwiseDistance) -> Result<Vec<TensorMeta>, OpError> {
    let (x, y) = (meta_of(&a.x1)?, meta_of(&a.x2)?);
    let mut sizes = crate::tensor::sizes::broadcast_shapes(&x.sizes, &y.sizes)?;
    if sizes.is_empty() {
        op_bail!("pairwise_distance: expected at least 1-D inputs");
    }
    let last = sizes.len() - 1;
    if a.keepdim {
        sizes[last] = SymInt::Int(1);
    } else {
        sizes.remove(last);
    }
    Ok(vec![TensorMeta::new(float_unary_dtype(x.dtype), sizes)])
}

op_def! {
    pub static CUMPROD: Cumsum = "aten::cumprod(Tensor self, int dim, *, ScalarType? dtype=None) -> Tensor" {
        meta: cumsum_meta,
        kernel: cumprod_kernel,
        lowering: |a: &Cumsum<_>| Lowering::lanes(&a.self_, a.dim),
    }
    pub static LINALG_NORM: struct LinalgNorm =
        "aten::linalg_norm(Tensor self, Scalar? ord=None, int[1]? dim=None, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor" {
        meta: linalg_norm_meta,
        composite: linalg_norm_decomposition,
    }
    pub static COSINE_SIMILARITY: struct CosineSimilarity =
        "aten::cosine_similarity(Tensor x1, Tensor x2, int dim=1, float eps=1e-08) -> Tensor" {
        meta: cosine_similarity_meta,
        composite: cosine_similarity_decomposition,
    }
    pub static PAIRWISE_DISTANCE: struct PairwiseDistance =
        "aten::pairwise_distance(Tensor x1, Tensor x2, float p=2, float eps=1e-06, bool keepdim=False) -> Tensor" {
        meta: pairwise_distance_meta,
        composite: pairwise_distance_decomposition,
    }
}

fn any_dims_meta(a: &AnyDims) -> Result<Vec<TensorMeta>, OpError> {
    let (_, _, sizes) = reduction_args(&a.self_, a.dim.as_deref(), a.keepdim)?;
    Ok(vec![TensorMeta::new(DType::Bool, sizes)])
}

/// `any.dim` over each dim, the highest first (so the others keep their positions).
fn any_dims_decomposition(a: &AnyDims) -> Result<Vec<Tensor>, OpError> {
    let rank = meta_of(&a.self_)?.rank();
    let mut dims = reduced_dims(a.dim.as_deref(), rank)?;
    dims.sort_unstable();
    let mut x = a.self_.ne(0);
    if rank == 0 {
        return Ok(vec![x]);
    }
    for &d in dims.iter().rev() {
        x = x.any_dim(d as i64, a.keepdim);
    }
    Ok(vec![x])
}

/// `nansum` / `nanmean`: `sum` / `mean`'s dtype rules.
fn nansum_meta(a: &NanSum, mean: bool) -> Result<Vec<TensorMeta>, OpError> {
    let (m, _, sizes) = reduction_args(&a.self_, a.dim.as_deref(), a.keepdim)?;
    let dtype = match mean {
        true => mean_dtype(&m, a.dtype)?,
        false => sum_dtype(m.dtype, a.dtype),
    };
    Ok(vec![TensorMeta::new(dtype, sizes)])
}

/// The sum of the non-NaN elements (`where(isnan(x), 0, x)`), and for `mean` over their
/// count, as PyTorch's decompositions write them.
fn nansum_decomposition(a: &NanSum, mean: bool) -> Result<Vec<Tensor>, OpError> {
    let m = meta_of(&a.self_)?;
    let dims = a.dim.clone().unwrap_or_default();
    let kept = a.self_.ne(&a.self_).logical_not();
    let zero = Tensor::scalar_tensor(0.0, m.dtype);
    let x = Tensor::where_(&kept, &a.self_, &zero);
    let x = match a.dtype {
        Some(d) => x.to_dtype(d),
        None => x,
    };
    let sum = x.sum_dim(&dims, a.keepdim);
    Ok(vec![match mean {
        true => sum.div(kept.sum_dim(&dims, a.keepdim)),
        false => sum,
    }])
}

/// Each slice along `dim` scaled down to p-norm `maxnorm` where its norm is larger
/// (`torch._refs.renorm`: `maxnorm / (norm + 1e-7)`).
fn renorm_decomposition(a: &Renorm) -> Result<Vec<Tensor>, OpError> {
    let m = meta_of(&a.self_)?;
    let d = normalize_dim(a.dim, m.rank())?;
    let others: Vec<i64> = (0..m.rank())
        .filter(|&i| i != d)
        .map(|i| i as i64)
        .collect();
    let norm = Tensor::call_op(
        &LINALG_VECTOR_NORM,
        vec![
            Value::Tensor(a.self_.clone()),
            super::constructors::scalar_value(a.p),
            Value::IntList(others.iter().map(|&i| SymInt::Int(i)).collect()),
            Value::Bool(true),
        ],
    );
    let norm = &norm[0];
    let maxnorm = a.maxnorm.to::<f64>();
    let factor = Tensor::where_(
        &norm.gt(maxnorm),
        &norm.add(1e-7).reciprocal().mul(maxnorm),
        &Tensor::scalar_tensor(1.0, m.dtype),
    );
    Ok(vec![a.self_.mul(&factor)])
}

fn renorm_meta(a: &Renorm) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    normalize_dim(a.dim, m.rank())?;
    if !m.dtype.is_float() {
        op_bail!("renorm: expected a floating-point input, got {}", m.dtype);
    }
    if a.p.to::<f64>() <= 0.0 {
        op_bail!("renorm: non-positive norm not supported");
    }
    if a.maxnorm.to::<f64>() < 0.0 {
        op_bail!(
            "renorm: expected maxnorm to be >= 0 but got {}",
            a.maxnorm.to::<f64>()
        );
    }
    Ok(vec![m])
}

/// `any()` / `all()`: one bool.
fn bool_scalar_meta(a: &Unary) -> Result<Vec<TensorMeta>, OpError> {
    meta_of(&a.self_)?;
    Ok(vec![TensorMeta::new(DType::Bool, Vec::new())])
}

op_def! {
    /// The sum of the elements that are not NaN (0 when all are).
    pub static NANSUM: struct NanSum =
        "aten::nansum(Tensor self, int[1]? dim=None, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor" {
        meta: |a: &NanSum| nansum_meta(a, false),
        composite: |a: &NanSum| nansum_decomposition(a, false),
    }
    /// The mean of the elements that are not NaN (NaN when all are).
    pub static NANMEAN: NanSum =
        "aten::nanmean(Tensor self, int[1]? dim=None, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor" {
        meta: |a: &NanSum| nansum_meta(a, true),
        composite: |a: &NanSum| nansum_decomposition(a, true),
    }
    /// Whether any element is non-zero. In PyTorch's Core ATen opset.
    pub static ANY: Unary = "aten::any(Tensor self) -> Tensor" {
        meta: bool_scalar_meta,
        core_aten,
        composite: |a: &Unary| Ok(Tensor::call_op(&ANY_DIMS, vec![
            Value::Tensor(a.self_.clone()),
            Value::None,
            Value::Bool(false),
        ])),
    }
    /// Whether every element is non-zero: `not any(not x)`, as PyTorch's decomposition.
    pub static ALL: Unary = "aten::all(Tensor self) -> Tensor" {
        meta: bool_scalar_meta,
        composite: |a: &Unary| {
            let none = Tensor::call_op(&ANY_DIMS, vec![
                Value::Tensor(a.self_.logical_not()),
                Value::None,
                Value::Bool(false),
            ]);
            Ok(vec![none[0].logical_not()])
        },
    }
    pub static RENORM: struct Renorm =
        "aten::renorm(Tensor self, Scalar p, int dim, Scalar maxnorm) -> Tensor" {
        meta: renorm_meta,
        composite: renorm_decomposition,
    }
}

/// `one_hot(x, n)`: `x[..., None] == arange(n)` as i64. `num_classes=-1` (the data's
/// maximum plus one) depends on the values: give the number of classes.
fn one_hot_meta(a: &OneHot) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    if m.dtype != DType::I64 {
        op_bail!("one_hot is only applicable to index tensor of type LongTensor.");
    }
    if a.num_classes < 0 {
        op_bail!("one_hot: num_classes=-1 takes the number of classes from the data; ferrex needs it given (F.one_hot(x, num_classes=n))");
    }
    let mut sizes = m.sizes.clone();
    sizes.push(SymInt::Int(a.num_classes));
    Ok(vec![TensorMeta::new(DType::I64, sizes)])
}

op_def! {
    pub static ANY_DIMS: struct AnyDims =
        "aten::any.dims(Tensor self, int[]? dim=None, bool keepdim=False) -> Tensor" {
        meta: any_dims_meta,
        composite: any_dims_decomposition,
    }
    pub static ONE_HOT: struct OneHot = "aten::one_hot(Tensor self, int num_classes=-1) -> Tensor" {
        meta: one_hot_meta,
        composite: |a: &OneHot| {
            let classes = Tensor::arange(a.num_classes);
            Ok(vec![a.self_.unsqueeze(-1).eq(&classes).to_dtype(DType::I64)])
        },
    }
}

/// `‖x1[…, i, :] - x2[…, j, :]‖_p` for every pair of rows (`cdist`, the core IR's
/// `_cdist_forward`): the differences broadcast to `[…, P, R, M]`, then
/// `linalg_vector_norm` over `M` — PyTorch's direct method (its matrix-product form for
/// large `p = 2` inputs differs from it by rounding only).
fn cdist(x1: &Tensor, x2: &Tensor, p: f64) -> Result<Vec<Tensor>, OpError> {
    let diff = x1.unsqueeze(-2).sub(x2.unsqueeze(-3));
    let args = vec![
        Value::Tensor(diff),
        Value::Float(p),
        Value::IntList(vec![SymInt::Int(-1)]),
        Value::Bool(false),
    ];
    Ok(Tensor::call_op(&LINALG_VECTOR_NORM, args))
}

fn cdist_meta(x1: &Tensor, x2: &Tensor, p: f64) -> Result<Vec<TensorMeta>, OpError> {
    let (x, y) = (meta_of(x1)?, meta_of(x2)?);
    for (m, name) in [(&x, "X1"), (&y, "X2")] {
        if m.rank() < 2 {
            op_bail!(
                "cdist only supports at least 2D tensors, {name} got: {}D",
                m.rank()
            );
        }
        if !m.dtype.is_float() {
            op_bail!(
                "cdist only supports floating-point dtypes, {name} got: {}",
                m.dtype
            );
        }
    }
    let (rx, ry) = (x.rank(), y.rank());
    if !x.sizes[rx - 1].sym_eq(&y.sizes[ry - 1]) {
        op_bail!(
            "X1 and X2 must have the same number of columns. X1: {} X2: {}",
            x.sizes[rx - 1],
            y.sizes[ry - 1]
        );
    }
    if p < 0.0 || p.is_nan() {
        op_bail!("cdist only supports non-negative p values");
    }
    let mut sizes = crate::tensor::sizes::broadcast_shapes(&x.sizes[..rx - 2], &y.sizes[..ry - 2])?;
    sizes.push(x.sizes[rx - 2].clone());
    sizes.push(y.sizes[ry - 2].clone());
    Ok(vec![TensorMeta::new(x.dtype, sizes)])
}

op_def! {
    pub static CDIST: struct Cdist =
        "aten::cdist(Tensor x1, Tensor x2, float p=2, int? compute_mode=None) -> Tensor" {
        meta: |a: &Cdist| cdist_meta(&a.x1, &a.x2, a.p),
        composite: |a: &Cdist| cdist(&a.x1, &a.x2, a.p),
    }
    pub static CDIST_FORWARD: struct CdistForward =
        "aten::_cdist_forward(Tensor x1, Tensor x2, float p, int? compute_mode) -> Tensor" {
        meta: |a: &CdistForward| cdist_meta(&a.x1, &a.x2, a.p),
        composite: |a: &CdistForward| cdist(&a.x1, &a.x2, a.p),
        core_aten,
    }
}
