//! Comparisons and logical ops (bool results), `where`, `clamp`.

use ndarray::Zip;

use super::elementwise::{
    broadcast_view, operand, operand_storage, promote_and_broadcast, zip2, Operand,
};
use super::util::{broadcast_shapes, concrete};
use super::{OpArgs, OpDef, Value};
use crate::error::OpError;
use crate::op_bail;
use crate::tensor::{result_type, DType, Element, Storage, TensorMeta};

// ---------------------------------------------------------------------------------------
// Comparisons

/// Bool result over the broadcast shape; the operands are compared in their promoted
/// type, as PyTorch does (`f32 < 0.1` compares with `0.1f32`).
fn compare_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let (_, sizes) = promote_and_broadcast(args, &[0, 1])?;
    Ok(vec![TensorMeta::new(DType::Bool, sizes)])
}

fn compare_kernel(
    args: &OpArgs,
    float: fn(&f64, &f64) -> bool,
    int: fn(&i64, &i64) -> bool,
) -> Result<Vec<Storage>, OpError> {
    let (common, sizes) = promote_and_broadcast(args, &[0, 1])?;
    let shape = concrete(&sizes);
    let a = operand_storage(args, 0, common)?;
    let b = operand_storage(args, 1, common)?;
    // Values already in `common` convert to f64 (floats) or i64 (ints, bools) exactly.
    Ok(vec![if common.is_float() {
        zip2::<f64, bool>(&a, &b, &shape, |x, y| float(&x, &y))?
    } else {
        zip2::<i64, bool>(&a, &b, &shape, |x, y| int(&x, &y))?
    }])
}

/// `.Tensor` and `.Scalar` overloads of one comparison, sharing meta and kernel.
macro_rules! comparison_ops {
    ($($tensor:ident, $scalar:ident, $kernel:ident = $name:literal, $f:ident;)*) => {$(
        fn $kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
            compare_kernel(args, f64::$f, i64::$f)
        }
        pub static $tensor: OpDef = OpDef::new(
            concat!("aten::", $name, ".Tensor(Tensor self, Tensor other) -> Tensor"),
            compare_meta,
            $kernel,
        );
        pub static $scalar: OpDef = OpDef::new(
            concat!("aten::", $name, ".Scalar(Tensor self, Scalar other) -> Tensor"),
            compare_meta,
            $kernel,
        );
    )*};
}

comparison_ops! {
    EQ_TENSOR, EQ_SCALAR, eq_kernel = "eq", eq;
    NE_TENSOR, NE_SCALAR, ne_kernel = "ne", ne;
    LT_TENSOR, LT_SCALAR, lt_kernel = "lt", lt;
    LE_TENSOR, LE_SCALAR, le_kernel = "le", le;
    GT_TENSOR, GT_SCALAR, gt_kernel = "gt", gt;
    GE_TENSOR, GE_SCALAR, ge_kernel = "ge", ge;
}

// ---------------------------------------------------------------------------------------
// Logical ops: any dtype in (nonzero, NaN included, is true), bool out

fn logical_binary_kernel(
    args: &OpArgs,
    f: fn(bool, bool) -> bool,
) -> Result<Vec<Storage>, OpError> {
    let out = compare_meta(args)?;
    let shape = concrete(&out[0].sizes);
    let a = operand_storage(args, 0, DType::Bool)?;
    let b = operand_storage(args, 1, DType::Bool)?;
    Ok(vec![zip2::<bool, bool>(&a, &b, &shape, f)?])
}

fn logical_and_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    logical_binary_kernel(args, |x, y| x && y)
}

fn logical_or_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    logical_binary_kernel(args, |x, y| x || y)
}

fn logical_not_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    Ok(vec![TensorMeta::new(DType::Bool, args.meta(0)?.sizes)])
}

fn logical_not_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let a = args.storage(0)?.typed::<bool>();
    Ok(vec![Storage::Bool(a.mapv(|x| !x).into_shared())])
}

pub static LOGICAL_AND: OpDef = OpDef::new(
    "aten::logical_and(Tensor self, Tensor other) -> Tensor",
    compare_meta,
    logical_and_kernel,
);
pub static LOGICAL_OR: OpDef = OpDef::new(
    "aten::logical_or(Tensor self, Tensor other) -> Tensor",
    compare_meta,
    logical_or_kernel,
);
pub static LOGICAL_NOT: OpDef = OpDef::new(
    "aten::logical_not(Tensor self) -> Tensor",
    logical_not_meta,
    logical_not_kernel,
);

// ---------------------------------------------------------------------------------------
// where

