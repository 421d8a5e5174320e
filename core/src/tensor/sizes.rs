//! Size rules every layer above uses: dims counted from the end, and broadcasting
//! (the op registry's meta functions, the tensor API, closeness checks).

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
