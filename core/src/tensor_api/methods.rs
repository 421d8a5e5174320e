//! The tensor API: op methods, constructors and operator overloads. Every method is
//! `#[track_caller]`, so a recorded graph node knows the user's file, line and column.

use std::ops::{Add, Div, Mul, Neg, Sub};
use std::panic::Location;

use crate::error::SourceLocation;
use crate::ops::{
    activation, constructors, dispatch, dispatch1, elementwise, linalg, reduction, shape, OpDef,
    Value,
};
use crate::symbolic::SymInt;

use crate::tensor::{DType, Tensor};

#[track_caller]
pub(super) fn here() -> SourceLocation {
    SourceLocation::from_caller(Location::caller())
}

/// A tensor or a plain number, where an op accepts either (`x + y`, `x + 1.0`).
#[derive(Clone, Debug)]
pub enum Operand {
    Tensor(Tensor),
    Int(i64),
    /// A size, symbolic while tracing with dynamic shapes (`x + x.size(0)`).
    Size(SymInt),
    Float(f64),
    Bool(bool),
}

impl From<Operand> for Value {
    fn from(o: Operand) -> Value {
        match o {
            Operand::Tensor(t) => Value::Tensor(t),
            Operand::Int(i) => Value::Int(SymInt::Int(i)),
            Operand::Size(s) => Value::Int(s),
            Operand::Float(f) => Value::Float(f),
            Operand::Bool(b) => Value::Bool(b),
        }
    }
}

impl From<&Tensor> for Operand {
    fn from(t: &Tensor) -> Operand {
        Operand::Tensor(t.clone())
    }
}
impl From<Tensor> for Operand {
    fn from(t: Tensor) -> Operand {
        Operand::Tensor(t)
    }
}
impl From<f64> for Operand {
    fn from(v: f64) -> Operand {
        Operand::Float(v)
    }
}
impl From<f32> for Operand {
    fn from(v: f32) -> Operand {
        Operand::Float(v as f64)
    }
}
impl From<i64> for Operand {
    fn from(v: i64) -> Operand {
        Operand::Int(v)
    }
}
impl From<i32> for Operand {
    fn from(v: i32) -> Operand {
        Operand::Int(v as i64)
    }
}
impl From<usize> for Operand {
    fn from(v: usize) -> Operand {
        Operand::Int(v as i64)
    }
}
impl From<SymInt> for Operand {
    fn from(v: SymInt) -> Operand {
        Operand::Size(v)
    }
}
impl From<&SymInt> for Operand {
    fn from(v: &SymInt) -> Operand {
        Operand::Size(v.clone())
    }
}
impl From<bool> for Operand {
    fn from(v: bool) -> Operand {
        Operand::Bool(v)
    }
}

/// Anything that lists sizes: `[2, 3]`, `vec![n, 4]`, `&[usize]`, `Vec<SymInt>`.
pub trait IntoSizes {
    fn into_sizes(self) -> Vec<SymInt>;
}

impl<T: Into<SymInt>, const N: usize> IntoSizes for [T; N] {
    fn into_sizes(self) -> Vec<SymInt> {
        self.into_iter().map(Into::into).collect()
    }
}
impl<T: Into<SymInt> + Clone> IntoSizes for &[T] {
    fn into_sizes(self) -> Vec<SymInt> {
        self.iter().map(|s| s.clone().into()).collect()
    }
}
impl<T: Into<SymInt>> IntoSizes for Vec<T> {
    fn into_sizes(self) -> Vec<SymInt> {
        self.into_iter().map(Into::into).collect()
    }
}
impl IntoSizes for &Vec<SymInt> {
    fn into_sizes(self) -> Vec<SymInt> {
        self.clone()
    }
}

/// Argument helpers shared by the `methods*.rs` files.
pub(super) fn t(x: &Tensor) -> Value {
    Value::Tensor(x.clone())
}

