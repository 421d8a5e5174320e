//! Scaled-dot-product attention, fused and blocked: `softmax(q kᵀ · scale + mask) v` per
//! block of query rows, over blocks of keys with an online softmax (running maximum and
//! sum per row, in f64), so no `[L, S]` score matrix exists beyond one
//! `BLOCK_ROWS × BLOCK_KEYS` block. The eager `scaled_dot_product_attention` and the
//! compiled runtime's attention step both call [`attention`].

use crate::gemm::{gemm, Float, Mat};
use crate::norm::exp_row_f32;
use crate::pointwise::{Fused, Split};
use crate::threads::{for_each_item_chunk, num_threads, PAR_MIN_MACS};
use crate::wide::fold8;
use crate::KernelError;

/// Query rows per block.
const BLOCK_ROWS: usize = 64;
/// Keys per block: a sequence up to this long is one block (a plain softmax).
const BLOCK_KEYS: usize = 512;

/// Whether the keys are one block: the block's `p v` is then the whole sum, read where
/// its product stored it (the bits of adding it to zeros in f64), with no accumulator
/// to zero, add into and rescale.
fn one_key_block(g: &AttentionGeom) -> bool {
    g.s <= BLOCK_KEYS
}

/// The shapes of one call: `batch` independent attentions (the flattened batch dims) of
/// `l` queries and `s` keys of width `e`, values of width `ev`.
#[derive(Clone, Copy, Debug)]
pub struct AttentionGeom {
    pub batch: usize,
    pub l: usize,
    pub s: usize,
    pub e: usize,
    pub ev: usize,
    pub scale: f64,
    /// Keys after the query's position are masked out (`is_causal`).
    pub causal: bool,
}

/// An additive mask read through strides: element `(batch index, i, j)` at
/// `Σ idx_d · batch[d].1 + i · row + j · col`, the batch index unflattened over
/// `batch`'s sizes (`(size, stride)` per batch dim, outermost first).
#[derive(Clone, Debug)]
pub struct AttnMask<'a, T> {
    pub data: &'a [T],
    pub batch: Vec<(usize, usize)>,
    pub row: usize,
    pub col: usize,
}

impl<'a, T> AttnMask<'a, T> {
    /// A contiguous mask of `shape`, broadcast (right-aligned, PyTorch's rules) to the
    /// scores' `[batch.., l, s]`.
    pub fn broadcast(
        data: &'a [T],
        shape: &[usize],
        batch: &[usize],
        [l, s]: [usize; 2],
    ) -> Result<AttnMask<'a, T>, KernelError> {
        let mut target = batch.to_vec();
        target.extend([l, s]);
        if shape.len() > target.len() {
            return Err(KernelError(format!(
                "attn_mask of shape {shape:?} does not broadcast to {target:?}"
            )));
        }
        let lead = target.len() - shape.len();
        let mut strides = vec![0usize; target.len()];
        let mut stride = 1usize;
        for (d, &size) in shape.iter().enumerate().rev() {
            let t = target[lead + d];
            if size == t && size != 1 {
                strides[lead + d] = stride;
            } else if size != 1 {
                return Err(KernelError(format!(
                    "attn_mask of shape {shape:?} does not broadcast to {target:?}"
                )));
            }
            stride = stride
                .checked_mul(size)
                .ok_or_else(|| KernelError::new("the mask's size overflows"))?;
        }
        if data.len() < stride {
            return Err(KernelError::new("the mask is smaller than its shape"));
        }
        let n = batch.len();
        Ok(AttnMask {
            data,
            batch: batch
                .iter()
                .copied()
                .zip(strides[..n].iter().copied())
                .collect(),
            row: strides[n],
            col: strides[n + 1],
        })
    }

    /// Offset of batch index `b`'s `[0, 0]`.
    fn base(&self, mut b: usize) -> usize {
        let mut off = 0;
        for &(size, stride) in self.batch.iter().rev() {
            let size = size.max(1);
            off += (b % size) * stride;
            b /= size;
        }
        off
    }

    /// Whether every element the geometry addresses lies inside `data`.
    fn in_bounds(&self, g: &AttentionGeom) -> bool {
        if g.batch == 0 || g.l == 0 || g.s == 0 {
            return true;
        }
        let flat: usize = self.batch.iter().map(|(n, _)| *n).product();
        let last = self.batch.iter().try_fold(0usize, |acc, &(n, st)| {
            n.checked_sub(1)?.checked_mul(st)?.checked_add(acc)
        });
        let last = last.and_then(|b| {
            (g.l - 1)
                .checked_mul(self.row)?
                .checked_add((g.s - 1).checked_mul(self.col)?)?
                .checked_add(b)
        });
        flat == g.batch && matches!(last, Some(x) if x < self.data.len())
    }
}

