//! Comparisons and logical ops (bool results), `where`, `clamp`.

use ferrex_kernels::pointwise::Unary as F;
use ndarray::IxDyn;

use super::elementwise::{broadcast_view, operand_of, promote_operands, storage_of, zip2, Operand};
use super::elementwise::{BinaryArgs, Unary};
use super::lowering::Lowering;
use super::util::{broadcast_shapes, concrete, meta_of};
use super::{op_def, TensorOrNumber, Value};
use crate::error::OpError;
use crate::op_bail;
use crate::symbolic::CmpOp;
use crate::tensor::{
    result_type, view_as_slice, DType, Element, Scalar, Storage, Tensor, TensorMeta,
};

type Num = TensorOrNumber<Tensor>;

// ---------------------------------------------------------------------------------------
// Comparisons

/// Bool result over the broadcast shape; the operands are compared in their promoted
/// type, as PyTorch does (`f32 < 0.1` compares with `0.1f32`).
fn compare_meta(a: &Num, b: &Num) -> Result<Vec<TensorMeta>, OpError> {
    let (_, sizes) = promote_operands(&[a, b])?;
    Ok(vec![TensorMeta::new(DType::Bool, sizes)])
}

/// Generic over the comparisons (each op passes its own, `f64::gt` say), so that the
/// loops inline them: through a function pointer they were half of a `where` model.
fn compare_kernel(
    a: &Num,
    b: &Num,
    float: impl Fn(&f64, &f64) -> bool,
    int: impl Fn(&i64, &i64) -> bool,
) -> Result<Vec<Storage>, OpError> {
    let (common, sizes) = promote_operands(&[a, b])?;
    let shape = concrete(&sizes);
    let (a, b) = (storage_of(a, common)?, storage_of(b, common)?);
    // Values already in `common` convert to f64 (floats) or i64 (ints, bools) exactly.
    // f32 values compare as their (exact) f64 conversions do, without an f64 copy.
    Ok(vec![if common == DType::F32 {
        zip2::<f32, bool>(&a, &b, &shape, |x, y| float(&f64::from(x), &f64::from(y)))?
    } else if common.is_float() {
        zip2::<f64, bool>(&a, &b, &shape, |x, y| float(&x, &y))?
    } else {
        zip2::<i64, bool>(&a, &b, &shape, |x, y| int(&x, &y))?
    }])
}

/// What a comparison with a number offers the runtime (a number on the left: its
/// eager kernel).
fn compare_lowering<T: Clone>(a: &CompareScalar<T>, op: CmpOp) -> Result<Lowering<T>, OpError> {
    Ok(match &a.self_ {
        TensorOrNumber::Tensor(x) => Lowering::Compare {
            input: x.clone(),
            op,
            rhs: a.other.to::<f64>(),
        },
        TensorOrNumber::Number(_) => Lowering::Eager,
    })
}

fn compare_scalar_meta(a: &CompareScalar) -> Result<Vec<TensorMeta>, OpError> {
    compare_meta(&a.self_, &TensorOrNumber::Number(a.other))
}

/// `.Tensor` and `.Scalar` overloads of one comparison, sharing meta and kernel.
macro_rules! comparison_ops {
    ($($tensor:ident = $t_schema:literal, $scalar:ident = $s_schema:literal, $f:ident, $cmp:ident;)*) => {$(
        op_def! {
            pub static $tensor: BinaryArgs = $t_schema {
                meta: |a: &BinaryArgs| compare_meta(&a.self_, &a.other),
                kernel: |a: &BinaryArgs, _: &[TensorMeta]| {
                    compare_kernel(&a.self_, &a.other, f64::$f, i64::$f)
                },
                lowering: binary_elementwise,
            }
            pub static $scalar: CompareScalar = $s_schema {
                meta: compare_scalar_meta,
                kernel: |a: &CompareScalar, _: &[TensorMeta]| {
                    compare_kernel(&a.self_, &TensorOrNumber::Number(a.other), f64::$f, i64::$f)
                },
                lowering: |a: &CompareScalar<_>| compare_lowering(a, CmpOp::$cmp),
            }
        }
    )*};
}