/// `self` followed by `rest`: a view op's arguments.
pub(super) fn with_self(x: &Tensor, rest: &[Value]) -> Vec<Value> {
    let mut args = Vec::with_capacity(rest.len() + 1);
    args.push(t(x));
    args.extend(rest.iter().cloned());
    args
}

pub(super) fn opt_t(x: Option<&Tensor>) -> Value {
    x.map(t).unwrap_or(Value::None)
}

pub(super) fn int(v: impl Into<SymInt>) -> Value {
    Value::Int(v.into())
}

pub(super) fn ints(v: &[i64]) -> Value {
    Value::IntList(v.iter().map(|&i| SymInt::Int(i)).collect())
}

impl Tensor {
    /// Runs an in-place op: the result replaces this tensor's value in every alias.
    #[track_caller]
    pub(crate) fn inplace(&self, op: &'static OpDef, mut rest: Vec<Value>) -> Tensor {
        rest.insert(0, t(self));
        let out = dispatch1(op, rest, here());
        self.take_inplace_result(out)
    }

    // ----- constructors ------------------------------------------------------------

    /// Zeros of the default float type (f32).
    #[track_caller]
    #[must_use]
    pub fn zeros(size: impl IntoSizes) -> Tensor {
        dispatch1(
            &constructors::ZEROS,
            vec![Value::IntList(size.into_sizes())],
            here(),
        )
    }

    /// Zeros of `dtype`.
    #[track_caller]
    #[must_use]
    pub fn zeros_dtype(size: impl IntoSizes, dtype: DType) -> Tensor {
        let args = vec![Value::IntList(size.into_sizes()), Value::DType(dtype)];
        dispatch1(&constructors::ZEROS, args, here())
    }

    /// Ones of the default float type (f32).
    #[track_caller]
    #[must_use]
    pub fn ones(size: impl IntoSizes) -> Tensor {
        dispatch1(
            &constructors::ONES,
            vec![Value::IntList(size.into_sizes())],
            here(),
        )
    }

    /// Ones of `dtype`.
    #[track_caller]
    #[must_use]
    pub fn ones_dtype(size: impl IntoSizes, dtype: DType) -> Tensor {
        let args = vec![Value::IntList(size.into_sizes()), Value::DType(dtype)];
        dispatch1(&constructors::ONES, args, here())
    }

    /// A tensor filled with `value`; its dtype follows the value (f32, i64 or bool).
    #[track_caller]
    #[must_use]
    pub fn full(size: impl IntoSizes, value: impl Into<Operand>) -> Tensor {
        let args = vec![Value::IntList(size.into_sizes()), value.into().into()];
        dispatch1(&constructors::FULL, args, here())
    }

    /// A zero-dim tensor of `dtype` holding `value` — a number or a (symbolic) size.
    #[track_caller]
    #[must_use]
    pub fn scalar_tensor(value: impl Into<Operand>, dtype: DType) -> Tensor {
        let args = vec![value.into().into(), Value::DType(dtype)];
        dispatch1(&constructors::SCALAR_TENSOR, args, here())
    }

    /// `0, 1, …, end - 1` as i64.
    #[track_caller]
    #[must_use]
    pub fn arange(end: impl Into<SymInt>) -> Tensor {
        dispatch1(&constructors::ARANGE, vec![Value::Int(end.into())], here())
    }

    /// `start, start + step, …` below `end` (i64 when all are integers, else f32).
    #[track_caller]
    #[must_use]
    pub fn arange_step(
        start: impl Into<Operand>,
        end: impl Into<Operand>,
        step: impl Into<Operand>,
    ) -> Tensor {
        let args = vec![start.into().into(), end.into().into(), step.into().into()];
        dispatch1(&constructors::ARANGE_START_STEP, args, here())
    }

    /// Standard-normal samples from the default generator (see [`crate::manual_seed`]).
    #[track_caller]
    #[must_use]
    pub fn randn(size: impl IntoSizes) -> Tensor {
        dispatch1(
            &constructors::RANDN,
            vec![Value::IntList(size.into_sizes())],
            here(),
        )
    }

