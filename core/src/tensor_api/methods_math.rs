//! Tensor methods for math: comparisons, logical ops, unary math, activations,
//! reductions, softmax, dtype conversion. PyTorch's names; every method is
//! `#[track_caller]` and never panics (errors travel in the returned tensor).
//!
//! Comparisons are methods only (`x.lt(0.0)`, `x.eq(&y)`): Rust's `PartialOrd` and
//! `PartialEq` return `bool`, not a tensor.

use crate::error::TensorError;
use crate::ops::{
    activation, comparison, dispatch, dispatch1, einsum, elementwise, reduction, search, sort,
};
use crate::ops::{OpDef, Value};

use super::methods::{here, int, ints, t};
use super::Operand;
use crate::tensor::{DType, Tensor};

/// Arguments with trailing `keepdim=False` left out, as PyTorch records them.
fn with_keepdim(mut args: Vec<Value>, keepdim: bool) -> Vec<Value> {
    if keepdim {
        args.push(Value::Bool(true));
    }
    args
}

/// The two outputs of `op` (values and indices).
#[track_caller]
fn dispatch2(op: &'static OpDef, args: Vec<Value>) -> (Tensor, Tensor) {
    let at = here();
    let mut out = dispatch(op, args, at).into_iter();
    let mut next = || {
        out.next().unwrap_or_else(|| {
            Tensor::failed(TensorError::Op {
                op: op.name(),
                message: "the op returned fewer tensors than its schema declares".into(),
                at,
            })
        })
    };
    let first = next();
    (first, next())
}

impl Tensor {
    #[track_caller]
    fn unary(&self, op: &'static OpDef) -> Tensor {
        dispatch1(op, vec![t(self)], here())
    }

    /// `op_tensor` when `other` is a tensor, `op_scalar` when it is a number.
    #[track_caller]
    fn tensor_or_scalar(
        &self,
        op_tensor: &'static OpDef,
        op_scalar: &'static OpDef,
        other: impl Into<Operand>,
    ) -> Tensor {
        let other = other.into();
        let op = match other {
            Operand::Tensor(_) => op_tensor,
            _ => op_scalar,
        };
        dispatch1(op, vec![t(self), other.into()], here())
    }

    // ----- binary math ---------------------------------------------------------------

    /// Elementwise maximum (broadcasting, type promotion); NaN wins.
    #[track_caller]
    #[must_use]
    pub fn maximum(&self, other: &Tensor) -> Tensor {
        dispatch1(&elementwise::MAXIMUM, vec![t(self), t(other)], here())
    }

    /// Elementwise minimum (broadcasting, type promotion); NaN wins.
    #[track_caller]
    #[must_use]
    pub fn minimum(&self, other: &Tensor) -> Tensor {
        dispatch1(&elementwise::MINIMUM, vec![t(self), t(other)], here())
    }

    /// `atan(self / other)` in the correct quadrant; integers give floats.
    #[track_caller]
    #[must_use]
    pub fn atan2(&self, other: &Tensor) -> Tensor {
        dispatch1(&elementwise::ATAN2, vec![t(self), t(other)], here())
    }

    /// Python's modulo: the result has the sign of `other`. Integer division by zero is
    /// an error.
    #[track_caller]
    #[must_use]
    pub fn remainder(&self, other: &Tensor) -> Tensor {
        dispatch1(
            &elementwise::REMAINDER_TENSOR,
            vec![t(self), t(other)],
            here(),
        )
    }

    /// `self ** exponent`, for a tensor exponent (`pow.Tensor_Tensor`) or a number
    /// (`pow.Tensor_Scalar`).
    #[track_caller]
    #[must_use]
    pub fn pow(&self, exponent: impl Into<Operand>) -> Tensor {
        self.tensor_or_scalar(
            &elementwise::POW_TENSOR_TENSOR,
            &elementwise::POW_TENSOR_SCALAR,
            exponent,
        )
    }

    // ----- comparisons and logical ops -------------------------------------------------

    /// `self == other` elementwise, as a bool tensor.
    #[track_caller]
    #[must_use]
    pub fn eq(&self, other: impl Into<Operand>) -> Tensor {
        self.tensor_or_scalar(&comparison::EQ_TENSOR, &comparison::EQ_SCALAR, other)
    }

    /// `self != other` elementwise, as a bool tensor.
    #[track_caller]
    #[must_use]
    pub fn ne(&self, other: impl Into<Operand>) -> Tensor {
        self.tensor_or_scalar(&comparison::NE_TENSOR, &comparison::NE_SCALAR, other)
    }