op_def! {
    pub static EQ_TENSOR: BinaryArgs = "aten::eq.Tensor(Tensor self, Tensor other) -> Tensor" {
        meta: |a: &BinaryArgs| compare_meta(&a.self_, &a.other),
        kernel: |a: &BinaryArgs, _: &[TensorMeta]| {
            compare_kernel(&a.self_, &a.other, f64::eq, i64::eq)
        },
        lowering: binary_elementwise,
    }
    pub static EQ_SCALAR: struct CompareScalar = "aten::eq.Scalar(Tensor self, Scalar other) -> Tensor" {
        meta: compare_scalar_meta,
        kernel: |a: &CompareScalar, _: &[TensorMeta]| {
            compare_kernel(&a.self_, &TensorOrNumber::Number(a.other), f64::eq, i64::eq)
        },
        lowering: |a: &CompareScalar<_>| compare_lowering(a, CmpOp::Eq),
        wrapped_numbers: [self],
    }
}

comparison_ops! {
    NE_TENSOR = "aten::ne.Tensor(Tensor self, Tensor other) -> Tensor",
    NE_SCALAR = "aten::ne.Scalar(Tensor self, Scalar other) -> Tensor", ne, Ne;
    LT_TENSOR = "aten::lt.Tensor(Tensor self, Tensor other) -> Tensor",
    LT_SCALAR = "aten::lt.Scalar(Tensor self, Scalar other) -> Tensor", lt, Lt;
    LE_TENSOR = "aten::le.Tensor(Tensor self, Tensor other) -> Tensor",
    LE_SCALAR = "aten::le.Scalar(Tensor self, Scalar other) -> Tensor", le, Le;
    GT_TENSOR = "aten::gt.Tensor(Tensor self, Tensor other) -> Tensor",
    GT_SCALAR = "aten::gt.Scalar(Tensor self, Scalar other) -> Tensor", gt, Gt;
    GE_TENSOR = "aten::ge.Tensor(Tensor self, Tensor other) -> Tensor",
    GE_SCALAR = "aten::ge.Scalar(Tensor self, Scalar other) -> Tensor", ge, Ge;
}

// ---------------------------------------------------------------------------------------
// Logical ops: any dtype in (nonzero, NaN included, is true), bool out

/// The lowering of an elementwise op of two operands without a runtime kernel.
pub(super) fn binary_elementwise<T: Clone>(a: &BinaryArgs<T>) -> Result<Lowering<T>, OpError> {
    Lowering::elementwise([a.self_.clone(), a.other.clone()])
}

/// The lowering of an elementwise op of one tensor without a runtime kernel.
pub(super) fn unary_elementwise<T: Clone>(a: &Unary<T>) -> Result<Lowering<T>, OpError> {
    Lowering::elementwise([TensorOrNumber::Tensor(a.self_.clone())])
}

fn logical_binary_kernel(
    a: &BinaryArgs,
    out: &[TensorMeta],
    f: fn(bool, bool) -> bool,
) -> Result<Vec<Storage>, OpError> {
    let out = out
        .first()
        .ok_or_else(|| OpError::new("a logical op has one result"))?;
    let shape = concrete(&out.sizes);
    let x = storage_of(&a.self_, DType::Bool)?;
    let y = storage_of(&a.other, DType::Bool)?;
    Ok(vec![zip2::<bool, bool>(&x, &y, &shape, f)?])
}

fn logical_not_kernel(a: &Unary, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let x = a.self_.storage_or_op_error()?.typed::<bool>();
    Ok(vec![Storage::Bool(x.mapv(|v| !v).into_shared())])
}

