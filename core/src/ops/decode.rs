//! Decoding one call argument into its typed field: what the argument structs that
//! `op_def!` generates from a schema call, one function per ATen type. Generic over what
//! a tensor is (`Tensor` in calls, a node index in the runtime's planner), so every
//! component reads an op's arguments through the same decode, with the schema's defaults.
//!
//! Errors name the argument: "argument `dim` must be an int, got a float".

use super::Argument;
use crate::error::OpError;
use crate::symbolic::SymInt;
use crate::tensor::{DType, Scalar};

fn wrong<T>(name: &str, want: &str, got: &Argument<T>) -> OpError {
    OpError(format!(
        "argument `{name}` must be {want}, got {}",
        got.kind()
    ))
}

pub fn tensor<T>(v: Argument<T>, name: &str) -> Result<T, OpError> {
    match v {
        Argument::Tensor(t) => Ok(t),
        v => Err(wrong(name, "a tensor", &v)),
    }
}

/// A `Tensor` argument that may also be a plain number standing where a tensor may (as
/// PyTorch's wrapped numbers: `aten::add.Tensor(x, 2)`); an op declares which of its
/// arguments accept one (`op_def!`'s `wrapped_numbers`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TensorOrNumber<T> {
    Tensor(T),
    Number(Scalar),
}

pub fn tensor_or_number<T>(v: Argument<T>, name: &str) -> Result<TensorOrNumber<T>, OpError> {
    match v {
        Argument::Tensor(t) => Ok(TensorOrNumber::Tensor(t)),
        Argument::Float(v) => Ok(TensorOrNumber::Number(Scalar::Float(v))),
        Argument::Int(v) => Ok(TensorOrNumber::Number(Scalar::Int(v.hint()))),
        Argument::Bool(b) => Ok(TensorOrNumber::Number(Scalar::Bool(b))),
        // A SymBool reaches a kernel with its sizes bound (`Evaluator::size`).
        Argument::SymBool(b) => Ok(TensorOrNumber::Number(Scalar::Bool(
            b.op.eval(b.lhs.hint(), b.rhs.hint()),
        ))),
        v => Err(wrong(name, "a tensor or a number", &v)),
    }
}

pub fn opt_tensor<T>(v: Argument<T>, name: &str) -> Result<Option<T>, OpError> {
    match v {
        Argument::Tensor(t) => Ok(Some(t)),
        Argument::None => Ok(None),
        v => Err(wrong(name, "a tensor or None", &v)),
    }
}

pub fn tensor_list<T>(v: Argument<T>, name: &str) -> Result<Vec<T>, OpError> {
    match v {
        Argument::TensorList(t) => Ok(t),
        Argument::Tensor(t) => Ok(vec![t]),
        v => Err(wrong(name, "a tensor list", &v)),
    }
}

/// `Tensor?[]` (a plain tensor list is accepted too).
pub fn opt_tensor_list<T>(v: Argument<T>, name: &str) -> Result<Vec<Option<T>>, OpError> {
    match v {
        Argument::OptTensorList(t) => Ok(t),
        Argument::TensorList(t) => Ok(t.into_iter().map(Some).collect()),
        Argument::Tensor(t) => Ok(vec![Some(t)]),
        v => Err(wrong(name, "a list of optional tensors", &v)),
    }
}

pub fn sym_int<T>(v: Argument<T>, name: &str) -> Result<SymInt, OpError> {
    match v {
        Argument::Int(v) => Ok(v),
        Argument::Bool(b) => Ok(SymInt::Int(b as i64)),
        v => Err(wrong(name, "an int", &v)),
    }
}

/// A concrete int: a symbolic one reads as its example value (its sizes bound).
pub fn int<T>(v: Argument<T>, name: &str) -> Result<i64, OpError> {
    sym_int(v, name).map(|s| s.hint())
}

pub fn sym_int_list<T>(v: Argument<T>, name: &str) -> Result<Vec<SymInt>, OpError> {
    match v {
        Argument::IntList(v) => Ok(v),
        Argument::Int(v) => Ok(vec![v]),
        v => Err(wrong(name, "an int list", &v)),
    }
}

pub fn int_list<T>(v: Argument<T>, name: &str) -> Result<Vec<i64>, OpError> {
    Ok(sym_int_list(v, name)?.iter().map(SymInt::hint).collect())
}

pub fn float<T>(v: Argument<T>, name: &str) -> Result<f64, OpError> {
    match v {
        Argument::Float(v) => Ok(v),
        Argument::Int(v) => Ok(v.hint() as f64),
        Argument::Bool(b) => Ok(b as i64 as f64),
        v => Err(wrong(name, "a number", &v)),
    }
}

/// `float[]`; ints are accepted too.
pub fn float_list<T>(v: Argument<T>, name: &str) -> Result<Vec<f64>, OpError> {
    match v {
        Argument::FloatList(v) => Ok(v),
        Argument::IntList(v) => Ok(v.iter().map(|s| s.hint() as f64).collect()),
        Argument::Float(f) => Ok(vec![f]),
        Argument::Int(v) => Ok(vec![v.hint() as f64]),
        v => Err(wrong(name, "a list of floats", &v)),
    }
}

/// A number as it was given (a PyTorch `Scalar`): integers stay exact.
pub fn scalar<T>(v: Argument<T>, name: &str) -> Result<Scalar, OpError> {
    match v {
        Argument::Float(v) => Ok(Scalar::Float(v)),
        Argument::Int(v) => Ok(Scalar::Int(v.hint())),
        Argument::Bool(b) => Ok(Scalar::Bool(b)),
        v => Err(wrong(name, "a number", &v)),
    }
}

pub fn bool<T>(v: Argument<T>, name: &str) -> Result<bool, OpError> {
    match v {
        Argument::Bool(b) => Ok(b),
        Argument::Int(v) => Ok(v.hint() != 0),
        // A SymBool reaches a kernel with its sizes bound (`Evaluator::size`).
        Argument::SymBool(b) => Ok(b.op.eval(b.lhs.hint(), b.rhs.hint())),
        v => Err(wrong(name, "a bool", &v)),
    }
}

pub fn str<T>(v: Argument<T>, name: &str) -> Result<String, OpError> {
    match v {
        Argument::Str(s) => Ok(s),
        v => Err(wrong(name, "a string", &v)),
    }
}

pub fn dtype<T>(v: Argument<T>, name: &str) -> Result<DType, OpError> {
    match v {
        Argument::DType(d) => Ok(d),
        v => Err(wrong(name, "a dtype", &v)),
    }
}

/// `Layout`, `Device`, `MemoryFormat`, `Generator`: passed through uninterpreted.
pub fn opaque<T>(v: Argument<T>, _name: &str) -> Result<Argument<T>, OpError> {
    Ok(v)
}

/// An optional argument: `None` is `None`, anything else decodes with `f`.
pub fn optional<T, U>(
    v: Argument<T>,
    name: &str,
    f: fn(Argument<T>, &str) -> Result<U, OpError>,
) -> Result<Option<U>, OpError> {
    match v {
        Argument::None => Ok(None),
        v => f(v, name).map(Some),
    }
}

/// Whether two normalized argument lists are equal: a reused argument struct's
/// signature against the schema reusing it, checked at compile time.
pub const fn same_signature(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The argument structs `op_def!` generates: decoded once per call from the call's
/// arguments, with the schema's defaults.
pub trait OpArguments<T>: Sized {
    /// The schema's argument list in normal form (`Tensor self, Scalar alpha=1`).
    const SIGNATURE: &'static str;
    fn decode(values: &[Argument<T>]) -> Result<Self, OpError>;
}
