//! Normalizations on plain slices: [`softmax`] (and log-softmax) along one dim,
//! [`layer_norm`] over trailing elements and [`group_norm`] over channel groups, in f64,
//! rounded once to the element type (but the softmax of contiguous f32 rows, in f32 as
//! PyTorch's) — the eager ops and the compiled runtime's steps both call them.

use crate::gemm::Float;
use crate::pointwise::{softmax_exp_f32, Fused, MulAdd, Split};
use crate::wide::{fold16, fold8};
use crate::KernelError;

/// Softmax (or log-softmax when `log`) of `x` viewed as `[outer, len, inner]` along
/// the middle dim, into `out` (same layout): each lane is shifted by its maximum,
/// exponentiated ([`Float::exp_at`]) and summed in f64; a softmax of contiguous f32
/// lanes (`inner` 1) on 16 lanes in f32, summed in f32, as PyTorch's.
///
/// ```
/// let x = [0f32, 0.0, 0.0, 0.0];
/// let mut out = [0f32; 4];
/// ferrex_kernels::norm::softmax(&x, [1, 4, 1], false, &mut out).unwrap();
/// assert_eq!(out, [0.25; 4]);
/// ```
pub fn softmax<T: Float>(
    x: &[T],
    geom: [usize; 3],
    log: bool,
    out: &mut [T],
) -> Result<(), KernelError> {
    lanes(x, geom, log, false, out)
}

/// [`softmax`], except that a lane whose every element is `-inf` gives zeros instead of
/// NaN (PyTorch's safe softmax, which its decomposition of attention spells with
/// `where(…any(x != -inf)…, s, 0)`).
pub fn safe_softmax<T: Float>(x: &[T], geom: [usize; 3], out: &mut [T]) -> Result<(), KernelError> {
    lanes(x, geom, false, true, out)
}

fn lanes<T: Float>(
    x: &[T],
    [outer, len, inner]: [usize; 3],
    log: bool,
    safe: bool,
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
    if let (1, false, Some(x), Some(out)) = (inner, log, T::as_f32(x), T::as_f32_mut(out)) {
        softmax_rows_f32(&x[..numel], len, safe, &mut out[..numel]);
        return Ok(());
    }
    let mut lane = vec![0f64; len];
    for o in 0..outer {
        for i in 0..inner {
            let at = |j: usize| (o * len + j) * inner + i;
            for (j, v) in lane.iter_mut().enumerate() {
                *v = x[at(j)].as_f64();
            }
            let m = lane.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
            if safe && lane.iter().all(|&v| v == f64::NEG_INFINITY) {
                (0..len).for_each(|j| out[at(j)] = T::ZERO);
                continue;
            }
            lane.iter_mut().for_each(|v| *v -= m);
            if log {
                let ls = lane.iter().map(|&v| T::exp_at(v)).sum::<f64>().ln();
                for (j, v) in lane.iter().enumerate() {
                    out[at(j)] = T::of_f64(v - ls);
                }
            } else {
                // Each exponential once, at the element type's precision.
                lane.iter_mut().for_each(|v| *v = T::exp_at(*v));
                let sum: f64 = lane.iter().sum();
                for (j, v) in lane.iter().enumerate() {
                    out[at(j)] = T::of_f64(v / sum);
                }
            }
        }
    }
    Ok(())
}

/// Softmax of contiguous f32 rows of `len` (the last dim's, as attention written out
/// and the core IR's decomposed attention have it): on 16 lanes in f32 as PyTorch's, the
/// sum in f32 and each probability divided by it in f64. Through f64 lane by lane it
/// took 5.7 ns an element (93 µs of a 266 µs core-IR transformer block).
fn softmax_rows_f32(x: &[f32], len: usize, safe: bool, out: &mut [f32]) {
    crate::wide(SoftmaxRows { x, len, safe, out });
}

struct SoftmaxRows<'a> {
    x: &'a [f32],
    len: usize,
    safe: bool,
    out: &'a mut [f32],
}

