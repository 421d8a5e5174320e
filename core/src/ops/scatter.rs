//! Writing a view's new contents back into its base, functionally: `slice_scatter` and
//! `select_scatter` return a copy of `self` with the region `self[start:end:step]` (or
//! `self.select(dim, index)`) replaced by `src`. PyTorch's core ATen IR records a write
//! through a view this way (`y[:, 0] += 1`, a KV cache's `cache[:, pos] = k`), and the
//! `.pt2` reader functionalizes the default IR's in-place ops on views into them.

use ndarray::{ArcArray, Axis, IxDyn, Slice};

use super::shape::{check_index, slice_bounds};
use super::util::normalize_dim;
use super::{OpArgs, OpDef};
use crate::error::OpError;
use crate::op_bail;
use crate::symbolic::{format_sizes, SymInt};
use crate::tensor::{Element, Storage, TensorMeta};

/// The sizes `src` must have: those of the region of `self` it replaces.
fn region_sizes(args: &OpArgs, select: bool) -> Result<(TensorMeta, Vec<SymInt>), OpError> {
    let m = args.meta(0)?;
    if m.rank() == 0 {
        op_bail!(
            "{}() cannot be applied to a 0-dim tensor",
            args.op.base_name()
        );
    }
    let d = normalize_dim(args.i64(2)?, m.rank())?;
    let mut region = m.sizes.clone();
    if select {
        check_index(&m.sizes[d], &args.int(3)?, d, "select_scatter")?;
        region.remove(d);
    } else {
        let (_, count) = slice_bounds(
            &m.sizes[d],
            args.opt_int(3)?,
            args.opt_int(4)?,
            args.i64(5)?,
        )?;
        region[d] = count;
    }
    Ok((m, region))
}

fn scatter_meta(args: &OpArgs, select: bool) -> Result<Vec<TensorMeta>, OpError> {
    let (m, region) = region_sizes(args, select)?;
    let src = args.meta(1)?;
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

fn slice_scatter_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    scatter_meta(args, false)
}

fn select_scatter_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    scatter_meta(args, true)
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

fn slice_scatter_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    slice_scatter_meta(args)?;
    let base = args.storage(0)?;
    let src = args.storage(1)?.cast(base.dtype());
    let d = normalize_dim(args.i64(2)?, base.shape().len())?;
    let step = args.i64(5)?;
    let len = SymInt::Int(base.shape()[d] as i64);
    let (start, count) = slice_bounds(&len, args.opt_int(3)?, args.opt_int(4)?, step)?;
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

fn select_scatter_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    select_scatter_meta(args)?;
    let base = args.storage(0)?;
    let src = args.storage(1)?.cast(base.dtype());
    let d = normalize_dim(args.i64(2)?, base.shape().len())?;
    let len = SymInt::Int(base.shape()[d] as i64);
    let i = check_index(&len, &args.int(3)?, d, "select_scatter")?.hint() as usize;
    Ok(vec![
        crate::map_storage!(&base, x => write_region(x, &src, |v| v.index_axis_move(Axis(d), i))?),
    ])
}

pub static SLICE_SCATTER: OpDef = OpDef::new(
    "aten::slice_scatter(Tensor self, Tensor src, int dim=0, SymInt? start=None, SymInt? end=None, SymInt step=1) -> Tensor",
    slice_scatter_meta,
    slice_scatter_kernel,
);

pub static SELECT_SCATTER: OpDef = OpDef::new(
    "aten::select_scatter(Tensor self, Tensor src, int dim, SymInt index) -> Tensor",
    select_scatter_meta,
    select_scatter_kernel,
);

pub static OPS: &[&OpDef] = &[&SLICE_SCATTER, &SELECT_SCATTER];

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
