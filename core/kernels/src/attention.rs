//! Scaled-dot-product attention, fused and blocked: `softmax(q kᵀ · scale + mask) v` per
//! block of query rows, over blocks of keys with an online softmax (running maximum and
//! sum per row), so no `[L, S]` score matrix exists beyond one `BLOCK_ROWS × BLOCK_KEYS`
//! block. The eager `scaled_dot_product_attention` and the compiled runtime's attention
//! step both call [`attention`] (or [`attention_strided`], which reads `q`, `k`, `v`
//! through strides: heads viewed out of a projection's output need no copy).
//!
//! A block's scores are computed transposed, `k qᵀ` as `[keys, rows]`: each key's
//! scores for the block's query rows are contiguous, so the softmax over keys runs down
//! the columns on whole vectors (a running maximum and sum per lane), with no
//! horizontal reduction per row — on rows of 64 keys those cost more than the
//! exponentials. `p v` then reads the probabilities as the transposed matrix it is.

use crate::gemm::{gemm, Float, Mat};
use crate::pointwise::{softmax_exp_f32, Fused, MulAdd, Split};
use crate::threads::{for_each_item_chunk, num_threads, PAR_MIN_MACS};
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
    /// Keys after the query's position are masked out (`is_causal`, PyTorch's top-left
    /// aligned mask: query `i` sees keys `0..=i`).
    pub causal: bool,
}

/// An operand read through strides (`q`, `k`, `v`, or an additive mask): element
/// `(batch index, i, j)` at `Σ idx_d · batch[d].1 + i · row + j · col`, the batch index
/// unflattened over `batch`'s sizes (`(size, stride)` per batch dim, outermost first).
#[derive(Clone, Debug)]
pub struct Strided<'a, T> {
    pub data: &'a [T],
    pub batch: Vec<(usize, usize)>,
    pub row: usize,
    pub col: usize,
}

impl<'a, T> Strided<'a, T> {
    /// `data` as a contiguous `[batch, rows, cols]`.
    pub fn contiguous(data: &'a [T], batch: usize, [rows, cols]: [usize; 2]) -> Strided<'a, T> {
        Strided {
            data,
            batch: vec![(batch, rows.saturating_mul(cols))],
            row: cols,
            col: 1,
        }
    }

    /// `data` from element `at` laid out as `[batch.., rows, cols]` of sizes `sizes`
    /// and strides `strides` (a view's layout); `None` below 2 dims or where the two
    /// differ in length. Whether the layout fits `data` is checked by the kernel.
    pub fn with_layout(
        data: &'a [T],
        at: usize,
        sizes: &[usize],
        strides: &[usize],
    ) -> Option<Strided<'a, T>> {
        let r = sizes.len();
        if r < 2 || strides.len() != r {
            return None;
        }
        Some(Strided {
            data: data.get(at..).unwrap_or(&[]),
            batch: sizes[..r - 2]
                .iter()
                .copied()
                .zip(strides.iter().copied())
                .collect(),
            row: strides[r - 2],
            col: strides[r - 1],
        })
    }

