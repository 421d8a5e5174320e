//! Reductions (`sum`, `mean`, `amax`, `max.dim`, `argmax`, `prod`, `var`, `std`, `any`,
//! `all`, `logsumexp`), scans (`cumsum`), and softmax along a dim.

use std::cmp::Ordering;

use ndarray::{ArcArray, ArrayViewMut1, Axis, IxDyn};

use super::elementwise::float_unary_dtype;
use super::util::{concrete, normalize_dim, normalize_dims};
use super::{OpArgs, OpDef, Value};
use crate::error::OpError;
use crate::symbolic::SymInt;
use crate::tensor::{DType, Storage, Tensor, TensorMeta};
use crate::{map_storage, op_bail, with_storage};

/// The dims a reduction runs over (`None` or empty: all) and the output sizes.
fn reduce_shape(
    m: &TensorMeta,
    dims: Option<Vec<SymInt>>,
    keepdim: bool,
) -> Result<(Vec<usize>, Vec<SymInt>), OpError> {
    let dims: Vec<usize> = match dims {
        Some(d) if !d.is_empty() => {
            let dims = normalize_dims(&d.iter().map(|s| s.hint()).collect::<Vec<_>>(), m.rank())?;
            // A 0-dim tensor accepts dim 0 / -1 (PyTorch's wrap) but has no dim to reduce.
            if m.rank() == 0 {
                Vec::new()
            } else {
                dims
            }
        }
        _ => (0..m.rank()).collect(),
    };
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
fn float_sum(
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
            None => a.iter().copied().collect::<Vec<T>>().into(),
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

fn sum_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let m = args.meta(0)?;
    let dtype = sum_dtype(m.dtype, args.opt_dtype(1)?);
    Ok(vec![TensorMeta::new(dtype, Vec::new())])
}

fn sum_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let out = sum_meta(args)?;
    let s = args.storage(0)?;
    let dims: Vec<usize> = (0..s.shape().len()).collect();
    Ok(vec![reduce_sum(&s, &dims, false, out[0].dtype)])
}

fn sum_dim_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let m = args.meta(0)?;
    let (_, sizes) = reduce_shape(&m, args.opt_int_list(1)?, args.bool(2)?)?;
    Ok(vec![TensorMeta::new(
        sum_dtype(m.dtype, args.opt_dtype(3)?),
        sizes,
    )])
}

fn sum_dim_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let m = args.meta(0)?;
    let keepdim = args.bool(2)?;
    let (dims, _) = reduce_shape(&m, args.opt_int_list(1)?, keepdim)?;
    let dtype = sum_dtype(m.dtype, args.opt_dtype(3)?);
    Ok(vec![reduce_sum(&args.storage(0)?, &dims, keepdim, dtype)])
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

fn mean_dim_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let m = args.meta(0)?;
    let (_, sizes) = reduce_shape(&m, args.opt_int_list(1)?, args.bool(2)?)?;
    Ok(vec![TensorMeta::new(
        mean_dtype(&m, args.opt_dtype(3)?)?,
        sizes,
    )])
}

fn mean_kernel_dims(
    args: &OpArgs,
    dims: Option<Vec<SymInt>>,
    keepdim: bool,
    dtype: DType,
) -> Result<Vec<Storage>, OpError> {
    let m = args.meta(0)?;
    let (dims, _) = reduce_shape(&m, dims, keepdim)?;
    let s = args.storage(0)?;
    if let Some(mean) = float_sum(&s.cast(dtype), &dims, keepdim, |n| 1.0 / n as f64) {
        return Ok(vec![mean]);
    }
    let count: usize = dims.iter().map(|&d| s.shape()[d]).product();
    let sum = reduce_sum(&s.cast(DType::F64), &dims, keepdim, DType::F64);
    let mean = match sum {
        Storage::F64(a) => Storage::F64(a.mapv(|x| x / count as f64).into_shared()),
        other => other,
    };
    Ok(vec![mean.cast(dtype)])
}

fn mean_dim_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let m = args.meta(0)?;
    let dtype = mean_dtype(&m, args.opt_dtype(3)?)?;
    mean_kernel_dims(args, args.opt_int_list(1)?, args.bool(2)?, dtype)
}

