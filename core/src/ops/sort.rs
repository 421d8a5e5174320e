//! Ordering: `topk` (the `k` largest or smallest elements along a dim, with their
//! indices), and `sort`, `argsort` and `median` through it. Elements compare as PyTorch's CPU kernel compares them: NaN above every
//! number; among equal values the lower index comes first.

use std::cmp::Ordering;

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

fn topk_kernel(args: &Topk, metas: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let m = meta_of(&args.self_)?;
    let dim = normalize_dim(args.dim, m.rank())?;
    let out_shape = concrete(&metas[0].sizes);
    let k = out_shape.get(dim).copied().unwrap_or(1);
    let largest = args.largest;
    let x = args.self_.storage_or_op_error()?;
    let shape = x.shape().to_vec();
    let n = shape.get(dim).copied().unwrap_or(1);
    let outer: usize = shape[..dim.min(shape.len())].iter().product();
    let inner: usize = shape.get(dim + 1..).map_or(1, |s| s.iter().product());
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

fn median_meta(a: &MedianDim) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    let d = normalize_dim(a.dim, m.rank())?;
    if m.dtype == DType::Bool {
        op_bail!("\"median_out\" not implemented for 'Bool'");
    }
    let mut sizes = m.sizes.clone();
    if a.keepdim {
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
    }
    /// The sort is stable whatever `stable` says.
    pub static SORT_STABLE: struct SortStable =
        "aten::sort.stable(Tensor self, *, bool? stable, int dim=-1, bool descending=False) -> (Tensor values, Tensor indices)" {
        meta: |a: &SortStable| sort_meta(&a.self_, a.dim),
        composite: |a: &SortStable| sort_by_topk(&a.self_, a.dim, a.descending),
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
        meta: median_meta,
        composite: median_decomposition,
    }
}