    /// A contiguous mask of `shape`, broadcast (right-aligned, PyTorch's rules) to the
    /// scores' `[batch.., l, s]`.
    pub fn broadcast(
        data: &'a [T],
        shape: &[usize],
        batch: &[usize],
        [l, s]: [usize; 2],
    ) -> Result<Strided<'a, T>, KernelError> {
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
        Ok(Strided {
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

    /// Whether the batch dims flatten to `batch` and every element of `[batch, rows,
    /// cols]` lies inside `data`.
    fn in_bounds(&self, batch: usize, rows: usize, cols: usize) -> bool {
        let flat = self
            .batch
            .iter()
            .try_fold(1usize, |a, (n, _)| a.checked_mul(*n));
        if flat != Some(batch) {
            return false;
        }
        if batch == 0 || rows == 0 || cols == 0 {
            return true;
        }
        let last = self.batch.iter().try_fold(0usize, |acc, &(n, st)| {
            n.checked_sub(1)?.checked_mul(st)?.checked_add(acc)
        });
        let last = last.and_then(|b| {
            (rows - 1)
                .checked_mul(self.row)?
                .checked_add((cols - 1).checked_mul(self.col)?)?
                .checked_add(b)
        });
        matches!(last, Some(x) if x < self.data.len())
    }

    /// Rows `first..first + rows` (and `cols` columns) of batch index `b`, as a matrix.
    fn mat(&self, b: usize, first: usize, rows: usize, cols: usize) -> Mat<'a, T> {
        let at = self.base(b) + first * self.row;
        Mat {
            data: self.data.get(at..).unwrap_or(&[]),
            rows,
            cols,
            rs: self.row,
            cs: self.col,
        }
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
    mask: Option<&Strided<'_, T>>,
    g: &AttentionGeom,
    out: &mut [T],
) -> Result<(), KernelError> {
    let q = Strided::contiguous(q, g.batch, [g.l, g.e]);
    let k = Strided::contiguous(k, g.batch, [g.s, g.e]);
    let v = Strided::contiguous(v, g.batch, [g.s, g.ev]);
    attention_strided([&q, &k, &v], mask, g, out)
}

/// [`attention`] of `q`, `k`, `v` read through strides (a head's rows `row` apart, as
/// in `qkv.view(b, t, 3, h, d).permute(2, 0, 3, 1, 4)`), into a contiguous `out`.
pub fn attention_strided<T: Float>(
    [q, k, v]: [&Strided<'_, T>; 3],
    mask: Option<&Strided<'_, T>>,
    g: &AttentionGeom,
    out: &mut [T],
) -> Result<(), KernelError> {
    let no = g
        .batch
        .checked_mul(g.l)
        .and_then(|x| x.checked_mul(g.ev))
        .ok_or_else(|| KernelError::new("the attention's size overflows"))?;
    let fits = q.in_bounds(g.batch, g.l, g.e)
        && k.in_bounds(g.batch, g.s, g.e)
        && v.in_bounds(g.batch, g.s, g.ev);
    if !fits || out.len() < no {
        return Err(KernelError::new(
            "an attention operand is smaller than its shape",
        ));
    }
    if mask.is_some_and(|m| !m.in_bounds(g.batch, g.l, g.s)) {
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
    q: &'a Strided<'m, T>,
    k: &'a Strided<'m, T>,
    v: &'a Strided<'m, T>,
    mask: Option<&'a Strided<'m, T>>,
    g: &'a AttentionGeom,
}

/// What one block of rows keeps between key blocks.
struct Scratch<T> {
    /// A key block's scores (then probabilities), transposed: `[keys, rows]`.
    scores: Vec<T>,
    pv: Vec<T>,
    /// Per row: the running maximum and sum, and (several key blocks) the sum of `p v`.
    max: Vec<f64>,
    sum: Vec<f64>,
    acc: Vec<f64>,
    /// Per row: the key block's maximum and sum (in f32 on the f32 path).
    block_max: Vec<f64>,
    block_sum: Vec<f64>,
    max32: Vec<f32>,
    sum32: Vec<f32>,
}

impl<T: Float> Operands<'_, '_, T> {
    /// Rows `first..` (flattened over batch and queries) into `out`.
    fn rows(&self, first: usize, out: &mut [T]) -> Result<(), KernelError> {
        let g = self.g;
        let n = out.len().checked_div(g.ev).unwrap_or(0);
        let bc = BLOCK_KEYS.min(g.s.max(1));
        let stats = || vec![0.0; BLOCK_ROWS];
        let mut sc = Scratch {
            scores: vec![T::ZERO; BLOCK_ROWS * bc],
            pv: vec![T::ZERO; BLOCK_ROWS * g.ev],
            max: stats(),
            sum: stats(),
            acc: vec![
                0.0;
                if one_key_block(g) {
                    0
                } else {
                    BLOCK_ROWS * g.ev
                }
            ],
            block_max: stats(),
            block_sum: stats(),
            max32: vec![0.0; BLOCK_ROWS],
            sum32: vec![0.0; BLOCK_ROWS],
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
        // qᵀ: `[e, rows]`.
        let qt = self.q.mat(b, i0, rows, g.e);
        let qt = Mat {
            rows: qt.cols,
            cols: qt.rows,
            rs: qt.cs,
            cs: qt.rs,
            ..qt
        };
        // Causal: no row of the block sees a key past its last row.
        let end = if g.causal { g.s.min(i0 + rows) } else { g.s };
        let mut j0 = 0;
        while j0 < end {
            let bc = BLOCK_KEYS.min(end - j0);
            let kb = self.k.mat(b, j0, bc, g.e);
            let scores = &mut sc.scores[..bc * rows];
            gemm(T::of_f64(g.scale), kb, qt, T::ZERO, scores)?;
            self.online_softmax(b, i0, j0, bc, rows, sc);
            let p = Mat {
                data: &sc.scores[..bc * rows],
                rows,
                cols: bc,
                rs: 1,
                cs: rows,
            };
            let vb = self.v.mat(b, j0, bc, g.ev);
            gemm(T::ONE, p, vb, T::ZERO, &mut sc.pv[..rows * g.ev])?;
            if !single {
                for (a, x) in sc.acc[..rows * g.ev].iter_mut().zip(&sc.pv) {
                    *a += x.as_f64();
                }
            }
            j0 += bc;
        }
        crate::wide(Normalize {
            out,
            pv: &sc.pv[..rows * g.ev],
            acc: (!single).then(|| &sc.acc[..rows * g.ev]),
            sum: &sc.sum[..rows],
            ev: g.ev,
        });
        Ok(())
    }

    /// Turns the block's scores (`bc` keys from `j0` × rows from `i0`, transposed) into
    /// unnormalised probabilities against each row's running maximum, rescaling what
    /// the rows accumulated when the maximum grows; on the widest vectors
    /// ([`crate::wide`]), in f32 on f32 operands.
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

/// Where a key block's mask starts (its `[i0, j0]`) and its strides: `(data, at, row,
/// col)`.
type MaskAt<'a, T> = (&'a [T], usize, usize, usize);

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
        let mask = ops
            .mask
            .map(|m| (m.data, m.base(b) + i0 * m.row + j0 * m.col, m.row, m.col));
        // Causal: of key `j0 + j`'s scores, those of rows before it (`i0 + r < j0 + j`).
        let hidden = |j: usize| match g.causal {
            true => (j0 + j).saturating_sub(i0).min(rows),
            false => 0,
        };
        let Scratch {
            scores,
            max,
            sum,
            acc,
            block_max,
            block_sum,
            max32,
            sum32,
            ..
        } = sc;
        let scores = &mut scores[..bc * rows];
        let (prev, block_max, block_sum) =
            (&max[..rows], &mut block_max[..rows], &mut block_sum[..rows]);
        let f32_mask = mask.map(|(d, at, r, c)| T::as_f32(d).map(|d| (d, at, r, c)));
        match (T::as_f32_mut(scores), f32_mask) {
            (Some(s), None | Some(Some(_))) => {
                let (m, t) = (&mut max32[..rows], &mut sum32[..rows]);
                let mask = f32_mask.flatten();
                match crate::pointwise::fma() {
                    true => exp_block_f32::<Fused>(s, mask, hidden, prev, m, t),
                    false => exp_block_f32::<Split>(s, mask, hidden, prev, m, t),
                }
                block_max
                    .iter_mut()
                    .zip(m.iter())
                    .for_each(|(a, x)| *a = f64::from(*x));
                block_sum
                    .iter_mut()
                    .zip(t.iter())
                    .for_each(|(a, x)| *a = f64::from(*x));
            }
            (_, _) => exp_block_f64(scores, mask, hidden, prev, block_max, block_sum),
        }
        // Several key blocks: `acc` holds the sum so far, rescaled as the maximum grows.
        let accumulates = !one_key_block(g);
        for r in 0..rows {
            let new_max = block_max[r];
            if new_max == f64::NEG_INFINITY {
                continue;
            }
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
            sum[r] = sum[r] * correction + block_sum[r];
            max[r] = new_max;
        }
    }
}

/// A key block's transposed f32 scores `[keys, rows]` turned into unnormalised
/// probabilities in place: the mask added, the first `hidden(j)` rows of key `j` masked
/// out, the exponentials against each row's new running maximum (`prev`'s or the
/// block's, into `max`), each row's sum of them into `sum`. Down the columns, on whole
/// vectors. A row whose every key so far is masked keeps the maximum -inf and gets
/// probabilities 0.
#[inline(always)]
fn exp_block_f32<M: MulAdd>(
    s: &mut [f32],
    mask: Option<MaskAt<'_, f32>>,
    hidden: impl Fn(usize) -> usize,
    prev: &[f64],
    max: &mut [f32],
    sum: &mut [f32],
) {
    let rows = max.len();
    // A running maximum is one of the blocks' f32 maxima (or -inf): exact in f32.
    max.iter_mut().zip(prev).for_each(|(m, p)| *m = *p as f32);
    for (j, key) in s.chunks_exact_mut(rows).enumerate() {
        if let Some((data, at, row, col)) = mask {
            let at = at + j * col;
            match row {
                // A key padding mask (`[s]`, `[b, 1, 1, s]`): one value per key.
                0 => {
                    let m = data[at];
                    key.iter_mut().for_each(|x| *x += m);
                }
                1 => (key.iter_mut().zip(&data[at..at + rows])).for_each(|(x, m)| *x += m),
                _ => (key.iter_mut().enumerate()).for_each(|(r, x)| *x += data[at + r * row]),
            }
        }
        key[..hidden(j)].fill(f32::NEG_INFINITY);
        max.iter_mut()
            .zip(key.iter())
            .for_each(|(m, x)| *m = m.max(*x));
    }
    // Against 0 where the maximum is -inf: that row's scores are all -inf, and -inf - 0
    // gives probabilities 0 where -inf - -inf would give NaN.
    sum.fill(0.0);
    for key in s.chunks_exact_mut(rows) {
        for ((x, m), t) in key.iter_mut().zip(max.iter()).zip(sum.iter_mut()) {
            let p = softmax_exp_f32::<M>(*x - if *m == f32::NEG_INFINITY { 0.0 } else { *m });
            *x = p;
            *t += p;
        }
    }
}

/// [`exp_block_f32`] for any element type, through f64 (maximum and sums in f64).
fn exp_block_f64<T: Float>(
    s: &mut [T],
    mask: Option<MaskAt<'_, T>>,
    hidden: impl Fn(usize) -> usize,
    prev: &[f64],
    max: &mut [f64],
    sum: &mut [f64],
) {
    let rows = max.len();
    let score = |j: usize, r: usize, x: T| match r < hidden(j) {
        true => f64::NEG_INFINITY,
        false => {
            let m = mask.map_or(0.0, |(d, at, row, col)| d[at + r * row + j * col].as_f64());
            x.as_f64() + m
        }
    };
    max.copy_from_slice(prev);
    for (j, key) in s.chunks_exact(rows).enumerate() {
        for (r, (m, x)) in max.iter_mut().zip(key).enumerate() {
            *m = m.max(score(j, r, *x));
        }
    }
    sum.fill(0.0);
    for (j, key) in s.chunks_exact_mut(rows).enumerate() {
        for (r, ((p, m), t)) in key
            .iter_mut()
            .zip(max.iter())
            .zip(sum.iter_mut())
            .enumerate()
        {
            let shift = if *m == f64::NEG_INFINITY { 0.0 } else { *m };
            let e = T::exp_at(score(j, r, *p) - shift);
            *p = T::of_f64(e);
            *t += e;
        }
    }
}

/// The block's output rows: `p v` (or its accumulation over key blocks) over each
/// row's sum, zeros where every key is masked. One division a row: a product by the
/// reciprocal in f64 is within 2^-52 of the quotient, so the f32 result is the
/// quotient's rounding or, at a rounding boundary, its neighbour (a division per
/// element was an eighth of a short attention's time).
struct Normalize<'s, T> {
    out: &'s mut [T],
    pv: &'s [T],
    acc: Option<&'s [f64]>,
    sum: &'s [f64],
    ev: usize,
}

impl<T: Float> crate::WideLoop for Normalize<'_, T> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let Normalize {
            out,
            pv,
            acc,
            sum,
            ev,
        } = self;
        for (r, (o, &s)) in out.chunks_exact_mut(ev.max(1)).zip(sum).enumerate() {
            if s.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
                o.fill(T::ZERO);
                continue;
            }
            let inv = 1.0 / s;
            match acc {
                Some(acc) => {
                    (o.iter_mut().zip(&acc[r * ev..])).for_each(|(o, a)| *o = T::of_f64(a * inv))
                }
                None => (o.iter_mut().zip(&pv[r * ev..]))
                    .for_each(|(o, x)| *o = T::of_f64(x.as_f64() * inv)),
            }
        }
    }
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
                if m == f64::NEG_INFINITY {
                    // Every key masked: zeros (PyTorch's safe softmax).
                    continue;
                }
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
            let m = Strided::broadcast(&mask2[..], &[g.l, g.s], &[g.batch], [g.l, g.s]).unwrap();
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
            let m = Strided::broadcast(&m32[..], &[g.l, g.s], &[g.batch], [g.l, g.s]).unwrap();
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

    /// Masks broadcast along the queries (a key padding mask `[s]`), along the keys
    /// (`[l, 1]`) and whole (`[b, l, s]`), on both paths, against the formula with the
    /// mask spelled out.
    #[test]
    fn broadcast_masks_match_the_formula() {
        let (g, [q, k, v, _]) = case(true, 90, 0.7);
        for shape in [vec![g.s], vec![g.l, 1], vec![g.batch, g.l, g.s]] {
            let n: usize = shape.iter().product();
            let mask: Vec<f64> = (data(n, 9).iter())
                .map(|x| if *x > 0.4 { f64::NEG_INFINITY } else { *x })
                .collect();
            let m = Strided::broadcast(&mask[..], &shape, &[g.batch], [g.l, g.s]).unwrap();
            let full: Vec<f64> = (0..g.batch * g.l * g.s)
                .map(|x| {
                    let (b, i, j) = (x / (g.l * g.s), x / g.s % g.l, x % g.s);
                    mask[m.base(b) + i * m.row + j * m.col]
                })
                .collect();
            let want = naive(&q, &k, &v, &g, &full);
            let mut got = vec![0f64; want.len()];
            attention(&q, &k, &v, Some(&m), &g, &mut got).unwrap();
            let f32s = |x: &[f64]| x.iter().map(|v| *v as f32).collect::<Vec<f32>>();
            let m32 = f32s(&mask);
            let m32 = Strided::broadcast(&m32[..], &shape, &[g.batch], [g.l, g.s]).unwrap();
            let mut got32 = vec![0f32; want.len()];
            let (q32, k32, v32) = (f32s(&q), f32s(&k), f32s(&v));
            attention(&q32, &k32, &v32, Some(&m32), &g, &mut got32).unwrap();
            for ((a, a32), b) in got.iter().zip(&got32).zip(&want) {
                assert!((a - b).abs() < 1e-12, "{a} vs {b} ({shape:?})");
                assert!(
                    (f64::from(*a32) - b).abs() < 2e-5,
                    "{a32} vs {b} ({shape:?})"
                );
            }
        }
    }

    /// Heads read through strides out of one `[b, t, 3, h, d]` projection (PyTorch's
    /// `qkv.view(b, t, 3, h, d).permute(2, 0, 3, 1, 4)`) give the bits of the same
    /// heads copied out contiguously; a view reaching past its data is an error.
    #[test]
    fn strided_heads_give_the_bits_of_copied_ones() {
        let (b, t, h, d) = (2, 70, 3, 24);
        let qkv: Vec<f32> = data(b * t * 3 * h * d, 5)
            .iter()
            .map(|x| *x as f32)
            .collect();
        let at = |which: usize, bb: usize, hh: usize, i: usize, dd: usize| {
            (((bb * t + i) * 3 + which) * h + hh) * d + dd
        };
        let view = |which: usize| Strided {
            data: &qkv[which * h * d..],
            batch: vec![(b, t * 3 * h * d), (h, d)],
            row: 3 * h * d,
            col: 1,
        };
        let copy = |which: usize| -> Vec<f32> {
            let mut out = Vec::new();
            for bb in 0..b {
                for hh in 0..h {
                    for i in 0..t {
                        out.extend((0..d).map(|dd| qkv[at(which, bb, hh, i, dd)]));
                    }
                }
            }
            out
        };
        for causal in [false, true] {
            let g = AttentionGeom {
                batch: b * h,
                l: t,
                s: t,
                e: d,
                ev: d,
                scale: 0.3,
                causal,
            };
            let mut want = vec![0f32; b * h * t * d];
            attention(&copy(0), &copy(1), &copy(2), None, &g, &mut want).unwrap();
            let mut got = vec![0f32; want.len()];
            let (q, k, v) = (view(0), view(1), view(2));
            attention_strided([&q, &k, &v], None, &g, &mut got).unwrap();
            assert_eq!(got, want);
            let past = Strided {
                row: 3 * h * d + 1,
                ..view(2)
            };
            assert!(attention_strided([&q, &k, &past], None, &g, &mut got).is_err());
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
        let m = Strided::broadcast(&mask[..], &[2], &[1], [1, 2]).unwrap();
        let mut out = [7f32];
        attention(&[1.0], &[1.0, 2.0], &[1.0, 2.0], Some(&m), &g, &mut out).unwrap();
        assert_eq!(out, [0.0]);
        assert!(attention(&[1.0], &[1.0], &[1.0, 2.0], None, &g, &mut out).is_err());
        assert!(Strided::broadcast(&mask[..], &[3], &[1], [1, 2]).is_err());
    }
}
