//! Reductions: `sum`, `mean`.

use ndarray::{ArcArray, Axis, IxDyn};

use super::util::normalize_dims;
use super::{OpArgs, OpDef};
use crate::error::OpError;
use crate::symbolic::SymInt;
use crate::tensor::{DType, Storage, TensorMeta};

/// The dims a reduction runs over (`None` or empty: all) and the output sizes.
fn reduce_shape(
    m: &TensorMeta,
    dims: Option<Vec<SymInt>>,
    keepdim: bool,
) -> Result<(Vec<usize>, Vec<SymInt>), OpError> {
    let dims: Vec<usize> = match dims {
        Some(d) if !d.is_empty() => {
            normalize_dims(&d.iter().map(|s| s.hint()).collect::<Vec<_>>(), m.rank())?
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

fn reduce_sum(s: &Storage, dims: &[usize], keepdim: bool, dtype: DType) -> Storage {
    fn go<T: crate::tensor::Element + num_like::Zero + std::ops::Add<Output = T>>(
        a: ArcArray<T, IxDyn>,
        dims: &[usize],
        keepdim: bool,
    ) -> ArcArray<T, IxDyn> {
        let mut sorted = dims.to_vec();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        let mut cur = a.into_owned();
        for &d in &sorted {
            let r = cur.fold_axis(Axis(d), T::zero(), |acc, &x| *acc + x);
            cur = if keepdim { r.insert_axis(Axis(d)) } else { r };
        }
        cur.into_shared()
    }
    let s = s.cast(dtype);
    match s {
        Storage::F32(a) => {
            // Accumulate f32 sums in f64 for accuracy, as PyTorch's pairwise sum approximates.
            let wide = go(a.mapv(|x| x as f64).into_shared(), dims, keepdim);
            Storage::F32(wide.mapv(|x| x as f32).into_shared())
        }
        Storage::F64(a) => Storage::F64(go(a, dims, keepdim)),
        Storage::I64(a) => Storage::I64(go(a, dims, keepdim)),
        Storage::I32(a) => Storage::I32(go(a, dims, keepdim)),
        Storage::Bool(a) => Storage::I64(go(a.mapv(|b| b as i64).into_shared(), dims, keepdim)),
    }
}

mod num_like {
    pub trait Zero {
        fn zero() -> Self;
    }
    macro_rules! zero {
        ($($t:ty),*) => { $(impl Zero for $t { fn zero() -> Self { 0 as $t } })* };
    }
    zero!(f32, f64, i32, i64);
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

pub static SUM: OpDef = OpDef::new(
    "aten::sum(Tensor self, *, ScalarType? dtype=None) -> Tensor",
    sum_meta,
    sum_kernel,
);
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

pub static OPS: &[&OpDef] = &[&SUM, &SUM_DIM, &MEAN, &MEAN_DIM];
