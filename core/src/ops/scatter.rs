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
use crate::tensor::{Element, Storage, Tensor, TensorMeta};

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

op_def! {
    pub static SLICE_SCATTER: struct SliceScatter =
        "aten::slice_scatter(Tensor self, Tensor src, int dim=0, SymInt? start=None, SymInt? end=None, SymInt step=1) -> Tensor" {
        meta: slice_scatter_meta,
        kernel: slice_scatter_kernel,
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
