//! Shape helpers shared by the meta functions of several op families.

use crate::error::OpError;
use crate::symbolic::SymInt;

/// Turns a possibly negative dim into an index into `rank` dims.
pub fn normalize_dim(dim: i64, rank: usize) -> Result<usize, OpError> {
    let r = rank.max(1) as i64;
    let d = if dim < 0 { dim + r } else { dim };
    if d < 0 || d >= r {
        return Err(OpError(format!(
            "dimension out of range (expected to be in range of [{}, {}], but got {dim})",
            -r,
            r - 1
        )));
    }
    Ok(d as usize)
}

/// Normalises a list of dims and rejects repeats.
pub fn normalize_dims(dims: &[i64], rank: usize) -> Result<Vec<usize>, OpError> {
    let mut out = Vec::with_capacity(dims.len());
    for &d in dims {
        let n = normalize_dim(d, rank)?;
        if out.contains(&n) {
            return Err(OpError(format!(
                "dim {n} appears multiple times in the list of dims"
            )));
        }
        out.push(n);
    }
    Ok(out)
}

/// The broadcast shape of two shapes (NumPy rules). With symbolic sizes, a size that is
/// not statically 1 is assumed to be the broadcast size; where both are symbolic and
/// differ, their equality is guarded.
pub fn broadcast_shapes(a: &[SymInt], b: &[SymInt]) -> Result<Vec<SymInt>, OpError> {
    let n = a.len().max(b.len());
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let da = if i + a.len() >= n {
            Some(&a[i + a.len() - n])
        } else {
            None
        };
        let db = if i + b.len() >= n {
            Some(&b[i + b.len() - n])
        } else {
            None
        };
        let size = match (da, db) {
            (Some(x), None) | (None, Some(x)) => x.clone(),
            (Some(x), Some(y)) => {
                if x.as_int() == Some(1) {
                    y.clone()
                } else if y.as_int() == Some(1) || x.same_as(y) {
                    x.clone()
                } else if x.hint() == 1 && x.sym_eq(&SymInt::Int(1)) {
                    y.clone()
                } else if (y.hint() == 1 && y.sym_eq(&SymInt::Int(1))) || x.sym_eq(y) {
                    x.clone()
                } else {
                    return Err(OpError(format!(
                        "The size of tensor a ({x}) must match the size of tensor b ({y}) at non-singleton dimension {i}"
                    )));
                }
            }
            (None, None) => SymInt::Int(1),
        };
        out.push(size);
    }
    Ok(out)
}

/// Concrete sizes from symbolic ones (kernels run on concrete tensors).
pub fn concrete(sizes: &[SymInt]) -> Vec<usize> {
    sizes.iter().map(|s| s.hint().max(0) as usize).collect()
}

/// Whether two sizes are equal (for symbolic sizes, by a recorded guard unless their
/// difference is constant).
pub(crate) fn sizes_match(a: &SymInt, b: &SymInt) -> bool {
    a.sym_eq(b)
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

/// Argument `i` as an optional list of floats (`float[]?`); ints are accepted too.
pub(crate) fn opt_float_list(args: &super::OpArgs, i: usize) -> Result<Option<Vec<f64>>, OpError> {
    use super::Value;
    match args.get(i) {
        Value::None => Ok(None),
        Value::FloatList(v) => Ok(Some(v)),
        Value::IntList(v) => Ok(Some(v.iter().map(|s| s.hint() as f64).collect())),
        Value::Float(f) => Ok(Some(vec![f])),
        Value::Int(v) => Ok(Some(vec![v.hint() as f64])),
        _ => Err(OpError(format!(
            "argument {i} must be a list of floats or None"
        ))),
    }
}

/// The meta of a tensor, with its error as an [`OpError`].
pub(crate) fn meta_of(t: &crate::tensor::Tensor) -> Result<crate::tensor::TensorMeta, OpError> {
    t.meta().map_err(|e| OpError(e.to_string()))
}

/// Runs `$body` with `$T` naming the element type of `$dtype`.
macro_rules! with_dtype {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::tensor::DType::Bool => {
                type $T = bool;
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