impl crate::wide::WideLoop for SoftmaxRows<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        if self.len == 0 {
            return;
        }
        for (row, out) in self.x.chunks(self.len).zip(self.out.chunks_mut(self.len)) {
            out.copy_from_slice(row);
            let stats = match crate::pointwise::fma() {
                true => exp_row_f32::<Fused>(out),
                false => exp_row_f32::<Split>(out),
            };
            match stats {
                Some((_, sum)) => out
                    .iter_mut()
                    .for_each(|v| *v = (f64::from(*v) / sum) as f32),
                // Every element -inf: zeros for the safe softmax (done), NaN for softmax.
                None if !self.safe => out.fill(f32::NAN),
                None => {}
            }
        }
    }
}

/// One f32 row turned into its exponentials against the row's maximum, in place (a
/// [`softmax`] row), returning the maximum and their sum. On 16 lanes in f32, as
/// PyTorch's softmax: through f64 the conversions cost more than the exponentials.
/// `None`, the row zeroed, when every element is -inf.
#[inline(always)]
fn exp_row_f32<M: MulAdd>(row: &mut [f32]) -> Option<(f64, f64)> {
    let m = fold16(row, f32::NEG_INFINITY, f32::max);
    if m == f32::NEG_INFINITY {
        row.fill(0.0);
        return None;
    }
    row.iter_mut()
        .for_each(|x| *x = softmax_exp_f32::<M>(*x - m));
    Some((f64::from(m), f64::from(fold16(row, 0.0, |a, b| a + b))))
}

/// The optional per-element affine parameters of [`layer_norm`] and where its row
/// statistics go (`native_layer_norm`'s mean and reciprocal standard deviation).
pub struct LayerNormParams<'a, T> {
    pub weight: Option<&'a [T]>,
    pub bias: Option<&'a [T]>,
    pub eps: f64,
}

/// Mean and `1 / sqrt(biased variance + eps)` of `values`, in f64: the statistics every
/// normalization here (layer, group, batch, instance) shifts and scales by.
///
/// The sums run over 8 interleaved partial sums ([`crate::wide::fold8`]), which vectorize
/// inside the norms' wide loops.
#[inline(always)]
pub fn moments(values: &[f64], eps: f64) -> (f64, f64) {
    moments_of(values, eps)
}

/// [`moments`] of values of any float type, each taken to f64 as it is read (the same
/// sums, so the same bits, as of the values converted first).
#[inline(always)]
fn moments_of<T: Float>(values: &[T], eps: f64) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let add = |a: f64, b: f64| a + b;
    let mean = fold8(values, 0.0, T::as_f64, add) / n;
    let var = fold8(
        values,
        0.0,
        |v| (v.as_f64() - mean) * (v.as_f64() - mean),
        add,
    ) / n;
    (mean, 1.0 / (var + eps).sqrt())
}

/// Layer norm of `x` viewed as `[rows, n]`: each row shifted by its mean and scaled by
/// `1 / sqrt(var + eps)` (biased variance), then `* weight + bias` per column, into
/// `out`; each row's mean and rstd into `stats` when given. In f64, rounded once.
///
/// ```
/// use ferrex_kernels::norm::{layer_norm, LayerNormParams};
/// let x = [1f32, 3.0];
/// let mut out = [0f32; 2];
/// let p = LayerNormParams { weight: None, bias: Some(&[1.0, 1.0]), eps: 0.0 };
/// layer_norm(&x, [1, 2], &p, &mut out, None).unwrap();
/// assert_eq!(out, [0.0, 2.0]);
/// ```
pub fn layer_norm<T: Float>(
    x: &[T],
    [rows, n]: [usize; 2],
    p: &LayerNormParams<'_, T>,
    out: &mut [T],
    stats: Option<(&mut [T], &mut [T])>,
) -> Result<(), KernelError> {
    let numel = rows
        .checked_mul(n)
        .ok_or_else(|| KernelError::new("the tensor's size overflows"))?;
    let short = |v: Option<&[T]>| v.is_some_and(|v| v.len() < n);
    let stats_short = stats
        .as_ref()
        .is_some_and(|(m, r)| m.len() < rows || r.len() < rows);
    if x.len() < numel || out.len() < numel || short(p.weight) || short(p.bias) || stats_short {
        return Err(KernelError::new(
            "a layer_norm operand is smaller than its shape",
        ));
    }
    crate::wide(LayerNormRows {
        x,
        rows,
        n,
        p,
        out,
        stats,
    });
    Ok(())
}

