//! Activation functions. Each pointwise one names its function once
//! (`ferrex_kernels::pointwise::Unary`): the eager kernel evaluates it and the runtime's
//! fuser, through the op's lowering hook, runs the same one.

use ferrex_kernels::pointwise::Unary as F;

use super::elementwise::{map1, unary_numeric};
use super::lowering::Lowering;
use super::op_def;
use crate::error::OpError;
use crate::op_bail;
use crate::tensor::{DType, Storage, Tensor, TensorMeta};

fn same_meta(a: &Unary) -> Result<Vec<TensorMeta>, OpError> {
    Ok(vec![super::util::meta_of(&a.self_)?])
}

/// Activations PyTorch implements for floating-point inputs only.
fn float_meta(op: &str, x: &Tensor) -> Result<Vec<TensorMeta>, OpError> {
    let m = super::util::meta_of(x)?;
    if !m.dtype.is_float() {
        op_bail!(
            "{op} is only implemented for floating-point tensors, got {}; convert the input \
             with `to_dtype` first",
            m.dtype
        );
    }
    Ok(vec![m])
}

/// Applies `f` to a floating-point input (checked by [`float_meta`]). f32 data goes
/// through [`F::apply_f32`], the loop the runtime's fused chains run; other dtypes
/// through [`F::eval`].
pub(super) fn float_kernel(x: &Tensor, f: F) -> Result<Vec<Storage>, OpError> {
    let s = x.storage_or_op_error()?;
    if let Some(y) = pointwise_f32(&s, f)? {
        return Ok(vec![y]);
    }
    Ok(vec![unary_numeric(&s, |v| f.eval(v), None)])
}

/// `f` over f32 data through [`F::apply_f32`], the loop the runtime's fused chains run
/// (strided data copied row-major first, so every layout gives the same bits); `None`
/// for other dtypes.
pub(super) fn pointwise_f32(s: &Storage, f: F) -> Result<Option<Storage>, OpError> {
    let Storage::F32(a) = s else {
        return Ok(None);
    };
    // Read in place when contiguous (most calls): no second handle of the data.
    let copy;
    let a = match a.as_slice() {
        Some(_) => a,
        None => match s.contiguous() {
            Storage::F32(c) => {
                copy = c;
                &copy
            }
            _ => return Ok(None),
        },
    };
    let Some(src) = a.as_slice() else {
        return Ok(None);
    };
    let out = f.apply_f32_new(src).map_err(|e| OpError(e.0))?;
    Ok(Storage::from_vec(a.shape(), out))
}

fn relu_fn<T>(_: &Unary<T>) -> Result<F, OpError> {
    Ok(F::Relu)
}

fn relu_kernel(a: &Unary, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let x = a.self_.storage_or_op_error()?;
    if x.dtype() == crate::DType::Bool {
        return Err(OpError::new("relu is not implemented for bool tensors"));
    }
    if let Some(y) = pointwise_f32(&x, F::Relu)? {
        return Ok(vec![y]);
    }
    // `max(x, 0)` keeps NaN, as PyTorch does.
    Ok(vec![unary_numeric(
        &x,
        |v| F::Relu.eval(v),
        Some(|v| v.max(0)),
    )])
}

op_def! {
    pub static RELU: struct Unary = "aten::relu(Tensor self) -> Tensor" {
        meta: same_meta,
        kernel: relu_kernel,
        pointwise: relu_fn,
    }
    pub static RELU_: Unary = "aten::relu_(Tensor(a!) self) -> Tensor(a!)" {
        meta: same_meta,
        kernel: relu_kernel,
        inplace_of: RELU,
    }
}

// ---------------------------------------------------------------------------------------
// Parameterless activations

fn silu_fn<T>(_: &Unary<T>) -> Result<F, OpError> {
    Ok(F::Silu)
}
fn hardswish_fn<T>(_: &Unary<T>) -> Result<F, OpError> {
    Ok(F::Hardswish)
}
fn hardsigmoid_fn<T>(_: &Unary<T>) -> Result<F, OpError> {
    Ok(F::Hardsigmoid)
}
fn mish_fn<T>(_: &Unary<T>) -> Result<F, OpError> {
    Ok(F::Mish)
}
fn log_sigmoid_fn<T>(_: &Unary<T>) -> Result<F, OpError> {
    Ok(F::LogSigmoid)
}