fn mean_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let m = args.meta(0)?;
    Ok(vec![TensorMeta::new(
        mean_dtype(&m, args.opt_dtype(1)?)?,
        Vec::new(),
    )])
}

fn mean_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let m = args.meta(0)?;
    let dtype = mean_dtype(&m, args.opt_dtype(1)?)?;
    mean_kernel_dims(args, None, false, dtype)
}

/// `sum(x)` → `sum.dim_IntList(x, [])` (an empty dim list reduces every dim), as
/// PyTorch's default decomposition table writes it.
fn sum_decomposition(args: &OpArgs) -> Result<Vec<Tensor>, OpError> {
    let mut values = vec![Value::Tensor(args.tensor(0)?), Value::IntList(Vec::new())];
    if let Some(d) = args.opt_dtype(1)? {
        values.extend([Value::Bool(false), Value::DType(d)]);
    }
    Ok(Tensor::call_op(&SUM_DIM, values))
}

pub static SUM: OpDef = OpDef::new(
    "aten::sum(Tensor self, *, ScalarType? dtype=None) -> Tensor",
    sum_meta,
    sum_kernel,
)
.with_decomposition(sum_decomposition);
pub static SUM_DIM: OpDef = OpDef::new(
    "aten::sum.dim_IntList(Tensor self, int[1]? dim, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor",
    sum_dim_meta,
    sum_dim_kernel,
);
pub static MEAN: OpDef = OpDef::new(
    "aten::mean(Tensor self, *, ScalarType? dtype=None) -> Tensor",
    mean_meta,
    mean_kernel,
);
pub static MEAN_DIM: OpDef = OpDef::new(
    "aten::mean.dim(Tensor self, int[1]? dim, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor",
    mean_dim_meta,
    mean_dim_kernel,
);

// ---------------------------------------------------------------------------------------
// Shared machinery of the reductions below

/// Applies `f` to the elements of `a` over `dims`, one call per output element: the
/// reduced dims are moved last and flattened, so each call sees one contiguous row, in
/// the row-major order of the output (`out_shape`, with or without kept dims).
fn reduce_rows<T: Clone, U>(
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
        let flat: Vec<T> = a
            .view()
            .permuted_axes(IxDyn(&perm))
            .iter()
            .cloned()
            .collect();
        flat.chunks(inner).map(&mut f).collect()
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
    let wanted = if greater {
        Ordering::Greater
    } else {
        Ordering::Less
    };
    let (mut best, mut index) = (*row.first()?, 0);
    for (i, &v) in row.iter().enumerate() {
        match v.partial_cmp(&best) {
            Some(o) if o == wanted => (best, index) = (v, i),
            None => return Some((v, i)),
            _ => {}
        }
    }
    Some((best, index))
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

/// Input meta, reduced dims and output sizes of a reduction whose dims are argument 1
/// (a list, a single int, or None for all) and whose `keepdim` is argument `keepdim_at`.
fn reduction_args(
    args: &OpArgs,
    keepdim_at: usize,
) -> Result<(TensorMeta, Vec<usize>, Vec<SymInt>), OpError> {
    let m = args.meta(0)?;
    let (dims, sizes) = reduce_shape(&m, args.opt_int_list(1)?, args.bool(keepdim_at)?)?;
    Ok((m, dims, sizes))
}

// ---------------------------------------------------------------------------------------
// amax, amin, max.dim, min.dim, argmax, argmin

fn amax_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let (m, dims, sizes) = reduction_args(args, 2)?;
    check_nonempty(&m, &dims, &args.op.base_name())?;
    Ok(vec![TensorMeta::new(m.dtype, sizes)])
}

fn amax_amin_kernel(args: &OpArgs, greater: bool) -> Result<Vec<Storage>, OpError> {
    let out = amax_meta(args)?;
    let (_, dims, _) = reduction_args(args, 2)?;
    let shape = concrete(&out[0].sizes);
    let s = args.storage(0)?;
    let values = map_storage!(&s, a => reduce_rows(a, &dims, &shape, |row| {
        extreme(row, greater).map(|(v, _)| v).unwrap_or_default()
    })?);
    Ok(vec![values])
}

fn amax_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    amax_amin_kernel(args, true)
}

fn amin_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    amax_amin_kernel(args, false)
}