    /// `self < other` elementwise, as a bool tensor.
    #[track_caller]
    #[must_use]
    pub fn lt(&self, other: impl Into<Operand>) -> Tensor {
        self.tensor_or_scalar(&comparison::LT_TENSOR, &comparison::LT_SCALAR, other)
    }

    /// `self <= other` elementwise, as a bool tensor.
    #[track_caller]
    #[must_use]
    pub fn le(&self, other: impl Into<Operand>) -> Tensor {
        self.tensor_or_scalar(&comparison::LE_TENSOR, &comparison::LE_SCALAR, other)
    }

    /// `self > other` elementwise, as a bool tensor.
    #[track_caller]
    #[must_use]
    pub fn gt(&self, other: impl Into<Operand>) -> Tensor {
        self.tensor_or_scalar(&comparison::GT_TENSOR, &comparison::GT_SCALAR, other)
    }

    /// `self >= other` elementwise, as a bool tensor.
    #[track_caller]
    #[must_use]
    pub fn ge(&self, other: impl Into<Operand>) -> Tensor {
        self.tensor_or_scalar(&comparison::GE_TENSOR, &comparison::GE_SCALAR, other)
    }

    /// Elementwise AND of the truth values (nonzero is true), as a bool tensor.
    #[track_caller]
    #[must_use]
    pub fn logical_and(&self, other: &Tensor) -> Tensor {
        dispatch1(&comparison::LOGICAL_AND, vec![t(self), t(other)], here())
    }

    /// Elementwise OR of the truth values (nonzero is true), as a bool tensor.
    #[track_caller]
    #[must_use]
    pub fn logical_or(&self, other: &Tensor) -> Tensor {
        dispatch1(&comparison::LOGICAL_OR, vec![t(self), t(other)], here())
    }

    /// Elementwise NOT of the truth values (nonzero is true), as a bool tensor.
    #[track_caller]
    #[must_use]
    pub fn logical_not(&self) -> Tensor {
        self.unary(&comparison::LOGICAL_NOT)
    }

    /// `a` where `condition` (a bool tensor) is true, else `b`; all three broadcast, `a`
    /// and `b` promote together (`torch.where`).
    #[track_caller]
    pub fn where_(condition: &Tensor, a: &Tensor, b: &Tensor) -> Tensor {
        dispatch1(
            &comparison::WHERE_SELF,
            vec![t(condition), t(a), t(b)],
            here(),
        )
    }

    /// `value` where `mask` (a bool tensor broadcast to this one's shape) is true, this
    /// tensor's element elsewhere (`Tensor.masked_fill`): how attention masks out
    /// padding or future positions. `value` is a number or a 0-dim tensor.
    ///
    /// ```
    /// use ferrex::prelude::*;
    ///
    /// let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
    /// let mask = Tensor::from_slice(&[false, true, false]);
    /// let y = x.masked_fill(&mask, f32::NEG_INFINITY);
    /// assert_eq!(y.to_vec::<f32>()?, [1.0, f32::NEG_INFINITY, 3.0]);
    /// # Ok::<(), ferrex::TensorError>(())
    /// ```
    #[track_caller]
    #[must_use]
    pub fn masked_fill(&self, mask: &Tensor, value: impl Into<Operand>) -> Tensor {
        match value.into() {
            Operand::Tensor(v) => dispatch1(
                &comparison::MASKED_FILL_TENSOR,
                vec![t(self), t(mask), t(&v)],
                here(),
            ),
            number => dispatch1(
                &comparison::MASKED_FILL_SCALAR,
                vec![t(self), t(mask), number.into()],
                here(),
            ),
        }
    }

    /// `self + weight·(end − self)` (`torch.lerp`), `weight` a number or a tensor
    /// (broadcast with both).
    ///
    /// ```
    /// use ferrex::Tensor;
    /// let (a, b) = (Tensor::zeros([2]), Tensor::full([2], 10.0));
    /// let w = Tensor::from_slice(&[0.25f32, 0.75]);
    /// assert_eq!(a.lerp(&b, &w).to_vec::<f32>()?, [2.5, 7.5]);
    /// assert_eq!(a.lerp(&b, 0.5).to_vec::<f32>()?, [5.0, 5.0]);
    /// # Ok::<(), ferrex::TensorError>(())
    /// ```
    #[track_caller]
    #[must_use]
    pub fn lerp(&self, end: &Tensor, weight: impl Into<Operand>) -> Tensor {
        match weight.into() {
            Operand::Tensor(w) => dispatch1(
                &elementwise::LERP_TENSOR,
                vec![t(self), t(end), t(&w)],
                here(),
            ),
            number => dispatch1(
                &elementwise::LERP_SCALAR,
                vec![t(self), t(end), number.into()],
                here(),
            ),
        }
    }