/// `out[b] = softmax(q[b] k[b]ᵀ · scale + mask[b]) v[b]` for `q` `[batch, l, e]`, `k`
/// `[batch, s, e]`, `v` `[batch, s, ev]`, `out` `[batch, l, ev]` (all row-major). A row
/// whose every score is masked (`-inf`) gives zeros, as PyTorch's safe softmax. Blocks
/// of rows run on the thread pool when the work is large.
///
/// ```
/// use ferrex_kernels::attention::{attention, AttentionGeom};
/// // One query, two keys with equal scores: the mean of the values.
/// let g = AttentionGeom { batch: 1, l: 1, s: 2, e: 1, ev: 1, scale: 1.0, causal: false };
/// let mut out = [0f32];
/// attention(&[1.0], &[2.0, 2.0], &[1.0, 3.0], None, &g, &mut out).unwrap();
/// assert_eq!(out, [2.0]);
/// ```
pub fn attention<T: Float>(
    q: &[T],
    k: &[T],
    v: &[T],
    mask: Option<&AttnMask<'_, T>>,
    g: &AttentionGeom,
    out: &mut [T],
) -> Result<(), KernelError> {
    let len = |a: usize, b: usize| {
        g.batch
            .checked_mul(a)
            .and_then(|x| x.checked_mul(b))
            .ok_or_else(|| KernelError::new("the attention's size overflows"))
    };
    let (nq, nk, nv, no) = (
        len(g.l, g.e)?,
        len(g.s, g.e)?,
        len(g.s, g.ev)?,
        len(g.l, g.ev)?,
    );
    if q.len() < nq || k.len() < nk || v.len() < nv || out.len() < no {
        return Err(KernelError::new(
            "an attention operand is smaller than its shape",
        ));
    }
    if mask.is_some_and(|m| !m.in_bounds(g)) {
        return Err(KernelError::new(
            "the attention mask is smaller than its shape",
        ));
    }
    let work = no.saturating_mul(g.s).saturating_mul(g.e + 1);
    let threads = if work >= PAR_MIN_MACS {
        num_threads()
    } else {
        1
    };
    let ops = Operands { q, k, v, mask, g };
    for_each_item_chunk(
        &mut out[..no],
        g.batch * g.l,
        g.ev,
        threads,
        &|first, chunk| ops.rows(first, chunk),
        || KernelError::new("an attention worker thread failed"),
    )
}

struct Operands<'a, 'm, T> {
    q: &'a [T],
    k: &'a [T],
    v: &'a [T],
    mask: Option<&'a AttnMask<'m, T>>,
    g: &'a AttentionGeom,
}

/// What one block of rows keeps between key blocks.
struct Scratch<T> {
    scores: Vec<T>,
    /// One row of scores (and mask) in f64.
    xs: Vec<f64>,
    pv: Vec<T>,
    max: Vec<f64>,
    sum: Vec<f64>,
    acc: Vec<f64>,
}

impl<T: Float> Operands<'_, '_, T> {
    /// Rows `first..` (flattened over batch and queries) into `out`.
    fn rows(&self, first: usize, out: &mut [T]) -> Result<(), KernelError> {
        let g = self.g;
        let n = out.len().checked_div(g.ev).unwrap_or(0);
        let bc = BLOCK_KEYS.min(g.s.max(1));
        let mut sc = Scratch {
            scores: vec![T::ZERO; BLOCK_ROWS * bc],
            xs: vec![0.0; bc],
            pv: vec![T::ZERO; BLOCK_ROWS * g.ev],
            max: vec![0.0; BLOCK_ROWS],
            sum: vec![0.0; BLOCK_ROWS],
            acc: vec![
                0.0;
                if one_key_block(g) {
                    0
                } else {
                    BLOCK_ROWS * g.ev
                }
            ],
        };
        let mut r = 0;
        while r < n {
            let (b, i0) = ((first + r) / g.l, (first + r) % g.l);
            let rows = BLOCK_ROWS.min(g.l - i0).min(n - r);
            let dst = &mut out[r * g.ev..(r + rows) * g.ev];
            self.block(b, i0, rows, &mut sc, dst)?;
            r += rows;
        }
        Ok(())
    }