/// [`layer_norm`]'s loops (operands checked), run by [`crate::wide`].
struct LayerNormRows<'a, 'p, T> {
    x: &'a [T],
    rows: usize,
    n: usize,
    p: &'a LayerNormParams<'p, T>,
    out: &'a mut [T],
    stats: Option<(&'a mut [T], &'a mut [T])>,
}

impl<T: Float> crate::WideLoop for LayerNormRows<'_, '_, T> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let LayerNormRows {
            x,
            rows,
            n,
            p,
            out,
            mut stats,
        } = self;
        // Rows are read in place (no f64 copy) and their moments computed a block of
        // rows ahead of their normalization: each row's sums are one chain of dependent
        // adds, and the rows' chains, square roots and divisions then overlap.
        const AHEAD: usize = 4;
        let mut moments = [(0f64, 0f64); AHEAD];
        for r in 0..rows {
            if r % AHEAD == 0 {
                for (i, m) in moments.iter_mut().enumerate().take(rows - r) {
                    *m = moments_of(&x[(r + i) * n..(r + i + 1) * n], p.eps);
                }
            }
            let row = &x[r * n..(r + 1) * n];
            let (mean, rstd) = moments[r % AHEAD];
            let out = &mut out[r * n..(r + 1) * n];
            // One loop per parameter case: no branch per element.
            match (p.weight, p.bias) {
                (Some(w), Some(b)) => {
                    for ((o, v), (w, b)) in out.iter_mut().zip(row).zip(w.iter().zip(b)) {
                        *o = T::of_f64((v.as_f64() - mean) * rstd * w.as_f64() + b.as_f64());
                    }
                }
                (w, b) => {
                    for (j, (o, v)) in out.iter_mut().zip(row).enumerate() {
                        let mut y = (v.as_f64() - mean) * rstd;
                        if let Some(w) = w {
                            y *= w[j].as_f64();
                        }
                        if let Some(b) = b {
                            y += b[j].as_f64();
                        }
                        *o = T::of_f64(y);
                    }
                }
            }
            if let Some((means, rstds)) = stats.as_mut() {
                means[r] = T::of_f64(mean);
                rstds[r] = T::of_f64(rstd);
            }
        }
    }
}

/// Group norm of `x` viewed as `[n, c, hw]` with `groups` groups of `c / groups`
/// channels: each (sample, group) block shifted by its mean and scaled by `1 / sqrt(var +
/// eps)`, then `* weight + bias` per channel, into `out`; each block's mean and rstd into
/// `stats` (`[n, groups]`) when given. In f64, rounded once.
#[allow(clippy::too_many_arguments)]
pub fn group_norm<T: Float>(
    x: &[T],
    [n, c, hw]: [usize; 3],
    groups: usize,
    p: &LayerNormParams<'_, T>,
    out: &mut [T],
    stats: Option<(&mut [T], &mut [T])>,
) -> Result<(), KernelError> {
    if groups == 0 || c % groups != 0 {
        return Err(KernelError(format!(
            "{c} channels do not split into {groups} groups"
        )));
    }
    let numel = n
        .checked_mul(c)
        .and_then(|v| v.checked_mul(hw))
        .ok_or_else(|| KernelError::new("the tensor's size overflows"))?;
    let short = |v: Option<&[T]>| v.is_some_and(|v| v.len() < c);
    let stats_short = stats
        .as_ref()
        .is_some_and(|(m, r)| m.len() < n * groups || r.len() < n * groups);
    if x.len() < numel || out.len() < numel || short(p.weight) || short(p.bias) || stats_short {
        return Err(KernelError::new(
            "a group_norm operand is smaller than its shape",
        ));
    }
    crate::wide(GroupNormBlocks {
        x,
        geom: [n, c, hw],
        groups,
        p,
        out,
        stats,
    });
    Ok(())
}