    /// Uniform samples in `[0, 1)` from the default generator.
    #[track_caller]
    #[must_use]
    pub fn rand(size: impl IntoSizes) -> Tensor {
        dispatch1(
            &constructors::RAND,
            vec![Value::IntList(size.into_sizes())],
            here(),
        )
    }

    // ----- elementwise ---------------------------------------------------------------

    /// `self + other` (broadcasting, with type promotion).
    #[track_caller]
    #[must_use]
    pub fn add(&self, other: impl Into<Operand>) -> Tensor {
        dispatch1(
            &elementwise::ADD_TENSOR,
            vec![t(self), other.into().into()],
            here(),
        )
    }

    /// `self + alpha * other`.
    #[track_caller]
    #[must_use]
    pub fn add_scaled(&self, other: impl Into<Operand>, alpha: f64) -> Tensor {
        let args = vec![t(self), other.into().into(), Value::Float(alpha)];
        dispatch1(&elementwise::ADD_TENSOR, args, here())
    }

    #[track_caller]
    #[must_use]
    pub fn sub(&self, other: impl Into<Operand>) -> Tensor {
        dispatch1(
            &elementwise::SUB_TENSOR,
            vec![t(self), other.into().into()],
            here(),
        )
    }

    #[track_caller]
    #[must_use]
    pub fn mul(&self, other: impl Into<Operand>) -> Tensor {
        dispatch1(
            &elementwise::MUL_TENSOR,
            vec![t(self), other.into().into()],
            here(),
        )
    }

    /// True division (integers give floats).
    #[track_caller]
    #[must_use]
    pub fn div(&self, other: impl Into<Operand>) -> Tensor {
        dispatch1(
            &elementwise::DIV_TENSOR,
            vec![t(self), other.into().into()],
            here(),
        )
    }

    /// Division with `"trunc"` or `"floor"` rounding.
    #[track_caller]
    #[must_use]
    pub fn div_rounding(&self, other: impl Into<Operand>, rounding_mode: &str) -> Tensor {
        let args = vec![
            t(self),
            other.into().into(),
            Value::Str(rounding_mode.into()),
        ];
        dispatch1(&elementwise::DIV_TENSOR_MODE, args, here())
    }

    /// In-place `self += other`.
    #[track_caller]
    pub fn add_(&self, other: impl Into<Operand>) -> Tensor {
        self.inplace(&elementwise::ADD_, vec![other.into().into()])
    }

    /// In-place `self -= other`.
    #[track_caller]
    pub fn sub_(&self, other: impl Into<Operand>) -> Tensor {
        self.inplace(&elementwise::SUB_, vec![other.into().into()])
    }

    /// In-place `self *= other`.
    #[track_caller]
    pub fn mul_(&self, other: impl Into<Operand>) -> Tensor {
        self.inplace(&elementwise::MUL_, vec![other.into().into()])
    }

    /// In-place `self /= other`.
    #[track_caller]
    pub fn div_(&self, other: impl Into<Operand>) -> Tensor {
        self.inplace(&elementwise::DIV_, vec![other.into().into()])
    }

    #[track_caller]
    #[must_use]
    pub fn neg(&self) -> Tensor {
        dispatch1(&elementwise::NEG, vec![t(self)], here())
    }

    #[track_caller]
    #[must_use]
    pub fn sin(&self) -> Tensor {
        dispatch1(&elementwise::SIN, vec![t(self)], here())
    }

    #[track_caller]
    #[must_use]
    pub fn cos(&self) -> Tensor {
        dispatch1(&elementwise::COS, vec![t(self)], here())
    }

    #[track_caller]
    #[must_use]
    pub fn exp(&self) -> Tensor {
        dispatch1(&elementwise::EXP, vec![t(self)], here())
    }

    #[track_caller]
    #[must_use]
    pub fn relu(&self) -> Tensor {
        dispatch1(&activation::RELU, vec![t(self)], here())
    }