    /// Clamps into `[min, max]` (either bound optional, not both absent). The bounds are
    /// floats, so an integer tensor gives a float result, as in PyTorch with float bounds.
    #[track_caller]
    #[must_use]
    pub fn clamp(&self, min: Option<f64>, max: Option<f64>) -> Tensor {
        let bound = |b: Option<f64>| b.map_or(Value::None, Value::Float);
        let mut args = vec![t(self), bound(min)];
        if max.is_some() {
            args.push(bound(max));
        }
        dispatch1(&comparison::CLAMP, args, here())
    }

    // ----- unary math ------------------------------------------------------------------

    #[track_caller]
    #[must_use]
    pub fn abs(&self) -> Tensor {
        self.unary(&elementwise::ABS)
    }

    #[track_caller]
    #[must_use]
    pub fn tan(&self) -> Tensor {
        self.unary(&elementwise::TAN)
    }

    #[track_caller]
    #[must_use]
    pub fn tanh(&self) -> Tensor {
        self.unary(&elementwise::TANH)
    }

    /// `1 / (1 + exp(-x))`.
    #[track_caller]
    #[must_use]
    pub fn sigmoid(&self) -> Tensor {
        self.unary(&elementwise::SIGMOID)
    }

    /// The Gauss error function.
    #[track_caller]
    #[must_use]
    pub fn erf(&self) -> Tensor {
        self.unary(&elementwise::ERF)
    }

    /// `x * x` (`torch.square`; a bool input squares into i64).
    #[track_caller]
    #[must_use]
    pub fn square(&self) -> Tensor {
        self.unary(&elementwise::SQUARE)
    }

    /// The inverse error function (`torch.erfinv`): ±inf at ±1, NaN outside [-1, 1].
    #[track_caller]
    #[must_use]
    pub fn erfinv(&self) -> Tensor {
        self.unary(&elementwise::ERFINV)
    }

    #[track_caller]
    #[must_use]
    pub fn floor(&self) -> Tensor {
        self.unary(&elementwise::FLOOR)
    }

    #[track_caller]
    #[must_use]
    pub fn ceil(&self) -> Tensor {
        self.unary(&elementwise::CEIL)
    }

    /// Rounds half to even, as `torch.round`.
    #[track_caller]
    #[must_use]
    pub fn round(&self) -> Tensor {
        self.unary(&elementwise::ROUND)
    }

    /// -1, 0 or 1 by sign.
    #[track_caller]
    #[must_use]
    pub fn sign(&self) -> Tensor {
        self.unary(&elementwise::SIGN)
    }

    /// `exp(x) - 1`, accurate near 0.
    #[track_caller]
    #[must_use]
    pub fn expm1(&self) -> Tensor {
        self.unary(&elementwise::EXPM1)
    }

    /// Natural logarithm.
    #[track_caller]
    #[must_use]
    pub fn log(&self) -> Tensor {
        self.unary(&elementwise::LOG)
    }

    #[track_caller]
    #[must_use]
    pub fn sqrt(&self) -> Tensor {
        self.unary(&elementwise::SQRT)
    }

    /// `1 / sqrt(x)`.
    #[track_caller]
    #[must_use]
    pub fn rsqrt(&self) -> Tensor {
        self.unary(&elementwise::RSQRT)
    }

    /// `1 / x` (integers give floats).
    #[track_caller]
    #[must_use]
    pub fn reciprocal(&self) -> Tensor {
        self.unary(&elementwise::RECIPROCAL)
    }

    /// `log(1 + x)`, accurate near 0.
    #[track_caller]
    #[must_use]
    pub fn log1p(&self) -> Tensor {
        self.unary(&elementwise::LOG1P)
    }

    // ----- activations -----------------------------------------------------------------

    /// `x * sigmoid(x)`.
    #[track_caller]
    #[must_use]
    pub fn silu(&self) -> Tensor {
        self.unary(&activation::SILU)
    }