    /// Query rows `i0..i0 + rows` of batch `b`.
    fn block(
        &self,
        b: usize,
        i0: usize,
        rows: usize,
        sc: &mut Scratch<T>,
        out: &mut [T],
    ) -> Result<(), KernelError> {
        let g = self.g;
        let single = one_key_block(g);
        sc.max[..rows].fill(f64::NEG_INFINITY);
        sc.sum[..rows].fill(0.0);
        if !single {
            sc.acc[..rows * g.ev].fill(0.0);
        }
        let qb = Mat::row_major(&self.q[(b * g.l + i0) * g.e..], rows, g.e);
        let mut j0 = 0;
        while j0 < g.s && !(g.causal && j0 > i0 + rows - 1) {
            let bc = BLOCK_KEYS.min(g.s - j0);
            let kt = Mat {
                data: &self.k[(b * g.s + j0) * g.e..],
                rows: g.e,
                cols: bc,
                rs: 1,
                cs: g.e,
            };
            let scores = &mut sc.scores[..rows * bc];
            gemm(T::of_f64(g.scale), qb, kt, T::ZERO, scores)?;
            self.online_softmax(b, i0, j0, bc, rows, sc);
            let p = Mat::row_major(&sc.scores[..rows * bc], rows, bc);
            let vb = Mat::row_major(&self.v[(b * g.s + j0) * g.ev..], bc, g.ev);
            gemm(T::ONE, p, vb, T::ZERO, &mut sc.pv[..rows * g.ev])?;
            if !single {
                for (a, x) in sc.acc[..rows * g.ev].iter_mut().zip(&sc.pv) {
                    *a += x.as_f64();
                }
            }
            j0 += bc;
        }
        for r in 0..rows {
            // One division a row: a product by the reciprocal in f64 is within 2^-52 of
            // the quotient, so the f32 result is the quotient's rounding or, at a
            // rounding boundary, its neighbour (a division per element was an eighth
            // of a short attention's time).
            let sum = sc.sum[r];
            let inv = 1.0 / sum;
            let o = out[r * g.ev..(r + 1) * g.ev].iter_mut();
            let scaled = |a: f64| T::of_f64(if sum > 0.0 { a * inv } else { 0.0 });
            if single {
                let pv = &sc.pv[r * g.ev..(r + 1) * g.ev];
                o.zip(pv).for_each(|(o, x)| *o = scaled(x.as_f64()));
            } else {
                o.zip(&sc.acc[r * g.ev..])
                    .for_each(|(o, a)| *o = scaled(*a));
            }
        }
        Ok(())
    }

    /// Turns the block's scores (rows × `bc` keys from `j0`) into unnormalised
    /// probabilities against each row's running maximum, rescaling what the rows
    /// accumulated when the maximum grows; on the widest vectors ([`crate::wide`]),
    /// with `exp` at the element type's precision ([`Float::exp_at`]).
    fn online_softmax(
        &self,
        b: usize,
        i0: usize,
        j0: usize,
        bc: usize,
        rows: usize,
        sc: &mut Scratch<T>,
    ) {
        crate::wide(OnlineSoftmax {
            ops: self,
            b,
            i0,
            j0,
            bc,
            rows,
            sc,
        });
    }
}

/// [`Operands::online_softmax`]'s loops, run by [`crate::wide`].
struct OnlineSoftmax<'o, 'a, 'm, 's, T> {
    ops: &'o Operands<'a, 'm, T>,
    b: usize,
    i0: usize,
    j0: usize,
    bc: usize,
    rows: usize,
    sc: &'s mut Scratch<T>,
}

