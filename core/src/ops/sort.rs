//! Ordering: `topk` (the `k` largest or smallest elements along a dim, with their
//! indices), and `sort`, `argsort` and `median` through it. Elements compare as PyTorch's CPU kernel compares them: NaN above every
//! number; among equal values the lower index comes first.

use std::cmp::Ordering;

use super::lowering::Lowering;
use super::util::{concrete, meta_of, normalize_dim, with_dtype};
use super::{op_def, Value};
use crate::error::OpError;
use crate::op_bail;
use crate::symbolic::SymInt;
use crate::tensor::{DType, Element, Storage, Tensor, TensorMeta};

/// Output metas of `topk` and the normalized dim.
fn topk_plan(args: &Topk) -> Result<(Vec<TensorMeta>, usize), OpError> {
    let m = meta_of(&args.self_)?;
    if m.dtype == DType::Bool {
        op_bail!("\"topk_cpu\" not implemented for 'Bool'");
    }
    let k = args.k.clone();
    let dim = normalize_dim(args.dim, m.rank())?;
    let size = m.sizes.get(dim).map_or(1, |s| s.hint());
    if k.hint() < 0 || k.hint() > size {
        op_bail!("selected index k out of range");
    }
    let mut sizes = m.sizes.clone();
    if let Some(s) = sizes.get_mut(dim) {
        *s = k;
    }
    Ok((
        vec![
            TensorMeta::new(m.dtype, sizes.clone()),
            TensorMeta::new(DType::I64, sizes),
        ],
        dim,
    ))
}

fn topk_meta(args: &Topk) -> Result<Vec<TensorMeta>, OpError> {
    Ok(topk_plan(args)?.0)
}

/// Descending order of PyTorch's `largest=True`: NaN first, then larger values.
fn descending(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
    }
}

/// The positions of the `k` selected elements of one lane, in output order.
fn select_lane(lane: &[f64], k: usize, largest: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..lane.len()).collect();
    // A stable sort keeps equal values in index order.
    if largest {
        order.sort_by(|&a, &b| descending(lane[a], lane[b]));
    } else {
        order.sort_by(|&a, &b| descending(lane[b], lane[a]));
    }
    order.truncate(k);
    order
}

/// `[outer, n, inner]`: the lanes along `dim` of a row-major `shape` (a 0-d tensor is
/// one lane of one element); element `j` of lane `(o, i)` is at `(o·n + j)·inner + i`.
fn lanes(shape: &[usize], dim: usize) -> [usize; 3] {
    let n = shape.get(dim).copied().unwrap_or(1);
    let outer = shape[..dim.min(shape.len())].iter().product();
    let inner = shape.get(dim + 1..).map_or(1, |s| s.iter().product());
    [outer, n, inner]
}

fn topk_kernel(args: &Topk, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let m = meta_of(&args.self_)?;
    let dim = normalize_dim(args.dim, m.rank())?;
    let out_shape = concrete(&metas[0].sizes);
    let k = out_shape.get(dim).copied().unwrap_or(1);
    let largest = args.largest;
    let x = args.self_.storage_or_op_error()?;
    let shape = x.shape().to_vec();
    let [outer, n, inner] = lanes(&shape, dim);
    let total = outer * k * inner;
    let mut indices = vec![0i64; total];
    let values = with_dtype!(x.dtype(), T => {
        let a = x.typed::<T>();
        let a = a.as_standard_layout();
        let src: Vec<T> = a.iter().copied().collect();
        let mut values = vec![T::default(); total];
        let mut lane = vec![0.0f64; n];
        for o in 0..outer {
            for i in 0..inner {
                for (j, v) in lane.iter_mut().enumerate() {
                    *v = src[(o * n + j) * inner + i].to_f64();
                }
                for (r, at) in select_lane(&lane, k, largest).into_iter().enumerate() {
                    let to = (o * k + r) * inner + i;
                    values[to] = src[(o * n + at) * inner + i];
                    indices[to] = at as i64;
                }
            }
        }
        Storage::from_vec(&out_shape, values)
    });
    let values = values.ok_or_else(|| OpError::new("topk: output shape"))?;
    let indices =
        Storage::from_vec(&out_shape, indices).ok_or_else(|| OpError::new("topk: output shape"))?;
    Ok(vec![values, indices])
}

op_def! {
    /// In PyTorch's Core ATen opset. `sorted=False` returns the same (sorted) order.
    pub static TOPK: struct Topk =
        "aten::topk(Tensor self, SymInt k, int dim=-1, bool largest=True, bool sorted=True) -> (Tensor values, Tensor indices)" {
        meta: topk_meta,
        kernel: topk_kernel,
        lowering: |a: &Topk<_>| Lowering::lanes(&a.self_, a.dim),
    }
}