    /// `x * relu6(x + 3) / 6`.
    #[track_caller]
    #[must_use]
    pub fn hardswish(&self) -> Tensor {
        self.unary(&activation::HARDSWISH)
    }

    /// `relu6(x + 3) / 6`.
    #[track_caller]
    #[must_use]
    pub fn hardsigmoid(&self) -> Tensor {
        self.unary(&activation::HARDSIGMOID)
    }

    /// `x * tanh(softplus(x))`.
    #[track_caller]
    #[must_use]
    pub fn mish(&self) -> Tensor {
        self.unary(&activation::MISH)
    }

    /// `log(sigmoid(x))`, computed stably (PyTorch's `F.logsigmoid`).
    #[track_caller]
    #[must_use]
    pub fn log_sigmoid(&self) -> Tensor {
        self.unary(&activation::LOG_SIGMOID)
    }

    /// GELU with `approximate` `"none"` (the exact `x * Φ(x)`) or `"tanh"`.
    #[track_caller]
    #[must_use]
    pub fn gelu(&self, approximate: &str) -> Tensor {
        let mut args = vec![t(self)];
        if approximate != "none" {
            args.push(Value::Str(approximate.into()));
        }
        dispatch1(&activation::GELU, args, here())
    }

    /// `x` for `x > 0`, else `negative_slope * x`.
    #[track_caller]
    #[must_use]
    pub fn leaky_relu(&self, negative_slope: f64) -> Tensor {
        let args = vec![t(self), Value::Float(negative_slope)];
        dispatch1(&activation::LEAKY_RELU, args, here())
    }

    /// `x` for `x > 0`, else `alpha * (exp(x) - 1)`.
    #[track_caller]
    #[must_use]
    pub fn elu(&self, alpha: f64) -> Tensor {
        let mut args = vec![t(self)];
        if alpha != 1.0 {
            args.push(Value::Float(alpha));
        }
        dispatch1(&activation::ELU, args, here())
    }

    /// Clamps into `[min_val, max_val]`.
    #[track_caller]
    #[must_use]
    pub fn hardtanh(&self, min_val: f64, max_val: f64) -> Tensor {
        let args = vec![t(self), Value::Float(min_val), Value::Float(max_val)];
        dispatch1(&activation::HARDTANH, args, here())
    }

    /// `log(1 + exp(beta * x)) / beta`, and `x` where `beta * x > threshold`.
    #[track_caller]
    #[must_use]
    pub fn softplus(&self, beta: f64, threshold: f64) -> Tensor {
        let mut args = vec![t(self)];
        if beta != 1.0 || threshold != 20.0 {
            args.push(Value::Float(beta));
            args.push(Value::Float(threshold));
        }
        dispatch1(&activation::SOFTPLUS, args, here())
    }

    // ----- reductions ------------------------------------------------------------------

    /// Maximum over `dims` (all dims when empty); NaN wins.
    #[track_caller]
    #[must_use]
    pub fn amax(&self, dims: &[i64], keepdim: bool) -> Tensor {
        let args = with_keepdim(vec![t(self), ints(dims)], keepdim);
        dispatch1(&reduction::AMAX, args, here())
    }

    /// Minimum over `dims` (all dims when empty); NaN wins.
    #[track_caller]
    #[must_use]
    pub fn amin(&self, dims: &[i64], keepdim: bool) -> Tensor {
        let args = with_keepdim(vec![t(self), ints(dims)], keepdim);
        dispatch1(&reduction::AMIN, args, here())
    }

    /// Maximum along `dim` and the (i64) index of its first occurrence:
    /// `(values, indices)`, as `torch.max(x, dim)`.
    #[track_caller]
    #[must_use]
    pub fn max_dim(&self, dim: i64, keepdim: bool) -> (Tensor, Tensor) {
        dispatch2(
            &reduction::MAX_DIM,
            with_keepdim(vec![t(self), int(dim)], keepdim),
        )
    }

    /// Minimum along `dim` and the (i64) index of its first occurrence:
    /// `(values, indices)`, as `torch.min(x, dim)`.
    #[track_caller]
    #[must_use]
    pub fn min_dim(&self, dim: i64, keepdim: bool) -> (Tensor, Tensor) {
        dispatch2(
            &reduction::MIN_DIM,
            with_keepdim(vec![t(self), int(dim)], keepdim),
        )
    }

