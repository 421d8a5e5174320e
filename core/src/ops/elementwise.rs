//! Elementwise arithmetic and math: broadcasting binary ops with PyTorch's type
//! promotion, and unary math functions.

use ndarray::{ArcArray, IxDyn, Zip};

use super::{util::broadcast_shapes, OpArgs, OpDef, Value};
use crate::error::OpError;
use crate::symbolic::SymInt;
use crate::tensor::{
    result_type, DType, Element, PromotionOperand, ScalarKind, Storage, TensorMeta,
};

// ---------------------------------------------------------------------------------------
// Shared machinery (also used by activations and comparisons)

/// A binary operand: a tensor or a plain number standing where a tensor may.
pub(crate) enum Operand {
    Tensor(TensorMeta),
    Scalar(ScalarKind),
}

impl Operand {
    fn promotion(&self) -> PromotionOperand {
        match self {
            Operand::Tensor(m) => PromotionOperand::Tensor {
                dtype: m.dtype,
                rank: m.rank(),
            },
            Operand::Scalar(k) => PromotionOperand::Scalar(*k),
        }
    }

    fn sizes(&self) -> Vec<SymInt> {
        match self {
            Operand::Tensor(m) => m.sizes.clone(),
            Operand::Scalar(_) => Vec::new(),
        }
    }
}

pub(crate) fn operand(args: &OpArgs, i: usize) -> Result<Operand, OpError> {
    Ok(match args.get(i) {
        Value::Tensor(t) => Operand::Tensor(t.meta().map_err(|e| OpError(e.to_string()))?),
        Value::Float(_) => Operand::Scalar(ScalarKind::Float),
        Value::Int(_) => Operand::Scalar(ScalarKind::Int),
        Value::Bool(_) => Operand::Scalar(ScalarKind::Bool),
        _ => {
            return Err(OpError(format!(
                "argument {i} must be a tensor or a number"
            )))
        }
    })
}

/// The storage of operand `i`: the tensor's data, or the number as a 0-dim tensor.
pub(crate) fn operand_storage(args: &OpArgs, i: usize, dtype: DType) -> Result<Storage, OpError> {
    match args.get(i) {
        Value::Tensor(_) => Ok(args.storage(i)?.cast(dtype)),
        Value::Float(v) => Ok(Storage::full(&[], v, dtype)),
        Value::Int(v) => Ok(Storage::full(&[], v.hint() as f64, dtype)),
        Value::Bool(b) => Ok(Storage::full(&[], b as i64 as f64, dtype)),
        _ => Err(OpError(format!(
            "argument {i} must be a tensor or a number"
        ))),
    }
}

/// Result dtype and broadcast shape of the operands at `idx`.
pub(crate) fn promote_and_broadcast(
    args: &OpArgs,
    idx: &[usize],
) -> Result<(DType, Vec<SymInt>), OpError> {
    let ops: Vec<Operand> = idx
        .iter()
        .map(|&i| operand(args, i))
        .collect::<Result<_, _>>()?;
    let dtype = result_type(&ops.iter().map(Operand::promotion).collect::<Vec<_>>());
    let mut shape: Vec<SymInt> = Vec::new();
    for op in &ops {
        shape = broadcast_shapes(&shape, &op.sizes())?;
    }
    Ok((dtype, shape))
}

fn broadcast_view<'a, T>(
    a: &'a ArcArray<T, IxDyn>,
    shape: &[usize],
) -> Result<ndarray::ArrayView<'a, T, IxDyn>, OpError> {
    a.broadcast(IxDyn(shape)).ok_or_else(|| {
        OpError(format!(
            "cannot broadcast shape {:?} to {:?}",
            a.shape(),
            shape
        ))
    })
}

/// `out[i] = f(a[i], b[i])` over the broadcast shape, in element type `T`.
pub(crate) fn zip2<T: Element, U: Element>(
    a: &Storage,
    b: &Storage,
    shape: &[usize],
    mut f: impl FnMut(T, T) -> U,
) -> Result<Storage, OpError> {
    let (a, b) = (a.typed::<T>(), b.typed::<T>());
    let (av, bv) = (broadcast_view(&a, shape)?, broadcast_view(&b, shape)?);
    Ok(U::wrap(
        Zip::from(&av)
            .and(&bv)
            .map_collect(|&x, &y| f(x, y))
            .into_shared(),
    ))
}

