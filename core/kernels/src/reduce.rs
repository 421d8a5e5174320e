//! Reductions on plain slices: [`sum`] over any set of dims, accumulated in f64 and
//! scaled once (a mean is a sum scaled by `1 / count`), and [`extreme`] (`amax` /
//! `amin`) — the eager ops on floats and the compiled runtime's reduction step both call
//! them. Both walk the input once in memory order; a reduced last dim is folded on 8
//! interleaved accumulators (an in-order f64 sum is one dependent chain: a mean over
//! rows of 1000 took 0.65 ns an element).

use crate::gemm::Float;
use crate::KernelError;

/// What a reduction step computes over its dims.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    Sum,
    Mean,
    /// `amax`: the largest value; NaN if any is NaN.
    Max,
    /// `amin`: the smallest value; NaN if any is NaN.
    Min,
}

impl Reduction {
    /// The name of the op (for plans and messages).
    pub fn name(self) -> &'static str {
        match self {
            Reduction::Sum => "sum",
            Reduction::Mean => "mean",
            Reduction::Max => "amax",
            Reduction::Min => "amin",
        }
    }

    /// `x` of `shape` reduced over the dims where `reduce[d]` into `out` (the kept dims,
    /// contiguous): [`sum`] (a mean scaled by one over the count) or [`extreme`].
    pub fn run<T: Float>(
        self,
        x: &[T],
        shape: &[usize],
        reduce: &[bool],
        out: &mut [T],
    ) -> Result<(), KernelError> {
        match self {
            Reduction::Sum => sum(x, shape, reduce, 1.0, out),
            Reduction::Mean => {
                let count: usize = (shape.iter().zip(reduce))
                    .filter(|(_, r)| **r)
                    .map(|(d, _)| *d)
                    .product();
                sum(x, shape, reduce, 1.0 / count as f64, out)
            }
            Reduction::Max => extreme(x, shape, reduce, true, out),
            Reduction::Min => extreme(x, shape, reduce, false, out),
        }
    }
}

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
    let add = |a: f64, b: f64| a + b;
    let acc = crate::wide(Fold {
        x,
        shape,
        reduce,
        init: 0.0,
        combine: add,
    })?;
    let out = out
        .get_mut(..acc.len())
        .ok_or_else(|| KernelError::new("a reduction's output is smaller than its shape"))?;
    for (o, a) in out.iter_mut().zip(&acc) {
        *o = T::of_f64(a * scale);
    }
    Ok(())
}

/// `out = max x` (`max`) or `min x` over the dims where `reduce[d]`, laid out as
/// [`sum`]'s; NaN wherever a reduced value is NaN, as PyTorch's `amax` / `amin`. An
/// empty reduction is an error (it has no identity).
///
/// ```
/// let x = [1f32, 5.0, 3.0, -4.0, 2.0, 0.5];
/// let mut rows = [0f32; 2];
/// ferrex_kernels::reduce::extreme(&x, &[2, 3], &[false, true], true, &mut rows).unwrap();
/// assert_eq!(rows, [5.0, 2.0]);
/// ```
pub fn extreme<T: Float>(
    x: &[T],
    shape: &[usize],
    reduce: &[bool],
    max: bool,
    out: &mut [T],
) -> Result<(), KernelError> {
    let empty = shape.iter().zip(reduce).any(|(&d, &r)| r && d == 0);
    let kept_empty = shape.iter().zip(reduce).any(|(&d, &r)| !r && d == 0);
    if empty && !kept_empty {
        return Err(KernelError::new(format!(
            "{}: the reduced dims are empty, and the reduction has no identity",
            if max { "amax" } else { "amin" }
        )));
    }
    let acc = if max {
        let larger = |a: f64, b: f64| if b > a || b.is_nan() { b } else { a };
        crate::wide(Fold {
            x,
            shape,
            reduce,
            init: f64::NEG_INFINITY,
            combine: larger,
        })?
    } else {
        let smaller = |a: f64, b: f64| if b < a || b.is_nan() { b } else { a };
        crate::wide(Fold {
            x,
            shape,
            reduce,
            init: f64::INFINITY,
            combine: smaller,
        })?
    };
    let out = out
        .get_mut(..acc.len())
        .ok_or_else(|| KernelError::new("a reduction's output is smaller than its shape"))?;
    for (o, a) in out.iter_mut().zip(&acc) {
        *o = T::of_f64(*a);
    }
    Ok(())
}