/// `self` and `other` promoted together; all three broadcast together.
fn where_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let cond = args.meta(0)?;
    if cond.dtype != DType::Bool {
        op_bail!(
            "where expected condition to be a boolean tensor, but got a tensor with dtype {}",
            cond.dtype
        );
    }
    let (dtype, sizes) = promote_and_broadcast(args, &[1, 2])?;
    Ok(vec![TensorMeta::new(
        dtype,
        broadcast_shapes(&cond.sizes, &sizes)?,
    )])
}

fn select<T: Element>(
    cond: &Storage,
    a: &Storage,
    b: &Storage,
    shape: &[usize],
) -> Result<Storage, OpError> {
    let (c, a, b) = (cond.typed::<bool>(), a.typed::<T>(), b.typed::<T>());
    let (cv, av, bv) = (
        broadcast_view(&c, shape)?,
        broadcast_view(&a, shape)?,
        broadcast_view(&b, shape)?,
    );
    Ok(T::wrap(
        Zip::from(&cv)
            .and(&av)
            .and(&bv)
            .map_collect(|&c, &x, &y| if c { x } else { y })
            .into_shared(),
    ))
}

fn where_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let out = where_meta(args)?;
    let (dtype, shape) = (out[0].dtype, concrete(&out[0].sizes));
    let cond = args.storage(0)?;
    let a = operand_storage(args, 1, dtype)?;
    let b = operand_storage(args, 2, dtype)?;
    Ok(vec![match dtype {
        DType::Bool => select::<bool>(&cond, &a, &b, &shape)?,
        DType::I32 => select::<i32>(&cond, &a, &b, &shape)?,
        DType::I64 => select::<i64>(&cond, &a, &b, &shape)?,
        DType::F32 => select::<f32>(&cond, &a, &b, &shape)?,
        DType::F64 => select::<f64>(&cond, &a, &b, &shape)?,
    }])
}

pub static WHERE_SELF: OpDef = OpDef::new(
    "aten::where.self(Tensor condition, Tensor self, Tensor other) -> Tensor",
    where_meta,
    where_kernel,
);

// ---------------------------------------------------------------------------------------
// clamp

/// The result type promotes `self` with the bounds given (an integer tensor clamped to
/// a float bound becomes float, as in PyTorch).
fn clamp_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let m = args.meta(0)?;
    let mut operands = vec![Operand::Tensor(m.clone()).promotion()];
    for i in [1, 2] {
        if !matches!(args.get(i), Value::None) {
            operands.push(operand(args, i)?.promotion());
        }
    }
    if operands.len() == 1 {
        op_bail!("torch.clamp: At least one of 'min' or 'max' must not be None");
    }
    let dtype = result_type(&operands);
    if dtype == DType::Bool {
        op_bail!("clamp is not supported for bool tensors");
    }
    Ok(vec![TensorMeta::new(dtype, m.sizes)])
}

/// `min(max(x, lo), hi)`: NaN inputs stay NaN, and `lo > hi` gives `hi` everywhere.
fn clamp_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let dtype = clamp_meta(args)?[0].dtype;
    let s = args.storage(0)?.cast(dtype);
    let (lo, hi) = (args.opt_float(1)?, args.opt_float(2)?);
    Ok(vec![if dtype.is_float() {
        let f = move |x: f64| {
            if x.is_nan() {
                return x;
            }
            let x = lo.map_or(x, |lo| if x < lo { lo } else { x });
            hi.map_or(x, |hi| if x > hi { hi } else { x })
        };
        match dtype {
            DType::F64 => Storage::F64(s.typed::<f64>().mapv(f).into_shared()),
            _ => Storage::F32(s.typed::<f32>().mapv(|x| f(x as f64) as f32).into_shared()),
        }
    } else {
        // Integer result type: the bounds are integers too (see `clamp_meta`).
        let (lo, hi) = (lo.map(|v| v as i64), hi.map(|v| v as i64));
        let f = move |x: i64| {
            let x = lo.map_or(x, |lo| x.max(lo));
            hi.map_or(x, |hi| x.min(hi))
        };
        Storage::I64(s.typed::<i64>().mapv(f).into_shared()).cast(dtype)
    }])
}

pub static CLAMP: OpDef = OpDef::new(
    "aten::clamp(Tensor self, Scalar? min=None, Scalar? max=None) -> Tensor",
    clamp_meta,
    clamp_kernel,
);

pub static OPS: &[&OpDef] = &[
    &EQ_TENSOR,
    &EQ_SCALAR,
    &NE_TENSOR,
    &NE_SCALAR,
    &LT_TENSOR,
    &LT_SCALAR,
    &LE_TENSOR,
    &LE_SCALAR,
    &GT_TENSOR,
    &GT_SCALAR,
    &GE_TENSOR,
    &GE_SCALAR,
    &LOGICAL_AND,
    &LOGICAL_OR,
    &LOGICAL_NOT,
    &WHERE_SELF,
    &CLAMP,
];