/// `out[i] = f(a[i])` in element type `T`.
pub(crate) fn map1<T: Element, U: Element>(a: &Storage, f: impl Fn(T) -> U) -> Storage {
    U::wrap(a.typed::<T>().map(|&x| f(x)).into_shared())
}

/// A binary op computed in `dtype`: floats through `float` (in f64, rounded once to the
/// result type), integers and bools through `int`.
pub(crate) fn binary_numeric(
    a: &Storage,
    b: &Storage,
    shape: &[usize],
    dtype: DType,
    float: impl Fn(f64, f64) -> f64,
    int: impl Fn(i64, i64) -> Result<i64, OpError>,
) -> Result<Storage, OpError> {
    match dtype {
        DType::F32 => zip2::<f32, f32>(a, b, shape, |x, y| float(x as f64, y as f64) as f32),
        DType::F64 => zip2::<f64, f64>(a, b, shape, float),
        DType::I64 | DType::I32 | DType::Bool => {
            let mut err = None;
            let out = zip2::<i64, i64>(a, b, shape, |x, y| {
                int(x, y).unwrap_or_else(|e| {
                    err.get_or_insert(e);
                    0
                })
            })?;
            match err {
                Some(e) => Err(e),
                None => Ok(out.cast(dtype)),
            }
        }
    }
}

/// A unary op: floats through `float`, integers through `int` (when the op keeps integer
/// inputs integral) — otherwise integers are promoted to the default float type.
pub(crate) fn unary_numeric(
    a: &Storage,
    float: impl Fn(f64) -> f64,
    int: Option<fn(i64) -> i64>,
) -> Storage {
    match (a.dtype(), int) {
        (DType::F32, _) => map1::<f32, f32>(a, |x| float(x as f64) as f32),
        (DType::F64, _) => map1::<f64, f64>(a, float),
        (d, Some(g)) => map1::<i64, i64>(a, g).cast(d),
        (_, None) => map1::<f32, f32>(a, |x| float(x as f64) as f32),
    }
}

/// The output dtype of a unary op that promotes integers to float.
pub(crate) fn float_unary_dtype(d: DType) -> DType {
    if d.is_float() {
        d
    } else {
        DType::DEFAULT_FLOAT
    }
}

// ---------------------------------------------------------------------------------------
// Binary arithmetic

fn binary_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let (dtype, sizes) = promote_and_broadcast(args, &[0, 1])?;
    Ok(vec![TensorMeta::new(dtype, sizes)])
}

fn div_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let (dtype, sizes) = promote_and_broadcast(args, &[0, 1])?;
    let rounding = args.opt_str(2).unwrap_or(None);
    let dtype = if rounding.is_none() {
        float_unary_dtype(dtype)
    } else {
        dtype
    };
    Ok(vec![TensorMeta::new(dtype, sizes)])
}

fn binary_kernel(
    args: &OpArgs,
    float: impl Fn(f64, f64) -> f64,
    int: impl Fn(i64, i64) -> Result<i64, OpError>,
) -> Result<Vec<Storage>, OpError> {
    let meta = (args.op.meta)(args)?;
    let out = &meta[0];
    let shape = super::util::concrete(&out.sizes);
    let a = operand_storage(args, 0, out.dtype)?;
    let b = operand_storage(args, 1, out.dtype)?;
    Ok(vec![binary_numeric(&a, &b, &shape, out.dtype, float, int)?])
}

fn alpha(args: &OpArgs) -> Result<(f64, i64), OpError> {
    let a = args.float(2)?;
    Ok((a, a as i64))
}

fn add_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let (af, ai) = alpha(args)?;
    binary_kernel(
        args,
        |x, y| x + af * y,
        |x, y| Ok(x.wrapping_add(ai.wrapping_mul(y))),
    )
}

fn sub_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let (af, ai) = alpha(args)?;
    binary_kernel(
        args,
        |x, y| x - af * y,
        |x, y| Ok(x.wrapping_sub(ai.wrapping_mul(y))),
    )
}

fn mul_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    binary_kernel(args, |x, y| x * y, |x, y| Ok(x.wrapping_mul(y)))
}

fn int_div(x: i64, y: i64, mode: &str) -> Result<i64, OpError> {
    if y == 0 {
        return Err(OpError::new("integer division by zero"));
    }
    Ok(match mode {
        "floor" => {
            let q = x.wrapping_div(y);
            if x.wrapping_rem(y) != 0 && ((x < 0) != (y < 0)) {
                q - 1
            } else {
                q
            }
        }
        _ => x.wrapping_div(y),
    })
}

