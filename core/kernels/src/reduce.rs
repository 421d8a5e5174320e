//! Reductions on plain slices: [`sum`] over any set of dims, accumulated in f64 and
//! scaled once (a mean is a sum scaled by `1 / count`) — the eager `sum` / `mean` of
//! floats and the compiled runtime's reduction step both call it.

use crate::gemm::Float;
use crate::KernelError;

/// `out = scale * Σ x` over the dims where `reduce[d]`, `x` contiguous of `shape`, `out`
/// contiguous of the kept dims (keeping or dropping the reduced dims of size 1 does not
/// change the layout). In f64, rounded once.
///
/// ```
/// // Row sums and the mean of columns of a [2, 3] matrix.
/// let x = [1f32, 2.0, 3.0, 4.0, 5.0, 6.0];
/// let mut rows = [0f32; 2];
/// ferrex_kernels::reduce::sum(&x, &[2, 3], &[false, true], 1.0, &mut rows).unwrap();
/// assert_eq!(rows, [6.0, 15.0]);
/// let mut cols = [0f32; 3];
/// ferrex_kernels::reduce::sum(&x, &[2, 3], &[true, false], 0.5, &mut cols).unwrap();
/// assert_eq!(cols, [2.5, 3.5, 4.5]);
/// ```
pub fn sum<T: Float>(
    x: &[T],
    shape: &[usize],
    reduce: &[bool],
    scale: f64,
    out: &mut [T],
) -> Result<(), KernelError> {
    let numel = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| KernelError::new("the tensor's size overflows"))?;
    let kept: usize = shape
        .iter()
        .zip(reduce)
        .filter(|(_, r)| !**r)
        .map(|(d, _)| *d)
        .product();
    if reduce.len() != shape.len() || x.len() < numel || out.len() < kept {
        return Err(KernelError::new(
            "a reduction operand is smaller than its shape",
        ));
    }
    // The output stride of each input dim (0 where reduced).
    let rank = shape.len();
    let mut ostride = vec![0usize; rank];
    let mut st = 1usize;
    for d in (0..rank).rev() {
        if !reduce[d] {
            ostride[d] = st;
            st *= shape[d];
        }
    }
    let mut acc = vec![0f64; kept];
    if numel > 0 {
        let inner = shape.last().copied().unwrap_or(1);
        let inner_stride = ostride.last().copied().unwrap_or(0);
        let outer = rank.saturating_sub(1);
        let mut idx = vec![0usize; outer];
        let mut base = 0usize;
        for row in x[..numel].chunks_exact(inner.max(1)) {
            if inner_stride == 0 {
                acc[base] += row.iter().map(|v| v.as_f64()).sum::<f64>();
            } else {
                for (j, v) in row.iter().enumerate() {
                    acc[base + j] += v.as_f64();
                }
            }
            for d in (0..outer).rev() {
                idx[d] += 1;
                base += ostride[d];
                if idx[d] < shape[d] {
                    break;
                }
                base -= ostride[d] * shape[d];
                idx[d] = 0;
            }
        }
    }
    for (o, a) in out[..kept].iter_mut().zip(&acc) {
        *o = T::of_f64(a * scale);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_over_any_dims_match_index_arithmetic() {
        let shape = [2, 3, 4];
        let x: Vec<f64> = (0..24).map(|v| f64::from(v) * 0.25 - 1.0).collect();
        for mask in 0..8u32 {
            let reduce: Vec<bool> = (0..3).map(|d| mask & (1 << d) != 0).collect();
            let kept: Vec<usize> = (0..3).filter(|&d| !reduce[d]).map(|d| shape[d]).collect();
            let mut want = vec![0f64; kept.iter().product()];
            for (flat, v) in x.iter().enumerate() {
                let idx = [flat / 12, flat / 4 % 3, flat % 4];
                let at = (0..3)
                    .filter(|&d| !reduce[d])
                    .fold(0, |a, d| a * shape[d] + idx[d]);
                want[at] += v;
            }
            let mut got = vec![0f64; want.len()];
            sum(&x, &shape, &reduce, 1.0, &mut got).unwrap();
            assert_eq!(got, want, "reduce {reduce:?}");
        }
        let mut small = [0f64; 1];
        assert!(sum(&x, &shape, &[false, true, true], 1.0, &mut small).is_err());
    }
}