/// `silu(x)` → `x * sigmoid(x)`, as PyTorch's table writes it.
fn silu_decomposition(a: &Unary) -> Result<Vec<Tensor>, OpError> {
    Ok(vec![&a.self_ * &a.self_.sigmoid()])
}

op_def! {
    pub static SILU: Unary = "aten::silu(Tensor self) -> Tensor" {
        meta: |a: &Unary| float_meta("silu", &a.self_),
        kernel: |a: &Unary, _: &[TensorMeta]| float_kernel(&a.self_, F::Silu),
        decomposition: silu_decomposition,
        pointwise: silu_fn,
    }
    pub static HARDSWISH: Unary = "aten::hardswish(Tensor self) -> Tensor" {
        meta: |a: &Unary| float_meta("hardswish", &a.self_),
        kernel: |a: &Unary, _: &[TensorMeta]| float_kernel(&a.self_, F::Hardswish),
        pointwise: hardswish_fn,
    }
    pub static HARDSIGMOID: Unary = "aten::hardsigmoid(Tensor self) -> Tensor" {
        meta: |a: &Unary| float_meta("hardsigmoid", &a.self_),
        kernel: |a: &Unary, _: &[TensorMeta]| float_kernel(&a.self_, F::Hardsigmoid),
        pointwise: hardsigmoid_fn,
    }
    pub static MISH: Unary = "aten::mish(Tensor self) -> Tensor" {
        meta: |a: &Unary| float_meta("mish", &a.self_),
        kernel: |a: &Unary, _: &[TensorMeta]| float_kernel(&a.self_, F::Mish),
        pointwise: mish_fn,
    }
    /// `log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|))`. PyTorch 2.15's export keeps it
    /// whole (its `log_sigmoid_forward` is not in ferrex, so there is no decomposition).
    pub static LOG_SIGMOID: Unary = "aten::log_sigmoid(Tensor self) -> Tensor" {
        meta: |a: &Unary| float_meta("log_sigmoid", &a.self_),
        kernel: |a: &Unary, _: &[TensorMeta]| float_kernel(&a.self_, F::LogSigmoid),
        pointwise: log_sigmoid_fn,
    }
}

// ---------------------------------------------------------------------------------------
// Activations with parameters

/// `x * Φ(x)`, or its tanh approximation.
fn gelu_fn<T>(a: &Gelu<T>) -> Result<F, OpError> {
    match a.approximate.as_str() {
        "none" => Ok(F::Gelu),
        "tanh" => Ok(F::GeluTanh),
        other => op_bail!("approximate argument must be either none or tanh, got \"{other}\""),
    }
}

fn gelu_meta(a: &Gelu) -> Result<Vec<TensorMeta>, OpError> {
    let out = float_meta("gelu", &a.self_)?;
    gelu_fn(a)?;
    Ok(out)
}

fn leaky_relu_fn<T>(a: &LeakyRelu<T>) -> Result<F, OpError> {
    Ok(F::LeakyRelu(a.negative_slope.to::<f64>()))
}

/// `scale * x` for `x > 0`, else `alpha * scale * (exp(input_scale * x) - 1)`.
fn elu_fn<T>(a: &Elu<T>) -> Result<F, OpError> {
    Ok(F::Elu {
        alpha: a.alpha.to::<f64>(),
        scale: a.scale.to::<f64>(),
        input_scale: a.input_scale.to::<f64>(),
    })
}

/// `hardtanh` is a clamp: integer inputs stay integral, NaN stays NaN.
fn hardtanh_fn<T>(a: &Hardtanh<T>) -> Result<F, OpError> {
    Ok(F::Clamp(
        Some(a.min_val.to::<f64>()),
        Some(a.max_val.to::<f64>()),
    ))
}

fn hardtanh_meta(a: &Hardtanh) -> Result<Vec<TensorMeta>, OpError> {
    let m = super::util::meta_of(&a.self_)?;
    if m.dtype == DType::Bool {
        op_bail!("hardtanh is not implemented for bool tensors");
    }
    Ok(vec![m])
}

