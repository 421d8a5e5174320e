//! Normalizations on plain slices: [`softmax`] (and log-softmax) along one dim, in
//! f64, rounded once to the element type — the eager `softmax`/`log_softmax` ops and
//! the compiled runtime's softmax step both call it.

use crate::gemm::Float;
use crate::KernelError;

/// Softmax (or log-softmax when `log`) of `x` viewed as `[outer, len, inner]` along
/// the middle dim, into `out` (same layout): each lane is shifted by its maximum,
/// exponentiated and summed in f64.
///
/// ```
/// let x = [0f32, 0.0, 0.0, 0.0];
/// let mut out = [0f32; 4];
/// ferrex_kernels::norm::softmax(&x, [1, 4, 1], false, &mut out).unwrap();
/// assert_eq!(out, [0.25; 4]);
/// ```
pub fn softmax<T: Float>(
    x: &[T],
    [outer, len, inner]: [usize; 3],
    log: bool,
    out: &mut [T],
) -> Result<(), KernelError> {
    let numel = outer
        .checked_mul(len)
        .and_then(|v| v.checked_mul(inner))
        .ok_or_else(|| KernelError::new("the tensor's size overflows"))?;
    if x.len() < numel || out.len() < numel {
        return Err(KernelError::new(
            "a softmax operand is smaller than its shape",
        ));
    }
    let mut lane = vec![0f64; len];
    for o in 0..outer {
        for i in 0..inner {
            let at = |j: usize| (o * len + j) * inner + i;
            for (j, v) in lane.iter_mut().enumerate() {
                *v = x[at(j)].as_f64();
            }
            let m = lane.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
            lane.iter_mut().for_each(|v| *v -= m);
            let sum: f64 = lane.iter().map(|v| v.exp()).sum();
            if log {
                let ls = sum.ln();
                for (j, v) in lane.iter().enumerate() {
                    out[at(j)] = T::of_f64(v - ls);
                }
            } else {
                for (j, v) in lane.iter().enumerate() {
                    out[at(j)] = T::of_f64(v.exp() / sum);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_along_any_dim_sum_to_one_and_log_agrees() {
        // [2, 3, 2]: softmax along the middle dim.
        let x: Vec<f64> = (0..12).map(|v| f64::from(v) * 0.5 - 2.0).collect();
        let mut out = vec![0f64; 12];
        softmax(&x, [2, 3, 2], false, &mut out).unwrap();
        for o in 0..2 {
            for i in 0..2 {
                let lane: Vec<f64> = (0..3).map(|j| x[(o * 3 + j) * 2 + i]).collect();
                let z: f64 = lane.iter().map(|v| v.exp()).sum();
                for j in 0..3 {
                    let got = out[(o * 3 + j) * 2 + i];
                    assert!((got - lane[j].exp() / z).abs() < 1e-15);
                }
            }
        }
        let mut logs = vec![0f64; 12];
        softmax(&x, [2, 3, 2], true, &mut logs).unwrap();
        for (l, p) in logs.iter().zip(&out) {
            assert!((l.exp() - p).abs() < 1e-15);
        }
        // A large shift does not overflow.
        let big = [1000f32, 1000.0];
        let mut o = [0f32; 2];
        softmax(&big, [1, 2, 1], false, &mut o).unwrap();
        assert_eq!(o, [0.5, 0.5]);
        assert!(softmax(&big, [1, 3, 1], false, &mut o).is_err());
    }
}