    /// Index of the first maximum along `dim`, or in the flattened tensor for `None`.
    #[track_caller]
    #[must_use]
    pub fn argmax(&self, dim: Option<i64>, keepdim: bool) -> Tensor {
        let args = vec![t(self), dim.map_or(Value::None, int)];
        dispatch1(&reduction::ARGMAX, with_keepdim(args, keepdim), here())
    }

    /// Index of the first minimum along `dim`, or in the flattened tensor for `None`.
    #[track_caller]
    #[must_use]
    pub fn argmin(&self, dim: Option<i64>, keepdim: bool) -> Tensor {
        let args = vec![t(self), dim.map_or(Value::None, int)];
        dispatch1(&reduction::ARGMIN, with_keepdim(args, keepdim), here())
    }

    /// Product along `dim` (integers and bools give i64).
    #[track_caller]
    #[must_use]
    pub fn prod_dim(&self, dim: i64, keepdim: bool) -> Tensor {
        let args = with_keepdim(vec![t(self), int(dim)], keepdim);
        dispatch1(&reduction::PROD_DIM_INT, args, here())
    }

    /// Variance over all elements, with Bessel's correction (divides by `n - 1`).
    #[track_caller]
    #[must_use]
    pub fn var(&self) -> Tensor {
        self.unary(&reduction::VAR_CORRECTION)
    }

    /// Variance over `dims` (all when empty), dividing by `n - correction`.
    #[track_caller]
    #[must_use]
    pub fn var_dim(&self, dims: &[i64], correction: i64, keepdim: bool) -> Tensor {
        dispatch1(
            &reduction::VAR_CORRECTION,
            var_args(self, dims, correction, keepdim),
            here(),
        )
    }

    /// Standard deviation over all elements, with Bessel's correction.
    #[track_caller]
    #[must_use]
    pub fn std(&self) -> Tensor {
        self.unary(&reduction::STD_CORRECTION)
    }

    /// Standard deviation over `dims` (all when empty), dividing by `n - correction`.
    #[track_caller]
    #[must_use]
    pub fn std_dim(&self, dims: &[i64], correction: i64, keepdim: bool) -> Tensor {
        dispatch1(
            &reduction::STD_CORRECTION,
            var_args(self, dims, correction, keepdim),
            here(),
        )
    }

    /// Whether any element along `dim` is nonzero (bool result).
    #[track_caller]
    #[must_use]
    pub fn any_dim(&self, dim: i64, keepdim: bool) -> Tensor {
        let args = with_keepdim(vec![t(self), int(dim)], keepdim);
        dispatch1(&reduction::ANY_DIM, args, here())
    }

    /// Whether every element along `dim` is nonzero (bool result).
    #[track_caller]
    #[must_use]
    pub fn all_dim(&self, dim: i64, keepdim: bool) -> Tensor {
        let args = with_keepdim(vec![t(self), int(dim)], keepdim);
        dispatch1(&reduction::ALL_DIM, args, here())
    }

    /// The bucket of each value among the sorted 1-D `boundaries`, as `torch.bucketize`
    /// (i64): the number of boundaries below it (`right`: at or below it).
    ///
    /// ```
    /// use ferrex::prelude::*;
    /// let edges = Tensor::from_slice(&[0.0f32, 1.0, 2.0]);
    /// let x = Tensor::from_slice(&[-1.0f32, 0.0, 0.5, 2.0, 3.0]);
    /// assert_eq!(x.bucketize(&edges, false).to_vec::<i64>().unwrap(), [0, 0, 1, 2, 3]);
    /// assert_eq!(x.bucketize(&edges, true).to_vec::<i64>().unwrap(), [0, 1, 1, 3, 3]);
    /// ```
    #[track_caller]
    #[must_use]
    pub fn bucketize(&self, boundaries: &Tensor, right: bool) -> Tensor {
        let args = vec![
            t(self),
            t(boundaries),
            Value::Bool(false),
            Value::Bool(right),
        ];
        dispatch1(&search::BUCKETIZE_TENSOR, args, here())
    }

    /// Running sum along `dim` (integers and bools give i64).
    #[track_caller]
    #[must_use]
    pub fn cumsum(&self, dim: i64) -> Tensor {
        dispatch1(&reduction::CUMSUM, vec![t(self), int(dim)], here())
    }

    /// Running maximum along `dim` and the (i64) index where each was found:
    /// `(values, indices)`, as `torch.cummax` (a later equal value takes the index; a
    /// NaN stays to the end of its lane).
    #[track_caller]
    #[must_use]
    pub fn cummax(&self, dim: i64) -> (Tensor, Tensor) {
        dispatch2(&reduction::CUMMAX, vec![t(self), int(dim)])
    }