fn max_dim_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let (m, dims, sizes) = reduction_args(args, 2)?;
    check_nonempty(&m, &dims, args.op.base_name().as_str())?;
    Ok(vec![
        TensorMeta::new(m.dtype, sizes.clone()),
        TensorMeta::new(DType::I64, sizes),
    ])
}

/// Values and i64 indices of the first maximum (minimum) along the dim.
fn max_min_dim_kernel(args: &OpArgs, greater: bool) -> Result<Vec<Storage>, OpError> {
    let out = max_dim_meta(args)?;
    let (_, dims, _) = reduction_args(args, 2)?;
    let shape = concrete(&out[0].sizes);
    let s = args.storage(0)?;
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

fn max_dim_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    max_min_dim_kernel(args, true)
}

fn min_dim_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    max_min_dim_kernel(args, false)
}

/// `dim=None` reduces the flattened tensor (with `keepdim`, every dim becomes 1).
fn argmax_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let (m, dims, sizes) = reduction_args(args, 2)?;
    check_nonempty(&m, &dims, &args.op.base_name())?;
    Ok(vec![TensorMeta::new(DType::I64, sizes)])
}

fn argmax_argmin_kernel(args: &OpArgs, greater: bool) -> Result<Vec<Storage>, OpError> {
    let out = argmax_meta(args)?;
    let (_, dims, _) = reduction_args(args, 2)?;
    let shape = concrete(&out[0].sizes);
    let s = args.storage(0)?;
    let indices = with_storage!(&s, a => reduce_rows(a, &dims, &shape, |row| {
        extreme(row, greater).map_or(0, |(_, i)| i as i64)
    })?);
    Ok(vec![Storage::I64(indices)])
}

fn argmax_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    argmax_argmin_kernel(args, true)
}

fn argmin_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    argmax_argmin_kernel(args, false)
}

pub static AMAX: OpDef = OpDef::new(
    "aten::amax(Tensor self, int[1] dim=[], bool keepdim=False) -> Tensor",
    amax_meta,
    amax_kernel,
);
pub static AMIN: OpDef = OpDef::new(
    "aten::amin(Tensor self, int[1] dim=[], bool keepdim=False) -> Tensor",
    amax_meta,
    amin_kernel,
);
pub static MAX_DIM: OpDef = OpDef::new(
    "aten::max.dim(Tensor self, int dim, bool keepdim=False) -> (Tensor values, Tensor indices)",
    max_dim_meta,
    max_dim_kernel,
);
pub static MIN_DIM: OpDef = OpDef::new(
    "aten::min.dim(Tensor self, int dim, bool keepdim=False) -> (Tensor values, Tensor indices)",
    max_dim_meta,
    min_dim_kernel,
);
pub static ARGMAX: OpDef = OpDef::new(
    "aten::argmax(Tensor self, int? dim=None, bool keepdim=False) -> Tensor",
    argmax_meta,
    argmax_kernel,
);
pub static ARGMIN: OpDef = OpDef::new(
    "aten::argmin(Tensor self, int? dim=None, bool keepdim=False) -> Tensor",
    argmax_meta,
    argmin_kernel,
);

// ---------------------------------------------------------------------------------------
// prod, var, std, any, all, logsumexp

fn prod_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let (m, _, sizes) = reduction_args(args, 2)?;
    Ok(vec![TensorMeta::new(
        sum_dtype(m.dtype, args.opt_dtype(3)?),
        sizes,
    )])
}

/// Integers (and bools) multiply in wrapping i64; floats in f64, rounded once.
fn prod_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let out = prod_meta(args)?;
    let (_, dims, _) = reduction_args(args, 2)?;
    let (dtype, shape) = (out[0].dtype, concrete(&out[0].sizes));
    let s = args.storage(0)?.cast(dtype);
    let p = if dtype.is_float() {
        Storage::F64(reduce_rows(&s.typed::<f64>(), &dims, &shape, |r| {
            r.iter().product::<f64>()
        })?)
    } else {
        Storage::I64(reduce_rows(&s.typed::<i64>(), &dims, &shape, |r| {
            r.iter().fold(1i64, |p, &x| p.wrapping_mul(x))
        })?)
    };
    Ok(vec![p.cast(dtype)])
}

