//! Elementwise arithmetic and math: broadcasting binary ops with PyTorch's type
//! promotion, unary math functions, and dtype conversion (`_to_copy`).

use ndarray::{ArcArray, IxDyn};

use ferrex_kernels::pointwise::Unary as F;
use ferrex_kernels::pointwise::{zip_new_f32, ZipWith};

pub use super::activation::Unary;
use super::lowering::{Binary, Lowering};
use super::util::{broadcast_shapes, meta_of};
use super::{op_def, TensorOrNumber};
use crate::error::OpError;
use crate::op_bail;
use crate::symbolic::SymInt;
use crate::tensor::{
    result_type, view_as_slice, DType, Element, PromotionOperand, Scalar, ScalarKind, Storage,
    Tensor, TensorMeta,
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
    f: impl FnMut(T, T) -> U,
) -> Result<Storage, OpError> {
    let (a, b) = (a.typed::<T>(), b.typed::<T>());
    let (av, bv) = (broadcast_view(&a, shape)?, broadcast_view(&b, shape)?);
    // Slice loops: `b` contiguous, one contiguous row repeated (a bias) or one value (a
    // number), else both operands copied row-major ([`view_as_slice`]) — ndarray's
    // general walk over dynamic dims costs ~25 ns an element.
    let n = shape.last().copied().unwrap_or(1);
    let row = b
        .as_slice()
        .filter(|row| row.len() == n && b.shape().iter().rev().skip(1).all(|&d| d == 1));
    let ys = match (bv.as_slice().or(row), b.as_slice()) {
        (Some(ys), _) => std::borrow::Cow::Borrowed(ys),
        (None, Some(&[y])) => std::borrow::Cow::Owned(vec![y; n]),
        (None, _) => view_as_slice(&bv),
    };
    let xs = view_as_slice(&av);
    let out = ferrex_kernels::wide(ZipRows {
        xs: &xs,
        ys: &ys,
        f,
    });
    ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(shape), out)
        .map(|out| U::wrap(out.into_shared()))
        .map_err(|e| OpError(format!("an elementwise result of shape {shape:?}: {e}")))
}

/// `f(x, y)` of each `x` and the `y` at its place in `ys` repeated: [`zip2`]'s slice
/// loop, on the widest vectors.
struct ZipRows<'a, T, F> {
    xs: &'a [T],
    ys: &'a [T],
    f: F,
}

impl<T: Copy, U: Copy + Default, F: FnMut(T, T) -> U> ferrex_kernels::WideLoop
    for ZipRows<'_, T, F>
{
    type Output = Vec<U>;

    #[inline(always)]
    fn run(self) -> Vec<U> {
        // The closure by value in a local and the output filled, then written by index:
        // with `f` behind a reference and `extend` over a mapped zip, the loop reloaded
        // its captures per element and stayed scalar (an 800-element add took 0.6 µs).
        let (xs, ys, mut f) = (self.xs, self.ys, self.f);
        let m = ys.len().max(1);
        let mut out = vec![U::default(); xs.len()];
        for (o, xs) in out.chunks_mut(m).zip(xs.chunks(m)) {
            for ((o, &x), &y) in o.iter_mut().zip(xs).zip(ys) {
                *o = f(x, y);
            }
        }
        out
    }
}

/// An f32 operand read with one value per run of output elements: its dims, aligned to
/// the output's last ones, are 1s, then a block equal to the output's, then 1s (`[n, c,
/// 1, 1]` or `[c, 1, 1]` over `[n, c, h, w]`). Runs shorter than 64 go through
/// [`zip2`]'s copy (a loop per run would cost more).
fn per_run<'a>(x: &'a ArcArray<f32, IxDyn>, shape: &[usize]) -> Option<ZipWith<'a>> {
    let values = x.as_slice()?;
    let pad = shape.len().checked_sub(x.ndim())?;
    let dim = |i: usize| if i < pad { 1 } else { x.shape()[i - pad] };
    let first = (0..shape.len()).find(|&i| dim(i) != 1)?;
    let end = (first..shape.len())
        .find(|&i| dim(i) == 1)
        .unwrap_or(shape.len());
    if (first..end).any(|i| dim(i) != shape[i]) || (end..shape.len()).any(|i| dim(i) != 1) {
        return None;
    }
    let run: usize = shape[end..].iter().product();
    (run >= 64 && !values.is_empty()).then_some(ZipWith::PerRun { values, run })
}