// ---------------------------------------------------------------------------------------
// sort, argsort, median: `topk` of the whole length (stable, NaN above every number)

/// `topk(self, len(dim), dim, largest=descending)`: values and indices.
fn sort_by_topk(x: &Tensor, dim: i64, descending: bool) -> Result<Vec<Tensor>, OpError> {
    let m = meta_of(x)?;
    let d = normalize_dim(dim, m.rank())?;
    let n = m.sizes.get(d).cloned().unwrap_or(SymInt::Int(1));
    let args = vec![
        Value::Tensor(x.clone()),
        Value::Int(n),
        Value::Int(SymInt::Int(dim)),
        Value::Bool(descending),
        Value::Bool(true),
    ];
    Ok(Tensor::call_op(&TOPK, args))
}

fn sort_meta(x: &Tensor, dim: i64) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(x)?;
    normalize_dim(dim, m.rank())?;
    if m.dtype == DType::Bool {
        op_bail!("\"sort\" not implemented for 'Bool'");
    }
    Ok(vec![m.clone(), TensorMeta::new(DType::I64, m.sizes)])
}

/// The lower median along `dim` and its index; a lane holding NaN gives NaN (the index
/// of its first NaN), as PyTorch's `median`.
fn median_decomposition(a: &MedianDim) -> Result<Vec<Tensor>, OpError> {
    let m = meta_of(&a.self_)?;
    let d = normalize_dim(a.dim, m.rank())?;
    let n = m.sizes.get(d).map_or(1, SymInt::hint);
    if n == 0 {
        op_bail!("median(): Expected reduction dim {d} to have non-zero size.");
    }
    let sorted = sort_by_topk(&a.self_, a.dim, false)?;
    let [values, indices] = &sorted[..] else {
        op_bail!("median: sort gave no values and indices");
    };
    let pick = |t: &Tensor, i: i64| t.select(d as i64, i);
    let (mid, last) = ((n - 1) / 2, n - 1);
    let nan = pick(values, last).ne(pick(values, last));
    let mut v = Tensor::where_(&nan, &pick(values, last), &pick(values, mid));
    let mut i = Tensor::where_(&nan, &pick(indices, last), &pick(indices, mid));
    if a.keepdim {
        v = v.unsqueeze(d as i64);
        i = i.unsqueeze(d as i64);
    }
    Ok(vec![v, i])
}

/// Values and i64 indices of a reduction along `dim` that selects one element per lane
/// (`median.dim`, `kthvalue`, `mode`).
fn selection_meta(
    x: &Tensor,
    dim: i64,
    keepdim: bool,
    op: &str,
) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(x)?;
    let d = normalize_dim(dim, m.rank())?;
    if m.dtype == DType::Bool {
        op_bail!("\"{op}\" not implemented for 'Bool'");
    }
    if m.sizes.get(d).is_some_and(|n| n.hint() == 0) {
        op_bail!("{op}(): Expected reduction dim {d} to have non-zero size.");
    }
    let mut sizes = m.sizes.clone();
    if d >= sizes.len() {
        // A 0-d tensor is one lane of one element.
    } else if keepdim {
        sizes[d] = SymInt::Int(1);
    } else {
        sizes.remove(d);
    }
    Ok(vec![
        TensorMeta::new(m.dtype, sizes.clone()),
        TensorMeta::new(DType::I64, sizes),
    ])
}

