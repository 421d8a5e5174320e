//! PyTorch's in-place forms of ferrex's functional ops, as programs carry them: the
//! default IR of `torch.export` is not functionalized, so `nn.ReLU6(inplace=True)` is
//! `hardtanh_`, `nn.SiLU(inplace=True)` `silu_`, an attention padding mask
//! `masked_fill_`. Each takes its functional op's arguments with `self` written in
//! place: loading a program retargets the node to the functional op and later reads of
//! `self` to its result (`serialize/pt2/convert`); eagerly it computes the functional
//! op's result, which must keep `self`'s dtype (and, but for the view forms `t_`,
//! `squeeze_`, `unsqueeze_`, its shape), as PyTorch requires of an in-place op.
//!
//! The comparisons (`gt_`, …) and logical ops (`logical_and_`, …) have no in-place form
//! here: theirs writes a bool result into `self`'s dtype, which is not their functional
//! op's result.

use super::util::shapes_match;
use super::{
    activation, comparison, constructors, elementwise, linalg, mutation, reduction, run_eager,
    scatter, shape, special, BuiltinOp, OpArgs, OpDef,
};
use crate::error::OpError;
use crate::symbolic::format_sizes;
use crate::tensor::{Storage, TensorMeta};

/// The functional op of an in-place call, and its arguments' `self` meta.
fn functional_of(a: &OpArgs) -> Result<(&'static OpDef, TensorMeta), OpError> {
    let f = (a.op.functional)
        .ok_or_else(|| OpError::new("an in-place op without its functional op"))?;
    let this = match a.values.first() {
        Some(super::Value::Tensor(t)) => super::util::meta_of(t)?,
        _ => return Err(OpError(format!("{}: `self` must be a tensor", a.op.name()))),
    };
    Ok((f, this))
}

/// The functional op's metas, checked against `self` (dtype; sizes unless `view`).
fn checked_meta(a: &OpArgs, view: bool) -> Result<Vec<TensorMeta>, OpError> {
    let (f, this) = functional_of(a)?;
    let metas = (f.meta)(&OpArgs::new(f, a.values))?;
    let Some(out) = metas.first() else {
        return Err(OpError(format!("{}: no result", a.op.name())));
    };
    if out.dtype != this.dtype {
        return Err(OpError(format!(
            "{}: result type {} can't be cast to the desired output type {}",
            a.op.name(),
            out.dtype,
            this.dtype
        )));
    }
    if !view && !shapes_match(&out.sizes, &this.sizes) {
        return Err(OpError(format!(
            "{}: output with shape {} doesn't match the broadcast shape {}",
            a.op.name(),
            format_sizes(&this.sizes),
            format_sizes(&out.sizes)
        )));
    }
    Ok(metas)
}

fn value_meta(a: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    checked_meta(a, false)
}

fn view_meta(a: &OpArgs) -> Result<Vec<TensorMeta>, OpError> {
    checked_meta(a, true)
}

/// The functional op's result (the caller writes it into `self`: `Tensor::inplace`, or
/// the loader's retargeting).
fn functional_kernel(a: &OpArgs) -> Result<Vec<Storage>, OpError> {
    let (f, _) = functional_of(a)?;
    run_eager(f, a.values)?
        .iter()
        .map(|t| t.try_storage().map_err(|e| OpError(e.to_string())))
        .collect()
}

macro_rules! inplace_ops {
    ($meta:ident: $($name:ident = $schema:literal => $functional:path;)*) => {$(
        #[doc = concat!("`", $schema, "`")]
        pub static $name: OpDef = OpDef::new($schema, $meta, functional_kernel).inplace_of(&$functional);
        inventory::submit! { BuiltinOp(&$name) }
    )*};
}