/// `var`/`std` take only floating-point inputs; `keepdim` is argument 3 (after the
/// keyword-only `correction`).
fn var_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let (m, _, sizes) = reduction_args(args, 3)?;
    if !m.dtype.is_float() {
        op_bail!(
            "std and var only support floating point and complex dtypes, got {}",
            m.dtype
        );
    }
    Ok(vec![TensorMeta::new(m.dtype, sizes)])
}

/// `sum((x - mean)^2) / max(0, n - correction)` in f64 (two passes), `sqrt` of it for std.
fn var_std_kernel(args: &OpArgs, sqrt: bool) -> Result<Vec<Storage>, OpError> {
    let out = var_meta(args)?;
    let (_, dims, _) = reduction_args(args, 3)?;
    let shape = concrete(&out[0].sizes);
    let correction = args.opt_float(2)?.unwrap_or(1.0);
    let s = args.storage(0)?.typed::<f64>();
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
    Ok(vec![Storage::F64(v).cast(out[0].dtype)])
}

fn var_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    var_std_kernel(args, false)
}

fn std_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    var_std_kernel(args, true)
}

fn any_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let (_, _, sizes) = reduction_args(args, 2)?;
    Ok(vec![TensorMeta::new(DType::Bool, sizes)])
}

/// Any dtype in (nonzero is true), bool out.
fn any_all_kernel(args: &OpArgs, any: bool) -> Result<Vec<Storage>, OpError> {
    let out = any_meta(args)?;
    let (_, dims, _) = reduction_args(args, 2)?;
    let shape = concrete(&out[0].sizes);
    let s = args.storage(0)?.typed::<bool>();
    Ok(vec![Storage::Bool(reduce_rows(&s, &dims, &shape, |r| {
        if any {
            r.iter().any(|&x| x)
        } else {
            r.iter().all(|&x| x)
        }
    })?)])
}

fn any_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    any_all_kernel(args, true)
}

fn all_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    any_all_kernel(args, false)
}

fn logsumexp_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let (m, _, sizes) = reduction_args(args, 2)?;
    Ok(vec![TensorMeta::new(float_unary_dtype(m.dtype), sizes)])
}

/// `m + log(sum(exp(x - m)))` with `m` the row's maximum, taken as 0 when infinite (so
/// rows of `-inf` give `-inf` and a `+inf` gives `+inf`, as in PyTorch).
fn logsumexp_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let out = logsumexp_meta(args)?;
    let (_, dims, _) = reduction_args(args, 2)?;
    let shape = concrete(&out[0].sizes);
    let s = args.storage(0)?.typed::<f64>();
    let v = reduce_rows(&s, &dims, &shape, |r| {
        let m = r.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        let m = if m.is_infinite() { 0.0 } else { m };
        r.iter().map(|x| (x - m).exp()).sum::<f64>().ln() + m
    })?;
    Ok(vec![Storage::F64(v).cast(out[0].dtype)])
}

pub static PROD_DIM_INT: OpDef = OpDef::new(
    "aten::prod.dim_int(Tensor self, int dim, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor",
    prod_meta,
    prod_kernel,
);
pub static VAR_CORRECTION: OpDef = OpDef::new(
    "aten::var.correction(Tensor self, int[1]? dim=None, *, Scalar? correction=None, bool keepdim=False) -> Tensor",
    var_meta,
    var_kernel,
);
pub static STD_CORRECTION: OpDef = OpDef::new(
    "aten::std.correction(Tensor self, int[1]? dim=None, *, Scalar? correction=None, bool keepdim=False) -> Tensor",
    var_meta,
    std_kernel,
);
pub static ANY_DIM: OpDef = OpDef::new(
    "aten::any.dim(Tensor self, int dim, bool keepdim=False) -> Tensor",
    any_meta,
    any_kernel,
);
pub static ALL_DIM: OpDef = OpDef::new(
    "aten::all.dim(Tensor self, int dim, bool keepdim=False) -> Tensor",
    any_meta,
    all_kernel,
);
pub static LOGSUMEXP: OpDef = OpDef::new(
    "aten::logsumexp(Tensor self, int[1] dim, bool keepdim=False) -> Tensor",
    logsumexp_meta,
    logsumexp_kernel,
);

// ---------------------------------------------------------------------------------------
// cumsum

