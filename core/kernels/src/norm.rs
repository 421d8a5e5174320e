//! Normalizations on plain slices: [`softmax`] (and log-softmax) along one dim,
//! [`layer_norm`] over trailing elements and [`group_norm`] over channel groups, in f64, rounded once to the element type — the
//! eager ops and the compiled runtime's steps both call them.

use crate::gemm::Float;
use crate::wide::{fold8, fold8_rows};
use crate::KernelError;

/// Softmax (or log-softmax when `log`) of `x` viewed as `[outer, len, inner]` along
/// the middle dim, into `out` (same layout): each lane is shifted by its maximum,
/// exponentiated ([`Float::exp_at`]) and summed in f64.
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
    let n = values.len().max(1) as f64;
    let add = |a: f64, b: f64| a + b;
    let mean = fold8(values, 0.0, |v| v, add) / n;
    let var = fold8(values, 0.0, |v| (v - mean) * (v - mean), add) / n;
    (mean, 1.0 / (var + eps).sqrt())
}

/// [`moments`] of [`MOMENT_ROWS`] slices of one length, computed side by side: each
/// pair has the bits [`moments`] gives its slice ([`crate::wide::fold8_rows`]). A layer
/// norm's short rows each waited on one chain of adds: 128 rows of 64, 9.4 → 6.9 µs. (A
/// group norm's groups of 256 values, four at a time, went from 9.1 to 12.2 µs: they
/// stay one at a time.)
#[inline(always)]
fn moments_of_rows(rows: [&[f64]; MOMENT_ROWS], eps: f64) -> [(f64, f64); MOMENT_ROWS] {
    let len = rows.iter().map(|r| r.len()).min().unwrap_or(0);
    let n = len.max(1) as f64;
    let add = |a: f64, b: f64| a + b;
    let means = fold8_rows(rows, 0.0, |_, v| v, add).map(|s| s / n);
    let vars = fold8_rows(rows, 0.0, |r, v| (v - means[r]) * (v - means[r]), add);
    std::array::from_fn(|r| (means[r], 1.0 / (vars[r] / n + eps).sqrt()))
}

/// Rows (or groups) whose statistics [`moments_of_rows`] computes together.
const MOMENT_ROWS: usize = 4;

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
        let mut vals = vec![0f64; MOMENT_ROWS * n];
        let mut r = 0;
        while r < rows {
            let take = MOMENT_ROWS.min(rows - r);
            for (v, &xv) in vals.iter_mut().zip(&x[r * n..(r + take) * n]) {
                *v = xv.as_f64();
            }
            let stats_of = stats_of(&vals, n, take, p.eps);
            for (i, &(mean, rstd)) in stats_of[..take].iter().enumerate() {
                let at = (r + i) * n;
                normalize_row(
                    &mut out[at..at + n],
                    &vals[i * n..(i + 1) * n],
                    mean,
                    rstd,
                    p,
                );
                if let Some((means, rstds)) = stats.as_mut() {
                    means[r + i] = T::of_f64(mean);
                    rstds[r + i] = T::of_f64(rstd);
                }
            }
            r += take;
        }
    }
}

/// The statistics of the first `take <= MOMENT_ROWS` slices of `len` values of `vals`
/// (zeros past `take`), side by side when there are [`MOMENT_ROWS`] of them.
#[inline(always)]
fn stats_of(vals: &[f64], len: usize, take: usize, eps: f64) -> [(f64, f64); MOMENT_ROWS] {
    let slice = |i: usize| &vals[i * len..(i + 1) * len];
    if take == MOMENT_ROWS {
        moments_of_rows(std::array::from_fn(slice), eps)
    } else {
        std::array::from_fn(|i| {
            if i < take {
                moments(slice(i), eps)
            } else {
                (0.0, 0.0)
            }
        })
    }
}

