//! Values into buckets. Binary search in sorted boundaries: `searchsorted` (a sequence
//! per lane, or one for all) and `bucketize` (one 1-D sequence); counts in equal bins:
//! `histc`. Comparisons are ATen's (`!(b >= v)` moves
//! right for the lower bound, `!(b > v)` for the upper), so a NaN value lands after
//! every boundary, as in PyTorch.

use std::cmp::Ordering;

use super::util::meta_of;
use super::{op_def, Value};
use crate::error::OpError;
use crate::op_bail;
use crate::symbolic::format_sizes;
use crate::tensor::{DType, Storage, Tensor, TensorMeta};

/// The index where `v` goes in the ascending `seq`: before equal boundaries (`right`
/// false) or after them.
fn bound(seq: &[f64], v: f64, right: bool) -> usize {
    let (mut lo, mut hi) = (0, seq.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        // Not `seq[mid] < v`: a NaN `v` compares false either way and must move right.
        let go_right = match right {
            false => !matches!(
                seq[mid].partial_cmp(&v),
                Some(Ordering::Greater | Ordering::Equal)
            ),
            true => !matches!(seq[mid].partial_cmp(&v), Some(Ordering::Greater)),
        };
        if go_right {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// `right`, with `side` (`"left"` / `"right"`) overriding it; the two must agree.
fn resolve_side(right: bool, side: Option<&str>) -> Result<bool, OpError> {
    match side {
        None => Ok(right),
        Some("left") if right => op_bail!(
            "torch.searchsorted(): side and right can't be set to opposites, got side of left while right was True"
        ),
        Some("left") => Ok(false),
        Some("right") => Ok(true),
        Some(other) => op_bail!(
            "torch.searchsorted(): side can only be 'left' or 'right' but got {other}"
        ),
    }
}

fn index_dtype(out_int32: bool) -> DType {
    match out_int32 {
        true => DType::I32,
        false => DType::I64,
    }
}

/// The result meta: one index per value. The sequence is 1-D, or its leading dims are
/// the values' (one sequence per lane).
fn search_meta(seq: &Tensor, values: &TensorMeta, out_int32: bool) -> Result<TensorMeta, OpError> {
    let s = meta_of(seq)?;
    if s.dtype == DType::Bool || values.dtype == DType::Bool {
        op_bail!("torch.searchsorted(): boundaries and input values must not be bool");
    }
    let lanes_match = s.rank() >= 1
        && values.rank() == s.rank()
        && values.sizes[..s.rank() - 1]
            .iter()
            .zip(&s.sizes[..s.rank() - 1])
            .all(|(a, b)| a.sym_eq(b));
    if s.rank() != 1 && !lanes_match {
        op_bail!(
            "torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 dimensions of boundaries tensor and input value tensor must match, but we got boundaries tensor {} and input value tensor {}",
            format_sizes(&s.sizes),
            format_sizes(&values.sizes)
        );
    }
    Ok(TensorMeta::new(
        index_dtype(out_int32),
        values.sizes.clone(),
    ))
}

/// Each value's position in its lane's sequence (the one sequence when it is 1-D).
fn search_kernel(
    seq: &Tensor,
    values: &Tensor,
    right: bool,
    out: &[TensorMeta],
) -> Result<Vec<Storage>, OpError> {
    let out = out
        .first()
        .ok_or_else(|| OpError::new("searchsorted has one result"))?;
    let s = seq.storage_or_op_error()?;
    let v = values.storage_or_op_error()?;
    let (seq, vals) = (s.to_f64_vec(), v.to_f64_vec());
    let len = s.shape().last().copied().unwrap_or(0);
    let per_lane = v.shape().last().copied().unwrap_or(1).max(1);
    let one_sequence = s.shape().len() == 1;
    let found: Vec<i64> = vals
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let lane = match one_sequence {
                true => &seq[..],
                false => {
                    let start = (i / per_lane) * len;
                    seq.get(start..start + len).unwrap_or(&[])
                }
            };
            bound(lane, x, right) as i64
        })
        .collect();
    let shape = v.shape().to_vec();
    let storage = Storage::from_vec(&shape, found)
        .ok_or_else(|| OpError::new("searchsorted: the output shape"))?;
    Ok(vec![storage.into_dtype(out.dtype)])
}

fn refuse_sorter(sorter: Option<&Tensor>) -> Result<(), OpError> {
    match sorter {
        Some(_) => op_bail!(
            "torch.searchsorted() with `sorter` is not supported yet: sort the boundaries first"
        ),
        None => Ok(()),
    }
}

op_def! {
    pub static SEARCHSORTED_TENSOR: struct SearchSorted =
        "aten::searchsorted.Tensor(Tensor sorted_sequence, Tensor self, *, bool out_int32=False, bool right=False, str? side=None, Tensor? sorter=None) -> Tensor" {
        meta: |a: &SearchSorted| {
            refuse_sorter(a.sorter.as_ref())?;
            resolve_side(a.right, a.side.as_deref())?;
            Ok(vec![search_meta(&a.sorted_sequence, &meta_of(&a.self_)?, a.out_int32)?])
        },
        kernel: |a: &SearchSorted, out: &[TensorMeta]| {
            let right = resolve_side(a.right, a.side.as_deref())?;
            search_kernel(&a.sorted_sequence, &a.self_, right, out)
        },
    }
    /// One number searched: a 0-d result.
    pub static SEARCHSORTED_SCALAR: struct SearchSortedScalar =
        "aten::searchsorted.Scalar(Tensor sorted_sequence, Scalar self, *, bool out_int32=False, bool right=False, str? side=None, Tensor? sorter=None) -> Tensor" {
        meta: |a: &SearchSortedScalar| {
            refuse_sorter(a.sorter.as_ref())?;
            resolve_side(a.right, a.side.as_deref())?;
            if meta_of(&a.sorted_sequence)?.rank() != 1 {
                op_bail!("torch.searchsorted(): input value can be a scalar only when boundaries tensor dimension is 1");
            }
            Ok(vec![TensorMeta::new(index_dtype(a.out_int32), Vec::new())])
        },
        composite: |a: &SearchSortedScalar| {
            let value = Tensor::scalar_tensor(a.self_.to::<f64>(), DType::F64);
            let args = vec![
                Value::Tensor(a.sorted_sequence.clone()),
                Value::Tensor(value),
                Value::Bool(a.out_int32),
                Value::Bool(resolve_side(a.right, a.side.as_deref())?),
            ];
            Ok(Tensor::call_op(&SEARCHSORTED_TENSOR, args))
        },
    }
    /// Which bucket of the 1-D `boundaries` each value falls in.
    pub static BUCKETIZE_TENSOR: struct Bucketize =
        "aten::bucketize.Tensor(Tensor self, Tensor boundaries, *, bool out_int32=False, bool right=False) -> Tensor" {
        meta: |a: &Bucketize| {
            let b = meta_of(&a.boundaries)?;
            if b.rank() != 1 {
                op_bail!("boundaries tensor must be 1 dimension, but got dim({})", b.rank());
            }
            Ok(vec![search_meta(&a.boundaries, &meta_of(&a.self_)?, a.out_int32)?])
        },
        kernel: |a: &Bucketize, out: &[TensorMeta]| search_kernel(&a.boundaries, &a.self_, a.right, out),
        lowering: bucketize_lowering,
    }
}

/// Each value's bucket alone (along no dim): a planned step of the kernel.
fn bucketize_lowering<T: Clone>(a: &Bucketize<T>) -> Result<super::Lowering<T>, OpError> {
    super::Lowering::lanes_along(&a.self_, &[])
}

// ---------------------------------------------------------------------------------------
// histc: counts in equal bins

/// The range `histc` bins over: `[min, max]` as given, the data's own when both are
/// equal (0 and 0 by default), widened by one each way when that is one point.
fn histc_range(a: &Histc, data: &[f64]) -> Result<(f64, f64), OpError> {
    let (mut lo, mut hi) = (a.min.to::<f64>(), a.max.to::<f64>());
    if lo == hi {
        let (min, max) = (data.iter().filter(|x| !x.is_nan()))
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                (a.min(x), b.max(x))
            });
        // No number at all (empty, or all NaN): the range of 0.
        (lo, hi) = if min > max { (0.0, 0.0) } else { (min, max) };
    }
    if lo == hi {
        (lo, hi) = (lo - 1.0, hi + 1.0);
    }
    if !lo.is_finite() || !hi.is_finite() {
        op_bail!("torch.histc: range of [{lo}, {hi}] is not finite");
    }
    if lo > hi {
        op_bail!("torch.histc: max must be larger than min");
    }
    Ok((lo, hi))
}

