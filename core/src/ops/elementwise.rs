//! Elementwise arithmetic and math: broadcasting binary ops with PyTorch's type
//! promotion, unary math functions, and dtype conversion (`_to_copy`).

use ndarray::{ArcArray, IxDyn, Zip};

use super::{util::broadcast_shapes, OpArgs, OpDef, Value};
use crate::error::OpError;
use crate::op_bail;
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
    pub(crate) fn promotion(&self) -> PromotionOperand {
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
        _ => Ok(Storage::full_scalar(&[], args.scalar(i)?, dtype)),
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

/// `a` broadcast to `shape`, or an error naming both shapes.
pub(crate) fn broadcast_view<'a, T>(
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

/// `sub` refuses bools as PyTorch does: `a - b` on masks is almost always a mistake for
/// `^` or `!`.
fn sub_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let is_bool = |i| {
        Ok::<_, OpError>(match operand(args, i)? {
            Operand::Tensor(m) => m.dtype == DType::Bool,
            Operand::Scalar(k) => k == ScalarKind::Bool,
        })
    };
    match (is_bool(0)?, is_bool(1)?) {
        (true, true) => op_bail!(
            "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or `logical_xor()` operator instead."
        ),
        (true, false) | (false, true) => op_bail!(
            "Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead."
        ),
        _ => binary_meta(args),
    }
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
    let a = args.scalar(2)?;
    Ok((a.to::<f64>(), a.to::<i64>()))
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
    sub_meta,
    sub_kernel,
);
pub static SUB_: OpDef = OpDef::new(
    "aten::sub_.Tensor(Tensor(a!) self, Tensor other, *, Scalar alpha=1) -> Tensor(a!)",
    sub_meta,
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
/// A tensor times a number, in PyTorch's Core ATen opset (what `mul.Tensor` with a Python
/// number becomes in some decompositions, `scaled_dot_product_attention`'s scaling).
pub static MUL_SCALAR: OpDef = OpDef::new(
    "aten::mul.Scalar(Tensor self, Scalar other) -> Tensor",
    binary_meta,
    mul_kernel,
);
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
// Binary math

/// Rejects a bool result type, for ops PyTorch does not implement on bool.
fn reject_bool(args: &OpArgs, dtype: DType) -> Result<(), OpError> {
    if dtype == DType::Bool {
        op_bail!(
            "{} is not implemented for bool tensors",
            args.op.base_name()
        );
    }
    Ok(())
}

fn binary_no_bool_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let (dtype, sizes) = promote_and_broadcast(args, &[0, 1])?;
    reject_bool(args, dtype)?;
    Ok(vec![TensorMeta::new(dtype, sizes)])
}

/// Binary ops whose result is floating even for integer inputs (`atan2`).
fn binary_float_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let (dtype, sizes) = promote_and_broadcast(args, &[0, 1])?;
    Ok(vec![TensorMeta::new(float_unary_dtype(dtype), sizes)])
}

/// `max`/`min` of two floats where a NaN operand wins, as `torch.maximum` does.
fn nan_propagating(x: f64, y: f64, pick: fn(f64, f64) -> f64) -> f64 {
    if x.is_nan() || y.is_nan() {
        f64::NAN
    } else {
        pick(x, y)
    }
}

fn maximum_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    binary_kernel(
        args,
        |x, y| nan_propagating(x, y, f64::max),
        |x, y| Ok(x.max(y)),
    )
}

fn minimum_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    binary_kernel(
        args,
        |x, y| nan_propagating(x, y, f64::min),
        |x, y| Ok(x.min(y)),
    )
}

fn atan2_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    // The meta promotes to a float type, so the integer path is never taken.
    binary_kernel(args, f64::atan2, |_, _| {
        Err(OpError::new("atan2 computes in a floating-point type"))
    })
}

/// Python's modulo: the result has the sign of the divisor.
fn remainder_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    binary_kernel(
        args,
        |x, y| {
            let m = x % y;
            if m != 0.0 && ((y < 0.0) != (m < 0.0)) {
                m + y
            } else {
                m
            }
        },
        |x, y| {
            if y == 0 {
                op_bail!("ZeroDivisionError: integer remainder by zero");
            }
            let m = x.wrapping_rem(y);
            Ok(if m != 0 && ((y < 0) != (m < 0)) {
                m + y
            } else {
                m
            })
        },
    )
}