/// [`group_norm`]'s loops (operands checked), run by [`crate::wide`].
struct GroupNormBlocks<'a, 'p, T> {
    x: &'a [T],
    geom: [usize; 3],
    groups: usize,
    p: &'a LayerNormParams<'p, T>,
    out: &'a mut [T],
    stats: Option<(&'a mut [T], &'a mut [T])>,
}

impl<T: Float> crate::WideLoop for GroupNormBlocks<'_, '_, T> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let GroupNormBlocks {
            x,
            geom: [n, c, hw],
            groups,
            p,
            out,
            mut stats,
        } = self;
        let cg = c / groups;
        let block = cg * hw;
        for s in 0..n {
            for g in 0..groups {
                let start = (s * c + g * cg) * hw;
                // Read in place, as a layer norm's rows.
                let vals = &x[start..start + block];
                let (mean, rstd) = moments_of(vals, p.eps);
                for ci in 0..cg {
                    let ch = g * cg + ci;
                    let scale = p.weight.map_or(1.0, |w| w[ch].as_f64());
                    let shift = p.bias.map_or(0.0, |b| b[ch].as_f64());
                    let at = start + ci * hw;
                    for (o, v) in out[at..at + hw].iter_mut().zip(&vals[ci * hw..]) {
                        *o = T::of_f64((v.as_f64() - mean) * rstd * scale + shift);
                    }
                }
                if let Some((means, rstds)) = stats.as_mut() {
                    means[s * groups + g] = T::of_f64(mean);
                    rstds[s * groups + g] = T::of_f64(rstd);
                }
            }
        }
    }
}

/// Inference batch norm as a per-channel affine map: `scale = weight / sqrt(var + eps)`,
/// `shift = bias - mean * scale`, in f64 (a missing weight is 1, a missing bias 0). The
/// eager op applies it with [`batch_norm_inference`]; the compiled runtime folds the same
/// two vectors into a fused `x * scale + shift`.
pub fn batch_norm_scale_shift(
    weight: Option<&[f64]>,
    bias: Option<&[f64]>,
    mean: &[f64],
    var: &[f64],
    eps: f64,
) -> Result<(Vec<f64>, Vec<f64>), KernelError> {
    let c = mean.len();
    let short = |v: Option<&[f64]>| v.is_some_and(|v| v.len() < c);
    if var.len() < c || short(weight) || short(bias) {
        return Err(KernelError::new(
            "a batch_norm statistic is shorter than the channels",
        ));
    }
    let scale: Vec<f64> = (0..c)
        .map(|i| weight.map_or(1.0, |w| w[i]) / (var[i] + eps).sqrt())
        .collect();
    let shift = (0..c)
        .map(|i| bias.map_or(0.0, |b| b[i]) - mean[i] * scale[i])
        .collect();
    Ok((scale, shift))
}

/// `out = x * scale[ch] + shift[ch]` for `x` viewed as `[outer, c, inner]` (channel
/// `ch`), in `T` with the scale and shift rounded to `T` (as the compiled runtime's
/// folded batch norm computes it, so eager and compiled results are the same bits).
pub fn batch_norm_inference<T: Float>(
    x: &[T],
    geom: [usize; 3],
    scale: &[f64],
    shift: &[f64],
    out: &mut [T],
) -> Result<(), KernelError> {
    batch_norm_with(x, geom, scale, shift, Some(out)).map(drop)
}

/// [`batch_norm_inference`] into a new buffer, each thread filling the samples it
/// computes ([`crate::threads::try_new_by_items`]).
pub fn batch_norm_inference_new<T: Float>(
    x: &[T],
    geom: [usize; 3],
    scale: &[f64],
    shift: &[f64],
) -> Result<Vec<T>, KernelError> {
    batch_norm_with(x, geom, scale, shift, None).map(Option::unwrap_or_default)
}