fn hardtanh_kernel(a: &Hardtanh, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let x = a.self_.storage_or_op_error()?;
    if x.dtype().is_float() {
        return float_kernel(&a.self_, hardtanh_fn(a)?);
    }
    let (lo, hi) = (a.min_val.to::<f64>() as i64, a.max_val.to::<f64>() as i64);
    Ok(vec![
        map1::<i64, i64>(&x, move |v| v.max(lo).min(hi)).into_dtype(x.dtype())
    ])
}

/// `log(1 + exp(beta * x)) / beta`, linear above `threshold` for stability.
fn softplus_fn<T>(a: &Softplus<T>) -> Result<F, OpError> {
    Ok(F::Softplus {
        beta: a.beta.to::<f64>(),
        threshold: a.threshold.to::<f64>(),
    })
}

op_def! {
    pub static GELU: struct Gelu =
        "aten::gelu(Tensor self, *, str approximate='none') -> Tensor" {
        meta: gelu_meta,
        kernel: |a: &Gelu, _: &[TensorMeta]| float_kernel(&a.self_, gelu_fn(a)?),
        pointwise: gelu_fn,
    }
    pub static LEAKY_RELU: struct LeakyRelu =
        "aten::leaky_relu(Tensor self, Scalar negative_slope=0.01) -> Tensor" {
        meta: |a: &LeakyRelu| float_meta("leaky_relu", &a.self_),
        kernel: |a: &LeakyRelu, _: &[TensorMeta]| float_kernel(&a.self_, leaky_relu_fn(a)?),
        pointwise: leaky_relu_fn,
    }
    pub static ELU: struct Elu =
        "aten::elu(Tensor self, Scalar alpha=1, Scalar scale=1, Scalar input_scale=1) -> Tensor" {
        meta: |a: &Elu| float_meta("elu", &a.self_),
        kernel: |a: &Elu, _: &[TensorMeta]| float_kernel(&a.self_, elu_fn(a)?),
        pointwise: elu_fn,
    }
    pub static HARDTANH: struct Hardtanh =
        "aten::hardtanh(Tensor self, Scalar min_val=-1, Scalar max_val=1) -> Tensor" {
        meta: hardtanh_meta,
        kernel: hardtanh_kernel,
        pointwise: hardtanh_fn,
    }
    pub static SOFTPLUS: struct Softplus =
        "aten::softplus(Tensor self, Scalar beta=1, Scalar threshold=20) -> Tensor" {
        meta: |a: &Softplus| float_meta("softplus", &a.self_),
        kernel: |a: &Softplus, _: &[TensorMeta]| float_kernel(&a.self_, softplus_fn(a)?),
        pointwise: softplus_fn,
    }
}

// ---------------------------------------------------------------------------------------
// dropout (inference only: the identity; with `train=True` it would be random)

fn dropout_meta(a: &Dropout) -> Result<Vec<TensorMeta>, OpError> {
    if a.train && a.p > 0.0 {
        op_bail!(
            "dropout with train=True is random; ferrex runs programs for inference (train=False)"
        );
    }
    Ok(vec![super::util::meta_of(&a.input)?])
}

/// Inference dropout (of every kind) is the input itself.
fn dropout_kernel(a: &Dropout, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    Ok(vec![a.input.storage_or_op_error()?.contiguous()])
}

/// Inference dropout (in PyTorch's programs of models with `nn.Dropout`) is the input
/// itself, as a reshape to the same sizes is.
fn dropout_lowering<T: Clone>(a: &Dropout<T>) -> Result<Lowering<T>, OpError> {
    Ok(match a.train && a.p > 0.0 {
        true => Lowering::Eager,
        false => Lowering::Reshape {
            input: a.input.clone(),
        },
    })
}

op_def! {
    pub static DROPOUT: struct Dropout = "aten::dropout(Tensor input, float p, bool train) -> Tensor" {
        meta: dropout_meta,
        kernel: dropout_kernel,
        lowering: dropout_lowering,
    }
}

// ---------------------------------------------------------------------------------------
// relu6, selu, celu, threshold, glu, prelu, feature dropout: composites of the ops above

/// `hardtanh(x, 0, 6)`, as PyTorch decomposes it.
fn relu6_decomposition(a: &Unary) -> Result<Vec<Tensor>, OpError> {
    Ok(vec![a.self_.hardtanh(0.0, 6.0)])
}