impl<T: Float> crate::WideLoop for OnlineSoftmax<'_, '_, '_, '_, T> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let OnlineSoftmax {
            ops,
            b,
            i0,
            j0,
            bc,
            rows,
            sc,
        } = self;
        let g = ops.g;
        // Several key blocks: `acc` holds the sum so far, rescaled as the maximum grows.
        let accumulates = !one_key_block(g);
        let base = ops.mask.map(|m| (m, m.base(b)));
        let Scratch {
            scores,
            xs,
            max,
            sum,
            acc,
            ..
        } = sc;
        let xs = &mut xs[..bc];
        for r in 0..rows {
            let i = i0 + r;
            let row = &mut scores[r * bc..(r + 1) * bc];
            // Keys after position `i` (block columns from `i + 1 - j0`) when causal.
            let from = if g.causal {
                (i + 1).saturating_sub(j0).min(bc)
            } else {
                bc
            };
            let mask = base.map(|(m, base)| (m, base + i * m.row + j0 * m.col));
            let f32_mask = mask.map(|(m, at)| T::as_f32(m.data).map(|d| (d, at, m.col)));
            let stats = match (T::as_f32_mut(row), f32_mask) {
                (Some(row), None | Some(Some(_))) => {
                    let mask = f32_mask.flatten();
                    match crate::pointwise::fma() {
                        true => exp_row_f32::<Fused>(row, mask, from, max[r]),
                        false => exp_row_f32::<Split>(row, mask, from, max[r]),
                    }
                }
                (_, _) => exp_row_f64(row, xs, mask, from, max[r]),
            };
            let Some((new_max, total)) = stats else {
                continue;
            };
            // Nothing accumulated yet on the first block: no exponential of -inf (an
            // exponential near the bottom of f32 takes a microcode assist, ~150 cycles).
            let correction = if max[r] == f64::NEG_INFINITY {
                0.0
            } else {
                T::exp_at(max[r] - new_max)
            };
            if accumulates && correction != 1.0 {
                acc[r * g.ev..(r + 1) * g.ev]
                    .iter_mut()
                    .for_each(|a| *a *= correction);
            }
            sum[r] = sum[r] * correction + total;
            max[r] = new_max;
        }
    }
}

