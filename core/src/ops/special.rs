//! Pointwise ops PyTorch programs record that are compositions of other ops (`sinc`,
//! `xlogy`, `heaviside`, `frac`, evaluation-mode `rrelu`), ATen's alias names (`clip`,
//! `true_divide`, `special_expit`), and `signbit`. Each composite is written as PyTorch's
//! decomposition writes it, so the compiled runtime plans its parts.

use super::elementwise::{float_meta, float_unary_dtype, promote_operands, Unary};
use super::util::meta_of;
use super::{op_def, TensorOrNumber, Value};
use crate::error::OpError;
use crate::op_bail;
use crate::tensor::{DType, Scalar, Storage, Tensor, TensorMeta};

/// The promoted dtype and broadcast sizes of two tensors, as a float when `float`.
fn pair_meta(a: &Tensor, b: &Tensor, float: bool) -> Result<TensorMeta, OpError> {
    let (dtype, sizes) = promote_operands(&[
        &TensorOrNumber::Tensor(a.clone()),
        &TensorOrNumber::Tensor(b.clone()),
    ])?;
    let dtype = if float {
        float_unary_dtype(dtype)
    } else {
        dtype
    };
    Ok(TensorMeta::new(dtype, sizes))
}

/// `sin(πx) / (πx)`, 1 at 0 (`torch._refs.sinc`).
fn sinc(a: &Unary) -> Result<Vec<Tensor>, OpError> {
    let dtype = float_meta(a)?[0].dtype;
    let x = a.self_.mul(std::f64::consts::PI);
    let ratio = x.sin().div(&x);
    Ok(vec![Tensor::where_(
        &x.eq(0.0),
        &Tensor::scalar_tensor(1.0, dtype),
        &ratio,
    )])
}

/// `x · log(y)`, 0 where `x == 0`, NaN where `y` is NaN (`torch._refs.xlogy`).
fn xlogy(a: &TensorPair) -> Result<Vec<Tensor>, OpError> {
    let dtype = pair_meta(&a.self_, &a.other, true)?.dtype;
    let product = a.self_.mul(a.other.log());
    let rhs = Tensor::where_(
        &a.self_.eq(0.0),
        &Tensor::scalar_tensor(0.0, dtype),
        &product,
    );
    let y_nan = a.other.ne(&a.other);
    Ok(vec![Tensor::where_(
        &y_nan,
        &Tensor::scalar_tensor(f64::NAN, dtype),
        &rhs,
    )])
}

/// 0 below zero, 1 above, `values` at zero (`torch._refs.heaviside`).
fn heaviside(a: &Heaviside) -> Result<Vec<Tensor>, OpError> {
    let m = pair_meta(&a.self_, &a.values, false)?;
    if m.dtype == DType::Bool {
        op_bail!("heaviside is not yet implemented for tensors with different dtypes or bool");
    }
    let positive = a.self_.gt(0.0).to_dtype(m.dtype);
    Ok(vec![Tensor::where_(&a.self_.eq(0.0), &a.values, &positive)])
}

fn signbit_kernel(a: &Unary, _: &[TensorMeta]) -> Result<Vec<Storage>, OpError> {
    let x = a.self_.storage_or_op_error()?.typed::<f64>();
    // Through f64 keeps an f32's sign bit (and `-0.0`'s, and a negative NaN's).
    Ok(vec![Storage::Bool(
        x.mapv(f64::is_sign_negative).into_shared(),
    )])
}

/// `rrelu` in evaluation: a leaky ReLU of slope `(lower + upper) / 2`. Training draws a
/// random slope per element, which a deterministic program cannot.
fn rrelu_eval(x: &Tensor, lower: Scalar, upper: Scalar, training: bool) -> Result<Tensor, OpError> {
    if training {
        op_bail!("rrelu with training=True draws random slopes: export the model in eval() mode");
    }
    let slope = (lower.to::<f64>() + upper.to::<f64>()) / 2.0;
    Ok(x.leaky_relu(slope))
}

op_def! {
    /// `torch.special.expit`: the logistic sigmoid.
    pub static SPECIAL_EXPIT: Unary = "aten::special_expit(Tensor self) -> Tensor" {
        meta: float_meta,
        composite: |a: &Unary| Ok(vec![a.self_.sigmoid()]),
    }
    /// `x − trunc(x)`, with `x`'s sign.
    pub static FRAC: Unary = "aten::frac(Tensor self) -> Tensor" {
        meta: |a: &Unary| {
            let m = meta_of(&a.self_)?;
            if !m.dtype.is_float() {
                op_bail!("\"frac_cpu\" not implemented for '{}'", m.dtype);
            }
            Ok(vec![m])
        },
        composite: |a: &Unary| {
            let trunc = Tensor::call_op(&super::elementwise::TRUNC, vec![Value::Tensor(a.self_.clone())]);
            Ok(vec![a.self_.sub(&trunc[0])])
        },
    }
    pub static SINC: Unary = "aten::sinc(Tensor self) -> Tensor" {
        meta: float_meta,
        composite: sinc,
    }
    /// Whether the sign bit is set: true for `-0.0` and negative NaNs too.
    pub static SIGNBIT: Unary = "aten::signbit(Tensor self) -> Tensor" {
        meta: |a: &Unary| Ok(vec![TensorMeta::new(DType::Bool, meta_of(&a.self_)?.sizes)]),
        kernel: signbit_kernel,
    }
    pub static XLOGY_TENSOR: struct TensorPair = "aten::xlogy.Tensor(Tensor self, Tensor other) -> Tensor" {
        meta: |a: &TensorPair| Ok(vec![pair_meta(&a.self_, &a.other, true)?]),
        composite: xlogy,
    }
    pub static HEAVISIDE: struct Heaviside = "aten::heaviside(Tensor self, Tensor values) -> Tensor" {
        meta: |a: &Heaviside| Ok(vec![pair_meta(&a.self_, &a.values, false)?]),
        composite: heaviside,
    }
    /// `div.Tensor` by its older name.
    pub static TRUE_DIVIDE_TENSOR: TensorPair = "aten::true_divide.Tensor(Tensor self, Tensor other) -> Tensor" {
        meta: |a: &TensorPair| Ok(vec![pair_meta(&a.self_, &a.other, true)?]),
        composite: |a: &TensorPair| Ok(vec![a.self_.div(&a.other)]),
    }
    pub static RRELU: struct Rrelu =
        "aten::rrelu(Tensor self, Scalar lower=0.125, Scalar upper=0.3333333333333333, bool training=False, Generator? generator=None) -> Tensor" {
        meta: |a: &Rrelu| Ok(vec![meta_of(&a.self_)?]),
        composite: |a: &Rrelu| Ok(vec![rrelu_eval(&a.self_, a.lower, a.upper, a.training)?]),
    }
    /// The core IR's `rrelu`: the result and the (untouched, in evaluation) noise.
    pub static RRELU_WITH_NOISE_FUNCTIONAL: struct RreluNoise =
        "aten::rrelu_with_noise_functional(Tensor self, Tensor noise, Scalar lower=0.125, Scalar upper=0.3333333333333333, bool training=False, Generator? generator=None) -> (Tensor, Tensor noise_out)" {
        meta: |a: &RreluNoise| Ok(vec![meta_of(&a.self_)?, meta_of(&a.noise)?]),
        composite: |a: &RreluNoise| {
            let y = rrelu_eval(&a.self_, a.lower, a.upper, a.training)?;
            Ok(vec![y, a.noise.clone()])
        },
    }
}