    /// Running minimum along `dim` and its indices, as `torch.cummin`.
    #[track_caller]
    #[must_use]
    pub fn cummin(&self, dim: i64) -> (Tensor, Tensor) {
        dispatch2(&reduction::CUMMIN, vec![t(self), int(dim)])
    }

    /// `log(sum(exp(x)))` over `dims`, computed without overflow.
    #[track_caller]
    #[must_use]
    pub fn logsumexp(&self, dims: &[i64], keepdim: bool) -> Tensor {
        let args = with_keepdim(vec![t(self), ints(dims)], keepdim);
        dispatch1(&reduction::LOGSUMEXP, args, here())
    }

    // ----- softmax ---------------------------------------------------------------------

    /// `exp(x) / sum(exp(x))` along `dim` (`aten::softmax.int`).
    #[track_caller]
    #[must_use]
    pub fn softmax(&self, dim: i64) -> Tensor {
        dispatch1(&reduction::SOFTMAX_INT, vec![t(self), int(dim)], here())
    }

    /// Softmax computed in `dtype` (the input is converted first).
    #[track_caller]
    #[must_use]
    pub fn softmax_dtype(&self, dim: i64, dtype: DType) -> Tensor {
        let args = vec![t(self), int(dim), Value::DType(dtype)];
        dispatch1(&reduction::SOFTMAX_INT, args, here())
    }

    /// `log(softmax(x))` along `dim`, computed stably (`aten::log_softmax.int`).
    #[track_caller]
    #[must_use]
    pub fn log_softmax(&self, dim: i64) -> Tensor {
        dispatch1(&reduction::LOG_SOFTMAX_INT, vec![t(self), int(dim)], here())
    }

    /// Log-softmax computed in `dtype` (the input is converted first).
    #[track_caller]
    #[must_use]
    pub fn log_softmax_dtype(&self, dim: i64, dtype: DType) -> Tensor {
        let args = vec![t(self), int(dim), Value::DType(dtype)];
        dispatch1(&reduction::LOG_SOFTMAX_INT, args, here())
    }

    /// The `k` largest (or, with `largest = false`, smallest) elements along `dim` and
    /// their (i64) indices, sorted: `(values, indices)`, as `torch.topk(x, k, dim)`.
    /// NaN counts as the largest value; equal values keep their index order.
    #[track_caller]
    #[must_use]
    pub fn topk(&self, k: i64, dim: i64, largest: bool) -> (Tensor, Tensor) {
        let args = vec![t(self), int(k), int(dim), Value::Bool(largest)];
        dispatch2(&sort::TOPK, args)
    }

    /// `torch.einsum(equation, operands)`: `Tensor::einsum("bij,bjk->bik", &[&a, &b])`.
    /// Labels are letters; `...` stands for the dims no label names (broadcast across
    /// operands: `"...ij,...jk->...ik"`); no label repeated within one operand.
    #[track_caller]
    #[must_use]
    pub fn einsum(equation: &str, operands: &[&Tensor]) -> Tensor {
        let args = vec![
            Value::Str(equation.to_string()),
            Value::TensorList(operands.iter().map(|x| (*x).clone()).collect()),
        ];
        dispatch1(&einsum::EINSUM, args, here())
    }

    // ----- dtype conversion ------------------------------------------------------------

    /// The tensor converted to `dtype` (`aten::_to_copy`): float to integer truncates
    /// toward zero, anything to bool is `!= 0`. Like PyTorch's `x.to(dtype)`, a tensor
    /// already of `dtype` is returned as is (an alias, no op recorded).
    #[track_caller]
    #[must_use]
    pub fn to_dtype(&self, dtype: DType) -> Tensor {
        if matches!(self.meta(), Ok(m) if m.dtype == dtype) {
            return self.clone();
        }
        dispatch1(
            &elementwise::_TO_COPY,
            vec![t(self), Value::DType(dtype)],
            here(),
        )
    }
}

/// `var.correction` / `std.correction` arguments; the keyword-only `correction` and
/// `keepdim` are left out at their defaults.
fn var_args(x: &Tensor, dims: &[i64], correction: i64, keepdim: bool) -> Vec<Value> {
    let mut args = vec![t(x), ints(dims)];
    if correction != 1 || keepdim {
        args.push(int(correction));
    }
    with_keepdim(args, keepdim)
}