fn relu6_meta(a: &Unary) -> Result<Vec<TensorMeta>, OpError> {
    let m = super::util::meta_of(&a.self_)?;
    if m.dtype == DType::Bool {
        op_bail!("relu6 is not implemented for bool tensors");
    }
    Ok(vec![m])
}

/// `elu(x, alpha, scale, input_scale)`.
fn elu_call(x: &Tensor, alpha: f64, scale: f64, input_scale: f64) -> Tensor {
    let args = vec![
        super::Value::Tensor(x.clone()),
        super::Value::Float(alpha),
        super::Value::Float(scale),
        super::Value::Float(input_scale),
    ];
    Tensor::call_op(&ELU, args).swap_remove(0)
}

/// SELU's constants (Klambauer et al.), as PyTorch's.
const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;
const SELU_SCALE: f64 = 1.050_700_987_355_480_5;

fn celu_decomposition(a: &Celu) -> Result<Vec<Tensor>, OpError> {
    let alpha = a.alpha.to::<f64>();
    if alpha == 0.0 {
        op_bail!("ZeroDivisionError: celu's alpha must not be 0");
    }
    Ok(vec![elu_call(&a.self_, alpha, 1.0, 1.0 / alpha)])
}

/// `x` where `x > threshold`, else `value` (in `x`'s dtype).
fn threshold_decomposition(a: &Threshold) -> Result<Vec<Tensor>, OpError> {
    let m = super::util::meta_of(&a.self_)?;
    let value = super::constructors::scalar_tensor_of(a.value, m.dtype);
    let keep = a.self_.gt(a.threshold.to::<f64>());
    Ok(vec![Tensor::where_(&keep, &a.self_, &value)])
}

/// Halves `a`, `b` along `dim` (of even length): `a * sigmoid(b)`.
fn glu_plan(a: &Glu) -> Result<(TensorMeta, usize), OpError> {
    let m = super::util::meta_of(&a.self_)?;
    if m.rank() == 0 {
        op_bail!("glu does not support scalars because halving size must be even");
    }
    let d = super::util::normalize_dim(a.dim, m.rank())?;
    if m.sizes[d].hint() % 2 != 0 {
        op_bail!(
            "Halving dimension must be even, but dimension {d} is size {}",
            m.sizes[d]
        );
    }
    Ok((m, d))
}

fn glu_meta(a: &Glu) -> Result<Vec<TensorMeta>, OpError> {
    let (m, d) = glu_plan(a)?;
    float_meta("glu", &a.self_)?;
    let mut sizes = m.sizes.clone();
    sizes[d] = sizes[d].floor_div(2);
    Ok(vec![TensorMeta::new(m.dtype, sizes)])
}

fn glu_decomposition(a: &Glu) -> Result<Vec<Tensor>, OpError> {
    let (_, d) = glu_plan(a)?;
    let halves = a.self_.chunk(2, d as i64);
    let [first, second] = &halves[..] else {
        op_bail!("glu: the input did not split in two halves");
    };
    Ok(vec![first.mul(second.sigmoid())])
}

/// `x` where positive, else `weight * x`, `weight` one value or one per channel (dim 1).
fn prelu_meta(a: &Prelu) -> Result<Vec<TensorMeta>, OpError> {
    let m = float_meta("prelu", &a.self_)?.swap_remove(0);
    let w = super::util::meta_of(&a.weight)?;
    let channels = if m.rank() >= 2 { m.sizes[1].hint() } else { 1 };
    let n = w.numel().hint();
    if w.rank() > 1 || (n != 1 && n != channels) {
        op_bail!(
            "Mismatch of parameter numbers and input channel size. Found parameter numbers = {n} and channel size = {channels}."
        );
    }
    Ok(vec![m])
}

fn prelu_decomposition(a: &Prelu) -> Result<Vec<Tensor>, OpError> {
    let rank = super::util::meta_of(&a.self_)?.rank();
    // One slope per channel, broadcast over the dims after it.
    let w = match rank {
        0 | 1 => a.weight.clone(),
        _ => {
            let mut shape = vec![crate::symbolic::SymInt::Int(-1)];
            shape.extend((2..rank).map(|_| crate::symbolic::SymInt::Int(1)));
            a.weight.reshape(shape)
        }
    };
    let positive = a.self_.gt(0.0);
    Ok(vec![Tensor::where_(&positive, &a.self_, &a.self_.mul(&w))])
}