    /// In-place relu.
    #[track_caller]
    pub fn relu_(&self) -> Tensor {
        self.inplace(&activation::RELU_, vec![])
    }

    // ----- linear algebra ------------------------------------------------------------

    /// Matrix product of two 2-D tensors.
    #[track_caller]
    #[must_use]
    pub fn mm(&self, other: &Tensor) -> Tensor {
        dispatch1(&linalg::MM, vec![t(self), t(other)], here())
    }

    /// `self + mat1 @ mat2` (self broadcast to the product's shape).
    #[track_caller]
    #[must_use]
    pub fn addmm(&self, mat1: &Tensor, mat2: &Tensor) -> Tensor {
        dispatch1(&linalg::ADDMM, vec![t(self), t(mat1), t(mat2)], here())
    }

    /// `beta * self + alpha * (mat1 @ mat2)`.
    #[track_caller]
    #[must_use]
    pub fn addmm_scaled(&self, mat1: &Tensor, mat2: &Tensor, beta: f64, alpha: f64) -> Tensor {
        let args = vec![
            t(self),
            t(mat1),
            t(mat2),
            Value::Float(beta),
            Value::Float(alpha),
        ];
        dispatch1(&linalg::ADDMM, args, here())
    }

    /// `self @ other` with NumPy semantics (1-D operands, batch broadcasting).
    #[track_caller]
    #[must_use]
    pub fn matmul(&self, other: &Tensor) -> Tensor {
        dispatch1(&linalg::MATMUL, vec![t(self), t(other)], here())
    }

    // ----- reductions ----------------------------------------------------------------

    /// Sum of all elements.
    #[track_caller]
    #[must_use]
    pub fn sum(&self) -> Tensor {
        dispatch1(&reduction::SUM, vec![t(self)], here())
    }

    /// Sum over `dims`.
    #[track_caller]
    #[must_use]
    pub fn sum_dim(&self, dims: &[i64], keepdim: bool) -> Tensor {
        dispatch1(
            &reduction::SUM_DIM,
            vec![t(self), ints(dims), Value::Bool(keepdim)],
            here(),
        )
    }

    /// Mean of all elements.
    #[track_caller]
    #[must_use]
    pub fn mean(&self) -> Tensor {
        dispatch1(&reduction::MEAN, vec![t(self)], here())
    }

    /// Mean over `dims`.
    #[track_caller]
    #[must_use]
    pub fn mean_dim(&self, dims: &[i64], keepdim: bool) -> Tensor {
        dispatch1(
            &reduction::MEAN_DIM,
            vec![t(self), ints(dims), Value::Bool(keepdim)],
            here(),
        )
    }

    // ----- shapes and views ----------------------------------------------------------

    /// Transpose of a tensor with at most 2 dims (a view).
    #[track_caller]
    #[must_use]
    pub fn t(&self) -> Tensor {
        self.view_by(&shape::T, vec![])
    }

    /// Swaps two dims (a view).
    #[track_caller]
    #[must_use]
    pub fn transpose(&self, dim0: i64, dim1: i64) -> Tensor {
        self.view_by(&shape::TRANSPOSE, vec![int(dim0), int(dim1)])
    }

    /// Reorders the dims (a view).
    #[track_caller]
    #[must_use]
    pub fn permute(&self, dims: &[i64]) -> Tensor {
        self.view_by(&shape::PERMUTE, vec![ints(dims)])
    }

    /// Reshapes; one size may be `-1`.
    #[track_caller]
    #[must_use]
    pub fn view(&self, size: impl IntoSizes) -> Tensor {
        self.view_by(&shape::VIEW, vec![Value::IntList(size.into_sizes())])
    }

    /// Reshapes (copying if needed); one size may be `-1`.
    #[track_caller]
    #[must_use]
    pub fn reshape(&self, size: impl IntoSizes) -> Tensor {
        dispatch1(
            &shape::RESHAPE,
            vec![t(self), Value::IntList(size.into_sizes())],
            here(),
        )
    }

