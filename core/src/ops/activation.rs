//! Activation functions.

use ferrex_kernels::pointwise;

use super::elementwise::{map1, unary_numeric};
use super::{OpArgs, OpDef};
use crate::error::OpError;
use crate::op_bail;
use crate::tensor::{DType, Storage, Tensor, TensorMeta};

fn same_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    Ok(vec![args.meta(0)?])
}

/// Activations PyTorch implements for floating-point inputs only.
fn float_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let m = args.meta(0)?;
    if !m.dtype.is_float() {
        op_bail!(
            "{} is only implemented for floating-point tensors, got {}; convert the input \
             with `to_dtype` first",
            args.op.base_name(),
            m.dtype
        );
    }
    Ok(vec![m])
}

/// Applies `f` to a floating-point input (checked by [`float_meta`]).
fn float_kernel(args: &OpArgs, f: impl Fn(f64) -> f64) -> Result<Vec<Storage>, OpError> {
    Ok(vec![unary_numeric(&args.storage(0)?, f, None)])
}

fn relu_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let a = args.storage(0)?;
    if a.dtype() == crate::DType::Bool {
        return Err(OpError::new("relu is not implemented for bool tensors"));
    }
    // `max(x, 0)` keeps NaN, as PyTorch does.
    Ok(vec![unary_numeric(&a, pointwise::relu, Some(|x| x.max(0)))])
}

pub static RELU: OpDef = OpDef::new("aten::relu(Tensor self) -> Tensor", same_meta, relu_kernel);
pub static RELU_: OpDef = OpDef::new(
    "aten::relu_(Tensor(a!) self) -> Tensor(a!)",
    same_meta,
    relu_kernel,
)
.inplace_of(&RELU);

// ---------------------------------------------------------------------------------------
// Parameterless activations

fn silu_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    float_kernel(args, pointwise::silu)
}

/// `x * relu6(x + 3) / 6`.
fn hardswish_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    float_kernel(args, |x| x * (x + 3.0).clamp(0.0, 6.0) / 6.0)
}

/// `relu6(x + 3) / 6`; `f64::clamp` keeps NaN.
fn hardsigmoid_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    float_kernel(args, |x| (x + 3.0).clamp(0.0, 6.0) / 6.0)
}

/// `x * tanh(softplus(x))`.
fn mish_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    float_kernel(args, |x| x * x.exp().ln_1p().tanh())
}

/// `silu(x)` → `x * sigmoid(x)`, as PyTorch's table writes it.
fn silu_decomposition(args: &OpArgs) -> Result<Vec<Tensor>, OpError> {
    let x = args.tensor(0)?;
    Ok(vec![&x * &x.sigmoid()])
}

pub static SILU: OpDef = OpDef::new("aten::silu(Tensor self) -> Tensor", float_meta, silu_kernel)
    .with_decomposition(silu_decomposition);
pub static HARDSWISH: OpDef = OpDef::new(
    "aten::hardswish(Tensor self) -> Tensor",
    float_meta,
    hardswish_kernel,
);
pub static HARDSIGMOID: OpDef = OpDef::new(
    "aten::hardsigmoid(Tensor self) -> Tensor",
    float_meta,
    hardsigmoid_kernel,
);
pub static MISH: OpDef = OpDef::new("aten::mish(Tensor self) -> Tensor", float_meta, mish_kernel);

// ---------------------------------------------------------------------------------------
// Activations with parameters

fn gelu_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let out = float_meta(args)?;
    match args.opt_str(1)?.as_deref() {
        None | Some("none") | Some("tanh") => Ok(out),
        Some(other) => {
            op_bail!("approximate argument must be either none or tanh, got \"{other}\"")
        }
    }
}

/// `x * Φ(x)`, or its tanh approximation.
fn gelu_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    if args.opt_str(1)?.as_deref() == Some("tanh") {
        float_kernel(args, pointwise::gelu_tanh)
    } else {
        float_kernel(args, pointwise::gelu)
    }
}