op_def! {
    pub static SORT: struct Sort =
        "aten::sort(Tensor self, int dim=-1, bool descending=False) -> (Tensor values, Tensor indices)" {
        meta: |a: &Sort| sort_meta(&a.self_, a.dim),
        composite: |a: &Sort| sort_by_topk(&a.self_, a.dim, a.descending),
        lowering: |a: &Sort<_>| Lowering::lanes(&a.self_, a.dim),
    }
    /// The sort is stable whatever `stable` says.
    pub static SORT_STABLE: struct SortStable =
        "aten::sort.stable(Tensor self, *, bool? stable, int dim=-1, bool descending=False) -> (Tensor values, Tensor indices)" {
        meta: |a: &SortStable| sort_meta(&a.self_, a.dim),
        composite: |a: &SortStable| sort_by_topk(&a.self_, a.dim, a.descending),
        lowering: |a: &SortStable<_>| Lowering::lanes(&a.self_, a.dim),
    }
    pub static ARGSORT: struct Argsort =
        "aten::argsort(Tensor self, int dim=-1, bool descending=False) -> Tensor" {
        meta: |a: &Argsort| Ok(sort_meta(&a.self_, a.dim)?.split_off(1)),
        composite: |a: &Argsort| Ok(sort_by_topk(&a.self_, a.dim, a.descending)?.split_off(1)),
    }
    pub static ARGSORT_STABLE: struct ArgsortStable =
        "aten::argsort.stable(Tensor self, *, bool stable, int dim=-1, bool descending=False) -> Tensor" {
        meta: |a: &ArgsortStable| Ok(sort_meta(&a.self_, a.dim)?.split_off(1)),
        composite: |a: &ArgsortStable| Ok(sort_by_topk(&a.self_, a.dim, a.descending)?.split_off(1)),
    }
    pub static MEDIAN_DIM: struct MedianDim =
        "aten::median.dim(Tensor self, int dim, bool keepdim=False) -> (Tensor values, Tensor indices)" {
        meta: |a: &MedianDim| selection_meta(&a.self_, a.dim, a.keepdim, "median"),
        composite: median_decomposition,
    }
    /// The lower median of all elements (NaN if any is). In PyTorch's Core ATen opset, as
    /// `kthvalue`: `run_decompositions()` keeps both whole.
    pub static MEDIAN: struct MedianAll = "aten::median(Tensor self) -> Tensor" {
        meta: |a: &MedianAll| {
            let m = meta_of(&a.self_)?;
            if m.dtype == DType::Bool {
                op_bail!("\"median\" not implemented for 'Bool'");
            }
            if m.sizes.iter().any(|s| s.hint() == 0) {
                op_bail!("median() of an empty tensor is not supported (PyTorch gives NaN)");
            }
            Ok(vec![TensorMeta::new(m.dtype, Vec::new())])
        },
        core_aten,
        composite: |a: &MedianAll| {
            let flat = a.self_.reshape([-1]);
            let args = vec![Value::Tensor(flat), Value::Int(SymInt::Int(0)), Value::Bool(false)];
            Ok(Tensor::call_op(&MEDIAN_DIM, args).into_iter().take(1).collect())
        },
    }
    /// The `k`-th smallest element along `dim` (1-based) and its index.
    pub static KTHVALUE: struct Kthvalue =
        "aten::kthvalue(Tensor self, SymInt k, int dim=-1, bool keepdim=False) -> (Tensor values, Tensor indices)" {
        meta: |a: &Kthvalue| {
            let out = selection_meta(&a.self_, a.dim, a.keepdim, "kthvalue")?;
            let m = meta_of(&a.self_)?;
            let d = normalize_dim(a.dim, m.rank())?;
            let n = m.sizes.get(d).map_or(1, SymInt::hint);
            if !(1..=n).contains(&a.k.hint()) {
                op_bail!("kthvalue(): selected number k out of range for dimension {d}");
            }
            Ok(out)
        },
        core_aten,
        composite: kthvalue_decomposition,
    }
    /// The most frequent value along `dim` and an index of it.
    pub static MODE: struct Mode =
        "aten::mode(Tensor self, int dim=-1, bool keepdim=False) -> (Tensor values, Tensor indices)" {
        meta: |a: &Mode| selection_meta(&a.self_, a.dim, a.keepdim, "mode"),
        kernel: mode_kernel,
    }
    pub static QUANTILE_SCALAR: struct Quantile =
        "aten::quantile.scalar(Tensor self, float q, int? dim=None, bool keepdim=False, *, str interpolation='linear') -> Tensor" {
        meta: |a: &Quantile| Ok(vec![quantile_plan(a)?.meta]),
        composite: quantile_decomposition,
    }
}

/// The `k`-th of the ascending sort (NaN above every number), its index with it.
fn kthvalue_decomposition(a: &Kthvalue) -> Result<Vec<Tensor>, OpError> {
    let m = meta_of(&a.self_)?;
    let d = normalize_dim(a.dim, m.rank())? as i64;
    let sorted = sort_by_topk(&a.self_, a.dim, false)?;
    let k = a.k.clone() - SymInt::Int(1);
    let pick = |t: &Tensor| match a.keepdim {
        true => t.narrow(d, k.clone(), 1),
        false => t.select(d, k.clone()),
    };
    Ok(sorted.iter().map(pick).collect())
}

