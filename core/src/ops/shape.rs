//! Shape and view ops: `t`, `transpose`, `permute`, `view`, `reshape`, `unsqueeze`,
//! `slice`, `clone`. Views share the eager data (strided ndarray views) instead of copying.

use ndarray::{Axis, IxDyn, Slice};

use super::util::{normalize_dim, normalize_dims};
use super::{OpArgs, OpDef};
use crate::error::OpError;
use crate::symbolic::{format_sizes, SymInt};
use crate::tensor::{Storage, TensorMeta};
use crate::{map_storage, op_bail};

/// Swaps two axes without copying.
pub(crate) fn transpose_storage(s: &Storage, a: usize, b: usize) -> Storage {
    map_storage!(s, x => {
        let mut v = x.clone();
        v.swap_axes(a, b);
        v
    })
}

/// Reshapes row-major, copying only when the layout is not contiguous.
pub(crate) fn reshape_storage(s: &Storage, shape: &[usize]) -> Result<Storage, OpError> {
    let c = s.contiguous();
    Ok(map_storage!(&c, x => x
        .clone()
        .into_shape_with_order(IxDyn(shape))
        .map_err(|e| OpError(format!("cannot reshape {:?} to {:?}: {e}", c.shape(), shape)))?))
}

// ---------------------------------------------------------------------------------------
// t / transpose / permute

fn t_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let mut m = args.meta(0)?;
    match m.rank() {
        0 | 1 => {}
        2 => m.sizes.swap(0, 1),
        r => op_bail!("t() expects a tensor with <= 2 dimensions, but self is {r}D"),
    }
    Ok(vec![m])
}

fn t_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let s = args.storage(0)?;
    Ok(vec![if s.shape().len() == 2 {
        transpose_storage(&s, 0, 1)
    } else {
        s
    }])
}

fn transpose_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let mut m = args.meta(0)?;
    let a = normalize_dim(args.i64(1)?, m.rank())?;
    let b = normalize_dim(args.i64(2)?, m.rank())?;
    if m.rank() > 0 {
        m.sizes.swap(a, b);
    }
    Ok(vec![m])
}

fn transpose_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let s = args.storage(0)?;
    let r = s.shape().len();
    if r == 0 {
        return Ok(vec![s]);
    }
    let a = normalize_dim(args.i64(1)?, r)?;
    let b = normalize_dim(args.i64(2)?, r)?;
    Ok(vec![transpose_storage(&s, a, b)])
}

fn permutation(args: &OpArgs, rank: usize) -> Result<Vec<usize>, OpError> {
    let dims: Vec<i64> = args.int_list(1)?.iter().map(SymInt::hint).collect();
    if dims.len() != rank {
        op_bail!(
            "permute(sparse_coo): number of dimensions in the tensor input does not match the length of the desired ordering of dimensions i.e. input.dim() = {rank} is not equal to len(dims) = {}",
            dims.len()
        );
    }
    normalize_dims(&dims, rank)
}

fn permute_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let m = args.meta(0)?;
    let p = permutation(args, m.rank())?;
    Ok(vec![TensorMeta::new(
        m.dtype,
        p.iter().map(|&i| m.sizes[i].clone()).collect(),
    )])
}

fn permute_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let s = args.storage(0)?;
    let p = permutation(args, s.shape().len())?;
    Ok(vec![
        map_storage!(&s, x => x.clone().permuted_axes(IxDyn(&p))),
    ])
}

pub static T: OpDef = OpDef::new("aten::t(Tensor(a) self) -> Tensor(a)", t_meta, t_kernel);
pub static TRANSPOSE: OpDef = OpDef::new(
    "aten::transpose.int(Tensor(a) self, int dim0, int dim1) -> Tensor(a)",
    transpose_meta,
    transpose_kernel,
);
pub static PERMUTE: OpDef = OpDef::new(
    "aten::permute(Tensor(a) self, int[] dims) -> Tensor(a)",
    permute_meta,
    permute_kernel,
);

// ---------------------------------------------------------------------------------------
// view / reshape

/// Resolves a requested shape (with at most one `-1`) against the number of elements.
fn infer_shape(m: &TensorMeta, requested: &[SymInt]) -> Result<Vec<SymInt>, OpError> {
    let numel = m.numel();
    let mut infer = None;
    let mut known = SymInt::Int(1);
    for (i, s) in requested.iter().enumerate() {
        match s.as_int() {
            Some(-1) => {
                if infer.replace(i).is_some() {
                    op_bail!("only one dimension can be inferred");
                }
            }
            Some(v) if v < 0 => op_bail!("invalid shape dimension {v}"),
            _ => known = known.mul(s),
        }
    }
    let mut out = requested.to_vec();
    let invalid = || {
        OpError(format!(
            "shape '{}' is invalid for input of size {}",
            format_sizes(requested),
            numel
        ))
    };
    match infer {
        Some(i) => {
            let inferred = numel.div_exact(&known).ok_or_else(invalid)?;
            out[i] = inferred;
        }
        None => {
            if !(known.same_as(&numel) || known.sym_eq(&numel)) {
                return Err(invalid());
            }
        }
    }
    Ok(out)
}