op_def! {
    pub static LOGICAL_AND: BinaryArgs = "aten::logical_and(Tensor self, Tensor other) -> Tensor" {
        meta: |a: &BinaryArgs| compare_meta(&a.self_, &a.other),
        kernel: |a: &BinaryArgs, out: &[TensorMeta]| logical_binary_kernel(a, out, |x, y| x && y),
        lowering: binary_elementwise,
    }
    pub static LOGICAL_OR: BinaryArgs = "aten::logical_or(Tensor self, Tensor other) -> Tensor" {
        meta: |a: &BinaryArgs| compare_meta(&a.self_, &a.other),
        kernel: |a: &BinaryArgs, out: &[TensorMeta]| logical_binary_kernel(a, out, |x, y| x || y),
        lowering: binary_elementwise,
    }
    pub static LOGICAL_NOT: Unary = "aten::logical_not(Tensor self) -> Tensor" {
        meta: bool_like_meta,
        kernel: logical_not_kernel,
        lowering: unary_elementwise,
    }
}

// ---------------------------------------------------------------------------------------
// where

/// `self` and `other` promoted together; all three broadcast together.
fn where_meta(a: &Where) -> Result<Vec<TensorMeta>, OpError> {
    let cond = meta_of(&a.condition)?;
    if cond.dtype != DType::Bool {
        op_bail!(
            "where expected condition to be a boolean tensor, but got a tensor with dtype {}",
            cond.dtype
        );
    }
    let (dtype, sizes) = promote_operands(&[&a.self_, &a.other])?;
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
    let cv = broadcast_view(&c, shape)?;
    // Slice loops over row-major copies where a view is not contiguous (a broadcast
    // mask): ndarray's general walk costs ~25 ns an element. A one-element branch (a
    // number, `masked_fill`'s -inf) stays one value.
    let cs = view_as_slice(&cv);
    let (av, bv) = (broadcast_view(&a, shape)?, broadcast_view(&b, shape)?);
    let side = |t: &ndarray::ArcArray<T, IxDyn>, v| match t.len() {
        1 => t.iter().next().copied().map(Branch::One),
        _ => Some(Branch::Each(view_as_slice(v))),
    };
    let (Some(xs), Some(ys)) = (side(&a, &av), side(&b, &bv)) else {
        op_bail!("`where` of an empty branch into {shape:?}");
    };
    // One loop per kind of branch, each a select the compiler vectorizes (a branch per
    // element mispredicts on a random mask; a `match` per element keeps it scalar).
    let out: Vec<T> = match (&xs, &ys) {
        (Branch::Each(x), Branch::Each(y)) => (cs.iter().zip(x.iter()).zip(y.iter()))
            .map(|((&c, &x), &y)| if c { x } else { y })
            .collect(),
        (Branch::Each(x), &Branch::One(y)) => (cs.iter().zip(x.iter()))
            .map(|(&c, &x)| if c { x } else { y })
            .collect(),
        (&Branch::One(x), Branch::Each(y)) => (cs.iter().zip(y.iter()))
            .map(|(&c, &y)| if c { x } else { y })
            .collect(),
        (&Branch::One(x), &Branch::One(y)) => cs.iter().map(|&c| if c { x } else { y }).collect(),
    };
    ndarray::ArrayD::from_shape_vec(IxDyn(shape), out)
        .map(|out| T::wrap(out.into_shared()))
        .map_err(|e| OpError(format!("a `where` result of shape {shape:?}: {e}")))
}

/// A `where` branch: one value for every element, or one per element.
enum Branch<'a, T: Clone> {
    One(T),
    Each(std::borrow::Cow<'a, [T]>),
}

fn where_kernel(a: &Where, out: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let out = out
        .first()
        .ok_or_else(|| OpError::new("where has one result"))?;
    let (dtype, shape) = (out.dtype, concrete(&out.sizes));
    let cond = a.condition.storage_or_op_error()?;
    let x = storage_of(&a.self_, dtype)?;
    let y = storage_of(&a.other, dtype)?;
    Ok(vec![match dtype {
        DType::Bool => select::<bool>(&cond, &x, &y, &shape)?,
        DType::U8 => select::<u8>(&cond, &x, &y, &shape)?,
        DType::I32 => select::<i32>(&cond, &x, &y, &shape)?,
        DType::I64 => select::<i64>(&cond, &x, &y, &shape)?,
        DType::F32 => select::<f32>(&cond, &x, &y, &shape)?,
        DType::F64 => select::<f64>(&cond, &x, &y, &shape)?,
    }])
}