fn div_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let mode = args.opt_str(2)?;
    match mode.as_deref() {
        None => binary_kernel(args, |x, y| x / y, |x, y| int_div(x, y, "trunc")),
        Some("trunc") => binary_kernel(args, |x, y| (x / y).trunc(), |x, y| int_div(x, y, "trunc")),
        Some("floor") => binary_kernel(args, |x, y| (x / y).floor(), |x, y| int_div(x, y, "floor")),
        Some(m) => Err(OpError(format!(
            "rounding_mode must be None, \"trunc\" or \"floor\", got \"{m}\""
        ))),
    }
}

pub static ADD_TENSOR: OpDef = OpDef::new(
    "aten::add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor",
    binary_meta,
    add_kernel,
);
pub static ADD_: OpDef = OpDef::new(
    "aten::add_.Tensor(Tensor(a!) self, Tensor other, *, Scalar alpha=1) -> Tensor(a!)",
    binary_meta,
    add_kernel,
)
.inplace_of(&ADD_TENSOR);
pub static SUB_TENSOR: OpDef = OpDef::new(
    "aten::sub.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor",
    binary_meta,
    sub_kernel,
);
pub static SUB_: OpDef = OpDef::new(
    "aten::sub_.Tensor(Tensor(a!) self, Tensor other, *, Scalar alpha=1) -> Tensor(a!)",
    binary_meta,
    sub_kernel,
)
.inplace_of(&SUB_TENSOR);
pub static MUL_TENSOR: OpDef = OpDef::new(
    "aten::mul.Tensor(Tensor self, Tensor other) -> Tensor",
    binary_meta,
    mul_kernel,
);
pub static MUL_: OpDef = OpDef::new(
    "aten::mul_.Tensor(Tensor(a!) self, Tensor other) -> Tensor(a!)",
    binary_meta,
    mul_kernel,
)
.inplace_of(&MUL_TENSOR);
pub static DIV_TENSOR: OpDef = OpDef::new(
    "aten::div.Tensor(Tensor self, Tensor other) -> Tensor",
    div_meta,
    div_kernel,
);
pub static DIV_TENSOR_MODE: OpDef = OpDef::new(
    "aten::div.Tensor_mode(Tensor self, Tensor other, *, str? rounding_mode) -> Tensor",
    div_meta,
    div_kernel,
);
pub static DIV_: OpDef = OpDef::new(
    "aten::div_.Tensor(Tensor(a!) self, Tensor other) -> Tensor(a!)",
    div_meta,
    div_kernel,
)
.inplace_of(&DIV_TENSOR);

// ---------------------------------------------------------------------------------------
// Unary math

fn same_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    Ok(vec![args.meta(0)?])
}

fn float_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let m = args.meta(0)?;
    Ok(vec![TensorMeta::new(float_unary_dtype(m.dtype), m.sizes)])
}

fn neg_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let a = args.storage(0)?;
    if a.dtype() == DType::Bool {
        return Err(OpError::new(
            "negation, the `-` operator, on a bool tensor is not supported; use logical_not",
        ));
    }
    Ok(vec![unary_numeric(&a, |x| -x, Some(i64::wrapping_neg))])
}

fn sin_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    Ok(vec![unary_numeric(&args.storage(0)?, f64::sin, None)])
}

fn cos_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    Ok(vec![unary_numeric(&args.storage(0)?, f64::cos, None)])
}

fn exp_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    Ok(vec![unary_numeric(&args.storage(0)?, f64::exp, None)])
}

pub static NEG: OpDef = OpDef::new("aten::neg(Tensor self) -> Tensor", same_meta, neg_kernel);
pub static SIN: OpDef = OpDef::new("aten::sin(Tensor self) -> Tensor", float_meta, sin_kernel);
pub static COS: OpDef = OpDef::new("aten::cos(Tensor self) -> Tensor", float_meta, cos_kernel);
pub static EXP: OpDef = OpDef::new("aten::exp(Tensor self) -> Tensor", float_meta, exp_kernel);

pub static OPS: &[&OpDef] = &[
    &ADD_TENSOR,
    &ADD_,
    &SUB_TENSOR,
    &SUB_,
    &MUL_TENSOR,
    &MUL_,
    &DIV_TENSOR,
    &DIV_TENSOR_MODE,
    &DIV_,
    &NEG,
    &SIN,
    &COS,
    &EXP,
];