/// The walk [`sum`] and [`extreme`] share: `x` folded by `combine` from `init` into one
/// f64 per kept element, on the widest vectors ([`crate::wide`]).
struct Fold<'a, T, F> {
    x: &'a [T],
    shape: &'a [usize],
    reduce: &'a [bool],
    init: f64,
    combine: F,
}

impl<T: Float, F: Fn(f64, f64) -> f64 + Copy> crate::WideLoop for Fold<'_, T, F> {
    type Output = Result<Vec<f64>, KernelError>;

    #[inline(always)]
    fn run(self) -> Self::Output {
        let Fold {
            x,
            shape,
            reduce,
            init,
            combine,
        } = self;
        if reduce.len() != shape.len() {
            return Err(KernelError::new(
                "a reduction operand is smaller than its shape",
            ));
        }
        // Neighbouring dims both reduced or both kept are one dim of their product (a
        // global pool's `[N, C, H, W]` over `[2, 3]` folds rows of `H * W`, not of `W`).
        let (shape, reduce) = merge_dims(shape, reduce);
        let (shape, reduce) = (&shape[..], &reduce[..]);
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
        if reduce.len() != shape.len() || x.len() < numel {
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
        let mut acc = crate::alloc::try_filled(kept, init)?;
        if numel == 0 {
            return Ok(acc);
        }
        let inner = shape.last().copied().unwrap_or(1);
        let inner_stride = ostride.last().copied().unwrap_or(0);
        let outer = rank.saturating_sub(1);
        let mut idx = vec![0usize; outer];
        let mut base = 0usize;
        for row in x[..numel].chunks_exact(inner.max(1)) {
            if inner_stride == 0 {
                acc[base] = combine(acc[base], fold_row(row, init, combine));
            } else {
                for (a, v) in acc[base..base + row.len()].iter_mut().zip(row) {
                    *a = combine(*a, v.as_f64());
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
        Ok(acc)
    }
}

/// `shape` with each run of neighbouring dims that are all reduced (or all kept) merged
/// into one; dims of size 1 join either run.
fn merge_dims(shape: &[usize], reduce: &[bool]) -> (Vec<usize>, Vec<bool>) {
    let (mut dims, mut flags): (Vec<usize>, Vec<bool>) = (Vec::new(), Vec::new());
    for (&d, &r) in shape.iter().zip(reduce) {
        match (dims.last_mut(), flags.last()) {
            (Some(last), Some(&f)) if f == r || d == 1 => *last *= d,
            (Some(last), Some(_)) if *last == 1 => {
                *last = d;
                if let Some(f) = flags.last_mut() {
                    *f = r;
                }
            }
            _ => {
                dims.push(d);
                flags.push(r);
            }
        }
    }
    (dims, flags)
}

/// A row folded on 8 interleaved accumulators, then across them.
#[inline(always)]
fn fold_row<T: Float>(row: &[T], init: f64, combine: impl Fn(f64, f64) -> f64) -> f64 {
    let mut lanes = [init; 8];
    let mut chunks = row.chunks_exact(8);
    for c in &mut chunks {
        for (l, v) in lanes.iter_mut().zip(c) {
            *l = combine(*l, v.as_f64());
        }
    }
    let mut total = lanes.into_iter().fold(init, &combine);
    for v in chunks.remainder() {
        total = combine(total, v.as_f64());
    }
    total
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

    #[test]
    fn maxima_and_minima_over_any_dims_match_index_arithmetic_and_keep_nan() {
        // Rows of 19 (past the 8 accumulators and their remainder).
        let shape = [3, 2, 19];
        let x: Vec<f32> = (0..114).map(|v| ((v * 37) % 101) as f32 - 50.0).collect();
        for mask in 1..8u32 {
            let reduce: Vec<bool> = (0..3).map(|d| mask & (1 << d) != 0).collect();
            let kept: usize = (0..3).filter(|&d| !reduce[d]).map(|d| shape[d]).product();
            let (mut hi, mut lo) = (vec![f32::MIN; kept], vec![f32::MAX; kept]);
            for (flat, &v) in x.iter().enumerate() {
                let idx = [flat / 38, flat / 19 % 2, flat % 19];
                let at = (0..3)
                    .filter(|&d| !reduce[d])
                    .fold(0, |a, d| a * shape[d] + idx[d]);
                hi[at] = hi[at].max(v);
                lo[at] = lo[at].min(v);
            }
            let mut got = vec![0f32; kept];
            Reduction::Max.run(&x, &shape, &reduce, &mut got).unwrap();
            assert_eq!(got, hi, "amax over {reduce:?}");
            Reduction::Min.run(&x, &shape, &reduce, &mut got).unwrap();
            assert_eq!(got, lo, "amin over {reduce:?}");
        }
        let mut y = x.clone();
        y[40] = f32::NAN; // sample 1, row 0
        let mut got = vec![0f32; 6];
        extreme(&y, &shape, &[false, false, true], true, &mut got).unwrap();
        assert!(got[2].is_nan() && got.iter().filter(|v| v.is_nan()).count() == 1);
        assert!(extreme(&y, &[2, 0], &[false, true], false, &mut got).is_err());
        assert!(extreme(&y, &[0, 3], &[false, true], false, &mut got).is_ok());
    }

    /// Dims of size 1 and runs of reduced or kept dims (merged before the walk) give
    /// what index arithmetic gives, for every subset of dims.
    #[test]
    fn sums_over_any_subset_of_dims_with_unit_dims_match_index_arithmetic() {
        let shape = [2, 1, 3, 1, 4];
        let x: Vec<f64> = (0..24).map(|v| f64::from(v) * 0.75 - 5.0).collect();
        for mask in 0..32u32 {
            let reduce: Vec<bool> = (0..5).map(|d| mask & (1 << d) != 0).collect();
            let kept: usize = (0..5).filter(|&d| !reduce[d]).map(|d| shape[d]).product();
            let mut want = vec![0f64; kept];
            for (flat, v) in x.iter().enumerate() {
                let idx = [flat / 12, 0, flat / 4 % 3, 0, flat % 4];
                let at = (0..5)
                    .filter(|&d| !reduce[d])
                    .fold(0, |a, d| a * shape[d] + idx[d]);
                want[at] += v;
            }
            let mut got = vec![0f64; kept];
            sum(&x, &shape, &reduce, 1.0, &mut got).unwrap();
            assert_eq!(got, want, "reduce {reduce:?}");
        }
    }

    #[test]
    fn long_row_sums_and_means_are_the_exact_sums_rounded_once() {
        let x: Vec<f32> = (0..1003).map(|v| (v % 17) as f32 * 0.5 - 3.0).collect();
        let exact: f64 = x.iter().map(|&v| f64::from(v)).sum();
        let mut got = [0f32; 1];
        Reduction::Sum
            .run(&x, &[1, 1003], &[false, true], &mut got)
            .unwrap();
        assert_eq!(got[0], exact as f32);
        Reduction::Mean.run(&x, &[1003], &[true], &mut got).unwrap();
        assert_eq!(got[0], (exact * (1.0 / 1003.0)) as f32);
    }
}