    /// Inserts a dim of size 1.
    #[track_caller]
    #[must_use]
    pub fn unsqueeze(&self, dim: i64) -> Tensor {
        self.view_by(&shape::UNSQUEEZE, vec![int(dim)])
    }

    /// `self[start:end:step]` along `dim` (Python slicing: negative and out-of-range
    /// bounds are clamped; `None` means the start or end).
    #[track_caller]
    #[must_use]
    pub fn slice(
        &self,
        dim: i64,
        start: Option<impl Into<SymInt>>,
        end: Option<impl Into<SymInt>>,
        step: i64,
    ) -> Tensor {
        let opt = |v: Option<SymInt>| v.map(Value::Int).unwrap_or(Value::None);
        let (start, end) = (start.map(Into::into), end.map(Into::into));
        let mut args = vec![int(dim), opt(start), opt(end)];
        // The default step is left out, as PyTorch's graphs print it.
        if step != 1 {
            args.push(int(step));
        }
        self.view_by(&shape::SLICE, args)
    }

    /// `self[start..]` along `dim`.
    #[track_caller]
    #[must_use]
    pub fn slice_from(&self, dim: i64, start: impl Into<SymInt>) -> Tensor {
        self.slice(dim, Some(start), None::<i64>, 1)
    }

    /// A copy with its own data (`aten::clone`). `Clone::clone` aliases instead.
    #[track_caller]
    #[must_use]
    pub fn copy(&self) -> Tensor {
        dispatch1(&shape::CLONE, vec![t(self)], here())
    }

    /// `self @ weight.T + bias` (`F::linear`).
    #[track_caller]
    #[must_use]
    pub fn linear(&self, weight: &Tensor, bias: Option<&Tensor>) -> Tensor {
        dispatch1(
            &linalg::LINEAR,
            linalg::linear_args(self, weight, bias),
            here(),
        )
    }

    /// Calls an op by its registry entry with explicit arguments (custom ops, tests).
    #[track_caller]
    #[must_use]
    pub fn call_op(op: &'static OpDef, args: Vec<Value>) -> Vec<Tensor> {
        dispatch(op, args, here())
    }
}

// ----- operator overloads -------------------------------------------------------------

macro_rules! binary_operator {
    ($trait:ident, $method:ident) => {
        impl<R: Into<Operand>> $trait<R> for &Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $method(self, rhs: R) -> Tensor {
                Tensor::$method(self, rhs)
            }
        }
        impl<R: Into<Operand>> $trait<R> for Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $method(self, rhs: R) -> Tensor {
                Tensor::$method(&self, rhs)
            }
        }
    };
}

binary_operator!(Add, add);
binary_operator!(Sub, sub);
binary_operator!(Mul, mul);
binary_operator!(Div, div);

macro_rules! scalar_lhs {
    ($($t:ty),*) => {$(
        impl Add<&Tensor> for $t {
            type Output = Tensor;
            #[track_caller]
            fn add(self, rhs: &Tensor) -> Tensor { rhs.add(self) }
        }
        impl Add<Tensor> for $t {
            type Output = Tensor;
            #[track_caller]
            fn add(self, rhs: Tensor) -> Tensor { rhs.add(self) }
        }
        impl Mul<&Tensor> for $t {
            type Output = Tensor;
            #[track_caller]
            fn mul(self, rhs: &Tensor) -> Tensor { rhs.mul(self) }
        }
        impl Mul<Tensor> for $t {
            type Output = Tensor;
            #[track_caller]
            fn mul(self, rhs: Tensor) -> Tensor { rhs.mul(self) }
        }
    )*};
}

scalar_lhs!(f64, f32, i64, i32);

impl Neg for &Tensor {
    type Output = Tensor;
    #[track_caller]
    fn neg(self) -> Tensor {
        Tensor::neg(self)
    }
}

impl Neg for Tensor {
    type Output = Tensor;
    #[track_caller]
    fn neg(self) -> Tensor {
        Tensor::neg(&self)
    }
}