fn cumsum_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let m = args.meta(0)?;
    normalize_dim(args.i64(1)?, m.rank())?;
    Ok(vec![TensorMeta::new(
        sum_dtype(m.dtype, args.opt_dtype(2)?),
        m.sizes,
    )])
}

/// Running sums accumulate floats in f64 (as PyTorch's CPU kernel does in double),
/// integers in wrapping i64.
fn cumsum_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let dtype = cumsum_meta(args)?[0].dtype;
    let s = args.storage(0)?.cast(dtype);
    let dim = normalize_dim(args.i64(1)?, s.shape().len())?;
    let out = if dtype.is_float() {
        Storage::F64(map_lanes(&s.typed::<f64>(), dim, |mut lane| {
            let mut acc = 0.0;
            lane.iter_mut().for_each(|x| {
                acc += *x;
                *x = acc;
            });
        }))
    } else {
        Storage::I64(map_lanes(&s.typed::<i64>(), dim, |mut lane| {
            let mut acc = 0i64;
            lane.iter_mut().for_each(|x| {
                acc = acc.wrapping_add(*x);
                *x = acc;
            });
        }))
    };
    Ok(vec![out.cast(dtype)])
}

pub static CUMSUM: OpDef = OpDef::new(
    "aten::cumsum(Tensor self, int dim, *, ScalarType? dtype=None) -> Tensor",
    cumsum_meta,
    cumsum_kernel,
);

// ---------------------------------------------------------------------------------------
// softmax, log_softmax

/// `_softmax(self, dim, half_to_float)`: a floating-point input; `half_to_float` only
/// applies to half inputs, which ferrex does not have.
fn softmax_prim_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let m = args.meta(0)?;
    normalize_dim(args.i64(1)?, m.rank())?;
    if args.bool(2)? {
        op_bail!(
            "half_to_float=True is only supported for half inputs, got {}",
            m.dtype
        );
    }
    softmax_dtype(args, m.dtype)?;
    Ok(vec![m])
}

/// `softmax.int(self, dim, dtype=None)`: the input is first converted to `dtype`.
fn softmax_int_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let m = args.meta(0)?;
    normalize_dim(args.i64(1)?, m.rank())?;
    let dtype = softmax_dtype(args, args.opt_dtype(2)?.unwrap_or(m.dtype))?;
    Ok(vec![TensorMeta::new(dtype, m.sizes)])
}

fn softmax_dtype(args: &OpArgs, dtype: DType) -> Result<DType, OpError> {
    if !dtype.is_float() {
        op_bail!(
            "{} is only implemented for floating-point tensors, got {dtype}; pass a float \
             dtype or convert the input with `to_dtype` first",
            args.op.base_name()
        );
    }
    Ok(dtype)
}

/// Softmax (or log-softmax) of every lane along `dim`, shifted by the lane's maximum,
/// computed in f64 and rounded once to `dtype` (the shared kernel
/// `ferrex_kernels::norm::softmax`, which the compiled runtime runs too).
fn softmax_storage(args: &OpArgs, dtype: DType, log: bool) -> Result<Vec<Storage>, OpError> {
    let s = args.storage(0)?;
    let shape = s.shape().to_vec();
    let dim = normalize_dim(args.i64(1)?, shape.len())?;
    let a = s.typed::<f64>();
    let a = a.as_standard_layout();
    let data = a
        .as_slice()
        .ok_or_else(|| OpError("softmax: the input is not contiguous".into()))?;
    let geom = match shape.len() {
        0 => [1, 1, 1],
        _ => [
            shape[..dim].iter().product(),
            shape[dim],
            shape[dim + 1..].iter().product(),
        ],
    };
    let mut out = ferrex_kernels::try_filled(data.len(), 0f64).map_err(|e| OpError(e.0))?;
    ferrex_kernels::norm::softmax(data, geom, log, &mut out).map_err(|e| OpError(e.0))?;
    let out = Storage::from_vec(&shape, out)
        .ok_or_else(|| OpError("softmax: the output does not fit its shape".into()))?;
    Ok(vec![out.cast(dtype)])
}

fn softmax_prim_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let dtype = softmax_prim_meta(args)?[0].dtype;
    softmax_storage(args, dtype, false)
}

fn log_softmax_prim_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let dtype = softmax_prim_meta(args)?[0].dtype;
    softmax_storage(args, dtype, true)
}