/// Integer power as PyTorch computes it: wrapping, and a negative exponent gives
/// `1 / base` truncated (0 unless the base is 1 or -1).
fn int_pow(base: i64, exp: i64) -> i64 {
    if exp < 0 {
        return match base {
            1 => 1,
            -1 if exp % 2 == 0 => 1,
            -1 => -1,
            _ => 0,
        };
    }
    let (mut result, mut b, mut e) = (1i64, base, exp as u64);
    while e > 0 {
        if e & 1 == 1 {
            result = result.wrapping_mul(b);
        }
        b = b.wrapping_mul(b);
        e >>= 1;
    }
    result
}

fn pow_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    binary_kernel(args, f64::powf, |x, y| Ok(int_pow(x, y)))
}

fn pow_scalar_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let out = binary_no_bool_meta(args)?;
    if !out[0].dtype.is_float() {
        if let Value::Int(e) = args.get(1) {
            if e.hint() < 0 {
                op_bail!("Integers to negative integer powers are not allowed.");
            }
        }
    }
    Ok(out)
}

pub static MAXIMUM: OpDef = OpDef::new(
    "aten::maximum(Tensor self, Tensor other) -> Tensor",
    binary_meta,
    maximum_kernel,
);
pub static MINIMUM: OpDef = OpDef::new(
    "aten::minimum(Tensor self, Tensor other) -> Tensor",
    binary_meta,
    minimum_kernel,
);
pub static ATAN2: OpDef = OpDef::new(
    "aten::atan2(Tensor self, Tensor other) -> Tensor",
    binary_float_meta,
    atan2_kernel,
);
pub static REMAINDER_TENSOR: OpDef = OpDef::new(
    "aten::remainder.Tensor(Tensor self, Tensor other) -> Tensor",
    binary_no_bool_meta,
    remainder_kernel,
);
pub static POW_TENSOR_TENSOR: OpDef = OpDef::new(
    "aten::pow.Tensor_Tensor(Tensor self, Tensor exponent) -> Tensor",
    binary_no_bool_meta,
    pow_kernel,
);
pub static POW_TENSOR_SCALAR: OpDef = OpDef::new(
    "aten::pow.Tensor_Scalar(Tensor self, Scalar exponent) -> Tensor",
    pow_scalar_meta,
    pow_kernel,
);

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

/// Same dtype as the input, which must not be bool (`abs`, `floor`, …).
fn same_no_bool_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let m = args.meta(0)?;
    reject_bool(args, m.dtype)?;
    Ok(vec![m])
}

pub(crate) use ferrex_kernels::pointwise::{erf, sigmoid};

fn abs_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    Ok(vec![unary_numeric(
        &args.storage(0)?,
        f64::abs,
        Some(i64::wrapping_abs),
    )])
}

fn floor_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    Ok(vec![unary_numeric(
        &args.storage(0)?,
        f64::floor,
        Some(|x| x),
    )])
}

fn ceil_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    Ok(vec![unary_numeric(
        &args.storage(0)?,
        f64::ceil,
        Some(|x| x),
    )])
}

/// Half to even, as `torch.round`.
fn round_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    Ok(vec![unary_numeric(
        &args.storage(0)?,
        f64::round_ties_even,
        Some(|x| x),
    )])
}

/// -1, 0 or 1; NaN gives 0, as PyTorch's `(0 < x) - (x < 0)`.
fn sign_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let sign = |x: f64| (0.0 < x) as i32 as f64 - (x < 0.0) as i32 as f64;
    Ok(vec![unary_numeric(
        &args.storage(0)?,
        sign,
        Some(i64::signum),
    )])
}

/// Ops whose integer inputs promote to the default float type: one kernel each from a
/// function of `f64`.
macro_rules! float_unary_ops {
    ($($name:ident = $schema:literal, $f:expr;)*) => {$(
        pub static $name: OpDef = OpDef::new($schema, float_meta, {
            fn kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
                Ok(vec![unary_numeric(&args.storage(0)?, $f, None)])
            }
            kernel
        });
    )*};
}