inplace_ops! { value_meta:
    ABS_ = "aten::abs_(Tensor(a!) self) -> Tensor(a!)" => elementwise::ABS;
    ACOS_ = "aten::acos_(Tensor(a!) self) -> Tensor(a!)" => elementwise::ACOS;
    ACOSH_ = "aten::acosh_(Tensor(a!) self) -> Tensor(a!)" => elementwise::ACOSH;
    ADD_SCALAR_ = "aten::add_.Scalar(Tensor(a!) self, Scalar other, Scalar alpha=1) -> Tensor(a!)" => elementwise::ADD_SCALAR;
    ADDCDIV_ = "aten::addcdiv_(Tensor(a!) self, Tensor tensor1, Tensor tensor2, *, Scalar value=1) -> Tensor(a!)" => elementwise::ADDCDIV;
    ADDCMUL_ = "aten::addcmul_(Tensor(a!) self, Tensor tensor1, Tensor tensor2, *, Scalar value=1) -> Tensor(a!)" => elementwise::ADDCMUL;
    ADDMM_ = "aten::addmm_(Tensor(a!) self, Tensor mat1, Tensor mat2, *, Scalar beta=1, Scalar alpha=1) -> Tensor(a!)" => linalg::ADDMM;
    ALPHA_DROPOUT_ = "aten::alpha_dropout_(Tensor(a!) self, float p, bool train) -> Tensor(a!)" => activation::ALPHA_DROPOUT;
    ASIN_ = "aten::asin_(Tensor(a!) self) -> Tensor(a!)" => elementwise::ASIN;
    ASINH_ = "aten::asinh_(Tensor(a!) self) -> Tensor(a!)" => elementwise::ASINH;
    ATAN2_ = "aten::atan2_(Tensor(a!) self, Tensor other) -> Tensor(a!)" => elementwise::ATAN2;
    ATAN_ = "aten::atan_(Tensor(a!) self) -> Tensor(a!)" => elementwise::ATAN;
    ATANH_ = "aten::atanh_(Tensor(a!) self) -> Tensor(a!)" => elementwise::ATANH;
    BADDBMM_ = "aten::baddbmm_(Tensor(a!) self, Tensor batch1, Tensor batch2, *, Scalar beta=1, Scalar alpha=1) -> Tensor(a!)" => linalg::BADDBMM;
    BITWISE_AND_TENSOR_ = "aten::bitwise_and_.Tensor(Tensor(a!) self, Tensor other) -> Tensor(a!)" => elementwise::BITWISE_AND_TENSOR;
    BITWISE_NOT_ = "aten::bitwise_not_(Tensor(a!) self) -> Tensor(a!)" => elementwise::BITWISE_NOT;
    BITWISE_OR_TENSOR_ = "aten::bitwise_or_.Tensor(Tensor(a!) self, Tensor other) -> Tensor(a!)" => elementwise::BITWISE_OR_TENSOR;
    BITWISE_XOR_TENSOR_ = "aten::bitwise_xor_.Tensor(Tensor(a!) self, Tensor other) -> Tensor(a!)" => elementwise::BITWISE_XOR_TENSOR;
    CEIL_ = "aten::ceil_(Tensor(a!) self) -> Tensor(a!)" => elementwise::CEIL;
    CELU_ = "aten::celu_(Tensor(a!) self, Scalar alpha=1.) -> Tensor(a!)" => activation::CELU;
    CLAMP_TENSOR_ = "aten::clamp_.Tensor(Tensor(a!) self, Tensor? min=None, Tensor? max=None) -> Tensor(a!)" => comparison::CLAMP_TENSOR;
    CLAMP_ = "aten::clamp_(Tensor(a!) self, Scalar? min=None, Scalar? max=None) -> Tensor(a!)" => comparison::CLAMP;
    CLAMP_MAX_ = "aten::clamp_max_(Tensor(a!) self, Scalar max) -> Tensor(a!)" => elementwise::CLAMP_MAX;
    CLAMP_MIN_ = "aten::clamp_min_(Tensor(a!) self, Scalar min) -> Tensor(a!)" => elementwise::CLAMP_MIN;
    CLIP_ = "aten::clip_(Tensor(a!) self, Scalar? min=None, Scalar? max=None) -> Tensor(a!)" => comparison::CLIP;
    COPYSIGN_TENSOR_ = "aten::copysign_.Tensor(Tensor(a!) self, Tensor other) -> Tensor(a!)" => elementwise::COPYSIGN_TENSOR;
    COS_ = "aten::cos_(Tensor(a!) self) -> Tensor(a!)" => elementwise::COS;
    COSH_ = "aten::cosh_(Tensor(a!) self) -> Tensor(a!)" => elementwise::COSH;
    CUMPROD_ = "aten::cumprod_(Tensor(a!) self, int dim, *, ScalarType? dtype=None) -> Tensor(a!)" => reduction::CUMPROD;
    CUMSUM_ = "aten::cumsum_(Tensor(a!) self, int dim, *, ScalarType? dtype=None) -> Tensor(a!)" => reduction::CUMSUM;
    DIGAMMA_ = "aten::digamma_(Tensor(a!) self) -> Tensor(a!)" => elementwise::DIGAMMA;
    DIV_SCALAR_ = "aten::div_.Scalar(Tensor(a!) self, Scalar other) -> Tensor(a!)" => elementwise::DIV_SCALAR;
    DIV_TENSOR_MODE_ = "aten::div_.Tensor_mode(Tensor(a!) self, Tensor other, *, str? rounding_mode) -> Tensor(a!)" => elementwise::DIV_TENSOR_MODE;
    DROPOUT_ = "aten::dropout_(Tensor(a!) self, float p, bool train) -> Tensor(a!)" => activation::DROPOUT;
    ELU_ = "aten::elu_(Tensor(a!) self, Scalar alpha=1, Scalar scale=1, Scalar input_scale=1) -> Tensor(a!)" => activation::ELU;
    ERFC_ = "aten::erfc_(Tensor(a!) self) -> Tensor(a!)" => elementwise::ERFC;
    ERF_ = "aten::erf_(Tensor(a!) self) -> Tensor(a!)" => elementwise::ERF;
    EXP2_ = "aten::exp2_(Tensor(a!) self) -> Tensor(a!)" => elementwise::EXP2;
    EXP_ = "aten::exp_(Tensor(a!) self) -> Tensor(a!)" => elementwise::EXP;
    EXPM1_ = "aten::expm1_(Tensor(a!) self) -> Tensor(a!)" => elementwise::EXPM1;
    FEATURE_ALPHA_DROPOUT_ = "aten::feature_alpha_dropout_(Tensor(a!) self, float p, bool train) -> Tensor(a!)" => activation::FEATURE_ALPHA_DROPOUT;
    FEATURE_DROPOUT_ = "aten::feature_dropout_(Tensor(a!) self, float p, bool train) -> Tensor(a!)" => activation::FEATURE_DROPOUT;
    FLOOR_ = "aten::floor_(Tensor(a!) self) -> Tensor(a!)" => elementwise::FLOOR;
    FMOD_SCALAR_ = "aten::fmod_.Scalar(Tensor(a!) self, Scalar other) -> Tensor(a!)" => elementwise::FMOD_SCALAR;
    FMOD_TENSOR_ = "aten::fmod_.Tensor(Tensor(a!) self, Tensor other) -> Tensor(a!)" => elementwise::FMOD_TENSOR;
    FRAC_ = "aten::frac_(Tensor(a!) self) -> Tensor(a!)" => special::FRAC;
    GELU_ = "aten::gelu_(Tensor(a!) self, *, str approximate='none') -> Tensor(a!)" => activation::GELU;
    HARDSIGMOID_ = "aten::hardsigmoid_(Tensor(a!) self) -> Tensor(a!)" => activation::HARDSIGMOID;
    HARDSWISH_ = "aten::hardswish_(Tensor(a!) self) -> Tensor(a!)" => activation::HARDSWISH;
    HARDTANH_ = "aten::hardtanh_(Tensor(a!) self, Scalar min_val=-1, Scalar max_val=1) -> Tensor(a!)" => activation::HARDTANH;
    HEAVISIDE_ = "aten::heaviside_(Tensor(a!) self, Tensor values) -> Tensor(a!)" => special::HEAVISIDE;
    HYPOT_ = "aten::hypot_(Tensor(a!) self, Tensor other) -> Tensor(a!)" => elementwise::HYPOT;
    I0_ = "aten::i0_(Tensor(a!) self) -> Tensor(a!)" => elementwise::I0;
    INDEX_ADD_ = "aten::index_add_(Tensor(a!) self, int dim, Tensor index, Tensor source, *, Scalar alpha=1) -> Tensor(a!)" => scatter::INDEX_ADD;
    INDEX_COPY_ = "aten::index_copy_(Tensor(a!) self, int dim, Tensor index, Tensor source) -> Tensor(a!)" => scatter::INDEX_COPY;
    INDEX_FILL_INT_SCALAR_ = "aten::index_fill_.int_Scalar(Tensor(a!) self, int dim, Tensor index, Scalar value) -> Tensor(a!)" => mutation::INDEX_FILL_INT_SCALAR;
    INDEX_FILL_INT_TENSOR_ = "aten::index_fill_.int_Tensor(Tensor(a!) self, int dim, Tensor index, Tensor value) -> Tensor(a!)" => mutation::INDEX_FILL_INT_TENSOR;
    LEAKY_RELU_ = "aten::leaky_relu_(Tensor(a!) self, Scalar negative_slope=0.01) -> Tensor(a!)" => activation::LEAKY_RELU;
    LERP_TENSOR_ = "aten::lerp_.Tensor(Tensor(a!) self, Tensor end, Tensor weight) -> Tensor(a!)" => elementwise::LERP_TENSOR;
    LERP_SCALAR_ = "aten::lerp_.Scalar(Tensor(a!) self, Tensor end, Scalar weight) -> Tensor(a!)" => elementwise::LERP_SCALAR;
    LGAMMA_ = "aten::lgamma_(Tensor(a!) self) -> Tensor(a!)" => elementwise::LGAMMA;
    LOG10_ = "aten::log10_(Tensor(a!) self) -> Tensor(a!)" => elementwise::LOG10;
    LOG1P_ = "aten::log1p_(Tensor(a!) self) -> Tensor(a!)" => elementwise::LOG1P;
    LOG2_ = "aten::log2_(Tensor(a!) self) -> Tensor(a!)" => elementwise::LOG2;
    LOG_ = "aten::log_(Tensor(a!) self) -> Tensor(a!)" => elementwise::LOG;
    MASKED_FILL_SCALAR_ = "aten::masked_fill_.Scalar(Tensor(a!) self, Tensor mask, Scalar value) -> Tensor(a!)" => comparison::MASKED_FILL_SCALAR;
    MASKED_FILL_TENSOR_ = "aten::masked_fill_.Tensor(Tensor(a!) self, Tensor mask, Tensor value) -> Tensor(a!)" => comparison::MASKED_FILL_TENSOR;
    MISH_ = "aten::mish_(Tensor(a!) self) -> Tensor(a!)" => activation::MISH;
    MUL_SCALAR_ = "aten::mul_.Scalar(Tensor(a!) self, Scalar other) -> Tensor(a!)" => elementwise::MUL_SCALAR;
    NAN_TO_NUM_ = "aten::nan_to_num_(Tensor(a!) self, float? nan=None, float? posinf=None, float? neginf=None) -> Tensor(a!)" => elementwise::NAN_TO_NUM;
    NEG_ = "aten::neg_(Tensor(a!) self) -> Tensor(a!)" => elementwise::NEG;
    POW_SCALAR_ = "aten::pow_.Scalar(Tensor(a!) self, Scalar exponent) -> Tensor(a!)" => elementwise::POW_TENSOR_SCALAR;
    POW_TENSOR_ = "aten::pow_.Tensor(Tensor(a!) self, Tensor exponent) -> Tensor(a!)" => elementwise::POW_TENSOR_TENSOR;
    RECIPROCAL_ = "aten::reciprocal_(Tensor(a!) self) -> Tensor(a!)" => elementwise::RECIPROCAL;
    RELU6_ = "aten::relu6_(Tensor(a!) self) -> Tensor(a!)" => activation::RELU6;
    REMAINDER_SCALAR_ = "aten::remainder_.Scalar(Tensor(a!) self, Scalar other) -> Tensor(a!)" => elementwise::REMAINDER_SCALAR;
    REMAINDER_TENSOR_ = "aten::remainder_.Tensor(Tensor(a!) self, Tensor other) -> Tensor(a!)" => elementwise::REMAINDER_TENSOR;
    RENORM_ = "aten::renorm_(Tensor(a!) self, Scalar p, int dim, Scalar maxnorm) -> Tensor(a!)" => reduction::RENORM;
    ROUND_ = "aten::round_(Tensor(a!) self) -> Tensor(a!)" => elementwise::ROUND;
    RRELU_ = "aten::rrelu_(Tensor(a!) self, Scalar lower=0.125, Scalar upper=0.3333333333333333, bool training=False, Generator? generator=None) -> Tensor(a!)" => special::RRELU;
    RSQRT_ = "aten::rsqrt_(Tensor(a!) self) -> Tensor(a!)" => elementwise::RSQRT;
    SCATTER_ADD_ = "aten::scatter_add_(Tensor(a!) self, int dim, Tensor index, Tensor src) -> Tensor(a!)" => scatter::SCATTER_ADD;
    SCATTER_REDUCE_TWO_ = "aten::scatter_reduce_.two(Tensor(a!) self, int dim, Tensor index, Tensor src, str reduce, *, bool include_self=True) -> Tensor(a!)" => scatter::SCATTER_REDUCE_TWO;
    SELU_ = "aten::selu_(Tensor(a!) self) -> Tensor(a!)" => activation::SELU;
    SIGMOID_ = "aten::sigmoid_(Tensor(a!) self) -> Tensor(a!)" => elementwise::SIGMOID;
    SIGN_ = "aten::sign_(Tensor(a!) self) -> Tensor(a!)" => elementwise::SIGN;
    SILU_ = "aten::silu_(Tensor(a!) self) -> Tensor(a!)" => activation::SILU;
    SINC_ = "aten::sinc_(Tensor(a!) self) -> Tensor(a!)" => special::SINC;
    SIN_ = "aten::sin_(Tensor(a!) self) -> Tensor(a!)" => elementwise::SIN;
    SINH_ = "aten::sinh_(Tensor(a!) self) -> Tensor(a!)" => elementwise::SINH;
    SQRT_ = "aten::sqrt_(Tensor(a!) self) -> Tensor(a!)" => elementwise::SQRT;
    SUB_SCALAR_ = "aten::sub_.Scalar(Tensor(a!) self, Scalar other, Scalar alpha=1) -> Tensor(a!)" => elementwise::SUB_SCALAR;
    TAN_ = "aten::tan_(Tensor(a!) self) -> Tensor(a!)" => elementwise::TAN;
    TANH_ = "aten::tanh_(Tensor(a!) self) -> Tensor(a!)" => elementwise::TANH;
    THRESHOLD_ = "aten::threshold_(Tensor(a!) self, Scalar threshold, Scalar value) -> Tensor(a!)" => activation::THRESHOLD;
    TRIL_ = "aten::tril_(Tensor(a!) self, SymInt diagonal=0) -> Tensor(a!)" => shape::TRIL;
    TRIU_ = "aten::triu_(Tensor(a!) self, SymInt diagonal=0) -> Tensor(a!)" => shape::TRIU;
    TRUE_DIVIDE_TENSOR_ = "aten::true_divide_.Tensor(Tensor(a!) self, Tensor other) -> Tensor(a!)" => special::TRUE_DIVIDE_TENSOR;
    TRUNC_ = "aten::trunc_(Tensor(a!) self) -> Tensor(a!)" => elementwise::TRUNC;
    XLOGY_TENSOR_ = "aten::xlogy_.Tensor(Tensor(a!) self, Tensor other) -> Tensor(a!)" => special::XLOGY_TENSOR;
    FILL_SCALAR_ = "aten::fill_.Scalar(Tensor(a!) self, Scalar value) -> Tensor(a!)" => constructors::FILL_SCALAR;
    ZERO_ = "aten::zero_(Tensor(a!) self) -> Tensor(a!)" => constructors::ZERO_FN;
}