fn histc_meta(a: &Histc) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    if !m.dtype.is_float() {
        op_bail!("\"histogram_cpu\" not implemented for '{}'", m.dtype);
    }
    if a.bins <= 0 {
        op_bail!(
            "torch.histc: bins must be > 0, but got {} for dimension 0",
            a.bins
        );
    }
    if a.min.to::<f64>() > a.max.to::<f64>() {
        op_bail!("torch.histc: max must be larger than min");
    }
    Ok(vec![TensorMeta::new(
        m.dtype,
        vec![crate::symbolic::SymInt::Int(a.bins)],
    )])
}

/// Each element in `[min, max]` counted in its bin (`max` itself in the last); the
/// others, and NaN, are not counted.
fn histc_kernel(a: &Histc, out: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let dtype = out.first().map_or(DType::F32, |m| m.dtype);
    let s = a.self_.storage_or_op_error()?;
    let data = s.to_f64_vec();
    let (lo, hi) = histc_range(a, &data)?;
    let bins =
        usize::try_from(a.bins).map_err(|_| OpError::new("torch.histc: bins must be > 0"))?;
    let mut counts = ferrex_kernels::try_filled(bins, 0.0f64).map_err(|e| OpError(e.0))?;
    for &x in data.iter().filter(|&&x| x >= lo && x <= hi) {
        let pos = ((x - lo) / (hi - lo) * bins as f64) as usize;
        if let Some(c) = counts.get_mut(pos.min(bins - 1)) {
            *c += 1.0;
        }
    }
    let storage = Storage::from_vec(&[bins], counts)
        .ok_or_else(|| OpError::new("torch.histc: the output shape"))?;
    Ok(vec![storage.into_dtype(dtype)])
}

op_def! {
    pub static HISTC: struct Histc =
        "aten::histc(Tensor self, int bins=100, Scalar min=0, Scalar max=0) -> Tensor" {
        meta: histc_meta,
        kernel: histc_kernel,
    }
}