/// One row of a block's scores turned into unnormalised probabilities in place through
/// f64 (`xs`, the row's scratch): [`exp_row_f32`] for any element type.
fn exp_row_f64<T: Float>(
    row: &mut [T],
    xs: &mut [f64],
    mask: Option<(&AttnMask<'_, T>, usize)>,
    from: usize,
    max: f64,
) -> Option<(f64, f64)> {
    for (x, s) in xs.iter_mut().zip(row.iter()) {
        *x = s.as_f64();
    }
    if let Some((m, at)) = mask {
        for (jj, x) in xs.iter_mut().enumerate() {
            *x += m.data[at + jj * m.col].as_f64();
        }
    }
    xs[from..].fill(f64::NEG_INFINITY);
    let new_max = max.max(fold8(xs, f64::NEG_INFINITY, |x| x, f64::max));
    if new_max == f64::NEG_INFINITY {
        row.iter_mut().for_each(|p| *p = T::ZERO);
        return None;
    }
    for (p, x) in row.iter_mut().zip(xs.iter_mut()) {
        *x = T::exp_at(*x - new_max);
        *p = T::of_f64(*x);
    }
    Some((new_max, fold8(xs, 0.0, |x| x, |a, b| a + b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook formula in f64 with a full score matrix.
    fn naive(q: &[f64], k: &[f64], v: &[f64], g: &AttentionGeom, mask: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; g.batch * g.l * g.ev];
        for b in 0..g.batch {
            for i in 0..g.l {
                let scores: Vec<f64> = (0..g.s)
                    .map(|j| {
                        let dot: f64 = (0..g.e)
                            .map(|d| q[(b * g.l + i) * g.e + d] * k[(b * g.s + j) * g.e + d])
                            .sum();
                        let x = dot * g.scale + mask[(b * g.l + i) * g.s + j];
                        if g.causal && j > i {
                            f64::NEG_INFINITY
                        } else {
                            x
                        }
                    })
                    .collect();
                let m = scores.iter().fold(f64::NEG_INFINITY, |a, &x| a.max(x));
                let z: f64 = scores.iter().map(|x| (x - m).exp()).sum();
                for d in 0..g.ev {
                    out[(b * g.l + i) * g.ev + d] = (0..g.s)
                        .map(|j| (scores[j] - m).exp() / z * v[(b * g.s + j) * g.ev + d])
                        .sum();
                }
            }
        }
        out
    }

    fn data(n: usize, seed: u64) -> Vec<f64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((x >> 33) as f64 / (1u64 << 31) as f64) - 0.5
            })
            .collect()
    }

    /// Two batches of 70 queries (two row blocks) against `s` keys, `q`, `k`, `v` and an
    /// `[l, s]` mask (to be broadcast over the batch) with some entries -inf.
    fn case(causal: bool, s: usize, scale: f64) -> (AttentionGeom, [Vec<f64>; 4]) {
        let g = AttentionGeom {
            batch: 2,
            l: 70,
            s,
            e: 5,
            ev: 3,
            scale,
            causal,
        };
        let q = data(g.batch * g.l * g.e, 1);
        let k = data(g.batch * g.s * g.e, 2);
        let v = data(g.batch * g.s * g.ev, 3);
        let mask2: Vec<f64> = data(g.l * g.s, 4)
            .iter()
            .map(|x| if *x > 0.45 { f64::NEG_INFINITY } else { *x })
            .collect();
        (g, [q, k, v, mask2])
    }

    #[test]
    fn blocked_online_softmax_matches_the_full_score_matrix() {
        // s > BLOCK_KEYS: three key blocks; l > BLOCK_ROWS: two row blocks.
        for (causal, s) in [(false, 1100), (true, 1100), (false, 7)] {
            let (g, [q, k, v, mask2]) = case(causal, s, 0.7);
            let full: Vec<f64> = (0..g.batch).flat_map(|_| mask2.clone()).collect();
            let want = naive(&q, &k, &v, &g, &full);
            let m = AttnMask::broadcast(&mask2[..], &[g.l, g.s], &[g.batch], [g.l, g.s]).unwrap();
            let mut got = vec![0f64; want.len()];
            attention(&q, &k, &v, Some(&m), &g, &mut got).unwrap();
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 1e-12, "{a} vs {b}");
            }
        }
    }

    /// The f32 path (scores, mask and exponentials in f32) against the f64 formula: with
    /// masks, causal blocks, several key blocks, and a scale so large that most
    /// probabilities fall below e^-87 (taken as 0, where f32 is subnormal).
    #[test]
    fn f32_attention_matches_the_formula_in_f64() {
        for (causal, s, scale) in [(false, 1100, 0.7), (true, 600, 0.7), (false, 40, 60.0)] {
            let (g, [q, k, v, mask2]) = case(causal, s, scale);
            let f32s = |x: &[f64]| x.iter().map(|v| *v as f32).collect::<Vec<f32>>();
            let (q32, k32, v32, m32) = (f32s(&q), f32s(&k), f32s(&v), f32s(&mask2));
            let back = |x: &[f32]| x.iter().map(|v| f64::from(*v)).collect::<Vec<f64>>();
            let full: Vec<f64> = (0..g.batch).flat_map(|_| back(&m32)).collect();
            let want = naive(&back(&q32), &back(&k32), &back(&v32), &g, &full);
            let m = AttnMask::broadcast(&m32[..], &[g.l, g.s], &[g.batch], [g.l, g.s]).unwrap();
            let mut got = vec![0f32; want.len()];
            attention(&q32, &k32, &v32, Some(&m), &g, &mut got).unwrap();
            for (a, b) in got.iter().zip(&want) {
                assert!(
                    (f64::from(*a) - b).abs() < 2e-5,
                    "{a} vs {b} ({causal} {s})"
                );
            }
        }
    }

    #[test]
    fn fully_masked_rows_are_zero_and_short_operands_are_errors() {
        let g = AttentionGeom {
            batch: 1,
            l: 1,
            s: 2,
            e: 1,
            ev: 1,
            scale: 1.0,
            causal: false,
        };
        let mask = [f32::NEG_INFINITY; 2];
        let m = AttnMask::broadcast(&mask[..], &[2], &[1], [1, 2]).unwrap();
        let mut out = [7f32];
        attention(&[1.0], &[1.0, 2.0], &[1.0, 2.0], Some(&m), &g, &mut out).unwrap();
        assert_eq!(out, [0.0]);
        assert!(attention(&[1.0], &[1.0], &[1.0, 2.0], None, &g, &mut out).is_err());
        assert!(AttnMask::broadcast(&mask[..], &[3], &[1], [1, 2]).is_err());
    }
}