fn view_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let m = args.meta(0)?;
    let sizes = infer_shape(&m, &args.int_list(1)?)?;
    Ok(vec![TensorMeta::new(m.dtype, sizes)])
}

fn view_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let out = view_meta(args)?;
    let shape = super::util::concrete(&out[0].sizes);
    Ok(vec![reshape_storage(&args.storage(0)?, &shape)?])
}

pub static VIEW: OpDef = OpDef::new(
    "aten::view(Tensor(a) self, SymInt[] size) -> Tensor(a)",
    view_meta,
    view_kernel,
);
pub static RESHAPE: OpDef = OpDef::new(
    "aten::reshape(Tensor(a) self, SymInt[] shape) -> Tensor(a)",
    view_meta,
    view_kernel,
);

// ---------------------------------------------------------------------------------------
// unsqueeze

fn unsqueeze_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let mut m = args.meta(0)?;
    let d = normalize_dim(args.i64(1)?, m.rank() + 1)?;
    m.sizes.insert(d, SymInt::Int(1));
    Ok(vec![m])
}

fn unsqueeze_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let s = args.storage(0)?;
    let d = normalize_dim(args.i64(1)?, s.shape().len() + 1)?;
    Ok(vec![map_storage!(&s, x => x.clone().insert_axis(Axis(d)))])
}

pub static UNSQUEEZE: OpDef = OpDef::new(
    "aten::unsqueeze(Tensor(a) self, int dim) -> Tensor(a)",
    unsqueeze_meta,
    unsqueeze_kernel,
);

// ---------------------------------------------------------------------------------------
// slice

/// The start and length of `self[start:end:step]` along a dim of size `len`, symbolic
/// when `len` is; bounds are clamped as Python slicing does, recording guards.
pub(crate) fn slice_bounds(
    len: &SymInt,
    start: Option<SymInt>,
    end: Option<SymInt>,
    step: i64,
) -> Result<(SymInt, SymInt), OpError> {
    if step <= 0 {
        op_bail!("slice step must be positive, got {step}");
    }
    let zero = SymInt::Int(0);
    let clamp = |v: SymInt| -> SymInt {
        let v = if v.hint() < 0 { v.add(len) } else { v };
        if v.compare(crate::symbolic::CmpOp::Lt, &zero) {
            zero.clone()
        } else if v.compare(crate::symbolic::CmpOp::Gt, len) {
            len.clone()
        } else {
            v
        }
    };
    let start = match start {
        Some(s) => clamp(s),
        None => zero.clone(),
    };
    let end = match end {
        // PyTorch spells "to the end" as INT64_MAX.
        Some(e) if e.as_int().is_some_and(|v| v >= i64::MAX / 2) => len.clone(),
        Some(e) => clamp(e),
        None => len.clone(),
    };
    let span = end.sub(&start);
    let span = if span.compare(crate::symbolic::CmpOp::Lt, &zero) {
        zero
    } else {
        span
    };
    let count = span.add(&SymInt::Int(step - 1)).floor_div(step);
    Ok((start, count))
}

fn slice_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let mut m = args.meta(0)?;
    if m.rank() == 0 {
        op_bail!("slice() cannot be applied to a 0-dim tensor");
    }
    let d = normalize_dim(args.i64(1)?, m.rank())?;
    let (_, count) = slice_bounds(
        &m.sizes[d],
        args.opt_int(2)?,
        args.opt_int(3)?,
        args.i64(4)?,
    )?;
    m.sizes[d] = count;
    Ok(vec![m])
}

fn slice_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let s = args.storage(0)?;
    let d = normalize_dim(args.i64(1)?, s.shape().len())?;
    let step = args.i64(4)?;
    let len = SymInt::Int(s.shape()[d] as i64);
    let (start, count) = slice_bounds(&len, args.opt_int(2)?, args.opt_int(3)?, step)?;
    let (start, count) = (start.hint() as isize, count.hint() as isize);
    let end = start + (count - 1).max(0) * step as isize + if count > 0 { 1 } else { 0 };
    let slice = Slice::new(start, Some(end), step as isize);
    Ok(vec![map_storage!(&s, x => {
        let mut v = x.clone();
        v.slice_axis_inplace(Axis(d), slice);
        v
    })])
}

pub static SLICE: OpDef = OpDef::new(
    "aten::slice.Tensor(Tensor(a) self, int dim=0, SymInt? start=None, SymInt? end=None, SymInt step=1) -> Tensor(a)",
    slice_meta,
    slice_kernel,
);

// ---------------------------------------------------------------------------------------
// clone

fn clone_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    Ok(vec![args.meta(0)?])
}

fn clone_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let s = args.storage(0)?;
    Ok(vec![
        map_storage!(&s, x => x.as_standard_layout().into_owned().into_shared()),
    ])
}

pub static CLONE: OpDef = OpDef::new(
    "aten::clone(Tensor self, *, MemoryFormat? memory_format=None) -> Tensor",
    clone_meta,
    clone_kernel,
);

pub static OPS: &[&OpDef] = &[
    &T, &TRANSPOSE, &PERMUTE, &VIEW, &RESHAPE, &UNSQUEEZE, &SLICE, &CLONE,
];
