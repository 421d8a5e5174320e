//! Shape helpers shared by the meta functions of several op families.

use crate::error::OpError;
use crate::symbolic::SymInt;

pub use crate::tensor::sizes::{broadcast_shapes, normalize_dim, normalize_dims};

/// Concrete sizes from symbolic ones (kernels run on concrete tensors).
pub fn concrete(sizes: &[SymInt]) -> Vec<usize> {
    sizes.iter().map(|s| s.hint().max(0) as usize).collect()
}

/// Sizes known when a program is planned, as integers; `None` if one is symbolic (a
/// lowering then leaves the call to the eager kernel).
pub fn known_ints(sizes: &[SymInt]) -> Option<Vec<i64>> {
    sizes.iter().map(SymInt::as_int).collect()
}

/// Non-negative integers as an array of `N` (a 3-D call's per-dim parameters, its
/// batched sizes); `what` names them in the error.
pub(crate) fn usize_array<const N: usize>(v: &[i64], what: &str) -> Result<[usize; N], OpError> {
    let u: Vec<usize> = (v.iter().map(|&x| usize::try_from(x)))
        .collect::<Result<_, _>>()
        .map_err(|_| OpError(format!("{what}: expected non-negative values, got {v:?}")))?;
    u.try_into()
        .map_err(|_| OpError(format!("{what}: expected {N} values, got {}", v.len())))
}

/// Whether two sizes are equal (for symbolic sizes, by a recorded guard unless their
/// difference is constant).
pub(crate) fn sizes_match(a: &SymInt, b: &SymInt) -> bool {
    a.sym_eq(b)
}

/// Whether two shapes are equal, size by size ([`sizes_match`]).
pub(crate) fn shapes_match(a: &[SymInt], b: &[SymInt]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(a, b)| sizes_match(a, b))
}

/// A per-spatial-dim parameter (`kernel_size`, `stride`, …) given as one value or one
/// per dim, expanded to `n` concrete values.
pub(crate) fn expand_param(list: &[SymInt], n: usize, name: &str) -> Result<Vec<i64>, OpError> {
    match list.len() {
        1 => Ok(vec![list[0].hint(); n]),
        l if l == n => Ok(list.iter().map(SymInt::hint).collect()),
        l => Err(OpError(format!(
            "{name} must either be a single int, or a tuple of {n} ints, got {l} values"
        ))),
    }
}

/// The meta of a tensor, with its error as an [`OpError`].
pub(crate) fn meta_of(t: &crate::tensor::Tensor) -> Result<crate::tensor::TensorMeta, OpError> {
    t.meta().map_err(|e| OpError(e.to_string()))
}

/// The first tensor of an op call's results (`op` names it in the error).
pub(crate) fn first_result(
    results: Vec<crate::tensor::Tensor>,
    op: &str,
) -> Result<crate::tensor::Tensor, OpError> {
    results
        .into_iter()
        .next()
        .ok_or_else(|| OpError(format!("{op} gave no tensor")))
}

/// Runs `$body` with `$T` naming the element type of `$dtype`.
macro_rules! with_dtype {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::tensor::DType::Bool => {
                type $T = bool;
                $body
            }
            $crate::tensor::DType::U8 => {
                type $T = u8;
                $body
            }
            $crate::tensor::DType::I32 => {
                type $T = i32;
                $body
            }
            $crate::tensor::DType::I64 => {
                type $T = i64;
                $body
            }
            $crate::tensor::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::tensor::DType::F64 => {
                type $T = f64;
                $body
            }
        }
    };
}
pub(crate) use with_dtype;

/// Runs `$body` with `$T` naming the floating element type of `$dtype`; other dtypes
/// are an error naming `$what`.
macro_rules! with_float_dtype {
    ($dtype:expr, $what:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::tensor::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::tensor::DType::F64 => {
                type $T = f64;
                $body
            }
            d => {
                return Err($crate::error::OpError(format!(
                    "\"{}\" not implemented for '{}'",
                    $what, d
                )))
            }
        }
    };
}
pub(crate) use with_float_dtype;