/// `where` with one branch a number (`torch.where(c, x, 0.0)`): `where.self` with it
/// as a wrapped number.
fn where_of_scalars<T: Clone>(
    condition: &T,
    x: TensorOrNumber<T>,
    y: TensorOrNumber<T>,
) -> Where<T> {
    Where {
        condition: condition.clone(),
        self_: x,
        other: y,
    }
}

fn where_scalar_other<T: Clone>(a: &WhereScalarOther<T>) -> Where<T> {
    where_of_scalars(
        &a.condition,
        TensorOrNumber::Tensor(a.self_.clone()),
        TensorOrNumber::Number(a.other),
    )
}

fn where_scalar_self<T: Clone>(a: &WhereScalarSelf<T>) -> Where<T> {
    where_of_scalars(
        &a.condition,
        TensorOrNumber::Number(a.self_),
        TensorOrNumber::Tensor(a.other.clone()),
    )
}

fn where_scalars<T: Clone>(a: &WhereScalar<T>) -> Where<T> {
    where_of_scalars(
        &a.condition,
        TensorOrNumber::Number(a.self_),
        TensorOrNumber::Number(a.other),
    )
}

/// Every `where` overload lowers as `where.self` (a number branch as a number).
fn where_lowering<T: Clone>(a: &Where<T>) -> Result<Lowering<T>, OpError> {
    Ok(Lowering::Where {
        cond: a.condition.clone(),
        x: a.self_.clone(),
        y: a.other.clone(),
    })
}

op_def! {
    pub static WHERE_SELF: struct Where =
        "aten::where.self(Tensor condition, Tensor self, Tensor other) -> Tensor" {
        meta: where_meta,
        kernel: where_kernel,
        lowering: where_lowering,
        wrapped_numbers: [self, other],
    }
    pub static WHERE_SCALAR_OTHER: struct WhereScalarOther =
        "aten::where.ScalarOther(Tensor condition, Tensor self, Scalar other) -> Tensor" {
        meta: |a: &WhereScalarOther| where_meta(&where_scalar_other(a)),
        kernel: |a: &WhereScalarOther, m: &[TensorMeta]| where_kernel(&where_scalar_other(a), m),
        lowering: |a: &WhereScalarOther<_>| where_lowering(&where_scalar_other(a)),
    }
    pub static WHERE_SCALAR_SELF: struct WhereScalarSelf =
        "aten::where.ScalarSelf(Tensor condition, Scalar self, Tensor other) -> Tensor" {
        meta: |a: &WhereScalarSelf| where_meta(&where_scalar_self(a)),
        kernel: |a: &WhereScalarSelf, m: &[TensorMeta]| where_kernel(&where_scalar_self(a), m),
        lowering: |a: &WhereScalarSelf<_>| where_lowering(&where_scalar_self(a)),
    }
    pub static WHERE_SCALAR: struct WhereScalar =
        "aten::where.Scalar(Tensor condition, Scalar self, Scalar other) -> Tensor" {
        meta: |a: &WhereScalar| where_meta(&where_scalars(a)),
        kernel: |a: &WhereScalar, m: &[TensorMeta]| where_kernel(&where_scalars(a), m),
        lowering: |a: &WhereScalar<_>| where_lowering(&where_scalars(a)),
    }
}

// ---------------------------------------------------------------------------------------
// clamp