fn leaky_relu_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let slope = args.float(1)?;
    float_kernel(args, move |x| if x > 0.0 { x } else { x * slope })
}

/// `scale * x` for `x > 0`, else `alpha * scale * (exp(input_scale * x) - 1)`.
fn elu_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let (alpha, scale, input_scale) = (args.float(1)?, args.float(2)?, args.float(3)?);
    float_kernel(args, move |x| {
        if x <= 0.0 {
            (x * input_scale).exp_m1() * alpha * scale
        } else {
            x * scale
        }
    })
}

/// `hardtanh` is a clamp: integer inputs stay integral, NaN stays NaN.
fn hardtanh_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    let m = args.meta(0)?;
    if m.dtype == DType::Bool {
        op_bail!("hardtanh is not implemented for bool tensors");
    }
    Ok(vec![m])
}

fn hardtanh_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let (lo, hi) = (args.float(1)?, args.float(2)?);
    let a = args.storage(0)?;
    if a.dtype().is_float() {
        return float_kernel(
            args,
            move |x| {
                if x.is_nan() {
                    x
                } else {
                    x.max(lo).min(hi)
                }
            },
        );
    }
    let (lo, hi) = (lo as i64, hi as i64);
    Ok(vec![
        map1::<i64, i64>(&a, move |x| x.max(lo).min(hi)).cast(a.dtype())
    ])
}

/// `log(1 + exp(beta * x)) / beta`, linear above `threshold` for stability.
fn softplus_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let (beta, threshold) = (args.float(1)?, args.float(2)?);
    float_kernel(args, move |x| {
        if x * beta > threshold {
            x
        } else {
            (x * beta).exp().ln_1p() / beta
        }
    })
}

pub static GELU: OpDef = OpDef::new(
    "aten::gelu(Tensor self, *, str approximate='none') -> Tensor",
    gelu_meta,
    gelu_kernel,
);
pub static LEAKY_RELU: OpDef = OpDef::new(
    "aten::leaky_relu(Tensor self, Scalar negative_slope=0.01) -> Tensor",
    float_meta,
    leaky_relu_kernel,
);
pub static ELU: OpDef = OpDef::new(
    "aten::elu(Tensor self, Scalar alpha=1, Scalar scale=1, Scalar input_scale=1) -> Tensor",
    float_meta,
    elu_kernel,
);
pub static HARDTANH: OpDef = OpDef::new(
    "aten::hardtanh(Tensor self, Scalar min_val=-1, Scalar max_val=1) -> Tensor",
    hardtanh_meta,
    hardtanh_kernel,
);
pub static SOFTPLUS: OpDef = OpDef::new(
    "aten::softplus(Tensor self, Scalar beta=1, Scalar threshold=20) -> Tensor",
    float_meta,
    softplus_kernel,
);

// ---------------------------------------------------------------------------------------
// dropout (inference only: the identity; with `train=True` it would be random)

fn dropout_meta(args: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    if args.bool(2)? && args.float(1)? > 0.0 {
        op_bail!(
            "dropout with train=True is random; ferrex runs programs for inference (train=False)"
        );
    }
    same_meta(args)
}

fn dropout_kernel(args: &OpArgs) -> Result<Vec<Storage>, OpError> {
    dropout_meta(args)?;
    Ok(vec![args.storage(0)?.contiguous()])
}

pub static DROPOUT: OpDef = OpDef::new(
    "aten::dropout(Tensor input, float p, bool train) -> Tensor",
    dropout_meta,
    dropout_kernel,
);

pub static OPS: &[&OpDef] = &[
    &RELU,
    &RELU_,
    &SILU,
    &HARDSWISH,
    &HARDSIGMOID,
    &MISH,
    &GELU,
    &LEAKY_RELU,
    &ELU,
    &HARDTANH,
    &SOFTPLUS,
    &DROPOUT,
];