fn softmax_int_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let dtype = softmax_int_meta(args)?[0].dtype;
    softmax_storage(args, dtype, false)
}

fn log_softmax_int_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let dtype = softmax_int_meta(args)?[0].dtype;
    softmax_storage(args, dtype, true)
}

/// `x.amax(dim, keepdim)` subtracted from `x`: the shift both softmax decompositions
/// start from.
fn shifted(args: &OpArgs) -> Result<(Tensor, i64), OpError> {
    let x = args.tensor(0)?;
    let dim = args.i64(1)?;
    let shifted = &x - x.amax(&[dim], true);
    Ok((shifted, dim))
}

/// `exp(x - amax) / sum(exp(x - amax))`, as `torch._decomp` writes `_softmax`.
fn softmax_prim_decomposition(args: &OpArgs) -> Result<Vec<Tensor>, OpError> {
    let (s, dim) = shifted(args)?;
    let e = s.exp();
    Ok(vec![&e / e.sum_dim(&[dim], true)])
}

/// `(x - amax) - log(sum(exp(x - amax)))`, as `torch._decomp` writes `_log_softmax`.
fn log_softmax_prim_decomposition(args: &OpArgs) -> Result<Vec<Tensor>, OpError> {
    let (s, dim) = shifted(args)?;
    let lse = s.exp().sum_dim(&[dim], true).log();
    Ok(vec![&s - lse])
}

/// `softmax.int` → `_to_copy` (when a dtype is given) + `_softmax` (or its log form).
fn softmax_int_to(prim: &'static OpDef, args: &OpArgs) -> Result<Vec<Tensor>, OpError> {
    let x = args.tensor(0)?;
    let x = match args.opt_dtype(2)? {
        Some(d) => x.to_dtype(d),
        None => x,
    };
    Ok(Tensor::call_op(
        prim,
        vec![
            Value::Tensor(x),
            Value::Int(args.int(1)?),
            Value::Bool(false),
        ],
    ))
}

fn softmax_int_decomposition(args: &OpArgs) -> Result<Vec<Tensor>, OpError> {
    softmax_int_to(&_SOFTMAX, args)
}

fn log_softmax_int_decomposition(args: &OpArgs) -> Result<Vec<Tensor>, OpError> {
    softmax_int_to(&_LOG_SOFTMAX, args)
}

pub static _SOFTMAX: OpDef = OpDef::new(
    "aten::_softmax(Tensor self, int dim, bool half_to_float) -> Tensor",
    softmax_prim_meta,
    softmax_prim_kernel,
)
.with_decomposition(softmax_prim_decomposition)
.core_aten();
pub static _LOG_SOFTMAX: OpDef = OpDef::new(
    "aten::_log_softmax(Tensor self, int dim, bool half_to_float) -> Tensor",
    softmax_prim_meta,
    log_softmax_prim_kernel,
)
.with_decomposition(log_softmax_prim_decomposition)
.core_aten();
/// Recorded whole when tracing, as PyTorch's export keeps it.
pub static SOFTMAX_INT: OpDef = OpDef::new(
    "aten::softmax.int(Tensor self, int dim, ScalarType? dtype=None) -> Tensor",
    softmax_int_meta,
    softmax_int_kernel,
)
.with_decomposition(softmax_int_decomposition);
/// Recorded whole when tracing, as PyTorch's export keeps it.
pub static LOG_SOFTMAX_INT: OpDef = OpDef::new(
    "aten::log_softmax.int(Tensor self, int dim, ScalarType? dtype=None) -> Tensor",
    softmax_int_meta,
    log_softmax_int_kernel,
)
.with_decomposition(log_softmax_int_decomposition);

pub static OPS: &[&OpDef] = &[
    &SUM,
    &SUM_DIM,
    &MEAN,
    &MEAN_DIM,
    &AMAX,
    &AMIN,
    &MAX_DIM,
    &MIN_DIM,
    &ARGMAX,
    &ARGMIN,
    &PROD_DIM_INT,
    &VAR_CORRECTION,
    &STD_CORRECTION,
    &ANY_DIM,
    &ALL_DIM,
    &LOGSUMEXP,
    &CUMSUM,
    &_SOFTMAX,
    &_LOG_SOFTMAX,
    &SOFTMAX_INT,
    &LOG_SOFTMAX_INT,
];
