//! Writing a view's new contents back into its base, functionally: `slice_scatter` and
//! `select_scatter` return a copy of `self` with the region `self[start:end:step]` (or
//! `self.select(dim, index)`) replaced by `src`. PyTorch's core ATen IR records a write
//! through a view this way (`y[:, 0] += 1`, a KV cache's `cache[:, pos] = k`), and the
//! `.pt2` reader functionalizes the default IR's in-place ops on views into them.

use ndarray::{ArcArray, Axis, IxDyn, Slice};

use super::op_def;
use super::shape::{check_index, slice_bounds};
use super::util::{meta_of, normalize_dim};
use crate::error::OpError;
use crate::op_bail;
use crate::symbolic::{format_sizes, SymInt};
use crate::tensor::{DType, Element, Storage, Tensor, TensorMeta};

/// The region of `self` a scatter replaces along `dim`.
enum Region {
    Slice {
        start: Option<SymInt>,
        end: Option<SymInt>,
        step: i64,
    },
    Select(SymInt),
}

/// The sizes `src` must have: those of the region of `self` it replaces.
fn region_sizes(
    op: &str,
    x: &Tensor,
    dim: i64,
    region: &Region,
) -> Result<(TensorMeta, Vec<SymInt>), OpError> {
    let m = meta_of(x)?;
    if m.rank() == 0 {
        op_bail!("{op}() cannot be applied to a 0-dim tensor");
    }
    let d = normalize_dim(dim, m.rank())?;
    let mut sizes = m.sizes.clone();
    match region {
        Region::Select(index) => {
            check_index(&m.sizes[d], index, d, "select_scatter")?;
            sizes.remove(d);
        }
        Region::Slice { start, end, step } => {
            let (_, count) = slice_bounds(&m.sizes[d], start.clone(), end.clone(), *step)?;
            sizes[d] = count;
        }
    }
    Ok((m, sizes))
}

fn scatter_meta(
    op: &str,
    x: &Tensor,
    src: &Tensor,
    dim: i64,
    region: &Region,
) -> Result<Vec<TensorMeta>, OpError> {
    let (m, region) = region_sizes(op, x, dim, region)?;
    let src = meta_of(src)?;
    let same = src.sizes.len() == region.len()
        && src
            .sizes
            .iter()
            .zip(&region)
            .all(|(a, b)| a.hint() == b.hint());
    if !same {
        op_bail!(
            "expected src to have a size equal to the slice of self. src size = {}, slice size = {}",
            format_sizes(&src.sizes),
            format_sizes(&region)
        );
    }
    Ok(vec![m])
}

fn slice_region<T>(args: &SliceScatter<T>) -> Region {
    Region::Slice {
        start: args.start.clone(),
        end: args.end.clone(),
        step: args.step.hint(),
    }
}

fn slice_scatter_meta(args: &SliceScatter) -> Result<Vec<TensorMeta>, OpError> {
    scatter_meta(
        "slice_scatter",
        &args.self_,
        &args.src,
        args.dim,
        &slice_region(args),
    )
}

fn select_scatter_meta(args: &SelectScatter) -> Result<Vec<TensorMeta>, OpError> {
    let region = Region::Select(args.index.clone());
    scatter_meta("select_scatter", &args.self_, &args.src, args.dim, &region)
}