fn batch_norm_with<T: Float>(
    x: &[T],
    [outer, c, inner]: [usize; 3],
    scale: &[f64],
    shift: &[f64],
    out: Option<&mut [T]>,
) -> Result<Option<Vec<T>>, KernelError> {
    let numel = outer
        .checked_mul(c)
        .and_then(|n| n.checked_mul(inner))
        .ok_or_else(|| KernelError::new("the tensor's size overflows"))?;
    let short = out.as_ref().is_some_and(|o| o.len() < numel);
    if x.len() < numel || short || scale.len() < c || shift.len() < c {
        return Err(KernelError::new(
            "a batch_norm operand is smaller than its shape",
        ));
    }
    let sample = c * inner;
    // The scale and shift rounded to `T` once, then a multiply and an add in `T` (never
    // fused): the compiled runtime's folded batch norm, bit for bit.
    let affine: Vec<(T, T)> = (scale.iter().zip(shift).take(c))
        .map(|(&s, &t)| (T::of_f64(s), T::of_f64(t)))
        .collect();
    // Whole samples (`os.len()` a multiple of `sample`, which is `c * inner`): every
    // element of `os` is written.
    fn planes<T: Float, D: crate::wide::Slot<T>>(
        x: &[T],
        [c, inner]: [usize; 2],
        affine: &[(T, T)],
        first: usize,
        os: &mut [D],
    ) -> Result<(), KernelError> {
        if inner == 0 || c == 0 {
            return Ok(());
        }
        let sample = c * inner;
        let xs = (x.get(first * sample..first * sample + os.len()))
            .filter(|xs| xs.len() % sample == 0)
            .ok_or_else(|| KernelError::new("a batch_norm item is not whole samples"))?;
        crate::wide(BatchNormPlanes {
            x: xs,
            c,
            inner,
            affine,
            out: os,
        });
        Ok(())
    }
    let run = |first: usize, os: &mut [T]| planes(x, [c, inner], &affine, first, os);
    // Samples split over the pool where there is enough work (an eager batch norm ran
    // alone on one core while the other waited, slower at 2 threads than at 1).
    let threads = crate::threads::num_threads();
    let threads = if threads > 1 && numel >= 1 << 16 && outer > 1 {
        threads
    } else {
        1
    };
    let failed = || KernelError::new("a batch_norm worker thread failed");
    match out {
        Some(out) => crate::threads::for_each_item_chunk(
            &mut out[..numel],
            outer,
            sample,
            threads,
            &run,
            failed,
        )
        .map(|()| None),
        None => {
            let fresh = |first: usize, os: &mut [std::mem::MaybeUninit<T>]| {
                planes(x, [c, inner], &affine, first, os)
            };
            // SAFETY: `planes` returns `Ok` only for whole samples, all of whose
            // elements `BatchNormPlanes` writes (each plane, or each row of channels).
            unsafe {
                crate::threads::try_new_written_by_items(numel, sample, threads, &fresh, failed)
            }
            .map(Some)
        }
    }
}

/// [`batch_norm_inference`]'s planes (whole samples), on the widest vectors, into
/// values or new memory ([`crate::wide::Slot`]).
struct BatchNormPlanes<'a, T, D> {
    x: &'a [T],
    c: usize,
    inner: usize,
    affine: &'a [(T, T)],
    out: &'a mut [D],
}