/// [`zip2`] of f32 operands read where they lie
/// ([`ferrex_kernels::pointwise::zip_new_f32`]: written once, split over the pool): one
/// of the output's shape, contiguous, and the other too or read per run ([`per_run`]),
/// in either order — no copy of a broadcast operand out to the output's size (a
/// squeeze-excite gate `h * s` copied its `[8, 128, 1, 1]` gate to 3.2 MB first). The
/// bits of `f` per element, as [`zip2`]'s. `None` for other operands.
fn zip_in_place_f32(
    a: &Storage,
    b: &Storage,
    shape: &[usize],
    f: &(impl Fn(f32, f32) -> f32 + Sync),
) -> Result<Option<Storage>, OpError> {
    let (Storage::F32(x), Storage::F32(y)) = (a, b) else {
        return Ok(None);
    };
    fn whole<'t>(t: &'t ArcArray<f32, IxDyn>, shape: &[usize]) -> Option<&'t [f32]> {
        t.as_slice().filter(|_| t.shape() == shape)
    }
    let (each, other, swapped) = match (whole(x, shape), whole(y, shape)) {
        (Some(xs), Some(ys)) => (xs, Some(ZipWith::Each(ys)), false),
        (Some(xs), None) => (xs, per_run(y, shape), false),
        (None, Some(ys)) => (ys, per_run(x, shape), true),
        (None, None) => return Ok(None),
    };
    let Some(other) = other else {
        return Ok(None);
    };
    let out = zip_new_f32(each, other, swapped, f).map_err(|e| OpError(e.0))?;
    Ok(Storage::from_vec(shape, out))
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
    float: impl Fn(f64, f64) -> f64 + Sync,
    int: impl Fn(i64, i64) -> Result<i64, OpError>,
) -> Result<Storage, OpError> {
    match dtype {
        DType::F32 => {
            let f = move |x: f32, y: f32| float(x as f64, y as f64) as f32;
            if let Some(out) = zip_in_place_f32(a, b, shape, &f)? {
                return Ok(out);
            }
            zip2::<f32, f32>(a, b, shape, f)
        }
        DType::F64 => zip2::<f64, f64>(a, b, shape, float),
        DType::I64 | DType::I32 | DType::U8 | DType::Bool => {
            let mut err = None;
            let out = zip2::<i64, i64>(a, b, shape, |x, y| {
                int(x, y).unwrap_or_else(|e| {
                    err.get_or_insert(e);
                    0
                })
            })?;
            match err {
                Some(e) => Err(e),
                None => Ok(out.into_dtype(dtype)),
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
        (d, Some(g)) => map1::<i64, i64>(a, g).into_dtype(d),
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
// Typed operands (ops defined with `op_def!`)

/// The promotion operand of a decoded tensor-or-number argument.
pub(crate) fn operand_of(v: &TensorOrNumber<Tensor>) -> Result<Operand, OpError> {
    Ok(match v {
        TensorOrNumber::Tensor(t) => Operand::Tensor(meta_of(t)?),
        TensorOrNumber::Number(Scalar::Float(_)) => Operand::Scalar(ScalarKind::Float),
        TensorOrNumber::Number(Scalar::Int(_)) => Operand::Scalar(ScalarKind::Int),
        TensorOrNumber::Number(Scalar::Bool(_)) => Operand::Scalar(ScalarKind::Bool),
    })
}

/// The data of a decoded operand in `dtype`: the tensor's, or the number as a 0-dim
/// tensor.
pub(crate) fn storage_of(v: &TensorOrNumber<Tensor>, dtype: DType) -> Result<Storage, OpError> {
    match v {
        TensorOrNumber::Tensor(t) => Ok(t.storage_or_op_error()?.into_dtype(dtype)),
        TensorOrNumber::Number(n) => Ok(Storage::full_scalar(&[], *n, dtype)),
    }
}

/// Result dtype and broadcast shape of decoded operands.
pub(crate) fn promote_operands(
    operands: &[&TensorOrNumber<Tensor>],
) -> Result<(DType, Vec<SymInt>), OpError> {
    let ops: Vec<Operand> = operands
        .iter()
        .map(|v| operand_of(v))
        .collect::<Result<_, _>>()?;
    let dtype = result_type(&ops.iter().map(Operand::promotion).collect::<Vec<_>>());
    let mut shape: Vec<SymInt> = Vec::new();
    for op in ops {
        let Operand::Tensor(m) = op else {
            continue; // a number broadcasts as a 0-dim tensor: to the shape as it is
        };
        // The first tensor's sizes are the shape so far; a tensor of the same sizes
        // (the common case, per eager op) leaves it as it is.
        let same =
            m.sizes.len() == shape.len() && (m.sizes.iter().zip(&shape)).all(|(a, b)| a.same_as(b));
        if shape.is_empty() {
            shape = m.sizes;
        } else if !same {
            shape = broadcast_shapes(&shape, &m.sizes)?;
        }
    }
    Ok((dtype, shape))
}

// ---------------------------------------------------------------------------------------
// Binary arithmetic

type Num = TensorOrNumber<Tensor>;

fn binary_meta(a: &Num, b: &Num) -> Result<Vec<TensorMeta>, OpError> {
    let (dtype, sizes) = promote_operands(&[a, b])?;
    Ok(vec![TensorMeta::new(dtype, sizes)])
}

/// `sub` refuses bools as PyTorch does: `a - b` on masks is almost always a mistake for
/// `^` or `!`.
fn sub_meta(a: &AddArgs) -> Result<Vec<TensorMeta>, OpError> {
    let is_bool = |v| {
        Ok::<_, OpError>(match operand_of(v)? {
            Operand::Tensor(m) => m.dtype == DType::Bool,
            Operand::Scalar(k) => k == ScalarKind::Bool,
        })
    };
    match (is_bool(&a.self_)?, is_bool(&a.other)?) {
        (true, true) => op_bail!(
            "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or `logical_xor()` operator instead."
        ),
        (true, false) | (false, true) => op_bail!(
            "Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to invert a mask, use the `~` or `logical_not()` operator instead."
        ),
        _ => binary_meta(&a.self_, &a.other),
    }
}

fn div_meta(a: &Num, b: &Num, rounding: Option<&str>) -> Result<Vec<TensorMeta>, OpError> {
    let (dtype, sizes) = promote_operands(&[a, b])?;
    let dtype = if rounding.is_none() {
        float_unary_dtype(dtype)
    } else {
        dtype
    };
    Ok(vec![TensorMeta::new(dtype, sizes)])
}

/// A binary op into the result `out` (its meta, computed by the op's meta function).
fn binary_kernel(
    out: &[TensorMeta],
    a: &Num,
    b: &Num,
    float: impl Fn(f64, f64) -> f64 + Sync,
    int: impl Fn(i64, i64) -> Result<i64, OpError>,
) -> Result<Vec<Storage>, OpError> {
    let (dtype, shape, a, b) = binary_operands(out, a, b)?;
    Ok(vec![binary_numeric(&a, &b, &shape, dtype, float, int)?])
}

/// A binary op's result dtype and shape (from its one meta), and its operands' data in
/// that dtype.
fn binary_operands(
    out: &[TensorMeta],
    a: &Num,
    b: &Num,
) -> Result<(DType, Vec<usize>, Storage, Storage), OpError> {
    let out = out
        .first()
        .ok_or_else(|| OpError::new("a binary op has one result"))?;
    let shape = super::util::concrete(&out.sizes);
    Ok((
        out.dtype,
        shape,
        storage_of(a, out.dtype)?,
        storage_of(b, out.dtype)?,
    ))
}

/// [`binary_kernel`] for `+`, `-`, `×` and `÷`, whose f32 results are computed in f32:
/// the bits are those of the f64 result rounded once (f64 carries more than 2·24 + 2
/// bits, so the double rounding is innocuous), at a third of the instructions.
fn binary_kernel_exact_f32(
    out: &[TensorMeta],
    a: &Num,
    b: &Num,
    exact_f32: impl Fn(f32, f32) -> f32 + Sync,
    float: impl Fn(f64, f64) -> f64 + Sync,
    int: impl Fn(i64, i64) -> Result<i64, OpError>,
) -> Result<Vec<Storage>, OpError> {
    let (dtype, shape, a, b) = binary_operands(out, a, b)?;
    if dtype != DType::F32 {
        return Ok(vec![binary_numeric(&a, &b, &shape, dtype, float, int)?]);
    }
    if let Some(out) = zip_in_place_f32(&a, &b, &shape, &exact_f32)? {
        return Ok(vec![out]);
    }
    Ok(vec![zip2::<f32, f32>(&a, &b, &shape, exact_f32)?])
}

fn add_kernel(a: &AddArgs, out: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let (af, ai) = (a.alpha.to::<f64>(), a.alpha.to::<i64>());
    if af == 1.0 {
        return binary_kernel_exact_f32(
            out,
            &a.self_,
            &a.other,
            |x, y| x + y,
            |x, y| x + y,
            move |x, y| Ok(x.wrapping_add(ai.wrapping_mul(y))),
        );
    }
    binary_kernel(
        out,
        &a.self_,
        &a.other,
        move |x, y| x + af * y,
        move |x, y| Ok(x.wrapping_add(ai.wrapping_mul(y))),
    )
}

fn sub_kernel(a: &AddArgs, out: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let (af, ai) = (a.alpha.to::<f64>(), a.alpha.to::<i64>());
    if af == 1.0 {
        return binary_kernel_exact_f32(
            out,
            &a.self_,
            &a.other,
            |x, y| x - y,
            |x, y| x - y,
            move |x, y| Ok(x.wrapping_sub(ai.wrapping_mul(y))),
        );
    }
    binary_kernel(
        out,
        &a.self_,
        &a.other,
        move |x, y| x - af * y,
        move |x, y| Ok(x.wrapping_sub(ai.wrapping_mul(y))),
    )
}

fn mul_kernel(a: &Num, b: &Num, out: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    binary_kernel_exact_f32(
        out,
        a,
        b,
        |x, y| x * y,
        |x, y| x * y,
        |x, y| Ok(x.wrapping_mul(y)),
    )
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

fn div_kernel(
    a: &Num,
    b: &Num,
    mode: Option<&str>,
    out: &[TensorMeta],
) -> Result<Vec<Storage>, OpError> {
    match mode {
        None => binary_kernel_exact_f32(
            out,
            a,
            b,
            |x, y| x / y,
            |x, y| x / y,
            |x, y| int_div(x, y, "trunc"),
        ),
        Some("trunc") => binary_kernel(
            out,
            a,
            b,
            |x, y| (x / y).trunc(),
            |x, y| int_div(x, y, "trunc"),
        ),
        Some("floor") => binary_kernel(
            out,
            a,
            b,
            |x, y| (x / y).floor(),
            |x, y| int_div(x, y, "floor"),
        ),
        Some(m) => Err(OpError(format!(
            "rounding_mode must be None, \"trunc\" or \"floor\", got \"{m}\""
        ))),
    }
}

/// `lhs op rhs` for the runtime's fuser (alpha scales `rhs`).
fn binary_lowering<T: Clone>(
    op: Binary,
    lhs: &TensorOrNumber<T>,
    rhs: &TensorOrNumber<T>,
    alpha: f64,
) -> Result<Lowering<T>, OpError> {
    Ok(Lowering::Binary {
        op,
        lhs: lhs.clone(),
        rhs: rhs.clone(),
        alpha,
    })
}

fn add_lowering<T: Clone>(a: &AddArgs<T>) -> Result<Lowering<T>, OpError> {
    binary_lowering(Binary::Add, &a.self_, &a.other, a.alpha.to::<f64>())
}
fn sub_lowering<T: Clone>(a: &AddArgs<T>) -> Result<Lowering<T>, OpError> {
    binary_lowering(Binary::Sub, &a.self_, &a.other, a.alpha.to::<f64>())
}
fn mul_lowering<T: Clone>(a: &BinaryArgs<T>) -> Result<Lowering<T>, OpError> {
    binary_lowering(Binary::Mul, &a.self_, &a.other, 1.0)
}
fn div_lowering<T: Clone>(a: &BinaryArgs<T>) -> Result<Lowering<T>, OpError> {
    binary_lowering(Binary::Div, &a.self_, &a.other, 1.0)
}

fn mul_scalar_meta(a: &MulScalar) -> Result<Vec<TensorMeta>, OpError> {
    binary_meta(&a.self_, &TensorOrNumber::Number(a.other))
}

fn mul_scalar_kernel(a: &MulScalar, out: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    mul_kernel(&a.self_, &TensorOrNumber::Number(a.other), out)
}

fn mul_scalar_lowering<T: Clone>(a: &MulScalar<T>) -> Result<Lowering<T>, OpError> {
    binary_lowering(Binary::Mul, &a.self_, &TensorOrNumber::Number(a.other), 1.0)
}

op_def! {
    pub static ADD_TENSOR: struct AddArgs =
        "aten::add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor" {
        meta: |a: &AddArgs| binary_meta(&a.self_, &a.other),
        kernel: add_kernel,
        lowering: add_lowering,
        wrapped_numbers: [self, other],
    }
    pub static ADD_: AddArgs =
        "aten::add_.Tensor(Tensor(a!) self, Tensor other, *, Scalar alpha=1) -> Tensor(a!)" {
        meta: |a: &AddArgs| binary_meta(&a.self_, &a.other),
        kernel: add_kernel,
        inplace_of: ADD_TENSOR,
    }
    pub static SUB_TENSOR: AddArgs =
        "aten::sub.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor" {
        meta: sub_meta,
        kernel: sub_kernel,
        lowering: sub_lowering,
    }
    pub static SUB_: AddArgs =
        "aten::sub_.Tensor(Tensor(a!) self, Tensor other, *, Scalar alpha=1) -> Tensor(a!)" {
        meta: sub_meta,
        kernel: sub_kernel,
        inplace_of: SUB_TENSOR,
    }
    pub static MUL_TENSOR: struct BinaryArgs = "aten::mul.Tensor(Tensor self, Tensor other) -> Tensor" {
        meta: |a: &BinaryArgs| binary_meta(&a.self_, &a.other),
        kernel: |a: &BinaryArgs, out: &[TensorMeta]| mul_kernel(&a.self_, &a.other, out),
        lowering: mul_lowering,
        wrapped_numbers: [self, other],
    }
    pub static MUL_: BinaryArgs = "aten::mul_.Tensor(Tensor(a!) self, Tensor other) -> Tensor(a!)" {
        meta: |a: &BinaryArgs| binary_meta(&a.self_, &a.other),
        kernel: |a: &BinaryArgs, out: &[TensorMeta]| mul_kernel(&a.self_, &a.other, out),
        inplace_of: MUL_TENSOR,
    }
    /// A tensor times a number, in PyTorch's Core ATen opset (what `mul.Tensor` with a
    /// Python number becomes in some decompositions, `scaled_dot_product_attention`'s
    /// scaling).
    pub static MUL_SCALAR: struct MulScalar = "aten::mul.Scalar(Tensor self, Scalar other) -> Tensor" {
        meta: mul_scalar_meta,
        kernel: mul_scalar_kernel,
        lowering: mul_scalar_lowering,
        wrapped_numbers: [self],
    }
    pub static DIV_TENSOR: BinaryArgs = "aten::div.Tensor(Tensor self, Tensor other) -> Tensor" {
        meta: |a: &BinaryArgs| div_meta(&a.self_, &a.other, None),
        kernel: |a: &BinaryArgs, out: &[TensorMeta]| div_kernel(&a.self_, &a.other, None, out),
        lowering: div_lowering,
    }
    pub static DIV_TENSOR_MODE: struct DivMode =
        "aten::div.Tensor_mode(Tensor self, Tensor other, *, str? rounding_mode) -> Tensor" {
        meta: |a: &DivMode| div_meta(&a.self_, &a.other, a.rounding_mode.as_deref()),
        kernel: |a: &DivMode, out: &[TensorMeta]| {
            div_kernel(&a.self_, &a.other, a.rounding_mode.as_deref(), out)
        },
        lowering: div_mode_lowering,
        wrapped_numbers: [self, other],
    }
    pub static DIV_: BinaryArgs = "aten::div_.Tensor(Tensor(a!) self, Tensor other) -> Tensor(a!)" {
        meta: |a: &BinaryArgs| div_meta(&a.self_, &a.other, None),
        kernel: |a: &BinaryArgs, out: &[TensorMeta]| div_kernel(&a.self_, &a.other, None, out),
        inplace_of: DIV_TENSOR,
    }
}

/// The `Tensor`-`Scalar` overloads of the core IR (`x + 1.5` as `add.Scalar`): the
/// `Tensor` op's meta, kernel and lowering with the number as its `other` operand (its
/// `self` when `reversed`: `rsub.Scalar`, the number minus `alpha` times the tensor).
fn scalar_add_args<T: Clone>(a: &AddScalar<T>, reversed: bool) -> AddArgs<T> {
    let (x, n) = (
        TensorOrNumber::Tensor(a.self_.clone()),
        TensorOrNumber::Number(a.other),
    );
    let (self_, other) = if reversed { (n, x) } else { (x, n) };
    AddArgs {
        self_,
        other,
        alpha: a.alpha,
    }
}

/// `rsub(x, y, alpha) = y - alpha * x` (`1 - mask` in the default IR): `sub(y, x, alpha)`.
fn rsub_args<T: Clone>(a: &AddArgs<T>) -> AddArgs<T> {
    AddArgs {
        self_: a.other.clone(),
        other: a.self_.clone(),
        alpha: a.alpha,
    }
}

fn scalar_binary_args<T: Clone>(a: &MulScalar<T>) -> BinaryArgs<T> {
    BinaryArgs {
        self_: a.self_.clone(),
        other: TensorOrNumber::Number(a.other),
    }
}

op_def! {
    pub static ADD_SCALAR: struct AddScalar =
        "aten::add.Scalar(Tensor self, Scalar other, Scalar alpha=1) -> Tensor" {
        meta: |a: &AddScalar| binary_meta(&TensorOrNumber::Tensor(a.self_.clone()), &TensorOrNumber::Number(a.other)),
        kernel: |a: &AddScalar, out: &[TensorMeta]| add_kernel(&scalar_add_args(a, false), out),
        lowering: |a: &AddScalar<_>| add_lowering(&scalar_add_args(a, false)),
    }
    pub static SUB_SCALAR: AddScalar =
        "aten::sub.Scalar(Tensor self, Scalar other, Scalar alpha=1) -> Tensor" {
        meta: |a: &AddScalar| sub_meta(&scalar_add_args(a, false)),
        kernel: |a: &AddScalar, out: &[TensorMeta]| sub_kernel(&scalar_add_args(a, false), out),
        lowering: |a: &AddScalar<_>| sub_lowering(&scalar_add_args(a, false)),
    }
    /// `other - alpha * self`, a number minus a tensor.
    pub static RSUB_SCALAR: AddScalar =
        "aten::rsub.Scalar(Tensor self, Scalar other, Scalar alpha=1) -> Tensor" {
        meta: |a: &AddScalar| sub_meta(&scalar_add_args(a, true)),
        kernel: |a: &AddScalar, out: &[TensorMeta]| sub_kernel(&scalar_add_args(a, true), out),
        lowering: |a: &AddScalar<_>| sub_lowering(&scalar_add_args(a, true)),
    }
    /// `other - alpha * self`.
    pub static RSUB_TENSOR: AddArgs =
        "aten::rsub.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor" {
        meta: |a: &AddArgs| sub_meta(&rsub_args(a)),
        kernel: |a: &AddArgs, out: &[TensorMeta]| sub_kernel(&rsub_args(a), out),
        lowering: |a: &AddArgs<_>| sub_lowering(&rsub_args(a)),
    }
    pub static DIV_SCALAR: MulScalar = "aten::div.Scalar(Tensor self, Scalar other) -> Tensor" {
        meta: |a: &MulScalar| div_meta(&a.self_, &TensorOrNumber::Number(a.other), None),
        kernel: |a: &MulScalar, out: &[TensorMeta]| {
            div_kernel(&a.self_, &TensorOrNumber::Number(a.other), None, out)
        },
        lowering: |a: &MulScalar<_>| div_lowering(&scalar_binary_args(a)),
    }
    pub static REMAINDER_SCALAR: MulScalar =
        "aten::remainder.Scalar(Tensor self, Scalar other) -> Tensor" {
        meta: |a: &MulScalar| {
            binary_no_bool_meta("remainder", &a.self_, &TensorOrNumber::Number(a.other))
        },
        kernel: |a: &MulScalar, out: &[TensorMeta]| remainder_kernel(&scalar_binary_args(a), out),
    }
    /// C's remainder: the result has the sign of the dividend.
    pub static FMOD_TENSOR: BinaryArgs = "aten::fmod.Tensor(Tensor self, Tensor other) -> Tensor" {
        meta: |a: &BinaryArgs| binary_no_bool_meta("fmod", &a.self_, &a.other),
        kernel: fmod_kernel,
    }
    pub static FMOD_SCALAR: MulScalar = "aten::fmod.Scalar(Tensor self, Scalar other) -> Tensor" {
        meta: |a: &MulScalar| {
            binary_no_bool_meta("fmod", &a.self_, &TensorOrNumber::Number(a.other))
        },
        kernel: |a: &MulScalar, out: &[TensorMeta]| fmod_kernel(&scalar_binary_args(a), out),
    }
    /// `x // y`: division rounded down (`div(x, y, rounding_mode='floor')`).
    pub static FLOOR_DIVIDE: BinaryArgs =
        "aten::floor_divide(Tensor self, Tensor other) -> Tensor" {
        meta: |a: &BinaryArgs| div_meta(&a.self_, &a.other, Some("floor")),
        kernel: |a: &BinaryArgs, out: &[TensorMeta]| div_kernel(&a.self_, &a.other, Some("floor"), out),
        wrapped_numbers: [other],
    }
}

fn fmod_kernel(a: &BinaryArgs, out: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    binary_kernel(
        out,
        &a.self_,
        &a.other,
        |x, y| x % y,
        |x, y| {
            if y == 0 {
                op_bail!("ZeroDivisionError: integer fmod by zero");
            }
            Ok(x.wrapping_rem(y))
        },
    )
}

/// Only true division fuses; rounding modes run the eager kernel.
fn div_mode_lowering<T: Clone>(a: &DivMode<T>) -> Result<Lowering<T>, OpError> {
    match a.rounding_mode {
        None => binary_lowering(Binary::Div, &a.self_, &a.other, 1.0),
        Some(_) => Ok(Lowering::Eager),
    }
}

// ---------------------------------------------------------------------------------------
// Binary math

/// Rejects a bool result type, for ops PyTorch does not implement on bool.
fn reject_bool(op: &str, dtype: DType) -> Result<(), OpError> {
    if dtype == DType::Bool {
        op_bail!("{op} is not implemented for bool tensors");
    }
    Ok(())
}

fn binary_no_bool_meta(op: &str, a: &Num, b: &Num) -> Result<Vec<TensorMeta>, OpError> {
    let (dtype, sizes) = promote_operands(&[a, b])?;
    reject_bool(op, dtype)?;
    Ok(vec![TensorMeta::new(dtype, sizes)])
}

/// Binary ops whose result is floating even for integer inputs (`atan2`).
fn binary_float_meta(a: &BinaryArgs) -> Result<Vec<TensorMeta>, OpError> {
    let (dtype, sizes) = promote_operands(&[&a.self_, &a.other])?;
    Ok(vec![TensorMeta::new(float_unary_dtype(dtype), sizes)])
}

/// `max`/`min` of two floats where a NaN operand wins, as `torch.maximum` does.
/// Floats by the runtime's rule (`pointwise::max_of`: NaN if either is, `y` where
/// they are equal), so that eager and fused results have the same bits.
fn maximum_kernel(a: &BinaryArgs, out: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let max = ferrex_kernels::pointwise::max_of::<f64>;
    binary_kernel(out, &a.self_, &a.other, max, |x, y| Ok(x.max(y)))
}

fn minimum_kernel(a: &BinaryArgs, out: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let min = ferrex_kernels::pointwise::min_of::<f64>;
    binary_kernel(out, &a.self_, &a.other, min, |x, y| Ok(x.min(y)))
}

fn maximum_lowering<T: Clone>(a: &BinaryArgs<T>) -> Result<Lowering<T>, OpError> {
    binary_lowering(Binary::Max, &a.self_, &a.other, 1.0)
}
fn minimum_lowering<T: Clone>(a: &BinaryArgs<T>) -> Result<Lowering<T>, OpError> {
    binary_lowering(Binary::Min, &a.self_, &a.other, 1.0)
}

fn atan2_kernel(a: &BinaryArgs, out: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    // The meta promotes to a float type, so the integer path is never taken.
    binary_kernel(out, &a.self_, &a.other, f64::atan2, |_, _| {
        Err(OpError::new("atan2 computes in a floating-point type"))
    })
}

/// Python's modulo: the result has the sign of the divisor.
fn remainder_kernel(a: &BinaryArgs, out: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    binary_kernel(
        out,
        &a.self_,
        &a.other,
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

fn pow_kernel(a: &Num, b: &Num, out: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    binary_kernel(out, a, b, f64::powf, |x, y| Ok(int_pow(x, y)))
}

fn pow_scalar_meta(a: &PowScalar) -> Result<Vec<TensorMeta>, OpError> {
    let exponent = TensorOrNumber::Number(a.exponent);
    let out = binary_no_bool_meta("pow", &a.self_, &exponent)?;
    if !out[0].dtype.is_float() {
        if let Scalar::Int(e) = a.exponent {
            if e < 0 {
                op_bail!("Integers to negative integer powers are not allowed.");
            }
        }
    }
    Ok(out)
}

/// f32 data to an f32 result through the pointwise function the plan runs
/// ([`F::PowScalar`]: `x * x` for a square), anything else through `pow_kernel`.
fn pow_scalar_kernel(a: &PowScalar, out: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    if let TensorOrNumber::Tensor(x) = &a.self_ {
        let f32_out = out.first().is_some_and(|m| m.dtype == DType::F32);
        if f32_out && x.storage_or_op_error()?.dtype() == DType::F32 {
            return super::activation::float_kernel(x, F::PowScalar(a.exponent.to::<f64>()));
        }
    }
    pow_kernel(&a.self_, &TensorOrNumber::Number(a.exponent), out)
}

fn pow_scalar_fn<T>(a: &PowScalar<T>) -> Result<F, OpError> {
    Ok(F::PowScalar(a.exponent.to::<f64>()))
}

/// `f(self, other)` of two tensor arguments (`max.other` → `maximum`).
fn both_tensors(a: &BinaryArgs, f: fn(&Tensor, &Tensor) -> Tensor) -> Result<Vec<Tensor>, OpError> {
    match (&a.self_, &a.other) {
        (TensorOrNumber::Tensor(x), TensorOrNumber::Tensor(y)) => Ok(vec![f(x, y)]),
        _ => Err(OpError::new("expected two tensors")),
    }
}

op_def! {
    pub static MAXIMUM: BinaryArgs = "aten::maximum(Tensor self, Tensor other) -> Tensor" {
        meta: |a: &BinaryArgs| binary_meta(&a.self_, &a.other),
        kernel: maximum_kernel,
        lowering: maximum_lowering,
    }
    pub static MINIMUM: BinaryArgs = "aten::minimum(Tensor self, Tensor other) -> Tensor" {
        meta: |a: &BinaryArgs| binary_meta(&a.self_, &a.other),
        kernel: minimum_kernel,
        lowering: minimum_lowering,
    }
    /// `torch.max(a, b)`: `maximum`, which PyTorch's core IR writes for it.
    pub static MAX_OTHER: BinaryArgs = "aten::max.other(Tensor self, Tensor other) -> Tensor" {
        meta: |a: &BinaryArgs| binary_meta(&a.self_, &a.other),
        kernel: maximum_kernel,
        lowering: maximum_lowering,
        decomposition: |a: &BinaryArgs| both_tensors(a, Tensor::maximum),
    }
    /// `torch.min(a, b)`: `minimum`.
    pub static MIN_OTHER: BinaryArgs = "aten::min.other(Tensor self, Tensor other) -> Tensor" {
        meta: |a: &BinaryArgs| binary_meta(&a.self_, &a.other),
        kernel: minimum_kernel,
        lowering: minimum_lowering,
        decomposition: |a: &BinaryArgs| both_tensors(a, Tensor::minimum),
    }
    pub static ATAN2: BinaryArgs = "aten::atan2(Tensor self, Tensor other) -> Tensor" {
        meta: binary_float_meta,
        kernel: atan2_kernel,
    }
    pub static REMAINDER_TENSOR: BinaryArgs =
        "aten::remainder.Tensor(Tensor self, Tensor other) -> Tensor" {
        meta: |a: &BinaryArgs| binary_no_bool_meta("remainder", &a.self_, &a.other),
        kernel: remainder_kernel,
    }
    pub static POW_TENSOR_TENSOR: struct PowTensor =
        "aten::pow.Tensor_Tensor(Tensor self, Tensor exponent) -> Tensor" {
        meta: |a: &PowTensor| binary_no_bool_meta("pow", &a.self_, &a.exponent),
        kernel: |a: &PowTensor, out: &[TensorMeta]| pow_kernel(&a.self_, &a.exponent, out),
        wrapped_numbers: [self, exponent],
    }
    /// `number ** tensor` (`10000 ** (torch.arange(0, d, 2) / d)` of rotary embeddings).
    pub static POW_SCALAR: struct PowNumberBase =
        "aten::pow.Scalar(Scalar self, Tensor exponent) -> Tensor" {
        meta: |a: &PowNumberBase| binary_no_bool_meta(
            "pow",
            &TensorOrNumber::Number(a.self_),
            &TensorOrNumber::Tensor(a.exponent.clone()),
        ),
        kernel: |a: &PowNumberBase, out: &[TensorMeta]| pow_kernel(
            &TensorOrNumber::Number(a.self_),
            &TensorOrNumber::Tensor(a.exponent.clone()),
            out,
        ),
    }
    pub static POW_TENSOR_SCALAR: struct PowScalar =
        "aten::pow.Tensor_Scalar(Tensor self, Scalar exponent) -> Tensor" {
        meta: pow_scalar_meta,
        kernel: pow_scalar_kernel,
        lowering: pow_scalar_lowering,
        wrapped_numbers: [self],
    }
}

/// `x ** e` fuses when `x` is a tensor.
fn pow_scalar_lowering<T: Clone>(a: &PowScalar<T>) -> Result<Lowering<T>, OpError> {
    match &a.self_ {
        TensorOrNumber::Tensor(t) => Ok(Lowering::Unary {
            input: t.clone(),
            f: pow_scalar_fn(a)?,
        }),
        TensorOrNumber::Number(_) => Ok(Lowering::Eager),
    }
}

// ---------------------------------------------------------------------------------------
// Unary math

fn same_meta(a: &Unary) -> Result<Vec<TensorMeta>, OpError> {
    Ok(vec![meta_of(&a.self_)?])
}

/// Integer inputs promote to the default float type.
pub(crate) fn float_meta(a: &Unary) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    Ok(vec![TensorMeta::new(float_unary_dtype(m.dtype), m.sizes)])
}

/// Same dtype as the input, which must not be bool (`abs`, `floor`, …).
fn same_no_bool_meta(op: &str, a: &Unary) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(&a.self_)?;
    reject_bool(op, m.dtype)?;
    Ok(vec![m])
}

/// `f` over the input: floats in f64, integers through `int` when the op keeps them
/// integral (else promoted, as the meta says).
fn unary_kernel(
    a: &Unary,
    float: impl Fn(f64) -> f64,
    int: Option<fn(i64) -> i64>,
) -> Result<Vec<Storage>, OpError> {
    Ok(vec![unary_numeric(
        &a.self_.storage_or_op_error()?,
        float,
        int,
    )])
}

fn neg_kernel(a: &Unary, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    if a.self_.storage_or_op_error()?.dtype() == DType::Bool {
        return Err(OpError::new(
            "negation, the `-` operator, on a bool tensor is not supported; use logical_not",
        ));
    }
    unary_kernel(a, |x| F::Neg.eval(x), Some(i64::wrapping_neg))
}

/// The op's pointwise function, for the ops whose every dtype computes through it.
macro_rules! pointwise_fns {
    ($($name:ident => $f:expr;)*) => {$(
        fn $name<T>(_: &Unary<T>) -> Result<F, OpError> {
            Ok($f)
        }
    )*};
}

pointwise_fns! {
    neg_fn => F::Neg;
    abs_fn => F::Abs;
    sin_fn => F::Sin;
    cos_fn => F::Cos;
    exp_fn => F::Exp;
    tanh_fn => F::Tanh;
    sigmoid_fn => F::Sigmoid;
    erf_fn => F::Erf;
    log_fn => F::Log;
    sqrt_fn => F::Sqrt;
    rsqrt_fn => F::Rsqrt;
    reciprocal_fn => F::Reciprocal;
    tan_fn => F::Tan;
    expm1_fn => F::Expm1;
    log1p_fn => F::Log1p;
    floor_fn => F::Floor;
    ceil_fn => F::Ceil;
    round_fn => F::Round;
    sign_fn => F::Sign;
    trunc_fn => F::Trunc;
    asin_fn => F::Asin;
    acos_fn => F::Acos;
    atan_fn => F::Atan;
    sinh_fn => F::Sinh;
    cosh_fn => F::Cosh;
    asinh_fn => F::Asinh;
    acosh_fn => F::Acosh;
    atanh_fn => F::Atanh;
    log2_fn => F::Log2;
    log10_fn => F::Log10;
    exp2_fn => F::Exp2;
    erfinv_fn => F::Erfinv;
    erfc_fn => F::Erfc;
    lgamma_fn => F::Lgamma;
    digamma_fn => F::Digamma;
    i0_fn => F::I0;
}

op_def! {
    pub static NEG: Unary = "aten::neg(Tensor self) -> Tensor" {
        meta: same_meta,
        kernel: neg_kernel,
        pointwise: neg_fn,
    }
    pub static ABS: Unary = "aten::abs(Tensor self) -> Tensor" {
        meta: |a: &Unary| same_no_bool_meta("abs", a),
        kernel: |a: &Unary, _: &[TensorMeta]| unary_kernel(a, |x| F::Abs.eval(x), Some(i64::wrapping_abs)),
        pointwise: abs_fn,
    }
    pub static FLOOR: Unary = "aten::floor(Tensor self) -> Tensor" {
        meta: |a: &Unary| same_no_bool_meta("floor", a),
        kernel: |a: &Unary, _: &[TensorMeta]| unary_kernel(a, |x| F::Floor.eval(x), Some(|x| x)),
        pointwise: floor_fn,
    }
    pub static CEIL: Unary = "aten::ceil(Tensor self) -> Tensor" {
        meta: |a: &Unary| same_no_bool_meta("ceil", a),
        kernel: |a: &Unary, _: &[TensorMeta]| unary_kernel(a, |x| F::Ceil.eval(x), Some(|x| x)),
        pointwise: ceil_fn,
    }
    /// Half to even, as `torch.round`.
    pub static ROUND: Unary = "aten::round(Tensor self) -> Tensor" {
        meta: |a: &Unary| same_no_bool_meta("round", a),
        kernel: |a: &Unary, _: &[TensorMeta]| unary_kernel(a, |x| F::Round.eval(x), Some(|x| x)),
        pointwise: round_fn,
    }
    pub static TRUNC: Unary = "aten::trunc(Tensor self) -> Tensor" {
        meta: |a: &Unary| same_no_bool_meta("trunc", a),
        kernel: |a: &Unary, _: &[TensorMeta]| unary_kernel(a, |x| F::Trunc.eval(x), Some(|x| x)),
        pointwise: trunc_fn,
    }
    pub static SIGN: Unary = "aten::sign(Tensor self) -> Tensor" {
        meta: same_meta,
        kernel: |a: &Unary, _: &[TensorMeta]| unary_kernel(a, |x| F::Sign.eval(x), Some(i64::signum)),
        pointwise: sign_fn,
    }
}

/// Ops whose integer inputs promote to the default float type: one kernel each from a
/// pointwise function, which the runtime fuses.
macro_rules! float_unary_ops {
    ($($name:ident = $schema:literal, $run:ident($f:expr) $(, $pointwise:ident)?;)*) => {$(
        op_def! {
            pub static $name: Unary = $schema {
                meta: float_meta,
                kernel: |a: &Unary, _: &[TensorMeta]| $run(a, $f),
                $(pointwise: $pointwise,)?
            }
        }
    )*};
}

/// A float op of a pointwise function (`activation::float_kernel`).
fn pointwise_kernel(a: &Unary, f: F) -> Result<Vec<Storage>, OpError> {
    super::activation::float_kernel(&a.self_, f)
}

float_unary_ops! {
    SIN = "aten::sin(Tensor self) -> Tensor", pointwise_kernel(F::Sin), sin_fn;
    COS = "aten::cos(Tensor self) -> Tensor", pointwise_kernel(F::Cos), cos_fn;
    EXP = "aten::exp(Tensor self) -> Tensor", pointwise_kernel(F::Exp), exp_fn;
    TAN = "aten::tan(Tensor self) -> Tensor", pointwise_kernel(F::Tan), tan_fn;
    TANH = "aten::tanh(Tensor self) -> Tensor", pointwise_kernel(F::Tanh), tanh_fn;
    SIGMOID = "aten::sigmoid(Tensor self) -> Tensor", pointwise_kernel(F::Sigmoid), sigmoid_fn;
    ERF = "aten::erf(Tensor self) -> Tensor", pointwise_kernel(F::Erf), erf_fn;
    EXPM1 = "aten::expm1(Tensor self) -> Tensor", pointwise_kernel(F::Expm1), expm1_fn;
    LOG = "aten::log(Tensor self) -> Tensor", pointwise_kernel(F::Log), log_fn;
    SQRT = "aten::sqrt(Tensor self) -> Tensor", pointwise_kernel(F::Sqrt), sqrt_fn;
    RSQRT = "aten::rsqrt(Tensor self) -> Tensor", pointwise_kernel(F::Rsqrt), rsqrt_fn;
    RECIPROCAL = "aten::reciprocal(Tensor self) -> Tensor", pointwise_kernel(F::Reciprocal), reciprocal_fn;
    LOG1P = "aten::log1p(Tensor self) -> Tensor", pointwise_kernel(F::Log1p), log1p_fn;
    ASIN = "aten::asin(Tensor self) -> Tensor", pointwise_kernel(F::Asin), asin_fn;
    ACOS = "aten::acos(Tensor self) -> Tensor", pointwise_kernel(F::Acos), acos_fn;
    ATAN = "aten::atan(Tensor self) -> Tensor", pointwise_kernel(F::Atan), atan_fn;
    SINH = "aten::sinh(Tensor self) -> Tensor", pointwise_kernel(F::Sinh), sinh_fn;
    COSH = "aten::cosh(Tensor self) -> Tensor", pointwise_kernel(F::Cosh), cosh_fn;
    ASINH = "aten::asinh(Tensor self) -> Tensor", pointwise_kernel(F::Asinh), asinh_fn;
    ACOSH = "aten::acosh(Tensor self) -> Tensor", pointwise_kernel(F::Acosh), acosh_fn;
    ATANH = "aten::atanh(Tensor self) -> Tensor", pointwise_kernel(F::Atanh), atanh_fn;
    LOG2 = "aten::log2(Tensor self) -> Tensor", pointwise_kernel(F::Log2), log2_fn;
    LOG10 = "aten::log10(Tensor self) -> Tensor", pointwise_kernel(F::Log10), log10_fn;
    EXP2 = "aten::exp2(Tensor self) -> Tensor", pointwise_kernel(F::Exp2), exp2_fn;
    ERFINV = "aten::erfinv(Tensor self) -> Tensor", pointwise_kernel(F::Erfinv), erfinv_fn;
    ERFC = "aten::erfc(Tensor self) -> Tensor", pointwise_kernel(F::Erfc), erfc_fn;
    LGAMMA = "aten::lgamma(Tensor self) -> Tensor", pointwise_kernel(F::Lgamma), lgamma_fn;
    DIGAMMA = "aten::digamma(Tensor self) -> Tensor", pointwise_kernel(F::Digamma), digamma_fn;
    I0 = "aten::i0(Tensor self) -> Tensor", pointwise_kernel(F::I0), i0_fn;
}

// ---------------------------------------------------------------------------------------
// dtype conversion

fn to_copy_meta(x: &Tensor, dtype: Option<DType>) -> Result<Vec<TensorMeta>, OpError> {
    let m = meta_of(x)?;
    Ok(vec![TensorMeta::new(dtype.unwrap_or(m.dtype), m.sizes)])
}

fn cast_lowering<T: Clone>(x: &T) -> Result<Lowering<T>, OpError> {
    Ok(Lowering::Cast { input: x.clone() })
}

/// Float to integer truncates toward zero; anything to bool is `!= 0`.
fn to_copy_kernel(x: &Tensor, dtype: Option<DType>) -> Result<Vec<Storage>, OpError> {
    let s = x.storage_or_op_error()?;
    let dtype = dtype.unwrap_or(s.dtype());
    Ok(vec![s.into_dtype(dtype)])
}

op_def! {
    pub static _TO_COPY: struct ToCopy =
        "aten::_to_copy(Tensor self, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None, bool non_blocking=False, MemoryFormat? memory_format=None) -> Tensor" {
        meta: |a: &ToCopy| to_copy_meta(&a.self_, a.dtype),
        kernel: |a: &ToCopy, _: &[TensorMeta]| to_copy_kernel(&a.self_, a.dtype),
        lowering: |a: &ToCopy<_>| cast_lowering(&a.self_),
    }
    /// `Tensor.to(dtype)`, as the default IR records it (the core IR has `_to_copy`).
    pub static TO_DTYPE: struct ToDtype =
        "aten::to.dtype(Tensor(a) self, ScalarType dtype, bool non_blocking=False, bool copy=False, MemoryFormat? memory_format=None) -> Tensor(a)" {
        meta: |a: &ToDtype| to_copy_meta(&a.self_, Some(a.dtype)),
        kernel: |a: &ToDtype, _: &[TensorMeta]| to_copy_kernel(&a.self_, Some(a.dtype)),
        lowering: |a: &ToDtype<_>| cast_lowering(&a.self_),
        decomposition: |a: &ToDtype| Ok(match a.copy {
            true => Tensor::call_op(&_TO_COPY, vec![
                super::Value::Tensor(a.self_.clone()),
                super::Value::DType(a.dtype),
            ]),
            false => vec![a.self_.to_dtype(a.dtype)],
        }),
    }
}

// ---------------------------------------------------------------------------------------
// Bitwise ops (integers and bools), lerp, hypot, logaddexp, nan_to_num, clamp_min/max

impl BitwiseScalar {
    /// The same call of `op` (the core IR's name of the default IR's `__and__.Scalar`).
    fn as_op(&self, op: &'static super::OpDef) -> Result<Vec<Tensor>, OpError> {
        let value = |v: &Num| match v {
            TensorOrNumber::Tensor(t) => super::Value::Tensor(t.clone()),
            TensorOrNumber::Number(n) => super::constructors::scalar_value(*n),
        };
        Ok(Tensor::call_op(
            op,
            vec![value(&self.self_), value(&self.other)],
        ))
    }

    /// The call as the tensor overload's arguments (the number a wrapped operand).
    fn binary(&self) -> BinaryArgs {
        BinaryArgs {
            self_: self.self_.clone(),
            other: self.other.clone(),
        }
    }
}

fn bitwise_scalar_lowering<T: Clone>(a: &BitwiseScalar<T>) -> Result<Lowering<T>, OpError> {
    Lowering::elementwise([a.self_.clone(), a.other.clone()])
}

fn bitwise_meta(op: &str, a: &Num, b: &Num) -> Result<Vec<TensorMeta>, OpError> {
    let (dtype, sizes) = promote_operands(&[a, b])?;
    if dtype.is_float() {
        op_bail!("\"{op}_cpu\" not implemented for '{dtype}'");
    }
    Ok(vec![TensorMeta::new(dtype, sizes)])
}

/// `f` on integers (bools as 0 and 1, the result back to bool for bools).
fn bitwise_kernel(
    a: &BinaryArgs,
    out: &[TensorMeta],
    f: fn(i64, i64) -> i64,
) -> Result<Vec<Storage>, OpError> {
    binary_kernel(
        out,
        &a.self_,
        &a.other,
        |_, _| f64::NAN,
        move |x, y| Ok(f(x, y)),
    )
}

fn bitwise_not_kernel(a: &Unary, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let s = a.self_.storage_or_op_error()?;
    Ok(vec![match s.dtype() {
        DType::Bool => Storage::Bool(s.typed::<bool>().mapv(|v| !v).into_shared()),
        d => Storage::I64(s.typed::<i64>().mapv(|v| !v).into_shared()).into_dtype(d),
    }])
}

/// `a + w (b - a)` for `w < 0.5`, `b - (b - a)(1 - w)` otherwise: PyTorch's formula,
/// exact at both ends.
fn lerp(a: f64, b: f64, w: f64) -> f64 {
    if w.abs() < 0.5 {
        a + w * (b - a)
    } else {
        b - (b - a) * (1.0 - w)
    }
}

/// `lerp`'s operands broadcast together, of a floating-point type (`kernel` names
/// ATen's kernel in its message).
fn lerp_meta(tensors: &[&Tensor], kernel: &str) -> Result<Vec<TensorMeta>, OpError> {
    let operands: Vec<TensorOrNumber<Tensor>> = (tensors.iter())
        .map(|t| TensorOrNumber::Tensor((*t).clone()))
        .collect();
    let (dtype, sizes) = promote_operands(&operands.iter().collect::<Vec<_>>())?;
    if !dtype.is_float() {
        op_bail!("{kernel} not implemented for '{dtype}'");
    }
    Ok(vec![TensorMeta::new(dtype, sizes)])
}

/// `lerp(self, end, weight)` with a tensor weight, as PyTorch's decomposition writes it
/// (and [`lerp`] computes): `coeff·(end − self) + base`, from `end` back by `1 − w`
/// where `|w| ≥ 0.5`, from `self` forward by `w` elsewhere.
fn lerp_tensor_decomposition(a: &LerpTensor) -> Result<Vec<Tensor>, OpError> {
    Ok(vec![lerp_by_where(&a.self_, &a.end, &a.weight)])
}

fn lerp_by_where(x: &Tensor, end: &Tensor, weight: &Tensor) -> Tensor {
    let diff = end.sub(x);
    let far = weight.abs().ge(0.5);
    let coeff = Tensor::where_(&far, &weight.sub(1.0), weight);
    let base = Tensor::where_(&far, end, x);
    coeff.mul(&diff).add(&base)
}

fn lerp_scalar_kernel(a: &LerpScalar, out: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let w = a.weight.to::<f64>();
    let (x, y) = (
        TensorOrNumber::Tensor(a.self_.clone()),
        TensorOrNumber::Tensor(a.end.clone()),
    );
    binary_kernel(
        out,
        &x,
        &y,
        move |p, q| lerp(p, q, w),
        |_, _| Err(OpError::new("lerp computes in a floating-point type")),
    )
}

/// `where(isnan(x), nan, where(x == inf, posinf, where(x == -inf, neginf, x)))`, the
/// infinities becoming the dtype's largest finite values by default.
fn nan_to_num_decomposition(a: &NanToNum) -> Result<Vec<Tensor>, OpError> {
    let m = meta_of(&a.self_)?;
    if !m.dtype.is_float() {
        return Ok(vec![a.self_.clone()]);
    }
    let big = match m.dtype {
        DType::F64 => f64::MAX,
        _ => f64::from(f32::MAX),
    };
    let x = &a.self_;
    let fill = |v: f64| super::constructors::scalar_tensor_of(Scalar::Float(v), m.dtype);
    let y = Tensor::where_(&x.ne(x), &fill(a.nan.unwrap_or(0.0)), x);
    let y = Tensor::where_(&x.eq(f64::INFINITY), &fill(a.posinf.unwrap_or(big)), &y);
    let y = Tensor::where_(
        &x.eq(f64::NEG_INFINITY),
        &fill(a.neginf.unwrap_or(-big)),
        &y,
    );
    Ok(vec![y])
}

fn float_binary_meta(op: &str, a: &BinaryArgs) -> Result<Vec<TensorMeta>, OpError> {
    let (dtype, sizes) = promote_operands(&[&a.self_, &a.other])?;
    Ok(vec![TensorMeta::new(float_unary_dtype(dtype), sizes)]).and_then(|m| {
        reject_bool(op, m[0].dtype)?;
        Ok(m)
    })
}

/// `clamp_min(x, b)` / `clamp_max(x, b)` (the bound in `min`).
fn clamp_bound_meta(a: &ClampBound) -> Result<Vec<TensorMeta>, OpError> {
    let x = TensorOrNumber::Tensor(a.self_.clone());
    let (dtype, sizes) = promote_operands(&[&x, &TensorOrNumber::Number(a.min)])?;
    reject_bool("clamp", dtype)?;
    Ok(vec![TensorMeta::new(dtype, sizes)])
}

fn clamp_bound_kernel(
    a: &ClampBound,
    out: &[TensorMeta],
    upper: bool,
) -> Result<Vec<Storage>, OpError> {
    let bound = TensorOrNumber::Number(a.min);
    let b = Some(a.min.to::<f64>());
    let (lo, hi) = if upper { (None, b) } else { (b, None) };
    // f32 to f32: the pointwise loop the plan runs (as `clamp`'s kernel).
    let f32_out = out.first().is_some_and(|m| m.dtype == DType::F32);
    if f32_out && a.self_.storage_or_op_error()?.dtype() == DType::F32 {
        return super::activation::float_kernel(&a.self_, F::Clamp(lo, hi));
    }
    binary_kernel(
        out,
        &TensorOrNumber::Tensor(a.self_.clone()),
        &bound,
        move |x, _| F::Clamp(lo, hi).eval(x),
        move |x, y| Ok(if upper { x.min(y) } else { x.max(y) }),
    )
}

fn clamp_bound_lowering<T: Clone>(a: &ClampBound<T>, upper: bool) -> Result<Lowering<T>, OpError> {
    let b = Some(a.min.to::<f64>());
    let f = if upper {
        F::Clamp(None, b)
    } else {
        F::Clamp(b, None)
    };
    Ok(Lowering::Unary {
        input: a.self_.clone(),
        f,
    })
}

fn clamp_max_lowering<T: Clone>(a: &ClampMax<T>) -> Result<Lowering<T>, OpError> {
    let bound = ClampBound {
        self_: a.self_.clone(),
        min: a.max,
    };
    clamp_bound_lowering(&bound, true)
}

op_def! {
    pub static BITWISE_AND_TENSOR: BinaryArgs = "aten::bitwise_and.Tensor(Tensor self, Tensor other) -> Tensor" {
        meta: |a: &BinaryArgs| bitwise_meta("bitwise_and", &a.self_, &a.other),
        kernel: |a: &BinaryArgs, out: &[TensorMeta]| bitwise_kernel(a, out, |x, y| x & y),
        lowering: super::comparison::binary_elementwise,
        wrapped_numbers: [other],
    }
    pub static BITWISE_OR_TENSOR: BinaryArgs = "aten::bitwise_or.Tensor(Tensor self, Tensor other) -> Tensor" {
        meta: |a: &BinaryArgs| bitwise_meta("bitwise_or", &a.self_, &a.other),
        kernel: |a: &BinaryArgs, out: &[TensorMeta]| bitwise_kernel(a, out, |x, y| x | y),
        lowering: super::comparison::binary_elementwise,
        wrapped_numbers: [other],
    }
    pub static BITWISE_XOR_TENSOR: BinaryArgs = "aten::bitwise_xor.Tensor(Tensor self, Tensor other) -> Tensor" {
        meta: |a: &BinaryArgs| bitwise_meta("bitwise_xor", &a.self_, &a.other),
        kernel: |a: &BinaryArgs, out: &[TensorMeta]| bitwise_kernel(a, out, |x, y| x ^ y),
        lowering: super::comparison::binary_elementwise,
        wrapped_numbers: [other],
    }
    /// `a & b` as the default IR records it.
    pub static AND_TENSOR: BinaryArgs = "aten::__and__.Tensor(Tensor self, Tensor other) -> Tensor" {
        meta: |a: &BinaryArgs| bitwise_meta("bitwise_and", &a.self_, &a.other),
        kernel: |a: &BinaryArgs, out: &[TensorMeta]| bitwise_kernel(a, out, |x, y| x & y),
        lowering: super::comparison::binary_elementwise,
        wrapped_numbers: [other],
    }
    pub static OR_TENSOR: BinaryArgs = "aten::__or__.Tensor(Tensor self, Tensor other) -> Tensor" {
        meta: |a: &BinaryArgs| bitwise_meta("bitwise_or", &a.self_, &a.other),
        kernel: |a: &BinaryArgs, out: &[TensorMeta]| bitwise_kernel(a, out, |x, y| x | y),
        lowering: super::comparison::binary_elementwise,
        wrapped_numbers: [other],
    }
    pub static XOR_TENSOR: BinaryArgs = "aten::__xor__.Tensor(Tensor self, Tensor other) -> Tensor" {
        meta: |a: &BinaryArgs| bitwise_meta("bitwise_xor", &a.self_, &a.other),
        kernel: |a: &BinaryArgs, out: &[TensorMeta]| bitwise_kernel(a, out, |x, y| x ^ y),
        lowering: super::comparison::binary_elementwise,
        wrapped_numbers: [other],
    }
    /// `x & 6` with a number, as the core IR records it (the default IR: `__and__`).
    pub static BITWISE_AND_SCALAR: struct BitwiseScalar = "aten::bitwise_and.Scalar(Tensor self, Scalar other) -> Tensor" {
        meta: |a: &BitwiseScalar| bitwise_meta("bitwise_and", &a.self_, &a.other),
        kernel: |a: &BitwiseScalar, out: &[TensorMeta]| bitwise_kernel(&a.binary(), out, |x, y| x & y),
        lowering: bitwise_scalar_lowering,
        wrapped_numbers: [self, other],
    }
    pub static BITWISE_OR_SCALAR: BitwiseScalar = "aten::bitwise_or.Scalar(Tensor self, Scalar other) -> Tensor" {
        meta: |a: &BitwiseScalar| bitwise_meta("bitwise_or", &a.self_, &a.other),
        kernel: |a: &BitwiseScalar, out: &[TensorMeta]| bitwise_kernel(&a.binary(), out, |x, y| x | y),
        lowering: bitwise_scalar_lowering,
        wrapped_numbers: [self, other],
    }
    pub static BITWISE_XOR_SCALAR: BitwiseScalar = "aten::bitwise_xor.Scalar(Tensor self, Scalar other) -> Tensor" {
        meta: |a: &BitwiseScalar| bitwise_meta("bitwise_xor", &a.self_, &a.other),
        kernel: |a: &BitwiseScalar, out: &[TensorMeta]| bitwise_kernel(&a.binary(), out, |x, y| x ^ y),
        lowering: bitwise_scalar_lowering,
        wrapped_numbers: [self, other],
    }
    pub static AND_SCALAR: BitwiseScalar = "aten::__and__.Scalar(Tensor self, Scalar other) -> Tensor" {
        meta: |a: &BitwiseScalar| bitwise_meta("bitwise_and", &a.self_, &a.other),
        kernel: |a: &BitwiseScalar, out: &[TensorMeta]| bitwise_kernel(&a.binary(), out, |x, y| x & y),
        lowering: bitwise_scalar_lowering,
        decomposition: |a: &BitwiseScalar| a.as_op(&BITWISE_AND_SCALAR),
        wrapped_numbers: [self, other],
    }
    pub static OR_SCALAR: BitwiseScalar = "aten::__or__.Scalar(Tensor self, Scalar other) -> Tensor" {
        meta: |a: &BitwiseScalar| bitwise_meta("bitwise_or", &a.self_, &a.other),
        kernel: |a: &BitwiseScalar, out: &[TensorMeta]| bitwise_kernel(&a.binary(), out, |x, y| x | y),
        lowering: bitwise_scalar_lowering,
        decomposition: |a: &BitwiseScalar| a.as_op(&BITWISE_OR_SCALAR),
        wrapped_numbers: [self, other],
    }
    pub static XOR_SCALAR: BitwiseScalar = "aten::__xor__.Scalar(Tensor self, Scalar other) -> Tensor" {
        meta: |a: &BitwiseScalar| bitwise_meta("bitwise_xor", &a.self_, &a.other),
        kernel: |a: &BitwiseScalar, out: &[TensorMeta]| bitwise_kernel(&a.binary(), out, |x, y| x ^ y),
        lowering: bitwise_scalar_lowering,
        decomposition: |a: &BitwiseScalar| a.as_op(&BITWISE_XOR_SCALAR),
        wrapped_numbers: [self, other],
    }
    pub static BITWISE_NOT: Unary = "aten::bitwise_not(Tensor self) -> Tensor" {
        meta: |a: &Unary| {
            let m = meta_of(&a.self_)?;
            if m.dtype.is_float() {
                op_bail!("\"bitwise_not_cpu\" not implemented for '{}'", m.dtype);
            }
            Ok(vec![m])
        },
        kernel: bitwise_not_kernel,
        lowering: super::comparison::unary_elementwise,
    }
    pub static LERP_SCALAR: struct LerpScalar =
        "aten::lerp.Scalar(Tensor self, Tensor end, Scalar weight) -> Tensor" {
        meta: |a: &LerpScalar| lerp_meta(&[&a.self_, &a.end], "lerp_kernel_scalar"),
        kernel: lerp_scalar_kernel,
        // PyTorch's: the weight as a 0-dim tensor (`full`), then as `lerp.Tensor`.
        decomposition: |a: &LerpScalar| {
            let weight = Tensor::full(Vec::<i64>::new(), a.weight.to::<f64>());
            Ok(vec![lerp_by_where(&a.self_, &a.end, &weight)])
        },
    }
    /// `torch.lerp(x, y, w)` with a tensor `w` (broadcast with `x` and `y`).
    pub static LERP_TENSOR: struct LerpTensor =
        "aten::lerp.Tensor(Tensor self, Tensor end, Tensor weight) -> Tensor" {
        meta: |a: &LerpTensor| lerp_meta(&[&a.self_, &a.end, &a.weight], "lerp_kernel_tensor"),
        composite: lerp_tensor_decomposition,
    }
    /// `sqrt(x² + y²)` without overflow (`f64::hypot`).
    pub static HYPOT: BinaryArgs = "aten::hypot(Tensor self, Tensor other) -> Tensor" {
        meta: |a: &BinaryArgs| float_binary_meta("hypot", a),
        kernel: |a: &BinaryArgs, out: &[TensorMeta]| binary_kernel(out, &a.self_, &a.other, f64::hypot, |_, _| {
            Err(OpError::new("hypot computes in a floating-point type"))
        }),
    }
    /// `|x|` with the sign of `y` (`-0.0` counts as negative).
    pub static COPYSIGN_TENSOR: BinaryArgs = "aten::copysign.Tensor(Tensor self, Tensor other) -> Tensor" {
        meta: |a: &BinaryArgs| float_binary_meta("copysign", a),
        kernel: |a: &BinaryArgs, out: &[TensorMeta]| binary_kernel(out, &a.self_, &a.other, f64::copysign, |_, _| {
            Err(OpError::new("copysign computes in a floating-point type"))
        }),
        wrapped_numbers: [other],
    }
    /// `log(exp(x) + exp(y))` (`ferrex_kernels::pointwise::logaddexp`).
    pub static LOGADDEXP: BinaryArgs = "aten::logaddexp(Tensor self, Tensor other) -> Tensor" {
        meta: |a: &BinaryArgs| float_binary_meta("logaddexp", a),
        kernel: |a: &BinaryArgs, out: &[TensorMeta]| binary_kernel(out, &a.self_, &a.other, ferrex_kernels::pointwise::logaddexp, |_, _| {
            Err(OpError::new("logaddexp computes in a floating-point type"))
        }),
    }
    /// `x ** 2` (`pow.Tensor_Scalar`, as PyTorch decomposes it): a bool input squares
    /// into i64.
    pub static SQUARE: Unary = "aten::square(Tensor self) -> Tensor" {
        meta: |a: &Unary| pow_scalar_meta(&PowScalar {
            self_: TensorOrNumber::Tensor(a.self_.clone()),
            exponent: Scalar::Int(2),
        }),
        composite: |a: &Unary| Ok(vec![a.self_.pow(2)]),
    }
    /// `log(x / (1 - x))`, `x` clamped to `[eps, 1 - eps]` first when `eps` is given.
    pub static LOGIT: struct Logit = "aten::logit(Tensor self, float? eps=None) -> Tensor" {
        meta: |a: &Logit| float_meta(&Unary { self_: a.self_.clone() }),
        composite: |a: &Logit| {
            let x = match a.eps {
                Some(eps) => a.self_.clamp(Some(eps), Some(1.0 - eps)),
                None => a.self_.clone(),
            };
            Ok(vec![x.div(x.neg().add(1.0)).log()])
        },
    }
    pub static NAN_TO_NUM: struct NanToNum =
        "aten::nan_to_num(Tensor self, float? nan=None, float? posinf=None, float? neginf=None) -> Tensor" {
        meta: |a: &NanToNum| Ok(vec![meta_of(&a.self_)?]),
        composite: nan_to_num_decomposition,
    }
    pub static CLAMP_MIN: struct ClampBound = "aten::clamp_min(Tensor self, Scalar min) -> Tensor" {
        meta: clamp_bound_meta,
        kernel: |a: &ClampBound, out: &[TensorMeta]| clamp_bound_kernel(a, out, false),
        lowering: |a: &ClampBound<_>| clamp_bound_lowering(a, false),
    }
    pub static CLAMP_MAX: struct ClampMax = "aten::clamp_max(Tensor self, Scalar max) -> Tensor" {
        meta: |a: &ClampMax| clamp_bound_meta(&ClampBound { self_: a.self_.clone(), min: a.max }),
        kernel: |a: &ClampMax, out: &[TensorMeta]| {
            clamp_bound_kernel(&ClampBound { self_: a.self_.clone(), min: a.max }, out, true)
        },
        lowering: clamp_max_lowering,
    }
}

/// `self + value * t1 * t2` (`addcmul`) and `self + value * t1 / t2` (`addcdiv`).
fn addc_decomposition(a: &Addc, divide: bool) -> Result<Vec<Tensor>, OpError> {
    let p = if divide {
        a.tensor1.div(&a.tensor2)
    } else {
        a.tensor1.mul(&a.tensor2)
    };
    let v = a.value.to::<f64>();
    let p = if v == 1.0 { p } else { p.mul(v) };
    Ok(vec![a.self_.add(&p)])
}

fn addc_meta(a: &Addc, divide: bool) -> Result<Vec<TensorMeta>, OpError> {
    let t = |x: &Tensor| TensorOrNumber::Tensor(x.clone());
    let (dtype, sizes) = promote_operands(&[&t(&a.self_), &t(&a.tensor1), &t(&a.tensor2)])?;
    let dtype = if divide {
        float_unary_dtype(dtype)
    } else {
        dtype
    };
    Ok(vec![TensorMeta::new(dtype, sizes)])
}

/// Shifts of integers (`x << n`, `x >> n`, arithmetic right shift); a count past the
/// width gives 0 (or -1 for a negative number shifted right), as PyTorch's.
fn shift(x: i64, n: i64, left: bool) -> i64 {
    match (left, (0..64).contains(&n)) {
        (true, true) => x.wrapping_shl(n as u32),
        (false, true) => x >> n,
        (true, false) => 0,
        (false, false) => {
            if x < 0 {
                -1
            } else {
                0
            }
        }
    }
}

op_def! {
    pub static ADDCMUL: struct Addc =
        "aten::addcmul(Tensor self, Tensor tensor1, Tensor tensor2, *, Scalar value=1) -> Tensor" {
        meta: |a: &Addc| addc_meta(a, false),
        composite: |a: &Addc| addc_decomposition(a, false),
    }
    pub static ADDCDIV: Addc =
        "aten::addcdiv(Tensor self, Tensor tensor1, Tensor tensor2, *, Scalar value=1) -> Tensor" {
        meta: |a: &Addc| addc_meta(a, true),
        composite: |a: &Addc| addc_decomposition(a, true),
    }
    pub static LSHIFT_SCALAR: MulScalar = "aten::__lshift__.Scalar(Tensor self, Scalar other) -> Tensor" {
        meta: |a: &MulScalar| bitwise_meta("lshift", &a.self_, &TensorOrNumber::Number(a.other)),
        kernel: |a: &MulScalar, out: &[TensorMeta]| bitwise_kernel(&scalar_binary_args(a), out, |x, n| shift(x, n, true)),
    }
    pub static RSHIFT_SCALAR: MulScalar = "aten::__rshift__.Scalar(Tensor self, Scalar other) -> Tensor" {
        meta: |a: &MulScalar| bitwise_meta("rshift", &a.self_, &TensorOrNumber::Number(a.other)),
        kernel: |a: &MulScalar, out: &[TensorMeta]| bitwise_kernel(&scalar_binary_args(a), out, |x, n| shift(x, n, false)),
    }
    pub static LSHIFT_TENSOR: BinaryArgs = "aten::__lshift__.Tensor(Tensor self, Tensor other) -> Tensor" {
        meta: |a: &BinaryArgs| bitwise_meta("lshift", &a.self_, &a.other),
        kernel: |a: &BinaryArgs, out: &[TensorMeta]| bitwise_kernel(a, out, |x, n| shift(x, n, true)),
    }
    pub static RSHIFT_TENSOR: BinaryArgs = "aten::__rshift__.Tensor(Tensor self, Tensor other) -> Tensor" {
        meta: |a: &BinaryArgs| bitwise_meta("rshift", &a.self_, &a.other),
        kernel: |a: &BinaryArgs, out: &[TensorMeta]| bitwise_kernel(a, out, |x, n| shift(x, n, false)),
    }
}