/// One row of a layer norm: `(v - mean) * rstd`, then `* weight + bias` per column.
#[inline(always)]
fn normalize_row<T: Float>(
    out: &mut [T],
    row: &[f64],
    mean: f64,
    rstd: f64,
    p: &LayerNormParams<'_, T>,
) {
    // One loop per parameter case: no branch per element.
    match (p.weight, p.bias) {
        (Some(w), Some(b)) => {
            for ((o, v), (w, b)) in out.iter_mut().zip(row).zip(w.iter().zip(b)) {
                *o = T::of_f64((v - mean) * rstd * w.as_f64() + b.as_f64());
            }
        }
        (w, b) => {
            for (j, (o, v)) in out.iter_mut().zip(row).enumerate() {
                let mut y = (v - mean) * rstd;
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
        let mut vals = vec![0f64; block];
        for s in 0..n {
            for g in 0..groups {
                let start = (s * c + g * cg) * hw;
                for (v, xv) in vals.iter_mut().zip(&x[start..start + block]) {
                    *v = xv.as_f64();
                }
                let (mean, rstd) = moments(&vals, p.eps);
                for ci in 0..cg {
                    let ch = g * cg + ci;
                    let scale = p.weight.map_or(1.0, |w| w[ch].as_f64());
                    let shift = p.bias.map_or(0.0, |b| b[ch].as_f64());
                    let at = start + ci * hw;
                    for (o, v) in out[at..at + hw].iter_mut().zip(&vals[ci * hw..]) {
                        *o = T::of_f64((v - mean) * rstd * scale + shift);
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
    let run = |first: usize, os: &mut [T]| -> Result<(), KernelError> {
        if inner == 0 || c == 0 {
            return Ok(());
        }
        let xs = &x[first * sample..first * sample + os.len()];
        crate::wide(BatchNormPlanes {
            x: xs,
            c,
            inner,
            scale,
            shift,
            out: os,
        });
        Ok(())
    };
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
        None => crate::threads::try_new_by_items(numel, sample, T::ZERO, threads, &run, failed)
            .map(Some),
    }
}

/// [`batch_norm_inference`]'s planes (whole samples), on the widest vectors.
struct BatchNormPlanes<'a, T> {
    x: &'a [T],
    c: usize,
    inner: usize,
    scale: &'a [f64],
    shift: &'a [f64],
    out: &'a mut [T],
}

impl<T: Float> crate::WideLoop for BatchNormPlanes<'_, T> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let BatchNormPlanes {
            x,
            c,
            inner,
            scale,
            shift,
            out,
        } = self;
        let blocks = x.chunks_exact(inner).zip(out.chunks_exact_mut(inner));
        for (k, (xs, os)) in blocks.enumerate() {
            // The scale and shift rounded to `T` once, then a multiply and an add in `T`
            // (never fused): the compiled runtime's folded batch norm, bit for bit.
            let (s, t) = (T::of_f64(scale[k % c]), T::of_f64(shift[k % c]));
            for (o, &v) in os.iter_mut().zip(xs) {
                *o = v * s + t;
            }
        }
    }
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

    /// Statistics computed four rows side by side have the bits of one row at a time,
    /// for any length (whole vectors and remainders), and so a layer norm of many rows
    /// has the bits of the same rows normalized one by one (with and without affine
    /// parameters, with its saved statistics).
    #[test]
    fn rows_side_by_side_give_the_bits_of_one_row_at_a_time() {
        let value = |i: usize| ((i * 7919 % 1013) as f64 - 506.0) * 0.37 + (i % 7) as f64;
        for len in [1, 7, 8, 64, 100] {
            let vals: Vec<f64> = (0..4 * len).map(value).collect();
            let rows: [&[f64]; MOMENT_ROWS] = std::array::from_fn(|r| &vals[r * len..][..len]);
            let together = moments_of_rows(rows, 1e-5);
            for (r, got) in together.iter().enumerate() {
                let want = moments(rows[r], 1e-5);
                assert_eq!(
                    (got.0.to_bits(), got.1.to_bits()),
                    (want.0.to_bits(), want.1.to_bits())
                );
            }
        }
        let (rows, n) = (11, 37);
        let x: Vec<f32> = (0..rows * n).map(|i| value(i) as f32).collect();
        let w: Vec<f32> = (0..n).map(|j| 0.5 + j as f32 * 0.1).collect();
        let b: Vec<f32> = (0..n).map(|j| j as f32 * -0.2).collect();
        for p in [
            LayerNormParams {
                weight: Some(&w[..]),
                bias: Some(&b[..]),
                eps: 1e-5,
            },
            LayerNormParams {
                weight: None,
                bias: Some(&b[..]),
                eps: 1e-3,
            },
        ] {
            let (mut out, mut mean, mut rstd) =
                (vec![0f32; rows * n], vec![0f32; rows], vec![0f32; rows]);
            layer_norm(&x, [rows, n], &p, &mut out, Some((&mut mean, &mut rstd))).unwrap();
            for r in 0..rows {
                let (mut one, mut m, mut s) = (vec![0f32; n], [0f32], [0f32]);
                let row = &x[r * n..(r + 1) * n];
                layer_norm(row, [1, n], &p, &mut one, Some((&mut m, &mut s))).unwrap();
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&out[r * n..(r + 1) * n]), bits(&one), "row {r}");
                assert_eq!(
                    (mean[r].to_bits(), rstd[r].to_bits()),
                    (m[0].to_bits(), s[0].to_bits())
                );
            }
        }
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