pub static NEG: OpDef = OpDef::new("aten::neg(Tensor self) -> Tensor", same_meta, neg_kernel);
pub static SIN: OpDef = OpDef::new("aten::sin(Tensor self) -> Tensor", float_meta, sin_kernel);
pub static COS: OpDef = OpDef::new("aten::cos(Tensor self) -> Tensor", float_meta, cos_kernel);
pub static EXP: OpDef = OpDef::new("aten::exp(Tensor self) -> Tensor", float_meta, exp_kernel);
pub static ABS: OpDef = OpDef::new(
    "aten::abs(Tensor self) -> Tensor",
    same_no_bool_meta,
    abs_kernel,
);
pub static FLOOR: OpDef = OpDef::new(
    "aten::floor(Tensor self) -> Tensor",
    same_no_bool_meta,
    floor_kernel,
);
pub static CEIL: OpDef = OpDef::new(
    "aten::ceil(Tensor self) -> Tensor",
    same_no_bool_meta,
    ceil_kernel,
);
pub static ROUND: OpDef = OpDef::new(
    "aten::round(Tensor self) -> Tensor",
    same_no_bool_meta,
    round_kernel,
);
pub static SIGN: OpDef = OpDef::new("aten::sign(Tensor self) -> Tensor", same_meta, sign_kernel);

float_unary_ops! {
    TAN = "aten::tan(Tensor self) -> Tensor", f64::tan;
    TANH = "aten::tanh(Tensor self) -> Tensor", f64::tanh;
    SIGMOID = "aten::sigmoid(Tensor self) -> Tensor", sigmoid;
    ERF = "aten::erf(Tensor self) -> Tensor", erf;
    EXPM1 = "aten::expm1(Tensor self) -> Tensor", f64::exp_m1;
    LOG = "aten::log(Tensor self) -> Tensor", f64::ln;
    SQRT = "aten::sqrt(Tensor self) -> Tensor", f64::sqrt;
    RSQRT = "aten::rsqrt(Tensor self) -> Tensor", |x: f64| 1.0 / x.sqrt();
    RECIPROCAL = "aten::reciprocal(Tensor self) -> Tensor", |x: f64| 1.0 / x;
    LOG1P = "aten::log1p(Tensor self) -> Tensor", f64::ln_1p;
}

// ---------------------------------------------------------------------------------------
// dtype conversion

fn to_copy_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let m = args.meta(0)?;
    let dtype = args.opt_dtype(1)?.unwrap_or(m.dtype);
    Ok(vec![TensorMeta::new(dtype, m.sizes)])
}

/// Float to integer truncates toward zero; anything to bool is `!= 0`.
fn to_copy_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let s = args.storage(0)?;
    let dtype = args.opt_dtype(1)?.unwrap_or(s.dtype());
    Ok(vec![s.cast(dtype)])
}

pub static _TO_COPY: OpDef = OpDef::new(
    "aten::_to_copy(Tensor self, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None, bool non_blocking=False, MemoryFormat? memory_format=None) -> Tensor",
    to_copy_meta,
    to_copy_kernel,
);

/// `Tensor.to(dtype)`, as the default IR records it (the core IR has `_to_copy`).
pub static TO_DTYPE: OpDef = OpDef::new(
    "aten::to.dtype(Tensor(a) self, ScalarType dtype, bool non_blocking=False, bool copy=False, MemoryFormat? memory_format=None) -> Tensor(a)",
    to_copy_meta,
    to_copy_kernel,
);

pub static OPS: &[&OpDef] = &[
    &TO_DTYPE,
    &ADD_TENSOR,
    &ADD_,
    &SUB_TENSOR,
    &SUB_,
    &MUL_TENSOR,
    &MUL_,
    &MUL_SCALAR,
    &DIV_TENSOR,
    &DIV_TENSOR_MODE,
    &DIV_,
    &MAXIMUM,
    &MINIMUM,
    &ATAN2,
    &REMAINDER_TENSOR,
    &POW_TENSOR_TENSOR,
    &POW_TENSOR_SCALAR,
    &NEG,
    &SIN,
    &COS,
    &EXP,
    &ABS,
    &FLOOR,
    &CEIL,
    &ROUND,
    &SIGN,
    &TAN,
    &TANH,
    &SIGMOID,
    &ERF,
    &EXPM1,
    &LOG,
    &SQRT,
    &RSQRT,
    &RECIPROCAL,
    &LOG1P,
    &_TO_COPY,
];