/// `base` with the region `place` selects replaced by `src` (already of `base`'s dtype
/// and the region's shape, as the meta function checked).
fn write_region<T: Element>(
    base: &ArcArray<T, IxDyn>,
    src: &Storage,
    place: impl Fn(ndarray::ArrayViewMutD<'_, T>) -> ndarray::ArrayViewMutD<'_, T>,
) -> Result<ArcArray<T, IxDyn>, OpError> {
    let src = T::unwrap(src.clone()).ok_or_else(|| OpError::new("scatter: dtype mismatch"))?;
    let mut out = base.to_owned();
    let mut region = place(out.view_mut());
    if region.shape() != src.shape() {
        op_bail!("scatter: the region and src differ in shape");
    }
    region.assign(&src);
    Ok(out.into_shared())
}

fn slice_scatter_kernel(args: &SliceScatter, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let base = args.self_.storage_or_op_error()?;
    let src = args.src.storage_or_op_error()?.into_dtype(base.dtype());
    let d = normalize_dim(args.dim, base.shape().len())?;
    let step = args.step.hint();
    let len = SymInt::Int(base.shape()[d] as i64);
    let (start, count) = slice_bounds(&len, args.start.clone(), args.end.clone(), step)?;
    let (start, count) = (start.hint() as isize, count.hint() as isize);
    let end = start + (count - 1).max(0) * step as isize + isize::from(count > 0);
    let slice = Slice::new(start, Some(end), step as isize);
    Ok(vec![
        crate::map_storage!(&base, x => write_region(x, &src, |mut v| {
        v.slice_axis_inplace(Axis(d), slice);
        v
    })?),
    ])
}

fn select_scatter_kernel(args: &SelectScatter, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let base = args.self_.storage_or_op_error()?;
    let src = args.src.storage_or_op_error()?.into_dtype(base.dtype());
    let d = normalize_dim(args.dim, base.shape().len())?;
    let len = SymInt::Int(base.shape()[d] as i64);
    let i = check_index(&len, &args.index, d, "select_scatter")?.hint() as usize;
    Ok(vec![
        crate::map_storage!(&base, x => write_region(x, &src, |v| v.index_axis_move(Axis(d), i))?),
    ])
}

/// Each lane along `dim` of the result from the same lanes of `self` and `src` (of
/// one rank): a planned step of the kernel, split along any other dim.
fn slice_scatter_lowering<T: Clone>(a: &SliceScatter<T>) -> Result<super::Lowering<T>, OpError> {
    Ok(super::Lowering::Lanes {
        inputs: vec![a.self_.clone(), a.src.clone()],
        dims: vec![a.dim],
    })
}

op_def! {
    pub static SLICE_SCATTER: struct SliceScatter =
        "aten::slice_scatter(Tensor self, Tensor src, int dim=0, SymInt? start=None, SymInt? end=None, SymInt step=1) -> Tensor" {
        meta: slice_scatter_meta,
        kernel: slice_scatter_kernel,
        lowering: slice_scatter_lowering,
    }
    pub static SELECT_SCATTER: struct SelectScatter =
        "aten::select_scatter(Tensor self, Tensor src, int dim, SymInt index) -> Tensor" {
        meta: select_scatter_meta,
        kernel: select_scatter_kernel,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{run_eager, Value};
    use crate::Tensor;

    fn grid() -> Tensor {
        Tensor::arange(12).reshape([3, 4])
    }

    #[test]
    fn slice_scatter_replaces_the_strided_region_only() {
        let src = Tensor::full([3, 2], -1i64);
        let i = |v: i64| Value::Int(SymInt::Int(v));
        let out = run_eager(
            &SLICE_SCATTER,
            &[
                Value::Tensor(grid()),
                Value::Tensor(src),
                i(1),
                i(0),
                i(i64::MAX),
                i(2),
            ],
        )
        .unwrap();
        assert_eq!(
            out[0].to_vec::<i64>().unwrap(),
            [-1, 1, -1, 3, -1, 5, -1, 7, -1, 9, -1, 11]
        );
    }

    #[test]
    fn select_scatter_replaces_one_row_and_checks_sizes() {
        let i = |v: i64| Value::Int(SymInt::Int(v));
        let row = Tensor::full([4], 7i64);
        let out = run_eager(
            &SELECT_SCATTER,
            &[Value::Tensor(grid()), Value::Tensor(row), i(0), i(-1)],
        )
        .unwrap();
        assert_eq!(
            out[0].to_vec::<i64>().unwrap(),
            [0, 1, 2, 3, 4, 5, 6, 7, 7, 7, 7, 7]
        );
        let wrong = Tensor::full([3], 7i64);
        let err = run_eager(
            &SELECT_SCATTER,
            &[Value::Tensor(grid()), Value::Tensor(wrong), i(0), i(1)],
        )
        .unwrap_err();
        assert_eq!(
            err.0,
            "expected src to have a size equal to the slice of self. src size = [3], slice size = [4]"
        );
    }
}

// ---------------------------------------------------------------------------------------
// scatter_add, scatter_reduce, index_add: `self` with `src`'s elements combined into the
// positions `index` names along `dim`

/// How `scatter_reduce` combines.
#[derive(Clone, Copy, PartialEq)]
enum Reduce {
    Sum,
    Prod,
    Mean,
    Amax,
    Amin,
}

impl Reduce {
    fn parse(s: &str) -> Result<Reduce, OpError> {
        Ok(match s {
            "sum" => Reduce::Sum,
            "prod" => Reduce::Prod,
            "mean" => Reduce::Mean,
            "amax" => Reduce::Amax,
            "amin" => Reduce::Amin,
            other => op_bail!(
                "reduce argument must be either sum, prod, mean, amax or amin, got {other}"
            ),
        })
    }

    fn combine(self, acc: f64, v: f64) -> f64 {
        match self {
            Reduce::Sum | Reduce::Mean => acc + v,
            Reduce::Prod => acc * v,
            // NaN wins, as PyTorch's.
            Reduce::Amax if acc.is_nan() || v.is_nan() => f64::NAN,
            Reduce::Amin if acc.is_nan() || v.is_nan() => f64::NAN,
            Reduce::Amax => acc.max(v),
            Reduce::Amin => acc.min(v),
        }
    }

    fn identity(self) -> f64 {
        match self {
            Reduce::Sum | Reduce::Mean => 0.0,
            Reduce::Prod => 1.0,
            Reduce::Amax => f64::NEG_INFINITY,
            Reduce::Amin => f64::INFINITY,
        }
    }
}

/// `index`'s shape fits `src`'s in every dim and `self`'s outside `dim` (PyTorch's
/// rule); all three of one rank.
fn scatter_reduce_meta(
    x: &Tensor,
    dim: i64,
    index: &Tensor,
    src: &Tensor,
) -> Result<Vec<TensorMeta>, OpError> {
    let (m, im, sm) = (meta_of(x)?, meta_of(index)?, meta_of(src)?);
    let d = normalize_dim(dim, m.rank().max(1))?;
    if im.dtype != crate::tensor::DType::I64 {
        op_bail!("scatter(): Expected dtype int64 for index");
    }
    if im.rank() != m.rank() || sm.rank() != m.rank() {
        op_bail!("Index tensor must have the same number of dimensions as self tensor");
    }
    for k in 0..m.rank() {
        let i = im.sizes[k].hint();
        if i > sm.sizes[k].hint() || (k != d && i > m.sizes[k].hint()) {
            op_bail!(
                "Expected index {} to be smaller than self {} apart from dimension {d} and to be smaller size than src {}",
                format_sizes(&im.sizes),
                format_sizes(&m.sizes),
                format_sizes(&sm.sizes)
            );
        }
    }
    if sm.dtype != m.dtype {
        op_bail!("scatter(): Expected self.dtype to be equal to src.dtype");
    }
    Ok(vec![m])
}

/// The combined result, computed in f64 and rounded to the dtype after each step (one
/// f32 add rounded, as PyTorch's sequential f32 accumulation).
fn scatter_reduce_kernel(
    x: &Tensor,
    dim: i64,
    index: &Tensor,
    src: &Tensor,
    reduce: Reduce,
    include_self: bool,
) -> Result<Vec<Storage>, OpError> {
    let s = x.storage_or_op_error()?;
    let shape = s.shape().to_vec();
    let d = normalize_dim(dim, shape.len().max(1))?;
    let idx = index.storage_or_op_error()?.typed::<i64>();
    let idx = idx.as_standard_layout();
    let ishape = idx.shape().to_vec();
    let idx: Vec<i64> = idx.iter().copied().collect();
    let src = src.storage_or_op_error()?.typed::<f64>();
    let sshape = src.shape().to_vec();
    let src: Vec<f64> = src.as_standard_layout().iter().copied().collect();
    let mut out: Vec<f64> = s
        .typed::<f64>()
        .as_standard_layout()
        .iter()
        .copied()
        .collect();
    let row_major = |sh: &[usize]| -> Vec<usize> {
        let mut st = vec![1; sh.len()];
        for k in (0..sh.len().saturating_sub(1)).rev() {
            st[k] = st[k + 1] * sh[k + 1];
        }
        st
    };
    let (ost, sst) = (row_major(&shape), row_major(&sshape));
    let mut count = vec![u32::from(include_self); out.len()];
    let mut touched = vec![false; out.len()];
    let dtype = s.dtype();
    // Each step rounded to the dtype, as a sequential accumulation in it.
    let round = |v: f64| match dtype {
        crate::tensor::DType::F32 => f64::from(v as f32),
        _ => v,
    };
    let mut pos = vec![0usize; ishape.len()];
    for &target in &idx {
        let n = shape.get(d).copied().unwrap_or(1) as i64;
        if target < -n || target >= n {
            op_bail!("index {target} is out of bounds for dimension {d} with size {n}");
        }
        let t = if target < 0 { target + n } else { target } as usize;
        let (mut o, mut si) = (0, 0);
        for k in 0..pos.len() {
            o += if k == d { t } else { pos[k] } * ost[k];
            si += pos[k] * sst[k];
        }
        if !include_self && !touched[o] {
            out[o] = reduce.identity();
        }
        touched[o] = true;
        out[o] = round(reduce.combine(out[o], src[si]));
        count[o] += 1;
        for k in (0..pos.len()).rev() {
            pos[k] += 1;
            if pos[k] < ishape[k] {
                break;
            }
            pos[k] = 0;
        }
    }
    if reduce == Reduce::Mean {
        for (v, &c) in out.iter_mut().zip(&count) {
            if c > 0 {
                *v = if dtype.is_float() {
                    round(*v / f64::from(c))
                } else {
                    (*v / f64::from(c)).floor()
                };
            }
        }
    }
    let out =
        Storage::from_vec(&shape, out).ok_or_else(|| OpError::new("scatter: the output shape"))?;
    Ok(vec![out.into_dtype(dtype)])
}

/// `index_add(self, dim, index, source, alpha)`: `scatter_add` of `alpha * source` with
/// the 1-D index expanded along `dim` to `source`'s shape.
fn index_add_decomposition(a: &IndexAdd) -> Result<Vec<Tensor>, OpError> {
    let sm = meta_of(&a.source)?;
    let d = normalize_dim(a.dim, sm.rank().max(1))?;
    let mut view = vec![SymInt::Int(1); sm.rank()];
    if let Some(v) = view.get_mut(d) {
        *v = SymInt::Int(-1);
    }
    let index = a.index.reshape(&view).expand(&sm.sizes);
    let alpha = a.alpha.to::<f64>();
    let source = if alpha == 1.0 {
        a.source.clone()
    } else {
        a.source.mul(alpha)
    };
    let args = vec![
        super::Value::Tensor(a.self_.clone()),
        super::Value::Int(SymInt::Int(a.dim)),
        super::Value::Tensor(index),
        super::Value::Tensor(source),
    ];
    Ok(Tensor::call_op(&SCATTER_ADD, args))
}

/// The meta of `op` (`index_add`, `index_copy`): `source`'s slices along `dim` written
/// at `index`'s positions of `self`.
fn index_source_meta(
    op: &str,
    self_: &Tensor,
    dim: i64,
    index: &Tensor,
    source: &Tensor,
) -> Result<Vec<TensorMeta>, OpError> {
    let (m, im, sm) = (meta_of(self_)?, meta_of(index)?, meta_of(source)?);
    let d = normalize_dim(dim, m.rank().max(1))?;
    if im.rank() > 1 {
        op_bail!("{op}_(): Index is supposed to be a vector");
    }
    if sm.rank() != m.rank()
        || (0..m.rank()).any(|k| k != d && sm.sizes[k].hint() != m.sizes[k].hint())
    {
        op_bail!(
            "{op}_(): source {} does not fit self {} outside dim {d}",
            format_sizes(&sm.sizes),
            format_sizes(&m.sizes)
        );
    }
    if sm.sizes.get(d).map_or(1, SymInt::hint) != im.sizes.first().map_or(1, SymInt::hint) {
        op_bail!("{op}_(): Number of indices should be equal to source.size(dim)");
    }
    Ok(vec![m])
}

fn index_copy_meta(a: &IndexCopy) -> Result<Vec<TensorMeta>, OpError> {
    let (m, im, sm) = (meta_of(&a.self_)?, meta_of(&a.index)?, meta_of(&a.source)?);
    if im.dtype != DType::I64 {
        op_bail!(
            "index_copy_(): Expected a long tensor for index, but got {}",
            im.dtype
        );
    }
    if sm.dtype != m.dtype {
        op_bail!(
            "index_copy_(): self and source expected to have the same dtype, but got (self) {} and (source) {}",
            m.dtype,
            sm.dtype
        );
    }
    index_source_meta("index_copy", &a.self_, a.dim, &a.index, &a.source)
}

/// `index_copy` as PyTorch's decomposition writes it: `index_put` with the index at
/// `dim` (the dims before it taken whole).
fn index_copy_decomposition(a: &IndexCopy) -> Result<Vec<Tensor>, OpError> {
    let m = meta_of(&a.self_)?;
    let d = normalize_dim(a.dim, m.rank().max(1))?;
    let mut indices: Vec<Option<Tensor>> = vec![None; d];
    // A 0-dim index is one position (a list of one, as `source` has one slice there).
    let index = if meta_of(&a.index)?.rank() == 0 {
        a.index.reshape([1])
    } else {
        a.index.clone()
    };
    indices.push(Some(index));
    let args = vec![
        super::Value::Tensor(a.self_.clone()),
        super::Value::OptTensorList(indices),
        super::Value::Tensor(a.source.clone()),
        super::Value::Bool(false),
    ];
    Ok(Tensor::call_op(&super::mutation::INDEX_PUT, args))
}

op_def! {
    pub static SCATTER_ADD: struct ScatterAdd =
        "aten::scatter_add(Tensor self, int dim, Tensor index, Tensor src) -> Tensor" {
        meta: |a: &ScatterAdd| scatter_reduce_meta(&a.self_, a.dim, &a.index, &a.src),
        kernel: |a: &ScatterAdd, _: &[TensorMeta]| scatter_reduce_kernel(&a.self_, a.dim, &a.index, &a.src, Reduce::Sum, true),
    }
    pub static SCATTER_REDUCE_TWO: struct ScatterReduce =
        "aten::scatter_reduce.two(Tensor self, int dim, Tensor index, Tensor src, str reduce, *, bool include_self=True) -> Tensor" {
        meta: |a: &ScatterReduce| {
            Reduce::parse(&a.reduce)?;
            scatter_reduce_meta(&a.self_, a.dim, &a.index, &a.src)
        },
        kernel: |a: &ScatterReduce, _: &[TensorMeta]| {
            scatter_reduce_kernel(&a.self_, a.dim, &a.index, &a.src, Reduce::parse(&a.reduce)?, a.include_self)
        },
    }
    pub static INDEX_ADD: struct IndexAdd =
        "aten::index_add(Tensor self, int dim, Tensor index, Tensor source, *, Scalar alpha=1) -> Tensor" {
        meta: |a: &IndexAdd| index_source_meta("index_add", &a.self_, a.dim, &a.index, &a.source),
        composite: index_add_decomposition,
    }
    /// `x.index_copy(dim, index, source)`: `source`'s slices along `dim` replace those of
    /// `x` at `index` (a KV cache's `cache.index_copy_(1, pos, k)`).
    pub static INDEX_COPY: struct IndexCopy =
        "aten::index_copy(Tensor self, int dim, Tensor index, Tensor source) -> Tensor" {
        meta: index_copy_meta,
        composite: index_copy_decomposition,
    }
}