/// `mode` along `dim`, as ATen's CPU kernel scans the sorted lane: the most frequent
/// value (the smallest of equally frequent ones) and the last index holding it. Each NaN
/// counts as a value of its own.
fn mode_kernel(a: &Mode, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let m = meta_of(&a.self_)?;
    let dim = normalize_dim(a.dim, m.rank())?;
    let out_shape = concrete(&metas[0].sizes);
    let x = a.self_.storage_or_op_error()?;
    let shape = x.shape().to_vec();
    let [outer, n, inner] = lanes(&shape, dim);
    let mut indices = vec![0i64; outer * inner];
    let values = with_dtype!(x.dtype(), T => {
        let a = x.typed::<T>();
        let a = a.as_standard_layout();
        let src: Vec<T> = a.iter().copied().collect();
        let mut values = vec![T::default(); outer * inner];
        let mut lane: Vec<(f64, usize)> = Vec::with_capacity(n);
        for o in 0..outer {
            for i in 0..inner {
                lane.clear();
                lane.extend((0..n).map(|j| (src[(o * n + j) * inner + i].to_f64(), j)));
                lane.sort_by(|p, q| p.0.total_cmp(&q.0).then(p.1.cmp(&q.1)));
                let (mut best, mut best_at, mut run) = (0, 0, 0);
                for (p, &(v, at)) in lane.iter().enumerate() {
                    run += 1;
                    #[allow(clippy::float_cmp)]
                    let run_ends = lane.get(p + 1).is_none_or(|next| next.0 != v);
                    if run_ends {
                        if run > best {
                            (best, best_at) = (run, at);
                        }
                        run = 0;
                    }
                }
                values[o * inner + i] = src[(o * n + best_at) * inner + i];
                indices[o * inner + i] = best_at as i64;
            }
        }
        Storage::from_vec(&out_shape, values)
    });
    let values = values.ok_or_else(|| OpError::new("mode: output shape"))?;
    let indices =
        Storage::from_vec(&out_shape, indices).ok_or_else(|| OpError::new("mode: output shape"))?;
    Ok(vec![values, indices])
}

/// What a `quantile` call reduces: its dim (0 of the flattened input for `dim=None`),
/// the length there, and the result's meta. Sizes only: a meta function runs no op.
struct QuantilePlan {
    dim: usize,
    n: i64,
    meta: TensorMeta,
}

fn quantile_plan(a: &Quantile) -> Result<QuantilePlan, OpError> {
    let m = meta_of(&a.self_)?;
    if !m.dtype.is_float() {
        op_bail!("quantile() input tensor must be either float or double dtype");
    }
    if !(0.0..=1.0).contains(&a.q) {
        op_bail!("quantile() q must be in the range [0, 1] but got {}", a.q);
    }
    let dim = match a.dim {
        None => 0,
        Some(d) => normalize_dim(d, m.rank())?,
    };
    let lane: Vec<SymInt> = match a.dim {
        None => m.sizes.clone(),
        Some(_) => m.sizes.get(dim).cloned().into_iter().collect(),
    };
    let mut n = 1i64;
    for s in &lane {
        match s {
            SymInt::Int(v) => n = n.saturating_mul(*v),
            s => op_bail!("quantile() over a dynamic size ({s}) is not supported: its ranks would be specialised"),
        }
    }
    if n == 0 {
        op_bail!("quantile() input tensor must be non-empty");
    }
    let sizes = match (a.dim, a.keepdim) {
        (None, true) => vec![SymInt::Int(1); m.rank()],
        (None, false) => Vec::new(),
        (Some(_), keepdim) => {
            let mut s = m.sizes.clone();
            match (dim < s.len(), keepdim) {
                (true, true) => s[dim] = SymInt::Int(1),
                (true, false) => {
                    s.remove(dim);
                }
                (false, _) => {}
            }
            s
        }
    };
    Ok(QuantilePlan {
        dim,
        n,
        meta: TensorMeta::new(m.dtype, sizes),
    })
}

/// The sorted lane read at rank `q·(n − 1)`, between its neighbours as `interpolation`
/// says (`torch.quantile`'s reference); NaN where the lane holds one (sorted last).
fn quantile_decomposition(a: &Quantile) -> Result<Vec<Tensor>, OpError> {
    let plan = quantile_plan(a)?;
    let d = plan.dim as i64;
    let x = match a.dim {
        None => a.self_.reshape([-1]),
        Some(_) => a.self_.clone(),
    };
    let sorted = sort_by_topk(&x, d, false)?.swap_remove(0);
    let rank = a.q * (plan.n - 1) as f64;
    let (lo, hi) = (rank.floor() as i64, rank.ceil() as i64);
    let pick = |i: i64| sorted.select(d, i);
    let lerp = |w: f64| {
        let args = vec![
            Value::Tensor(pick(lo)),
            Value::Tensor(pick(hi)),
            Value::Float(w),
        ];
        Tensor::call_op(&super::elementwise::LERP_SCALAR, args).swap_remove(0)
    };
    let v = match a.interpolation.as_str() {
        "linear" => lerp(rank - lo as f64),
        "lower" => pick(lo),
        "higher" => pick(hi),
        "midpoint" => lerp(0.5),
        "nearest" => pick(rank.round_ties_even() as i64),
        other => op_bail!(
            "quantile() interpolation must be one of linear, lower, higher, midpoint or nearest. Got {other}"
        ),
    };
    let last = pick(plan.n - 1);
    let v = Tensor::where_(&last.ne(&last), &last, &v);
    Ok(vec![v.reshape(plan.meta.sizes.clone())])
}