impl<T: Float, D: crate::wide::Slot<T>> crate::WideLoop for BatchNormPlanes<'_, T, D> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let BatchNormPlanes {
            x,
            c,
            inner,
            affine,
            out,
        } = self;
        if inner == 1 {
            // `[N, C]` (a batch norm after a linear layer): along each row the channels
            // change every element; one loop over a row's channels, not one per element
            // (5 ns an element).
            for (xs, os) in x.chunks_exact(c).zip(out.chunks_exact_mut(c)) {
                for ((o, &v), &(s, t)) in os.iter_mut().zip(xs).zip(affine) {
                    o.set(v * s + t);
                }
            }
            return;
        }
        let blocks = x.chunks_exact(inner).zip(out.chunks_exact_mut(inner));
        for (k, (xs, os)) in blocks.enumerate() {
            let (s, t) = affine[k % c];
            for (o, &v) in os.iter_mut().zip(xs) {
                o.set(v * s + t);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Layer norm rows (a count that is not a multiple of the rows whose moments are
    /// computed ahead, with and without an affine map) against the formula in f64:
    /// within an ulp of the f64 result rounded once, and the rows' mean and rstd.
    #[test]
    fn layer_norm_rows_match_the_formula() {
        let (rows, n) = (7, 37);
        let x: Vec<f32> = (0..rows * n)
            .map(|i| ((i * 7919) % 1009) as f32 / 97.0 - 5.0 + (i / n) as f32)
            .collect();
        let w: Vec<f32> = (0..n).map(|j| 0.5 + j as f32 / 16.0).collect();
        let b: Vec<f32> = (0..n).map(|j| j as f32 / 8.0 - 2.0).collect();
        for affine in [true, false] {
            let p = LayerNormParams {
                weight: affine.then_some(&w[..]),
                bias: affine.then_some(&b[..]),
                eps: 1e-5,
            };
            let mut out = vec![0f32; rows * n];
            let (mut means, mut rstds) = (vec![0f32; rows], vec![0f32; rows]);
            layer_norm(&x, [rows, n], &p, &mut out, Some((&mut means, &mut rstds))).unwrap();
            for r in 0..rows {
                let row: Vec<f64> = x[r * n..(r + 1) * n].iter().map(|&v| v.into()).collect();
                let mean = row.iter().sum::<f64>() / n as f64;
                let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64;
                let rstd = 1.0 / (var + 1e-5).sqrt();
                assert!((f64::from(means[r]) - mean).abs() <= 1e-6 * mean.abs().max(1.0));
                assert!((f64::from(rstds[r]) - rstd).abs() <= 1e-6 * rstd);
                for j in 0..n {
                    let y = (row[j] - mean) * rstd;
                    let y = if affine {
                        y * f64::from(w[j]) + f64::from(b[j])
                    } else {
                        y
                    };
                    let got = f64::from(out[r * n + j]);
                    assert!(
                        (got - y).abs() <= f64::from(f32::EPSILON) * y.abs().max(1e-3),
                        "{r} {j}: {got} vs {y}"
                    );
                }
            }
        }
    }

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

    /// Contiguous f32 rows take the 16-lane path: within f32 rounding (of `x - max`, as
    /// PyTorch's) of the formula in
    /// f64; an all `-inf` row is NaN (softmax) or zeros (safe softmax); a NaN spreads
    /// over its row only.
    #[test]
    fn f32_rows_match_the_formula_and_keep_pytorchs_edge_cases() {
        let (rows, len) = (5, 37);
        let mut x: Vec<f32> = (0..rows * len)
            .map(|i| ((i * 7919 % 1000) as f32) * 0.02 - 10.0)
            .collect();
        x[2 * len..3 * len].fill(f32::NEG_INFINITY);
        x[3 * len + 4] = f32::NAN;
        x[4 * len + 1] = f32::NEG_INFINITY;
        for safe in [false, true] {
            let mut out = vec![0f32; rows * len];
            lanes(&x, [rows, len, 1], false, safe, &mut out).unwrap();
            for (r, (row, got)) in x.chunks(len).zip(out.chunks(len)).enumerate() {
                match r {
                    2 if safe => assert!(got.iter().all(|&v| v == 0.0)),
                    2 | 3 => assert!(got.iter().all(|v| v.is_nan())),
                    _ => {
                        let m = row
                            .iter()
                            .fold(f64::NEG_INFINITY, |a, &b| a.max(f64::from(b)));
                        let z: f64 = row.iter().map(|&v| (f64::from(v) - m).exp()).sum();
                        for (&v, &g) in row.iter().zip(got) {
                            let want = (f64::from(v) - m).exp() / z;
                            assert!(
                                (f64::from(g) - want).abs() <= 4e-6 * want + 1e-30,
                                "{g} vs {want}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// `[N, C]` (inner 1, a batch norm after a linear layer) gives each channel's
    /// scale and shift, rounded to f32, bit for bit — into a buffer and a new one.
    #[test]
    fn batch_norm_over_rows_of_channels_applies_each_channels_map() {
        let c = 37;
        let scale: Vec<f64> = (0..c).map(|k| 0.5 + k as f64 / 7.0).collect();
        let shift: Vec<f64> = (0..c).map(|k| k as f64 / 3.0 - 2.0).collect();
        let x: Vec<f32> = (0..5 * c).map(|v| (v as f32 * 0.37).sin()).collect();
        let mut out = vec![0f32; 5 * c];
        batch_norm_inference(&x, [5, c, 1], &scale, &shift, &mut out).unwrap();
        for (i, (&o, &v)) in out.iter().zip(&x).enumerate() {
            let k = i % c;
            let want = v * scale[k] as f32 + shift[k] as f32;
            assert_eq!(o.to_bits(), want.to_bits(), "element {i}");
        }
        let big = vec![0.25f32; 2000 * c];
        let fresh = batch_norm_inference_new(&big, [2000, c, 1], &scale, &shift).unwrap();
        assert_eq!(fresh[c + 3], 0.25 * scale[3] as f32 + shift[3] as f32);
    }

    #[test]
    fn batch_norm_is_the_per_channel_affine_map() {
        // x: [outer 2, c 2, inner 3]; channel 0 (w 2, b 1, mean 1, var 3, eps 1): (v-1)/2*2+1;
        // channel 1 (no weight or bias, mean -1, var 0.25, eps 0): (v+1)*2.
        let (scale, shift) =
            batch_norm_scale_shift(None, None, &[1.0, -1.0], &[3.0, 0.25], 0.0).unwrap();
        assert_eq!((scale[1], shift[1]), (2.0, 2.0));
        let (scale, shift) = batch_norm_scale_shift(
            Some(&[2.0, 1.0]),
            Some(&[1.0, 0.0]),
            &[1.0, -1.0],
            &[3.0, 0.25],
            1.0,
        )
        .unwrap();
        assert_eq!((scale[0], shift[0]), (1.0, 0.0));
        let x: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let mut out = vec![0f32; 12];
        batch_norm_inference(&x, [2, 2, 3], &scale, &shift, &mut out).unwrap();
        let want = |k: usize, v: f32| {
            if (k / 3).is_multiple_of(2) {
                v
            } else {
                ((v as f64 + 1.0) / (1.25f64).sqrt()) as f32
            }
        };
        for (k, (&o, &v)) in out.iter().zip(&x).enumerate() {
            assert!((o - want(k, v)).abs() <= 1e-6, "{k}: {o} vs {}", want(k, v));
        }
        assert!(batch_norm_inference(&x, [2, 2, 4], &scale, &shift, &mut out).is_err());
        // Into a new buffer: the same values; short operands are errors too.
        assert_eq!(
            batch_norm_inference_new(&x, [2, 2, 3], &scale, &shift).unwrap(),
            out
        );
        assert!(batch_norm_inference_new(&x, [2, 2, 4], &scale, &shift).is_err());
        assert!(batch_norm_inference_new(&x, [usize::MAX, 2, 3], &scale, &shift).is_err());
        // Enough samples to split over the pool.
        let x: Vec<f32> = (0..16 * 2 * 4096).map(|v| (v % 113) as f32 * 0.5).collect();
        let mut out = vec![0f32; x.len()];
        batch_norm_inference(&x, [16, 2, 4096], &scale, &shift, &mut out).unwrap();
        assert_eq!(
            batch_norm_inference_new(&x, [16, 2, 4096], &scale, &shift).unwrap(),
            out
        );
    }
}