op_def! {
    pub static RELU6: Unary = "aten::relu6(Tensor self) -> Tensor" {
        meta: relu6_meta,
        composite: relu6_decomposition,
    }
    pub static SELU: Unary = "aten::selu(Tensor self) -> Tensor" {
        meta: |a: &Unary| float_meta("selu", &a.self_),
        composite: |a: &Unary| Ok(vec![elu_call(&a.self_, SELU_ALPHA, SELU_SCALE, 1.0)]),
    }
    /// `max(0, x) + min(0, alpha * (exp(x / alpha) - 1))`: an `elu` with input scale
    /// `1 / alpha`.
    pub static CELU: struct Celu = "aten::celu(Tensor self, Scalar alpha=1.0) -> Tensor" {
        meta: |a: &Celu| float_meta("celu", &a.self_),
        composite: celu_decomposition,
    }
    pub static THRESHOLD: struct Threshold =
        "aten::threshold(Tensor self, Scalar threshold, Scalar value) -> Tensor" {
        meta: |a: &Threshold| Ok(vec![super::util::meta_of(&a.self_)?]),
        composite: threshold_decomposition,
    }
    pub static GLU: struct Glu = "aten::glu(Tensor self, int dim=-1) -> Tensor" {
        meta: glu_meta,
        composite: glu_decomposition,
    }
    pub static PRELU: struct Prelu = "aten::prelu(Tensor self, Tensor weight) -> Tensor" {
        meta: prelu_meta,
        composite: prelu_decomposition,
    }
    /// `nn.Dropout2d`/`3d` at inference (the default IR's `feature_dropout`).
    pub static FEATURE_DROPOUT: Dropout =
        "aten::feature_dropout(Tensor input, float p, bool train) -> Tensor" {
        meta: dropout_meta,
        kernel: dropout_kernel,
        lowering: dropout_lowering,
    }
    pub static ALPHA_DROPOUT: Dropout =
        "aten::alpha_dropout(Tensor input, float p, bool train) -> Tensor" {
        meta: dropout_meta,
        kernel: dropout_kernel,
        lowering: dropout_lowering,
    }
    pub static FEATURE_ALPHA_DROPOUT: Dropout =
        "aten::feature_alpha_dropout(Tensor input, float p, bool train) -> Tensor" {
        meta: dropout_meta,
        kernel: dropout_kernel,
        lowering: dropout_lowering,
    }
}

fn shrink_meta(a: &Shrink, op: &str) -> Result<Vec<TensorMeta>, OpError> {
    if a.lambd.to::<f64>() < 0.0 && op == "softshrink" {
        op_bail!(
            "lambda must be greater or equal to 0, but found to be {}.",
            a.lambd.to::<f64>()
        );
    }
    float_meta(op, &a.self_)
}

/// `x - λ` above `λ`, `x + λ` below `-λ`, else 0.
fn softshrink_decomposition(a: &Shrink) -> Result<Vec<Tensor>, OpError> {
    let (x, l) = (&a.self_, a.lambd.to::<f64>());
    let zero = x.mul(0.0);
    let low = Tensor::where_(&x.lt(-l), &x.add(l), &zero);
    Ok(vec![Tensor::where_(&x.gt(l), &x.sub(l), &low)])
}

/// `x` where `|x| > λ`, else 0.
fn hardshrink_decomposition(a: &Shrink) -> Result<Vec<Tensor>, OpError> {
    let (x, l) = (&a.self_, a.lambd.to::<f64>());
    Ok(vec![Tensor::where_(&x.abs().gt(l), x, &x.mul(0.0))])
}

op_def! {
    pub static SOFTSHRINK: struct Shrink = "aten::softshrink(Tensor self, Scalar lambd=0.5) -> Tensor" {
        meta: |a: &Shrink| shrink_meta(a, "softshrink"),
        composite: softshrink_decomposition,
    }
    pub static HARDSHRINK: Shrink = "aten::hardshrink(Tensor self, Scalar lambd=0.5) -> Tensor" {
        meta: |a: &Shrink| shrink_meta(a, "hardshrink"),
        composite: hardshrink_decomposition,
    }
}