/// The result type promotes `self` with the bounds given (an integer tensor clamped to
/// a float bound becomes float, as in PyTorch).
fn clamp_meta(a: &Clamp) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    let mut operands = vec![Operand::Tensor(m.clone()).promotion()];
    for bound in [a.min, a.max].into_iter().flatten() {
        operands.push(operand_of(&TensorOrNumber::Number(bound))?.promotion());
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

/// `clamp(x, lo, hi)` as a pointwise function of floats.
fn clamp_fn<T>(a: &Clamp<T>) -> Result<F, OpError> {
    Ok(F::Clamp(
        a.min.map(Scalar::to::<f64>),
        a.max.map(Scalar::to::<f64>),
    ))
}

/// `min(max(x, lo), hi)`: NaN inputs stay NaN, and `lo > hi` gives `hi` everywhere.
fn clamp_kernel(a: &Clamp, out: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let dtype = out
        .first()
        .ok_or_else(|| OpError::new("clamp has one result"))?
        .dtype;
    let s = a.self_.storage_or_op_error()?.into_dtype(dtype);
    Ok(vec![if dtype.is_float() {
        let f = clamp_fn(a)?;
        match super::activation::pointwise_f32(&s, f)? {
            Some(y) => y,
            None => Storage::F64(s.typed::<f64>().mapv(|x| f.eval(x)).into_shared()),
        }
    } else {
        // Integer result type: the bounds are integers too (see `clamp_meta`).
        let (lo, hi) = (a.min.map(Scalar::to::<i64>), a.max.map(Scalar::to::<i64>));
        let f = move |x: i64| {
            let x = lo.map_or(x, |lo| x.max(lo));
            hi.map_or(x, |hi| x.min(hi))
        };
        Storage::I64(s.typed::<i64>().mapv(f).into_shared()).into_dtype(dtype)
    }])
}

/// Fuses when a bound is given (with none the meta refuses the call).
fn clamp_lowering<T: Clone>(a: &Clamp<T>) -> Result<super::Lowering<T>, OpError> {
    if a.min.is_none() && a.max.is_none() {
        return Ok(super::Lowering::Eager);
    }
    Ok(super::Lowering::Unary {
        input: a.self_.clone(),
        f: clamp_fn(a)?,
    })
}

op_def! {
    pub static CLAMP: struct Clamp =
        "aten::clamp(Tensor self, Scalar? min=None, Scalar? max=None) -> Tensor" {
        meta: clamp_meta,
        kernel: clamp_kernel,
        lowering: clamp_lowering,
    }
    /// `clamp` by its NumPy name.
    pub static CLIP: Clamp = "aten::clip(Tensor self, Scalar? min=None, Scalar? max=None) -> Tensor" {
        meta: clamp_meta,
        kernel: clamp_kernel,
        lowering: clamp_lowering,
        decomposition: |a: &Clamp| {
            let bound = |s: Option<Scalar>| s.map_or(Value::None, super::constructors::scalar_value);
            Ok(Tensor::call_op(&CLAMP, vec![Value::Tensor(a.self_.clone()), bound(a.min), bound(a.max)]))
        },
    }
}

// ---------------------------------------------------------------------------------------
// masked_fill, clamp by tensors, isnan / isinf: composites of `where`, the comparisons
// and `maximum` / `minimum`

/// `self`'s meta, when `mask` broadcasts to it (the result never grows).
fn masked_fill_meta(x: &Tensor, mask: &Tensor) -> Result<Vec<TensorMeta>, OpError> {
    let (m, mm) = (meta_of(x)?, meta_of(mask)?);
    if mm.dtype != DType::Bool {
        op_bail!(
            "masked_fill_ only supports boolean masks, but got mask with dtype {}",
            mm.dtype
        );
    }
    let b = broadcast_shapes(&m.sizes, &mm.sizes)?;
    if b.len() != m.rank() || b.iter().zip(&m.sizes).any(|(b, s)| b.hint() != s.hint()) {
        op_bail!(
            "masked_fill: the mask of shape {} does not broadcast to the input's shape {}",
            crate::symbolic::format_sizes(&mm.sizes),
            crate::symbolic::format_sizes(&m.sizes)
        );
    }
    Ok(vec![m])
}

/// `where(mask, value, self)` with `value` in `self`'s dtype.
fn masked_fill(x: &Tensor, mask: &Tensor, value: &Tensor) -> Result<Vec<Tensor>, OpError> {
    let dtype = meta_of(x)?.dtype;
    Ok(vec![Tensor::where_(mask, &value.to_dtype(dtype), x)])
}

fn masked_fill_value_meta(a: &MaskedFillTensor) -> Result<Vec<TensorMeta>, OpError> {
    let v = meta_of(&a.value)?;
    if v.rank() != 0 {
        op_bail!(
            "masked_fill_ only supports a 0-dimensional value tensor, but got tensor with {} dimension(s).",
            v.rank()
        );
    }
    masked_fill_meta(&a.self_, &a.mask)
}

fn clamp_tensor_meta(a: &ClampTensor) -> Result<Vec<TensorMeta>, OpError> {
    let mut operands = vec![TensorOrNumber::Tensor(a.self_.clone())];
    operands.extend(
        [&a.min, &a.max]
            .into_iter()
            .flatten()
            .cloned()
            .map(TensorOrNumber::Tensor),
    );
    if operands.len() == 1 {
        op_bail!("torch.clamp: At least one of 'min' or 'max' must not be None");
    }
    let refs: Vec<&TensorOrNumber<Tensor>> = operands.iter().collect();
    let (dtype, sizes) = promote_operands(&refs)?;
    if dtype == DType::Bool {
        op_bail!("clamp is not supported for bool tensors");
    }
    Ok(vec![TensorMeta::new(dtype, sizes)])
}

/// `minimum(maximum(x, min), max)`: NaN anywhere gives NaN, as PyTorch's.
fn clamp_tensor_decomposition(a: &ClampTensor) -> Result<Vec<Tensor>, OpError> {
    let mut x = a.self_.clone();
    if let Some(lo) = &a.min {
        x = x.maximum(lo);
    }
    if let Some(hi) = &a.max {
        x = x.minimum(hi);
    }
    Ok(vec![x])
}

/// A bool result of the input's sizes (`logical_not`, `isnan`, `isinf`).
fn bool_like_meta(a: &Unary) -> Result<Vec<TensorMeta>, OpError> {
    Ok(vec![TensorMeta::new(DType::Bool, meta_of(&a.self_)?.sizes)])
}

op_def! {
    pub static MASKED_FILL_SCALAR: struct MaskedFill =
        "aten::masked_fill.Scalar(Tensor self, Tensor mask, Scalar value) -> Tensor" {
        meta: |a: &MaskedFill| masked_fill_meta(&a.self_, &a.mask),
        composite: |a: &MaskedFill| {
            let value = super::constructors::scalar_tensor_of(a.value, meta_of(&a.self_)?.dtype);
            masked_fill(&a.self_, &a.mask, &value)
        },
    }
    pub static MASKED_FILL_TENSOR: struct MaskedFillTensor =
        "aten::masked_fill.Tensor(Tensor self, Tensor mask, Tensor value) -> Tensor" {
        meta: masked_fill_value_meta,
        composite: |a: &MaskedFillTensor| masked_fill(&a.self_, &a.mask, &a.value),
    }
    pub static CLAMP_TENSOR: struct ClampTensor =
        "aten::clamp.Tensor(Tensor self, Tensor? min=None, Tensor? max=None) -> Tensor" {
        meta: clamp_tensor_meta,
        composite: clamp_tensor_decomposition,
    }
    /// `x != x`.
    pub static ISNAN: Unary = "aten::isnan(Tensor self) -> Tensor" {
        meta: bool_like_meta,
        composite: |a: &Unary| Ok(vec![a.self_.ne(&a.self_)]),
    }
    /// `|x| == inf`.
    pub static ISINF: Unary = "aten::isinf(Tensor self) -> Tensor" {
        meta: bool_like_meta,
        composite: |a: &Unary| Ok(vec![a.self_.abs().eq(f64::INFINITY)]),
    }
}