inplace_ops! { view_meta:
    SQUEEZE_DIM_ = "aten::squeeze_.dim(Tensor(a!) self, int dim) -> Tensor(a!)" => shape::SQUEEZE_DIM;
    SQUEEZE_DIMS_ = "aten::squeeze_.dims(Tensor(a!) self, int[] dim) -> Tensor(a!)" => shape::SQUEEZE_DIMS;
    T_ = "aten::t_(Tensor(a!) self) -> Tensor(a!)" => shape::T;
    UNSQUEEZE_ = "aten::unsqueeze_(Tensor(a!) self, int dim) -> Tensor(a!)" => shape::UNSQUEEZE;
}

#[cfg(test)]
mod tests {
    use super::super::all_ops;

    /// Every in-place form takes its functional op's arguments (types, defaults, keyword
    /// ones, in order: the loader passes them on by position) and is named after it, `op_`.
    #[test]
    fn inplace_forms_take_their_functional_ops_arguments() {
        let mut forms = 0;
        for op in all_ops() {
            let Some(f) = op.functional else { continue };
            let (this, that) = (op.parsed().unwrap(), f.parsed().unwrap());
            assert_eq!(this.name, format!("{}_", that.name), "{}", op.name());
            // By position: names may differ (`alpha_dropout(input, …)`, `alpha_dropout_(self, …)`).
            let shape = |s: &ferrex_schema::Schema| -> Vec<_> {
                (s.args.iter())
                    // A size decodes as an int either way.
                    .map(|a| {
                        (
                            a.ty.replace("SymInt", "int"),
                            a.default.clone(),
                            a.kwarg_only,
                        )
                    })
                    .collect()
            };
            assert_eq!(shape(this), shape(that), "{} and {}", op.name(), f.name());
            assert_eq!(this.returns, ["Tensor"], "{}", op.name());
            forms += 1;
        }
        assert!(forms >= 97, "{forms} in-place forms");
    }
}
